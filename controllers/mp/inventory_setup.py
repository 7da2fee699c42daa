"""Wiring of the MP inventory onto a :class:`~reconciler.manager.Manager`.

Data path: informers (Namespaces, Nodes, Services, Pods, NetworkPolicies, Ingresses, user ACNPs and
ANNPs, AntreaAgentInfos) → one controller per reported kind → :class:`InventoryReconciler` records
desired objects in the :class:`Outbox` → the leader-only :class:`InventoryFlusher` sends the
differences to NSX in batches.

Cross-kind events, so a reconcile never misses an input of its mapping:

* a Service created or deleted, or whose selector changed → every Pod of its namespace (their
  ``container_application_ids``) and, on create/delete, every Ingress of the namespace;
* a Namespace created (not from the initial list) → every object of the namespace (their
  ``container_project_id``); a Node created → the Pods scheduled on it (``cluster_node_id``);
* an AntreaAgentInfo event → the Node of the same name;
* a change of a K8s NetworkPolicy's realization in Antrea's controlplane view
  (:mod:`controllers.mp.inventory_realization`, a runnable of its own) → that NetworkPolicy.

The reconcile controllers run on every replica (they only fill the replica's own outbox), so a
standby that wins the Lease can flush at once; only the flusher writes, and only on the leader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from controllers.mp import inventory_metrics as metrics
from controllers.mp.inventory_flusher import InventoryFlusher, SentHook
from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_realization import SETTLE_TIMEOUT, PolicyRealization
from controllers.mp.inventory_reconciler import (
    AGENT_INFO,
    INGRESS,
    NAMESPACE,
    NAMESPACED,
    NETWORK_POLICY,
    NODE,
    POD,
    SERVICE,
    WATCHED,
    InventoryReconciler,
)
from controllers.mp.inventory_settings import InventorySettings
from nsx.client import NsxClient
from reconciler.cache import Store
from reconciler.controller import Controller, ControllerOptions
from reconciler.handler import EnqueueRequestsFromMapFunc
from reconciler.informer import SharedInformer
from reconciler.manager import Manager
from reconciler.predicate import Funcs
from reconciler.reconcile import Request
from reconciler.source import CreateEvent, Kind, Obj, UpdateEvent


@dataclass
class MpInventory:
    """Handles on the running parts, for health checks, tests and benchmarks."""

    settings: InventorySettings
    outbox: Outbox
    reconciler: InventoryReconciler
    flusher: InventoryFlusher
    informers: dict[str, SharedInformer]
    controllers: dict[str, Controller]
    realization: PolicyRealization | None = None


def _live_create(event: CreateEvent) -> bool:
    return not event.is_in_initial_list


def _selector_changed(event: UpdateEvent) -> bool:
    return bool((event.old.get("spec") or {}).get("selector") != (event.new.get("spec") or {}).get("selector"))


def _in_namespace_of(store: Store) -> Callable[[Obj], list[Request]]:
    """Map an object (a Service, a Namespace) to every cached object of ``store`` in its namespace."""
    def requests(obj: Obj) -> list[Request]:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or meta.get("name")  # a Namespace is its own namespace
        return [Request(name=str((o.get("metadata") or {}).get("name")), namespace=str(namespace))
                for o in store.by_index("namespace", str(namespace))]
    return requests


def _on_node_of(store: Store) -> Callable[[Obj], list[Request]]:
    """Map a Node to the cached Pods scheduled on it (a scan: only for the rare live Node create)."""
    def requests(node: Obj) -> list[Request]:
        name = (node.get("metadata") or {}).get("name")
        return [Request(name=str(meta.get("name")), namespace=str(meta.get("namespace")))
                for pod in store.list() if (pod.get("spec") or {}).get("nodeName") == name
                for meta in [pod.get("metadata") or {}]]
    return requests


def setup_mp_inventory(manager: Manager, nsx: NsxClient, settings: InventorySettings,
                       on_sent: SentHook | None = None) -> MpInventory:
    """Register the inventory controllers and the flusher on ``manager`` (before it starts)."""
    informers: dict[str, SharedInformer] = {}
    for name, spec in WATCHED.items():
        try:
            informers[name] = manager.informer((spec.api_version, spec.kind), label_selector=spec.label_selector)
        except Exception as err:
            if not spec.optional:
                raise
            logger.warning("{} {} is not served ({}); not reported to the NSX inventory", spec.api_version,
                           spec.kind, err)
    stores = {name: inf.store for name, inf in informers.items()}
    outbox = Outbox(wake_at=settings.inventory_batch_size)
    metrics.watch_outbox(settings.cluster_id, outbox)
    controllers: dict[str, Controller] = {}
    realization = PolicyRealization(manager.client, lambda namespace, name: controllers[NETWORK_POLICY].queue.add(
        Request(name=name, namespace=namespace))) if NETWORK_POLICY in informers else None
    reconciler = InventoryReconciler(stores, outbox, settings,
                                     realization=realization.status_of if realization is not None else None)
    flusher = InventoryFlusher(nsx, outbox, _settled_resync(reconciler, realization), reconciler.cluster_object,
                               settings, on_sent)

    for name, inf in informers.items():
        if not WATCHED[name].reported:
            continue
        ctrl = Controller(f"mp-inventory-{name.lower()}", reconciler.for_kind(name),
                          ControllerOptions(max_concurrent_reconciles=settings.workers, need_leader_election=False))
        ctrl.for_(inf)
        controllers[name] = ctrl

    services = informers[SERVICE]
    pods = controllers[POD]
    pods.watches(Kind(services), EnqueueRequestsFromMapFunc(_in_namespace_of(stores[POD])),
                 Funcs(create=_live_create, update=_selector_changed))
    pods.watches(Kind(informers[NODE]), EnqueueRequestsFromMapFunc(_on_node_of(stores[POD])),
                 Funcs(create=_live_create, update=lambda _e: False, delete=lambda _e: False))
    if INGRESS in controllers:
        controllers[INGRESS].watches(Kind(services), EnqueueRequestsFromMapFunc(_in_namespace_of(stores[INGRESS])),
                                     Funcs(create=_live_create, update=lambda _e: False))
    for name in NAMESPACED:
        if name in controllers:
            controllers[name].watches(Kind(informers[NAMESPACE]),
                                      EnqueueRequestsFromMapFunc(_in_namespace_of(stores[name])),
                                      Funcs(create=_live_create, update=lambda _e: False,
                                            delete=lambda _e: False))
    if AGENT_INFO in informers:
        controllers[NODE].watches(Kind(informers[AGENT_INFO]), EnqueueRequestsFromMapFunc(
            lambda obj: [Request(name=str((obj.get("metadata") or {}).get("name")))]))

    for ctrl in controllers.values():
        manager.add(ctrl)
    manager.add_runnable(flusher.run)
    if realization is not None:
        manager.add_runnable(realization.run, needs_leader_election=False)
    manager.add_readyz_check("mp-inventory", lambda: _check(
        flusher.synced.is_set() or not manager.is_leader(), "inventory not synced with NSX"))
    return MpInventory(settings, outbox, reconciler, flusher, informers, controllers, realization)


def _settled_resync(reconciler: InventoryReconciler, realization: PolicyRealization | None) -> Callable[[], int]:
    """The flusher's full resync, after the realization view settled (bounded): a restart then
    sends a failed K8s NetworkPolicy as UNHEALTHY at once, never HEALTHY first."""
    def resync() -> int:
        if realization is not None:
            realization.wait_settled(SETTLE_TIMEOUT)
        return reconciler.resync()
    return resync


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise RuntimeError(message)


__all__ = ["MpInventory", "setup_mp_inventory"]
