"""The adapter channel (docs/adapter-channel.md) and how NSX's real read APIs reflect it."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from nsx_sim_helpers import CCP, CCP_PATH, DOMAIN, POLICY, Api, antrea_group, register_cluster, rule

from sim.nsx import NsxSimulator

CH = "/api/v1/antrea-adapter/clusters"
POL = f"{DOMAIN}/security-policies"
PPATH = "/infra/domains/default/security-policies/web"

HEALTHY: dict[str, Any] = {
    "status": "HEALTHY",
    "controller_status": {"status": "HEALTHY", "connected_agent_num": 2, "conditions": [
        {"condition_type": "CONTROLLER_HEALTHY", "status": "HEALTHY", "last_heartbeat_time": 1}]},
    "agent_info": {"healthy_agent_num": 2, "degraded_agent_num": 0, "failed_agent_num": 0},
    "mp_adapter_status": {"status": "HEALTHY", "conditions": [{"condition_type": "MP_CONNECTED", "status": "HEALTHY"}]},
    "ccp_adapter_status": {"status": "HEALTHY"},
}


def _policy(api: Api, cid: str = "c1") -> None:
    api.patch(f"{DOMAIN}/groups/web", json=antrea_group("web"))
    r = api.patch(f"{POL}/web", json={"resource_type": "SecurityPolicy", "category": "Application",
                                      "scope": [f"{CCP_PATH}/{cid}"], "rules": [
        rule("allow-fe", destination_groups=["/infra/domains/default/groups/web"], services=["/infra/services/HTTP"]),
        rule("deny", action="DROP", sequence_number=9)]})
    assert r.status_code == 200, r.text


def test_unregistered_cluster_is_404(api: Api) -> None:
    r = api.post(f"{CH}/ghost/heartbeat", json=HEALTHY)
    assert r.status_code == 404 and f"{CCP_PATH}/ghost" in r.json()["error_message"]
    assert api.get(f"{CH}/ghost/requests", params={"timeout": 0}).status_code == 404


def test_heartbeat_healthy_then_unknown(api: Api, sim: NsxSimulator) -> None:
    ccp = register_cluster(api, "c1")
    assert ccp["node_id"] and ccp["path"] == f"{CCP_PATH}/c1"
    assert api.get(f"{CCP}/c1/status").json()["status"] == "UNKNOWN"  # before any heartbeat
    r = api.put(f"{CCP}/c1/heartbeat-config", json={"report_interval": 1})
    assert r.status_code == 200 and r.json()["report_interval"] == 1
    r = api.post(f"{CH}/c1/heartbeat", json=HEALTHY)
    assert r.status_code == 200 and r.json() == {"report_interval": 1}
    st = api.get(f"{CCP}/c1/status").json()
    assert st["status"] == "HEALTHY" and st["resource_type"] == "AntreaClusterInfo"
    assert st["controller_status"]["connected_agent_num"] == 2 and st["agent_info"]["healthy_agent_num"] == 2
    listed = api.get(f"{POLICY}/infra/sites/default/enforcement-points/default/cluster-control-planes-status").json()
    assert [x["status"] for x in listed["results"]] == ["HEALTHY"]
    time.sleep(1.5)  # still within 3 x report_interval
    assert api.get(f"{CCP}/c1/status").json()["status"] == "HEALTHY"
    time.sleep(1.8)
    gone = api.get(f"{CCP}/c1/status").json()
    assert gone["status"] == "UNKNOWN" and gone["controller_status"]["status"] == "UNKNOWN"
    assert api.post(f"{CH}/c1/heartbeat", json=dict(HEALTHY, status="DEGRADED")).status_code == 200
    assert api.get(f"{CCP}/c1/status").json()["status"] == "DEGRADED"


def test_heartbeat_validation(api: Api) -> None:
    register_cluster(api, "c1")
    for bad in ({"status": "GOOD"}, {"status": "HEALTHY", "extra": 1},
                {"status": "HEALTHY", "agent_info": {"healthy_agent_num": -1}},
                {"status": "HEALTHY", "controller_status": {"status": "HEALTHY", "conditions": [
                    {"condition_type": "FOO", "status": "HEALTHY"}]}}):
        r = api.post(f"{CH}/c1/heartbeat", json=bad)
        assert r.status_code == 400, bad
    assert api.get(f"{CCP}/c1/status").json()["status"] == "UNKNOWN"


def test_realization_reports_reflected(api: Api) -> None:
    register_cluster(api, "c1")
    register_cluster(api, "c2")
    _policy(api)
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "IN_PROGRESS"
    assert [e["enforcement_point_path"] for e in status["consolidated_status_per_enforcement_point"]] == [
        f"{CCP_PATH}/c1"]
    r = api.post(f"{CH}/c1/realization", json={"reports": [
        {"intent_path": PPATH, "intent_revision": 0, "state": "REALIZED"},
        {"intent_path": "/infra/domains/default/security-policies/gone", "state": "REALIZED"}]})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "ignored": [
        "/infra/domains/default/security-policies/gone"]}
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "SUCCESS" and status["publish_status"] == "REALIZED"
    # A new revision makes the old REALIZED stale.
    api.patch(f"{POL}/web", json={"description": "v2"})
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "IN_PROGRESS"
    r = api.post(f"{CH}/c1/realization", json={"reports": [{"intent_path": PPATH, "intent_revision": 1,
                                                           "state": "ERROR", "reasons": [
        {"rule_id": "deny", "message": "tier clash"}]}]})
    assert r.status_code == 200
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "ERROR"
    ents = api.get(f"{POLICY}/infra/realized-state/realized-entities", params={"intent_path": PPATH}).json()
    assert ents["results"][0]["state"] == "ERROR"
    assert ents["results"][0]["alarms"] == [{"message": "tier clash", "error_details": {"rule_id": "deny"}}]
    held = api.get(f"{CH}/c1/realization").json()
    assert held["results"][0]["state"] == "ERROR" and held["results"][0]["intent_revision"] == 1
    # A policy that spans two clusters is SUCCESS only when both are realized.
    api.patch(f"{POL}/web", json={"scope": [f"{CCP_PATH}/c1", f"{CCP_PATH}/c2"]})
    for cid in ("c1", "c2"):
        api.post(f"{CH}/{cid}/realization", json={"reports": [{"intent_path": PPATH, "state": "REALIZED"}]})
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "SUCCESS"
    assert api.delete(f"{CH}/c2/realization", params={"intent_path": PPATH}).status_code == 200
    status = api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": PPATH}).json()
    assert status["consolidated_status"]["consolidated_status"] == "IN_PROGRESS"
    # Invalid batch → 400, nothing stored.
    bad = api.post(f"{CH}/c2/realization", json={"reports": [{"intent_path": PPATH, "state": "REALIZED"},
                                                             {"intent_path": PPATH, "state": "DONE"}]})
    assert bad.status_code == 400 and bad.json()["module_name"] == "AntreaAdapter"
    assert api.get(f"{CH}/c2/realization").json()["results"] == []
    assert api.get(f"{POLICY}/infra/realized-state/status", params={"intent_path": "/infra/nope/x"}).status_code == 404


def test_statistics_reflected(api: Api) -> None:
    register_cluster(api, "c1")
    _policy(api)
    zero = api.get(f"{POL}/web/statistics").json()
    assert zero["result_count"] == 1
    entry = zero["results"][0]
    assert entry["container_cluster_path"] == f"{CCP_PATH}/c1"
    assert {s["rule"].rsplit("/", 1)[1]: s["packet_count"] for s in entry["statistics"]["results"]} == {
        "allow-fe": 0, "deny": 0}
    r = api.post(f"{CH}/c1/statistics", json={"policies": [{"intent_path": PPATH, "rules": [
        {"rule_id": "allow-fe", "packet_count": 120, "byte_count": 9800, "session_count": 4},
        {"rule_id": "nope", "packet_count": 1, "byte_count": 1, "session_count": 1}]}]})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "ignored": [f"{PPATH}/rules/nope"]}
    stats = api.get(f"{POL}/web/statistics", params={"container_cluster_path": f"{CCP_PATH}/c1"}).json()
    by_rule = {s["rule"].rsplit("/", 1)[1]: s for s in stats["results"][0]["statistics"]["results"]}
    assert (by_rule["allow-fe"]["packet_count"], by_rule["allow-fe"]["byte_count"],
            by_rule["allow-fe"]["session_count"], by_rule["allow-fe"]["hit_count"]) == (120, 9800, 4, 4)
    rule_id = api.get(f"{POL}/web/rules/allow-fe").json()["rule_id"]
    assert by_rule["allow-fe"]["internal_rule_id"] == str(rule_id)
    one = api.get(f"{POL}/web/rules/allow-fe/statistics").json()
    assert one["results"][0]["statistics"]["byte_count"] == 9800
    other = api.get(f"{POL}/web/statistics", params={"container_cluster_path": f"{CCP_PATH}/other"}).json()
    assert other["results"] == []
    assert api.post(f"{CH}/c1/statistics", json={"policies": [{"intent_path": PPATH, "rules": [
        {"rule_id": "deny", "packet_count": -5, "byte_count": 0, "session_count": 0}]}]}).status_code == 400


def test_traceflow_round_trip(api: Api, sim: NsxSimulator) -> None:
    ccp = register_cluster(api, "c1")
    assert api.get(f"{CH}/c1/requests", params={"timeout": 0}).json() == {"requests": []}
    t0 = time.monotonic()
    assert api.get(f"{CH}/c1/requests", params={"timeout": 1}).json() == {"requests": []}
    assert time.monotonic() - t0 >= 0.9
    assert api.get(f"{CH}/c1/requests", params={"timeout": 61}).status_code == 400
    polled: list[dict[str, Any]] = []

    def poll() -> None:
        polled.extend(Api(sim).get(f"{CH}/c1/requests", params={"timeout": 10}).json()["requests"])

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.2)
    cfg = {"resource_type": "AntreaTraceflowConfig", "container_cluster_id": ccp["node_id"],
           "source_external_id": "pod-uid-1", "destination_external_id": "pod-uid-2",
           "packet": {"resource_type": "FIELDS_PACKET_DATA", "ip_header": {"protocol": 6},
                      "transport_header": {"tcp_header": {"dst_port": 80, "tcp_flags": 2}}}}
    assert api.put(f"{POLICY}/infra/antrea/traceflows/tf1", json=cfg).status_code == 200
    waiter.join(5)
    assert not waiter.is_alive()
    assert len(polled) == 1 and polled[0]["type"] == "TRACEFLOW"
    assert polled[0]["traceflow"]["source_external_id"] == "pod-uid-1"
    assert polled[0]["traceflow"]["path"] == "/infra/antrea/traceflows/tf1"
    # Delivered once; include_delivered shows it again.
    assert api.get(f"{CH}/c1/requests", params={"timeout": 0}).json()["requests"] == []
    again = api.get(f"{CH}/c1/requests", params={"timeout": 0, "include_delivered": "true"}).json()
    assert [x["id"] for x in again["requests"]] == [polled[0]["id"]]
    assert api.get(f"{POLICY}/infra/antrea/traceflows/tf1/status").json() == {"reason": "In progress"}
    obs = [{"component_type": "ANTREA_SPOOFGUARD", "observation_type": "AntreaTraceflowObservationForwarded",
            "container_node_id": "node-1", "timestamp": 1},
           {"component_type": "ANTREA_DFW", "observation_type": "AntreaTraceflowObservationDropped",
            "container_node_id": "node-1", "timestamp": 2, "rule_path": f"{PPATH}/rules/deny"}]
    bad = api.post(f"{CH}/c1/requests/{polled[0]['id']}/result", json={"phase": "DONE", "observations": obs})
    assert bad.status_code == 400
    r = api.post(f"{CH}/c1/requests/{polled[0]['id']}/result", json={"phase": "SUCCEEDED", "observations": obs})
    assert r.status_code == 200 and r.json()["state"] == "DONE"
    assert api.post(f"{CH}/c1/requests/{polled[0]['id']}/result", json={"phase": "SUCCEEDED"}).status_code == 409
    assert api.get(f"{POLICY}/infra/antrea/traceflows/tf1/status").json() == {"phase": "SUCCEEDED", "reason": ""}
    got = api.get(f"{POLICY}/infra/antrea/traceflows/tf1/observations").json()
    assert got["result_count"] == 2 and got["results"][1]["rule_path"].endswith("/deny")
    # Retrace: a new request, previous observations dropped.
    r = api.post(f"{POLICY}/infra/antrea/traceflows/tf1", params={"action": "retrace"})
    assert r.status_code == 200
    assert api.get(f"{POLICY}/infra/antrea/traceflows/tf1/observations").json()["result_count"] == 0
    new = api.get(f"{CH}/c1/requests", params={"timeout": 0}).json()["requests"]
    assert len(new) == 1 and new[0]["id"] != polled[0]["id"]
    # Deleting the traceflow cancels its request.
    assert api.delete(f"{POLICY}/infra/antrea/traceflows/tf1").status_code == 200
    assert api.post(f"{CH}/c1/requests/{new[0]['id']}/result", json={"phase": "SUCCEEDED"}).status_code == 404
    # A traceflow for an unknown cluster fails at once.
    api.put(f"{POLICY}/infra/antrea/traceflows/tf2", json=dict(cfg, container_cluster_id="nobody"))
    assert api.get(f"{POLICY}/infra/antrea/traceflows/tf2/status").json()["phase"] == "FAILED"


def test_traceflow_routed_by_inventory_cluster_id(api: Api) -> None:
    register_cluster(api, "c1")
    api.post("/api/v1/fabric/container-clusters", json={
        "external_id": "inv-uuid", "display_name": "c1", "cluster_type": "Kubernetes",
        "infrastructure": {"infra_type": "vSphere"}})
    api.put(f"{POLICY}/infra/antrea/traceflows/tf", json={"container_cluster_id": "inv-uuid",
                                                          "source_external_id": "p"})
    reqs = api.get(f"{CH}/c1/requests", params={"timeout": 0}).json()["requests"]
    assert [r["traceflow"]["id"] for r in reqs] == ["tf"]


def test_support_bundle_collect(api: Api, sim: NsxSimulator) -> None:
    register_cluster(api, "c1")
    archive = b"\x1f\x8b fake tgz " * 100
    done = threading.Event()

    def adapter() -> None:
        a = Api(sim)
        reqs = a.get(f"{CH}/c1/requests", params={"timeout": 10}).json()["requests"]
        rid = reqs[0]["id"]
        assert reqs[0]["support_bundle"]["nodes"] == ["n1", "n2"]
        early = a.post(f"{CH}/c1/requests/{rid}/result", json={"phase": "SUCCEEDED"})
        assert early.status_code == 400  # archive first
        up = a.put(f"{CH}/c1/requests/{rid}/archive", data=archive,
                   headers={"Content-Type": "application/octet-stream"})
        assert up.json() == {"size": len(archive), "sha256": hashlib.sha256(archive).hexdigest()}
        a.post(f"{CH}/c1/requests/{rid}/result", json={
            "phase": "SUCCEEDED", "success_nodes": [{"node_id": "n1", "node_display_name": "w1"}],
            "failed_nodes": [{"node_id": "n2", "error_message": "timeout"}]})
        done.set()

    t = threading.Thread(target=adapter)
    t.start()
    r = api.post("/api/v1/administration/support-bundles", params={"action": "collect"}, json={
        "nodes": [], "container_nodes": [{"container_type": "ANTREA", "clusters": [
            {"cluster_id": "c1", "nodes": ["n1", "n2"]}]}], "content_filters": ["DEFAULT"]})
    t.join(5)
    assert done.is_set()
    assert r.status_code == 200
    res = r.json()
    assert [n["node_id"] for n in res["success_nodes"]] == ["n1"]
    assert res["success_nodes"][0]["sha256_thumbprint"] == hashlib.sha256(archive).hexdigest()
    assert [(n["node_id"], n["error_message"]) for n in res["failed_nodes"]] == [("n2", "timeout")]
    assert res["remaining_nodes"] == []
    stored = sim.state.adapter_requests("c1")[0]
    assert sim.state.archive(stored["id"]) == archive


def test_log_collection_request(api: Api, sim: NsxSimulator) -> None:
    register_cluster(api, "c1")
    rid = sim.request_log_collection("c1", components=["ccp-adapter"])
    reqs = api.get(f"{CH}/c1/requests", params={"timeout": 0}).json()["requests"]
    assert reqs[0]["id"] == rid and reqs[0]["log_collection"]["components"] == ["ccp-adapter"]
    assert api.post(f"{CH}/c1/requests/{rid}/result", json={"phase": "FAILED", "reason": "no logs"}
                    ).status_code == 200
    assert sim.state.adapter_requests("c1")[0]["result"]["reason"] == "no logs"
