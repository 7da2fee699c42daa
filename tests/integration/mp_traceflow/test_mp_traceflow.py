"""Traceflow end to end: NSX ``AntreaTraceflowConfig`` -> adapter channel -> adapter -> Antrea
``Traceflow`` CR -> Antrea stand-in -> result -> NSX's ``…/traceflows/{id}/status|observations``."""

from __future__ import annotations

import time

from controllers.ccp.translate import cluster_path
from tests.integration.mp_traceflow.mp_traceflow_world import CLUSTER, POLICY, TRACEFLOW, World, wait_for

DOMAIN = f"{POLICY}/infra/domains/default"
FORWARDED = "AntreaTraceflowObservationForwarded"
DELIVERED = "AntreaTraceflowObservationDelivered"
DROPPED = "AntreaTraceflowObservationDropped"


def kinds(observations: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(o["component_type"], o["observation_type"]) for o in observations]


def test_pod_to_pod_and_pod_to_service_are_delivered(world: World) -> None:
    world.trace("tf-pod", world.uids["client"], world.uids["web-1"])
    world.trace("tf-svc", world.uids["client"], world.uids["svc/web"])
    assert world.finished("tf-pod") == {"phase": "SUCCEEDED", "reason": ""}
    obs = world.observations("tf-pod")
    assert kinds(obs) == [("ANTREA_SPOOFGUARD", FORWARDED), ("ANTREA_FORWARDING", FORWARDED),
                          ("ANTREA_FORWARDING", "AntreaTraceflowObservationReceived"),
                          ("ANTREA_FORWARDING", DELIVERED)]
    # Nodes are named by their UIDs (the ContainerClusterNode external ids NSX knows).
    assert obs[0]["container_node_id"] == world.uids["n1"] and obs[-1]["container_node_id"] == world.uids["n2"]
    assert all(isinstance(o["timestamp"], int) and o["timestamp"] > 1_000_000_000_000 for o in obs)
    assert world.finished("tf-svc")["phase"] == "SUCCEEDED"
    lb = [o for o in world.observations("tf-svc") if o["component_type"] == "ANTREA_LB"]
    assert lb and lb[0]["translated_dst_ip"] == "10.10.2.7"
    # The CRs are deleted once their results are in NSX.
    wait_for(lambda: world.crs() == [], what="Traceflow CRs deleted")


def test_drop_rule_on_the_path_is_a_dropped_observation_in_nsx(world: World) -> None:
    for gid, app in (("fe", "frontend"), ("web", "web")):
        world.nsx_call("PATCH", f"{DOMAIN}/groups/{gid}", {
            "resource_type": "Group", "group_type": ["ANTREA"], "expression": [
                {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                 "value": f"dis:k8s:app|{app}"}]})
    world.nsx_call("PATCH", f"{DOMAIN}/security-policies/isolate-web", {
        "resource_type": "SecurityPolicy", "category": "Application", "sequence_number": 1,
        "scope": [cluster_path(CLUSTER)], "rules": [
            {"resource_type": "Rule", "id": "deny-fe", "sequence_number": 1, "action": "DROP",
             "direction": "IN_OUT", "services": ["ANY"], "source_groups": ["/infra/domains/default/groups/fe"],
             "destination_groups": ["/infra/domains/default/groups/web"]}]})
    wait_for(lambda: "nsx-isolate-web" in world.antrea.known("policies"), what="ACNP written by the CCP adapter")
    wait_for(lambda: {"nsx-fe", "nsx-fe-0", "nsx-web", "nsx-web-0"} <= set(world.antrea.known("groups")),
             what="ClusterGroups written by the CCP adapter")
    world.trace("tf-drop", world.uids["frontend"], world.uids["web-1"])
    world.trace("tf-other", world.uids["client"], world.uids["web-1"])  # not a frontend: not dropped
    assert world.finished("tf-drop")["phase"] == "SUCCEEDED"
    obs = world.observations("tf-drop")
    assert kinds(obs)[-1] == ("ANTREA_DFW", DROPPED)
    dropped = obs[-1]
    assert dropped["rule_path"] == "/infra/domains/default/security-policies/isolate-web/rules/deny-fe"
    assert dropped["network_policy_rule"] == "deny-fe-out" and dropped["container_node_id"] == world.uids["n1"]
    assert world.finished("tf-other")["phase"] == "SUCCEEDED"
    assert DROPPED not in [o["observation_type"] for o in world.observations("tf-other")]


def test_missing_source_pod_fails_with_a_clear_reason(world: World) -> None:
    world.trace("tf-ghost", "no-such-pod-uid", world.uids["web-1"])
    status = world.finished("tf-ghost")
    assert status["phase"] == "FAILED"
    assert "source Pod" in status["reason"] and "no-such-pod-uid" in status["reason"]
    assert world.observations("tf-ghost") == []


def test_at_most_14_traceflows_run_at_once_and_all_complete(world: World) -> None:
    world.antrea.max_present = 0
    world.antrea.held = True
    try:
        for i in range(20):
            world.trace(f"tf-many-{i}", world.uids["client"], world.uids["web-1"])
        wait_for(lambda: world.antrea.running() == 14, what="14 traces running")
        time.sleep(0.5)
        assert len(world.crs()) == 14 and world.antrea.running() == 14
        assert len(world.adapter.traceflow.service.queue) == 6
    finally:
        world.antrea.held = False
    for i in range(20):
        assert world.finished(f"tf-many-{i}", timeout=15)["phase"] == "SUCCEEDED", i
    assert world.antrea.max_present == 14 and world.antrea.rejected_over_limit == 0
    wait_for(lambda: world.crs() == [], what="every Traceflow CR deleted")


def test_timeouts_in_antrea_and_in_the_adapter_fail_the_trace(world: World) -> None:
    world.antrea.held = True  # Antrea runs the trace but never sees its packet: "Traceflow timeout"
    try:
        world.trace("tf-slow", world.uids["client"], world.uids["web-1"])
        status = world.finished("tf-slow", timeout=10)
    finally:
        world.antrea.held = False
    assert status == {"phase": "FAILED", "reason": "Traceflow timeout"}
    world.antrea.unresponsive = True  # antrea-controller down: no status at all; the adapter gives up
    try:
        world.trace("tf-lost", world.uids["client"], world.uids["web-1"])
        status = world.finished("tf-lost", timeout=10)
    finally:
        world.antrea.unresponsive = False
    assert status["phase"] == "FAILED" and "did not finish within 5 s" in status["reason"]
    wait_for(lambda: world.crs() == [], what="timed-out Traceflow CRs deleted")


def test_a_restarted_adapter_adopts_running_traces_and_removes_stale_ones(world: World) -> None:
    world.kube.create(TRACEFLOW, {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow",
                                  "metadata": {"name": "nsx-tf-leftover", "labels": {
                                      "antrea-nsx-adapter.io/managed-by": "mp-adapter"}},
                                  "spec": {"source": {"namespace": "shop", "pod": "client"},
                                           "destination": {"namespace": "shop", "pod": "web-1"}}})
    world.antrea.held = True
    try:
        world.trace("tf-r1", world.uids["client"], world.uids["web-1"])
        world.trace("tf-r2", world.uids["client"], world.uids["svc/web"])
        wait_for(lambda: world.antrea.running() == 3, what="both traces (and the leftover) running")
        world.antrea.max_present = 0
        world.restart_adapter()
        wait_for(lambda: "nsx-tf-leftover" not in world.crs(), what="stale CR of the adapter deleted")
        assert len(world.crs()) == 2  # the two running traces were adopted, not created again
    finally:
        world.antrea.held = False
    assert world.finished("tf-r1")["phase"] == "SUCCEEDED"
    assert world.finished("tf-r2")["phase"] == "SUCCEEDED"
    wait_for(lambda: world.crs() == [], what="adopted CRs deleted after completion")
    assert world.antrea.max_present <= 3
