"""K8s NetworkPolicy realization → network status, and the pure parts of Antrea bundle fetching
(checksum-verified spooling into the archive, agent endpoints)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from typing import Any

import pytest

from controllers.mp.antrea_bundles import BundleError, agent_endpoint, stream_into
from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_realization import network_health
from controllers.mp.inventory_reconciler import NETWORK_POLICY, WATCHED, InventoryReconciler
from controllers.mp.inventory_settings import InventorySettings
from reconciler.cache import NAMESPACE_INDEX, Store, namespace_index
from reconciler.reconcile import Request

FAILURE = {"type": "RealizationFailure", "status": "True", "reason": "NetworkPolicyRealizationFailedOnNode",
           "message": 'Failed Nodes count 1: "n2":"boom"'}


def test_failed_phase_is_unhealthy_with_antreas_message() -> None:
    status = {"phase": "Failed", "conditions": [{"type": "Realizable", "status": "True"}, FAILURE]}
    assert network_health(status) == ("UNHEALTHY", [{"error_message": 'Failed Nodes count 1: "n2":"boom"'}])


def test_failed_without_condition_names_the_failing_nodes() -> None:
    status = {"phase": "Failed", "nodes": [{"nodeName": "n1", "realizationFailure": False},
                                           {"nodeName": "n2", "realizationFailure": True, "message": "x"}]}
    assert network_health(status) == ("UNHEALTHY", [{"error_message": "n2: x"}])


@pytest.mark.parametrize("status", [None, {}, {"phase": "Realized"}, {"phase": "Realizing"}, {"phase": "Pending"}])
def test_anything_but_failed_is_healthy(status: dict[str, Any] | None) -> None:
    assert network_health(status) == ("HEALTHY", [])


def test_reconcile_reports_the_controlplane_view_of_a_k8s_network_policy() -> None:
    views: dict[str, dict[str, Any]] = {"np-uid": {"phase": "Failed", "conditions": [FAILURE]}}
    stores = {kind: Store(indexers={NAMESPACE_INDEX: namespace_index}) for kind in WATCHED}
    outbox = Outbox()
    rec = InventoryReconciler(stores, outbox, InventorySettings(cluster_id="c"), clock=lambda: 0.0,
                              realization=views.get)
    stores[NETWORK_POLICY].upsert({"metadata": {"name": "np", "namespace": "ns", "uid": "np-uid"},
                                   "spec": {"podSelector": {}}})
    rec.reconcile(NETWORK_POLICY, Request("np", "ns"))
    [create] = outbox.take()
    outbox.acknowledge([create])
    assert create.body["network_status"] == "UNHEALTHY"
    assert create.body["network_errors"] == [{"error_message": FAILURE["message"]}]
    views["np-uid"] = {"phase": "Realized"}
    rec.reconcile(NETWORK_POLICY, Request("np", "ns"))
    [update] = outbox.take()
    assert update.update_type == "UPDATE"
    assert {k for k in update.body if k not in ("resource_type", "external_id")} == {"network_status",
                                                                                      "network_errors"}
    assert (update.body["network_status"], update.body["network_errors"]) == ("HEALTHY", [])


def _archive(data: bytes, bundle: dict[str, Any]) -> dict[str, bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        stream_into(tar, "antrea/agent_n1.tar.gz", io.BytesIO(data), bundle)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_a_verified_download_becomes_one_member() -> None:
    data = bytes(range(256)) * 100
    files = _archive(data, {"size": len(data), "sum": hashlib.sha256(data).hexdigest()})
    assert files == {"antrea/agent_n1.tar.gz": data}


def test_a_short_or_corrupt_download_leaves_no_member() -> None:
    data = b"x" * 1000
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        with pytest.raises(BundleError, match="ended after 1000 of 2000"):
            stream_into(tar, "a", io.BytesIO(data), {"size": 2000})
        with pytest.raises(BundleError, match="sha256"):
            stream_into(tar, "b", io.BytesIO(data), {"size": 1000, "sum": "0" * 64})
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz") as tar:
        assert tar.getnames() == []


def _node(*addresses: tuple[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}


def test_agent_endpoint_from_node_and_agent_info() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    info = {"apiPort": 10350, "apiCABundle": base64.b64encode(pem.encode()).decode()}
    ep = agent_endpoint(_node(("ExternalIP", "1.2.3.4"), ("InternalIP", "10.0.0.5")), info)
    assert (ep.node, ep.host, ep.port, ep.ca_pem) == ("n1", "10.0.0.5", 10350, pem)
    via_transport = agent_endpoint(_node(), {**info, "networkInfo": {"transportInterfaceIPs": ["10.0.0.9/24"]}})
    assert via_transport.host == "10.0.0.9"


@pytest.mark.parametrize("info, message", [
    ({"apiPort": 10350}, "apiCABundle"),
    ({"apiCABundle": "eA=="}, "apiPort"),
])
def test_agent_endpoint_refuses_what_it_cannot_reach_safely(info: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        agent_endpoint(_node(("InternalIP", "10.0.0.5")), info)
    with pytest.raises(BundleError, match="InternalIP"):
        agent_endpoint(_node(), {"apiPort": 1, "apiCABundle": "eA=="})
