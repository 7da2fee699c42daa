"""The pure mapping (mapping.md §7) and the sparse diff."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.mp import inventory_mapping as m

CID = "cluster-1"


def pod(labels: dict[str, str] | None = None, phase: str | None = "Running", **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": "prod", "uid": "pod-uid", "labels": labels or {}},
            "spec": {"nodeName": "n1"}, "status": {"phase": phase, **status} if phase else status}


def test_tags_sorted_prefixed_and_bounded() -> None:
    labels = {f"k{i:02d}": "v" * 300 for i in range(40)}
    labels["a" * 200] = "x"
    out = m.tags(labels)
    assert len(out) == 30
    assert out[0] == {"scope": ("dis:k8s:" + "a" * 200)[:128], "tag": "x"}
    assert [t["scope"] for t in out[1:]] == [f"dis:k8s:k{i:02d}" for i in range(29)]
    assert all(len(t["tag"]) == 256 for t in out[1:])
    assert m.tags(None) == []


@pytest.mark.parametrize(("phase", "status"), [("Running", "UP"), ("Unknown", "UNKNOWN"), ("Pending", "DOWN"),
                                               ("Succeeded", "DOWN"), ("Failed", "DOWN"), (None, "DOWN")])
def test_pod_status(phase: str | None, status: str) -> None:
    assert m.pod_status(pod(phase=phase)) == status


def test_pod_instance_fields() -> None:
    services: list[dict[str, Any]] = [
        {"metadata": {"uid": "s1"}, "spec": {"selector": {"app": "web"}}},
        {"metadata": {"uid": "s2"}, "spec": {"selector": {"app": "web", "tier": "x"}}},
        {"metadata": {"uid": "s3"}, "spec": {}},  # no selector selects nothing
        {"metadata": {"uid": "s0"}, "spec": {"selector": {"app": "web"}}},
    ]
    p = pod({"app": "web"}, podIP="10.0.0.1", podIPs=[{"ip": "10.0.0.1"}, {"ip": "fd00::1"}])
    ids = m.application_ids_for(p["metadata"]["labels"], services)
    out = m.application_instance(p, CID, "ns-uid", "node-uid", ids)
    assert out == {
        "resource_type": "ContainerApplicationInstance", "external_id": "pod-uid", "display_name": "web-0",
        "tags": [{"scope": "dis:k8s:app", "tag": "web"}], "container_cluster_id": CID,
        "network_status": "HEALTHY", "network_errors": [],
        "origin_properties": [{"key": "ip", "value": "10.0.0.1,fd00::1"}],
        "container_project_id": "ns-uid", "cluster_node_id": "node-uid",
        "container_application_ids": ["s0", "s1"], "status": "UP"}
    assert set(out) - {"resource_type", "external_id"} == set(m.OWNED_FIELDS[m.INSTANCE])
    assert m.application_instance(pod(), CID, None, None, [])["origin_properties"] == []


def test_service_application() -> None:
    svc = {"metadata": {"name": "s", "uid": "u"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1", "fd00::a"],
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "UDP", "targetPort": "http"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}}
    out = m.application(svc, CID, "ns")
    assert (out["type"], out["cluster_ips"], out["status"]) == ("NODE_PORT", ["10.96.0.1", "fd00::a"], "UP")
    assert out["service_ports"] == [{"name": None, "port": 80, "protocol": "UDP", "node_port": 30080,
                                     "target_port": "http"}]
    assert out["load_balancer_ingress"] == [{"ip": "1.1.1.1"}]
    headless = m.application({"metadata": {"uid": "h"}, "spec": {"clusterIP": "None"}}, CID, None)
    assert headless["cluster_ips"] == [] and headless["type"] == "CLUSTER_IP"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_node_and_agent_status() -> None:
    now = 1_800_000_000.0
    node = {"metadata": {"name": "n1", "uid": "nu"}, "spec": {"podCIDRs": ["10.244.0.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
    assert m.cluster_node(node, CID, None, now)["cni_agent_status"] is None
    assert m.cluster_node(node, CID, None, now)["pod_cidrs"] == ["10.244.0.0/24"]
    fresh: dict[str, Any] = {"nodeSubnets": ["10.244.7.0/24"],
             "agentConditions": [{"type": "AgentHealthy", "status": "True", "lastHeartbeatTime": _utc(now - 10)}]}
    out = m.cluster_node(node, CID, fresh, now)
    assert (out["cni_agent_status"], out["pod_cidrs"], out["ip_addresses"]) == (
        "HEALTHY", ["10.244.7.0/24"], ["10.0.0.5"])
    status, left = m.agent_status(fresh, now)
    assert status == "HEALTHY" and left == pytest.approx(170.0)
    assert m.agent_status(fresh, now + 171)[0] == "UNHEALTHY"
    down = {"agentConditions": [*fresh["agentConditions"],
                                {"type": "OVSDBConnectionUp", "status": "False", "lastHeartbeatTime": _utc(now)}]}
    assert m.agent_status(down, now)[0] == "UNHEALTHY"
    no_addr = {"metadata": {"name": "n2", "uid": "x"}}
    info = {"networkInfo": {"transportInterfaceIPs": ["172.18.0.3/16"]}}
    assert m.cluster_node(no_addr, CID, info, now)["ip_addresses"] == ["172.18.0.3"]


def test_network_policy_and_ingress() -> None:
    np = {"metadata": {"name": "p", "uid": "u", "namespace": "ns"}, "spec": {"podSelector": {}}}
    out = m.network_policy(np, CID, "ns-uid", "NETWORK_POLICY")
    assert (out["policy_type"], out["spec"], out["network_status"]) == (
        "NETWORK_POLICY", "podSelector: {}\n", "HEALTHY")
    failed = dict(np, status={"phase": "Failed", "conditions": [
        {"type": "Realizable", "status": "False", "message": "tier missing"}]})
    out = m.network_policy(failed, CID, None, "ACNP")
    assert out["network_status"] == "UNHEALTHY" and out["network_errors"] == [{"error_message": "tier missing"}]
    with pytest.raises(ValueError):
        m.network_policy(np, CID, None, "BOGUS")
    ing = {"metadata": {"uid": "i"}, "spec": {"defaultBackend": {"service": {"name": "b"}}, "rules": [
        {"http": {"paths": [{"backend": {"service": {"name": "a"}}}, {"backend": {"resource": {}}}]}}]}}
    assert m.ingress_backends(ing) == ["a", "b"]


def test_sparse_update_sends_only_changed_fields_and_clears() -> None:
    base = m.application_instance(pod({"app": "a"}), CID, "ns", "n", ["s"])
    assert m.sparse_update(base, base) is None
    changed = m.application_instance(pod({"app": "b"}), CID, "ns", None, [])
    assert m.sparse_update(changed, base) == {
        "resource_type": "ContainerApplicationInstance", "external_id": "pod-uid",
        "tags": [{"scope": "dis:k8s:app", "tag": "b"}], "cluster_node_id": None, "container_application_ids": []}
    # NSX may return a list as absent/None: the same as empty, not a change.
    read_back = {k: v for k, v in base.items() if v != []}
    assert m.sparse_update(base, read_back) is None


def test_batch_order_parents_first_children_deleted_first() -> None:
    ops = [("DELETE", m.PROJECT), ("CREATE", m.INSTANCE), ("DELETE", m.INSTANCE), ("UPDATE", m.PROJECT),
           ("CREATE", m.APPLICATION), ("CREATE", m.CLUSTER)]
    ordered = sorted(ops, key=lambda o: m.sort_key(*o))
    assert ordered == [("CREATE", m.CLUSTER), ("UPDATE", m.PROJECT), ("CREATE", m.APPLICATION),
                       ("CREATE", m.INSTANCE), ("DELETE", m.INSTANCE), ("DELETE", m.PROJECT)]


label_dicts = st.dictionaries(st.text("abcxyz/.-", min_size=1, max_size=8), st.text("abc", max_size=4), max_size=5)


@given(label_dicts, label_dicts, st.sampled_from(["Running", "Pending", "Unknown"]),
       st.lists(st.sampled_from(["s1", "s2", "s3"]), max_size=3))
def test_update_applied_to_old_gives_new(old_labels: dict[str, str], new_labels: dict[str, str], phase: str,
                                        apps: list[str]) -> None:
    """NSX's UPDATE semantics (sparse overwrite) applied to the old object yield the new one."""
    old = m.application_instance(pod(old_labels), CID, "ns", "n", ["s1"])
    new = m.application_instance(pod(new_labels, phase), CID, "ns", "n", apps)
    update = m.sparse_update(new, old)
    merged = {**old, **(update or {})}
    assert m.owned_view(merged) == m.owned_view(new)
    assert (update is None) == (m.owned_view(old) == m.owned_view(new))


def test_every_mapping_output_is_a_valid_nsx_inventory_object() -> None:
    """The flusher posts the mapping's dicts as they are: they must satisfy the NSX client's models
    (the wire schema, nsx-api.md §7.1) for CREATE, sparse UPDATE and DELETE alike."""
    from nsx.models.inventory import ContainerInventoryObject

    now = time.time()
    node = {"metadata": {"name": "n", "uid": "nu", "labels": {"k": "v"}}, "spec": {"providerID": "p"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    svc = {"metadata": {"name": "s", "uid": "su"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.1",
                                                           "ports": [{"port": 80, "nodePort": 30000}]},
           "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}}
    outputs = [
        m.container_cluster(CID, "name", "vSphere"),
        m.project({"metadata": {"name": "ns", "uid": "nsu", "labels": {"a": "b"}}}, CID),
        m.application(svc, CID, "nsu"),
        m.application_instance(pod({"app": "x"}, podIP="10.0.0.2"), CID, "nsu", "nu", ["su"]),
        m.cluster_node(node, CID, {"agentConditions": [{"type": "AgentHealthy", "status": "True",
                                                        "lastHeartbeatTime": _utc(now)}]}, now),
        m.network_policy({"metadata": {"uid": "np"}, "spec": {}}, CID, "nsu", "ANP"),
        m.ingress_policy({"metadata": {"uid": "ing"}, "spec": {}}, CID, "nsu", ["su"]),
    ]
    for out in outputs:
        parsed = ContainerInventoryObject.model_validate({"object_update_type": "CREATE", "container_object": out})
        assert parsed.container_object.to_wire() == out
        changed = {**out, "display_name": "renamed"}
        update = m.sparse_update(changed, out)
        assert update is not None
        ContainerInventoryObject.model_validate({"object_update_type": "UPDATE", "container_object": update})
        ContainerInventoryObject.model_validate({"object_update_type": "DELETE", "container_object": m.delete_body(
            out["resource_type"], out["external_id"])})
