"""The inventory reconcile: from the informer caches, the desired NSX object of one K8s object.

A request is one object of one watched kind (one controller per kind, keyed ``namespace/name``).
The reconcile reads the object and whatever the mapping needs (its namespace's UID, its node's UID,
the Services of its namespace) from the caches and records the result in the :class:`Outbox`; it
never talks to NSX. Reading and recording happen under the outbox lock, so when two workers race on
related keys the record made last was computed from the newest cache state.

Deletes: a deleted object is gone from the cache, so the reconcile remembers which ``external_id``
each key produced. What that memory cannot cover (objects deleted while the adapter was down) the
global :meth:`InventoryReconciler.resync` finds: every acknowledged or desired object whose UID is no
longer in any cache is deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controllers.ccp.names import ANTREA_API_VERSION, MANAGED_BY_LABEL
from controllers.mp import inventory_mapping as m
from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_realization import network_health
from controllers.mp.inventory_settings import InventorySettings
from reconciler.cache import Store, meta_namespace_key
from reconciler.reconcile import Request, Result

NAMESPACE = "Namespace"
POD = "Pod"
SERVICE = "Service"
NODE = "Node"
NETWORK_POLICY = "NetworkPolicy"
INGRESS = "Ingress"
ACNP = "ClusterNetworkPolicy"
ANNP = "AntreaNetworkPolicy"
AGENT_INFO = "AntreaAgentInfo"

NOT_OURS = f"!{MANAGED_BY_LABEL}"
"""Antrea policies the CCP adapter wrote carry the managed-by label; NSX already knows them."""


@dataclass(frozen=True)
class WatchedKind:
    """One informer the inventory needs."""

    api_version: str
    kind: str
    label_selector: str | None = None
    reported: bool = True
    """False for kinds only read to map others (AntreaAgentInfo feeds its Node)."""
    optional: bool = False
    """A CRD that may be missing from the cluster: then the kind is skipped, with a warning."""


WATCHED: dict[str, WatchedKind] = {
    NAMESPACE: WatchedKind("v1", "Namespace"),
    NODE: WatchedKind("v1", "Node"),
    SERVICE: WatchedKind("v1", "Service"),
    POD: WatchedKind("v1", "Pod"),
    NETWORK_POLICY: WatchedKind("networking.k8s.io/v1", "NetworkPolicy"),
    INGRESS: WatchedKind("networking.k8s.io/v1", "Ingress"),
    ACNP: WatchedKind(ANTREA_API_VERSION, "ClusterNetworkPolicy", NOT_OURS, optional=True),
    ANNP: WatchedKind(ANTREA_API_VERSION, "NetworkPolicy", NOT_OURS, optional=True),
    AGENT_INFO: WatchedKind(ANTREA_API_VERSION, "AntreaAgentInfo", reported=False, optional=True),
}
POLICY_TYPES = {NETWORK_POLICY: "NETWORK_POLICY", ACNP: "ACNP", ANNP: "ANP"}
NAMESPACED = (POD, SERVICE, NETWORK_POLICY, INGRESS, ANNP)


def _key(request: Request) -> str:
    return f"{request.namespace}/{request.name}" if request.namespace else request.name


class InventoryReconciler:
    """Records the desired inventory object of each cached K8s object in the outbox."""

    def __init__(self, stores: Mapping[str, Store], outbox: Outbox, settings: InventorySettings,
                 clock: Callable[[], float] = time.time,
                 realization: Callable[[str], Mapping[str, Any] | None] | None = None) -> None:
        """``stores``: the informer cache per kind name of :data:`WATCHED` (missing optional kinds
        are simply absent). ``clock``: wall time, for agent heartbeat ages. ``realization``: the
        controlplane status of a K8s NetworkPolicy by UID (None: not reported)."""
        self._realization = realization
        self._stores = stores
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self._produced: dict[tuple[str, str], str] = {}  # (kind, key) -> external_id recorded

    @property
    def cluster_object(self) -> m.NsxObj:
        s = self._settings
        return m.container_cluster(s.cluster_id, s.cluster_name, s.infra_type)

    def for_kind(self, kind: str) -> Callable[[Request], Result | None]:
        """The reconcile function of one kind's controller."""
        def reconcile(request: Request) -> Result | None:
            return self.reconcile(kind, request)
        reconcile.__name__ = f"reconcile_{kind}"
        return reconcile

    def reconcile(self, kind: str, request: Request) -> Result | None:
        key = _key(request)
        with self._outbox.lock:
            obj = self._stores[kind].get(key)
            desired, requeue_after = self._desired(kind, obj) if obj is not None else (None, None)
            produced = self._produced.get((kind, key))
            if produced is not None and (desired is None or desired["external_id"] != produced):
                self._outbox.remove(produced)  # deleted, or re-created under the same name
                del self._produced[(kind, key)]
            if desired is not None:
                self._outbox.put(desired)
                self._produced[(kind, key)] = str(desired["external_id"])
        return Result(requeue_after=requeue_after) if requeue_after else None

    def resync(self) -> int:
        """Recompute every object from the caches and mark for delete whatever NSX holds (or the
        outbox wants) that no cached object produces any more. Returns the number of such orphans."""
        with self._outbox.lock:
            self._outbox.put(self.cluster_object)
            live: set[str] = {self._settings.cluster_id}
            for kind, spec in WATCHED.items():
                store = self._stores.get(kind)
                if store is None or not spec.reported:
                    continue
                for obj in store.list():
                    self.reconcile(kind, Request.from_key(meta_namespace_key(obj)))
                    live.add(m.uid_of(obj))
            orphans = (self._outbox.acknowledged_ids() | self._outbox.desired_ids()) - live
            for ext in orphans:
                self._outbox.remove(ext)
            self._produced = {k: v for k, v in self._produced.items() if v in live}
        return len(orphans)

    # ------------------------------------------------------------------------------- desired

    def _uid(self, kind: str, key: str | None) -> str | None:
        store = self._stores.get(kind)
        obj = store.get(key) if store is not None and key else None
        return m.uid_of(obj) or None if obj is not None else None

    def _desired(self, kind: str, obj: Mapping[str, Any]) -> tuple[m.NsxObj | None, float | None]:
        if not m.uid_of(obj):
            return None, None
        cid = self._settings.cluster_id
        namespace = (obj.get("metadata") or {}).get("namespace")
        if kind == NAMESPACE:
            return m.project(obj, cid), None
        if kind == POD:
            services = self._stores[SERVICE].by_index("namespace", namespace) if namespace else []
            labels = (obj.get("metadata") or {}).get("labels")
            node = (obj.get("spec") or {}).get("nodeName")
            return m.application_instance(obj, cid, self._uid(NAMESPACE, namespace), self._uid(NODE, node),
                                          m.application_ids_for(labels, services)), None
        if kind == SERVICE:
            return m.application(obj, cid, self._uid(NAMESPACE, namespace)), None
        if kind == NODE:
            agents = self._stores.get(AGENT_INFO)
            name = str((obj.get("metadata") or {}).get("name"))
            agent = agents.get(name) if agents is not None else None
            now = self._clock()
            left = m.agent_status(agent, now)[1]
            return m.cluster_node(obj, cid, agent, now), (left + 1.0 if left is not None else None)
        if kind in POLICY_TYPES:
            health = (network_health(self._realization(m.uid_of(obj)))
                      if kind == NETWORK_POLICY and self._realization is not None else None)
            return m.network_policy(obj, cid, self._uid(NAMESPACE, namespace), POLICY_TYPES[kind], health), None
        if kind == INGRESS:
            ids = [uid for name in m.ingress_backends(obj)
                   if (uid := self._uid(SERVICE, f"{namespace}/{name}")) is not None]
            return m.ingress_policy(obj, cid, self._uid(NAMESPACE, namespace), ids), None
        return None, None
