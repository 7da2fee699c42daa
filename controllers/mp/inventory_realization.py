"""Realization of K8s NetworkPolicies as Antrea's controlplane sees it, for their inventory objects
(mapping.md §6 last bullet, §7).

K8s NetworkPolicies have no status of their own; antrea-controller turns each into an internal
``controlplane.antrea.io/v1beta2`` ``NetworkPolicy`` (``sourceRef.type: K8sNetworkPolicy``) whose
realization the agents report per Node, and computes phase and conditions from those reports as it
does for ACNPs (antrea.md §2.7). This module follows that view (list+watch, the one verb pair the
adapter is granted on it) and keeps, per K8s NetworkPolicy UID, the latest status; the inventory
reconcile turns it into ``network_status`` / ``network_errors`` (:func:`network_health`).

Why not a manager informer: the manager waits for every informer to sync before anything starts,
and this view lives behind antrea-controller's aggregated API — when antrea-controller is down (503)
or the cluster has no such API (404) the rest of the inventory must still flow. So the view runs as
its own runnable: it waits quietly for the API to be served, re-lists and re-watches with the
engine's back-off, and enqueues the K8s NetworkPolicies whose realization changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from reconciler.client import KubeClient
from reconciler.errors import NotFound
from reconciler.watcher import Apply, Delete, Init, InitApply, InitDone, Watcher

API_VERSION = "controlplane.antrea.io/v1beta2"
KIND = "NetworkPolicy"
K8S_SOURCE = "K8sNetworkPolicy"
SETTLE_TIMEOUT = 5.0
"""Seconds the first inventory sync waits for the view (an unavailable controller costs no more)."""
RESOLVE_INTERVAL = 30.0
"""Seconds between two checks whether the controlplane API is served (when it is not)."""

Changed = Callable[[str, str], None]
"""Called with (namespace, name) of a K8s NetworkPolicy whose realization changed."""


def network_health(status: Mapping[str, Any] | None) -> tuple[str, list[dict[str, str]]]:
    """(``network_status``, ``network_errors``) of a K8s NetworkPolicy from its internal policy's
    status: ``Failed`` → UNHEALTHY with Antrea's failure condition message; anything else
    (realized, still realizing, no view) → HEALTHY. Antrea counts only reports about the internal
    policy's current generation, so ``Failed`` is never about an older spec."""
    if not status or status.get("phase") != "Failed":
        return "HEALTHY", []
    failed = [c for c in status.get("conditions") or [] if isinstance(c, Mapping) and (
        (c.get("type"), c.get("status")) in (("Realizable", "False"), ("RealizationFailure", "True")))]
    message = "; ".join(str(c.get("message") or c.get("reason") or "") for c in failed)
    if not message:
        nodes = [n for n in status.get("nodes") or [] if isinstance(n, Mapping) and n.get("realizationFailure")]
        message = "; ".join(f"{n.get('nodeName')}: {n.get('message') or 'realization failed'}" for n in nodes)
    return "UNHEALTHY", [{"error_message": message or "Failed"}]


def _source(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = obj.get("sourceRef")
    if isinstance(ref, Mapping) and ref.get("type") == K8S_SOURCE and ref.get("uid"):
        return ref
    return None


class PolicyRealization:
    """The controlplane view of K8s NetworkPolicies; see the module docstring."""

    def __init__(self, kube: KubeClient, on_change: Changed) -> None:
        self._kube = kube
        self._on_change = on_change
        self._lock = threading.Lock()
        self._status: dict[str, Mapping[str, Any]] = {}  # K8s NP uid -> internal policy status
        self._refs: dict[str, Mapping[str, Any]] = {}  # K8s NP uid -> sourceRef
        self.served = threading.Event()
        """Set once the controlplane view has been listed (tests wait on it)."""
        self._settled = threading.Event()

    def wait_settled(self, timeout: float) -> bool:
        """Wait until the view was listed or is known not to be served (at most ``timeout`` s): the
        first inventory sync waits for it, so a failed policy is not first sent as HEALTHY."""
        return self._settled.wait(timeout)

    def status_of(self, uid: str) -> Mapping[str, Any] | None:
        with self._lock:
            return self._status.get(uid)

    def run(self, stop: threading.Event) -> None:
        """Manager runnable: follow the view until ``stop``."""
        announced = False
        while not stop.is_set():
            try:
                resource = self._kube.resource(API_VERSION, KIND)
                break
            except NotFound:
                self._settled.set()
                if not announced:
                    logger.info("{} {} is not served: K8s NetworkPolicy realization is not reported to NSX "
                                "(checking again every {:.0f} s)", API_VERSION, KIND, RESOLVE_INTERVAL)
                    announced = True
            except Exception as err:
                logger.debug("resolving {} {} failed: {}", API_VERSION, KIND, err)
            stop.wait(RESOLVE_INTERVAL)
        else:
            return
        watcher = Watcher(self._kube, resource, stop_event=threading.Event())
        def stop_watcher() -> None:
            stop.wait()
            watcher.stop()

        stopper = threading.Thread(target=stop_watcher, daemon=True, name="mp-np-realization-stop")
        stopper.start()
        pending: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        for event in watcher:
            if isinstance(event, Init):
                pending = {}
            elif isinstance(event, InitApply):
                ref = _source(event.obj)
                if ref is not None:
                    pending[str(ref["uid"])] = (ref, event.obj.get("status") or {})
            elif isinstance(event, InitDone):
                self._replace(pending)
                self.served.set()
                self._settled.set()
            elif isinstance(event, Apply):
                ref = _source(event.obj)
                if ref is not None:
                    self._set(str(ref["uid"]), ref, event.obj.get("status") or {})
            elif isinstance(event, Delete):
                ref = _source(event.obj)
                if ref is not None:
                    self._set(str(ref["uid"]), ref, None)

    def _set(self, uid: str, ref: Mapping[str, Any], status: Mapping[str, Any] | None) -> None:
        with self._lock:
            before = self._status.get(uid)
            if status is None:
                self._status.pop(uid, None)
                self._refs.pop(uid, None)
            else:
                self._status[uid] = status
                self._refs[uid] = ref
        if _health_key(before) != _health_key(status):
            self._on_change(str(ref.get("namespace") or ""), str(ref.get("name") or ""))

    def _replace(self, listed: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]]) -> None:
        with self._lock:
            gone = {uid: self._refs[uid] for uid in self._status if uid not in listed}
        for uid, ref in gone.items():
            self._set(uid, ref, None)
        for uid, (ref, status) in listed.items():
            self._set(uid, ref, status)


def _health_key(status: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What of a status can change the inventory object (other changes enqueue nothing)."""
    health = network_health(status)
    return (health[0], tuple(e["error_message"] for e in health[1]), (status or {}).get("observedGeneration"))
