"""The reconcile against real caches (``reconciler.cache.Store``) and a real outbox, without servers."""

from __future__ import annotations

from typing import Any

from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_reconciler import NAMESPACE, NODE, POD, SERVICE, WATCHED, InventoryReconciler
from controllers.mp.inventory_settings import InventorySettings
from reconciler.cache import NAMESPACE_INDEX, Store, namespace_index
from reconciler.reconcile import Request

CID = "c-1"


def make() -> tuple[dict[str, Store], Outbox, InventoryReconciler]:
    stores = {kind: Store(indexers={NAMESPACE_INDEX: namespace_index}) for kind in WATCHED}
    outbox = Outbox()
    return stores, outbox, InventoryReconciler(stores, outbox, InventorySettings(cluster_id=CID), clock=lambda: 0.0)


def pod(name: str, uid: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": labels or {}}, "spec": {}}


def ops(outbox: Outbox) -> list[tuple[str, str]]:
    taken = outbox.take()
    outbox.acknowledge(taken)
    return [(op.update_type, op.external_id) for op in taken]


def test_pod_maps_namespace_and_services_from_the_caches() -> None:
    stores, outbox, rec = make()
    stores[NAMESPACE].upsert({"metadata": {"name": "ns", "uid": "ns-uid"}})
    stores[SERVICE].upsert({"metadata": {"name": "s", "namespace": "ns", "uid": "s-uid"},
                            "spec": {"selector": {"app": "a"}}})
    stores[SERVICE].upsert({"metadata": {"name": "other", "namespace": "elsewhere", "uid": "o-uid"},
                            "spec": {"selector": {"app": "a"}}})
    stores[POD].upsert(pod("p", "p-uid", {"app": "a"}))
    rec.reconcile(POD, Request("p", "ns"))
    [create] = outbox.take()
    assert create.body["container_project_id"] == "ns-uid"
    assert create.body["container_application_ids"] == ["s-uid"]  # not the other namespace's Service


def test_delete_and_recreate_under_the_same_name() -> None:
    stores, outbox, rec = make()
    stores[POD].upsert(pod("p", "uid-1"))
    rec.reconcile(POD, Request("p", "ns"))
    assert ops(outbox) == [("CREATE", "uid-1")]
    stores[POD].upsert(pod("p", "uid-2"))  # deleted and re-created while we were not looking
    rec.reconcile(POD, Request("p", "ns"))
    assert sorted(ops(outbox)) == [("CREATE", "uid-2"), ("DELETE", "uid-1")]
    stores[POD].delete("ns/p")
    rec.reconcile(POD, Request("p", "ns"))
    assert ops(outbox) == [("DELETE", "uid-2")]


def test_resync_deletes_what_no_cached_object_produces() -> None:
    stores, outbox, rec = make()
    stores[NODE].upsert({"metadata": {"name": "n", "uid": "n-uid"}})
    outbox.seed([{"resource_type": "ContainerApplicationInstance", "external_id": "vanished"},
                 {"resource_type": "ContainerCluster", "external_id": CID, "display_name": CID,
                  "cluster_type": "Kubernetes", "cni_type": "Antrea", "infrastructure": {"infra_type": "vSphere"}}])
    assert rec.resync() == 1
    assert sorted(ops(outbox)) == [("CREATE", "n-uid"), ("DELETE", "vanished")]
    assert rec.resync() == 0
    assert ops(outbox) == []
