"""Every row of mapping.md §7, as NSX stores it after the adapter's initial sync."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from controllers.ccp.names import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from tests.integration.mp.conftest import NODE, Running, World, wait_for

ANTREA = "crd.antrea.io/v1beta1"


def _utc(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def test_every_kind_is_reported_with_its_fields(world: World, cluster_id: str, run: Callable[..., Running]) -> None:
    kube = world.kube
    ns = world.namespace({"team": "web", "env": "prod"})
    nsname = ns["metadata"]["name"]
    node = kube.create(NODE, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{nsname}-n1"},
                              "spec": {"podCIDR": "10.244.9.0/24", "providerID": "vsphere://4203"}})
    node = kube.patch_status(NODE, node["metadata"]["name"], {"status": {
        "addresses": [{"type": "InternalIP", "address": "172.18.0.3"}, {"type": "ExternalIP", "address": "1.2.3.4"},
                      {"type": "Hostname", "address": "n1"}],
        "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Ubuntu 24.04"}}})
    bare = kube.create(NODE, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{nsname}-n2"},
                              "spec": {"podCIDR": "10.244.8.0/24"}})
    kube.create((ANTREA, "AntreaAgentInfo"), {
        "apiVersion": ANTREA, "kind": "AntreaAgentInfo", "metadata": {"name": node["metadata"]["name"]},
        "nodeSubnets": ["10.244.1.0/24"],
        "agentConditions": [{"type": "AgentHealthy", "status": "True", "lastHeartbeatTime": _utc()}]})
    svc = world.service(nsname, "web", {"app": "web"})
    other = world.service(nsname, "all-web", {"tier": "front"})
    headless = world.service(nsname, "manual", None)
    running = world.pod(nsname, "web-0", {"app": "web", "tier": "front"}, node["metadata"]["name"], "Running",
                        ["10.244.1.5", "fd00::5"])
    pending = world.pod(nsname, "web-1", {"app": "db"})
    unknown = world.pod(nsname, "web-2", {"app": "web"}, node["metadata"]["name"], "Unknown")
    netpol = kube.create(("networking.k8s.io/v1", "NetworkPolicy"), {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": nsname, "labels": {"k": "v"}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    ingress = kube.create(("networking.k8s.io/v1", "Ingress"), {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing", "namespace": nsname},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": "web", "port": {"number": 80}}}}]}}]}})
    acnp_spec = {"priority": 5, "appliedTo": [{"podSelector": {}}], "ingress": [{"action": "Drop"}]}
    acnp = kube.create((ANTREA, "ClusterNetworkPolicy"), {
        "apiVersion": ANTREA, "kind": "ClusterNetworkPolicy", "metadata": {"name": f"{nsname}-user"},
        "spec": acnp_spec})
    ours = kube.create((ANTREA, "ClusterNetworkPolicy"), {
        "apiVersion": ANTREA, "kind": "ClusterNetworkPolicy",
        "metadata": {"name": f"{nsname}-ours", "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": acnp_spec})
    annp = kube.create((ANTREA, "NetworkPolicy"), {
        "apiVersion": ANTREA, "kind": "NetworkPolicy", "metadata": {"name": "annp", "namespace": nsname},
        "spec": acnp_spec})

    with run(cluster_name="prod-cluster", infra_type="KVM") as adapter:
        adapter.wait_synced()
        inv = world.inventory(cluster_id)

    def uid(obj: dict[str, Any]) -> str:
        return str(obj["metadata"]["uid"])

    cluster = world.nsx.state.container_clusters[cluster_id]
    assert (cluster["cluster_type"], cluster["cni_type"], cluster["infrastructure"], cluster["display_name"]) == (
        "Kubernetes", "Antrea", {"infra_type": "KVM"}, "prod-cluster")

    project = inv[uid(ns)]
    assert project["resource_type"] == "ContainerProject"
    assert project["display_name"] == nsname and project["container_cluster_id"] == cluster_id
    labels = ns["metadata"]["labels"]
    assert project["tags"] == [{"scope": f"dis:k8s:{k}", "tag": labels[k]} for k in sorted(labels)]
    assert {"scope": "dis:k8s:team", "tag": "web"} in project["tags"]

    instance = inv[uid(running)]
    assert instance["resource_type"] == "ContainerApplicationInstance"
    assert instance["status"] == "UP"
    assert instance["container_project_id"] == uid(ns)
    assert instance["cluster_node_id"] == uid(node)
    assert instance["container_application_ids"] == sorted([uid(svc), uid(other)])
    assert instance["origin_properties"] == [{"key": "ip", "value": "10.244.1.5,fd00::5"}]
    assert instance["tags"] == [{"scope": "dis:k8s:app", "tag": "web"}, {"scope": "dis:k8s:tier", "tag": "front"}]
    assert inv[uid(pending)]["status"] == "DOWN"
    assert inv[uid(pending)]["container_application_ids"] == []
    assert inv[uid(pending)]["cluster_node_id"] is None
    assert inv[uid(unknown)]["status"] == "UNKNOWN"
    assert inv[uid(unknown)]["container_application_ids"] == [uid(svc)]

    app = inv[uid(svc)]
    assert app["resource_type"] == "ContainerApplication"
    assert (app["type"], app["cluster_ips"], app["status"], app["container_project_id"]) == (
        "CLUSTER_IP", ["10.96.0.10"], "UP", uid(ns))
    assert app["service_ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "target_port": "8080"}]
    assert inv[uid(headless)]["resource_type"] == "ContainerApplication"

    cnode = inv[uid(node)]
    assert cnode["resource_type"] == "ContainerClusterNode"
    assert cnode["ip_addresses"] == ["172.18.0.3"] and cnode["external_ip_addresses"] == ["1.2.3.4"]
    assert cnode["pod_cidrs"] == ["10.244.1.0/24"]  # the AntreaAgentInfo's subnets win over spec.podCIDR
    assert cnode["cni_agent_status"] == "HEALTHY"
    assert cnode["provider_id"] == "vsphere://4203"
    assert {"key": "kubelet_version", "value": "v1.31.0"} in cnode["origin_properties"]
    assert inv[uid(bare)]["pod_cidrs"] == ["10.244.8.0/24"] and inv[uid(bare)]["cni_agent_status"] is None

    np = inv[uid(netpol)]
    assert (np["resource_type"], np["policy_type"], np["container_project_id"]) == (
        "ContainerNetworkPolicy", "NETWORK_POLICY", uid(ns))
    assert "podSelector: {}" in np["spec"] and "- Ingress" in np["spec"]
    assert np["tags"] == [{"scope": "dis:k8s:k", "tag": "v"}]
    assert inv[uid(acnp)]["policy_type"] == "ACNP" and inv[uid(acnp)]["container_project_id"] is None
    assert inv[uid(annp)]["policy_type"] == "ANP" and inv[uid(annp)]["container_project_id"] == uid(ns)
    assert uid(ours) not in inv  # the adapter's own policies are not inventory

    ing = inv[uid(ingress)]
    assert ing["resource_type"] == "ContainerIngressPolicy"
    assert ing["container_application_ids"] == [uid(svc)] and "name: web" in ing["spec"]


def test_agent_heartbeat_loss_turns_node_unhealthy(world: World, cluster_id: str,
                                                  run: Callable[..., Running]) -> None:
    name = f"hb-{cluster_id[:8]}"
    node = world.kube.create(NODE, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    world.kube.create((ANTREA, "AntreaAgentInfo"), {
        "apiVersion": ANTREA, "kind": "AntreaAgentInfo", "metadata": {"name": name},
        "agentConditions": [{"type": "AgentHealthy", "status": "True", "lastHeartbeatTime": _utc(-178.5)}]})
    with run() as adapter:
        adapter.wait_synced()
        ext = node["metadata"]["uid"]
        assert world.inventory(cluster_id)[ext]["cni_agent_status"] == "HEALTHY"
        # No event: the reconcile asked to be requeued when the heartbeat would expire.
        wait_for(lambda: world.inventory(cluster_id)[ext]["cni_agent_status"] == "UNHEALTHY", 8,
                 "heartbeat expiry seen")
        world.kube.patch((ANTREA, "AntreaAgentInfo"), name, {"agentConditions": [
            {"type": "AgentHealthy", "status": "True", "lastHeartbeatTime": _utc()}]})
        wait_for(lambda: world.inventory(cluster_id)[ext]["cni_agent_status"] == "HEALTHY", 5, "fresh heartbeat")
