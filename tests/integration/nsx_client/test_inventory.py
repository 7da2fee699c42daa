"""Inventory batches (CREATE / sparse UPDATE / DELETE, chunked in order) and the reads to diff against."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from nsx import NotFound, NsxClient
from nsx.models import (
    ContainerApplication,
    ContainerApplicationInstance,
    ContainerCluster,
    ContainerClusterNode,
    ContainerInventoryObject,
    ContainerNetworkPolicy,
    ContainerProject,
)
from nsx.models.base import Tag
from nsx.models.inventory import ContainerInfrastructureInfo, KeyValuePair, NetworkError
from sim.nsx import NsxSimulator


@pytest.fixture
def cluster_id(client: NsxClient) -> str:
    external_id = str(uuid.uuid4())
    client.registration.create_container_cluster(ContainerCluster(
        external_id=external_id, display_name=f"inv-{external_id[:8]}", cluster_type="Kubernetes",
        cni_type="Antrea", infrastructure=ContainerInfrastructureInfo(infra_type="vSphere")))
    return external_id


def _op(kind: str, obj: Any) -> ContainerInventoryObject:
    return ContainerInventoryObject.model_validate({"object_update_type": kind, "container_object": obj})


def test_batches_are_chunked_and_applied_in_order(
    client: NsxClient, sim: NsxSimulator, cluster_id: str
) -> None:
    ns = ContainerProject(external_id="ns-1", display_name="prod", container_cluster_id=cluster_id,
                          tags=[Tag(scope="dis:k8s:team", tag="web")], network_status="HEALTHY",
                          network_errors=[])
    pods = [ContainerApplicationInstance(
        external_id=f"pod-{n}", display_name=f"web-{n}", container_cluster_id=cluster_id,
        container_project_id="ns-1", cluster_node_id="node-1", status="UP",
        origin_properties=[KeyValuePair(key="ip", value=f"10.244.0.{n}")]) for n in range(25)]
    updates = [_op("CREATE", ns.to_wire())] + [_op("CREATE", pod.to_wire()) for pod in pods]
    path = f"/api/v1/inventory/container/{cluster_id}"
    before = sim.count_requests("POST", path)
    assert client.inventory.update(cluster_id, updates, batch_size=10) == 3
    assert sim.count_requests("POST", path) == before + 3

    listed = {p.external_id: p for p in client.inventory.list_kind(ContainerApplicationInstance, cluster_id)}
    assert set(listed) == {f"pod-{n}" for n in range(25)}
    assert listed["pod-3"].origin_properties == [KeyValuePair(key="ip", value="10.244.0.3")]
    projects = list(client.inventory.list_kind(ContainerProject, cluster_id))
    assert [p.external_id for p in projects] == ["ns-1"]

    # sparse UPDATE replaces only what it carries; DELETE needs only the identity
    client.inventory.update(cluster_id, [
        _op("UPDATE", {"resource_type": "ContainerApplicationInstance", "external_id": "pod-0",
                       "status": "DOWN", "network_status": "UNHEALTHY",
                       "network_errors": [NetworkError(error_message="ContainersNotReady").to_wire()]}),
        _op("DELETE", {"resource_type": "ContainerApplicationInstance", "external_id": "pod-1"}),
    ])
    pod0 = client.inventory.get(ContainerApplicationInstance, "pod-0")
    assert pod0 is not None
    assert (pod0.status, pod0.network_status, pod0.display_name) == ("DOWN", "UNHEALTHY", "web-0")
    assert client.inventory.get(ContainerApplicationInstance, "pod-1") is None


def test_every_reported_kind_round_trips(client: NsxClient, cluster_id: str) -> None:
    objects = [
        ContainerProject(external_id="rt-ns", display_name="ns", container_cluster_id=cluster_id),
        ContainerClusterNode(external_id="rt-node", display_name="node-a", container_cluster_id=cluster_id,
                             ip_addresses=["192.168.0.10"], pod_cidrs=["10.244.0.0/24"],
                             cni_agent_status="HEALTHY"),
        ContainerApplication.model_validate({
            "external_id": "rt-svc", "display_name": "web", "container_cluster_id": cluster_id,
            "container_project_id": "rt-ns", "type": "CLUSTER_IP", "cluster_ips": ["10.96.0.10"],
            "status": "HEALTHY",
            "service_ports": [{"name": "http", "port": 80, "protocol": "TCP", "target_port": "8080"}]}),
        ContainerApplicationInstance(external_id="rt-pod", display_name="web-0", container_cluster_id=cluster_id,
                                     container_project_id="rt-ns", container_application_ids=["rt-svc"],
                                     status="UP"),
        ContainerNetworkPolicy(external_id="rt-np", display_name="deny", container_cluster_id=cluster_id,
                               container_project_id="rt-ns", policy_type="NETWORK_POLICY",
                               spec="podSelector: {}\n"),
    ]
    client.inventory.update(cluster_id, [_op("CREATE", o.to_wire()) for o in objects])
    stored = {o.external_id: o for o in client.inventory.list_cluster(cluster_id)}
    for sent in objects:
        got = stored[sent.external_id]
        assert type(got) is type(sent)
        for field, value in sent.to_wire().items():
            assert got.to_wire()[field] == value, field
        assert got.last_sync_time  # server-filled
        raw = client.get(f"/api/v1/fabric/{_collection(got)}/{got.external_id}")
        assert type(got).model_validate(raw).to_wire() == raw


def _collection(obj: Any) -> str:
    from nsx.inventory_api import COLLECTIONS
    return COLLECTIONS[obj.resource_type][1]


def test_unknown_cluster_is_not_found(client: NsxClient) -> None:
    with pytest.raises(NotFound):
        client.inventory.update("no-such-cluster", [_op("CREATE", ContainerProject(
            external_id="x", display_name="x").to_wire())])


def test_container_cluster_lifecycle(client: NsxClient, cluster_id: str) -> None:
    fetched = client.registration.get_container_cluster(cluster_id)
    assert fetched is not None and fetched.cluster_type == "Kubernetes"
    assert cluster_id in {c.external_id for c in client.registration.list_container_clusters()}
    assert client.registration.delete_container_cluster(cluster_id) is True
    assert client.registration.get_container_cluster(cluster_id) is None
