"""Event handlers: map an event to the request keys to reconcile (controller-runtime ``pkg/handler``).

A handler decides *which* keys to enqueue, never *what* to do: the reconciler reads the current
state from the cache and makes the world match, whatever the event was (spec §1.5/§1.6).

Priorities: a create from the informer's initial list, and an update whose old and new
resourceVersion are equal (a resync re-delivery), go on the queue at ``LOW_PRIORITY`` so a live
change overtakes a startup or resync backlog (controller-runtime's priority queue, v0.23+). Every
other event is queued at priority 0. The queue keeps the *highest* priority of duplicate adds, so a
live event for a key already in the backlog promotes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from reconciler.reconcile import Request
from reconciler.source import CreateEvent, DeleteEvent, GenericEvent, Obj, UpdateEvent
from reconciler.workqueue import LOW_PRIORITY

if TYPE_CHECKING:
    from reconciler.workqueue import WorkQueue

MapFunc = Callable[[Obj], Iterable[Request]]
"""Maps one object to the requests it should trigger (``EnqueueRequestsFromMapFunc``)."""


def request_for(obj: Obj) -> Request:
    """The request key of an object: its name and namespace (``""`` when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    return Request(name=meta.get("name", ""), namespace=meta.get("namespace") or "")


def priority_of_create(event: CreateEvent) -> int:
    """LOW_PRIORITY for initial-list creates (startup backlog), 0 for live ones."""
    return LOW_PRIORITY if event.is_in_initial_list else 0


def priority_of_update(event: UpdateEvent) -> int:
    """LOW_PRIORITY for resync re-deliveries (same resourceVersion), 0 for real changes."""
    old_rv = (event.old.get("metadata") or {}).get("resourceVersion")
    new_rv = (event.new.get("metadata") or {}).get("resourceVersion")
    return LOW_PRIORITY if old_rv is not None and old_rv == new_rv else 0


class EventHandler:
    """Base class: every event type maps objects to requests through :meth:`requests_for`.

    Subclasses usually override only ``requests_for``; the base class applies the priority rules and
    the "update enqueues the union of old and new" rule, so a change of reference (a new owner, a
    new label value) also wakes the *previous* referent, which must let go of the object."""

    def requests_for(self, obj: Obj) -> Iterable[Request]:
        """The requests one object maps to."""
        raise NotImplementedError

    def create(self, event: CreateEvent, queue: WorkQueue[Request]) -> None:
        self._enqueue(queue, self.requests_for(event.obj), priority_of_create(event))

    def update(self, event: UpdateEvent, queue: WorkQueue[Request]) -> None:
        reqs = list(self.requests_for(event.old))
        reqs.extend(r for r in self.requests_for(event.new) if r not in reqs)
        self._enqueue(queue, reqs, priority_of_update(event))

    def delete(self, event: DeleteEvent, queue: WorkQueue[Request]) -> None:
        self._enqueue(queue, self.requests_for(event.obj), 0)

    def generic(self, event: GenericEvent, queue: WorkQueue[Request]) -> None:
        self._enqueue(queue, self.requests_for(event.obj), 0)

    @staticmethod
    def _enqueue(queue: WorkQueue[Request], requests: Iterable[Request], priority: int) -> None:
        for req in requests:
            queue.add(req, priority=priority)


class EnqueueRequestForObject(EventHandler):
    """Enqueue the object's own key (what ``Builder.For`` uses)."""

    def requests_for(self, obj: Obj) -> Iterable[Request]:
        if not (obj.get("metadata") or {}).get("name"):
            return ()
        return (request_for(obj),)


class EnqueueRequestForOwner(EventHandler):
    """Enqueue the owner named in the object's ``ownerReferences`` (what ``Builder.Owns`` uses).

    Matches references by ``kind`` and by API group (``apiVersion`` with its version stripped, so
    an owner served at v1 and v1beta1 matches either way). The owner is assumed to live in the
    object's namespace (owner references cannot cross namespaces); set ``cluster_scoped_owner`` for
    a cluster-scoped owner."""

    def __init__(
        self,
        owner_kind: str,
        owner_api_version: str | None = None,
        *,
        only_controller: bool = True,
        cluster_scoped_owner: bool = False,
    ) -> None:
        self.owner_kind = owner_kind
        """Kind of the owner to enqueue, e.g. ``"ConfigMap"``."""
        self.owner_group = _group_of(owner_api_version) if owner_api_version is not None else None
        """API group the reference must carry; ``None`` matches any group. Defaults to any."""
        self.only_controller = only_controller
        """Only the reference marked ``controller: true`` counts (controller-runtime
        ``OnlyControllerOwner()``, the ``Owns`` default). Defaults to True; False matches every
        owner reference of the kind (``MatchEveryOwner``)."""
        self.cluster_scoped_owner = cluster_scoped_owner
        """Enqueue owners without a namespace. Defaults to False (owner in the object's namespace)."""

    def requests_for(self, obj: Obj) -> Iterable[Request]:
        meta = obj.get("metadata") or {}
        namespace = "" if self.cluster_scoped_owner else meta.get("namespace") or ""
        out: list[Request] = []
        for ref in meta.get("ownerReferences") or ():
            if ref.get("kind") != self.owner_kind:
                continue
            if self.owner_group is not None and _group_of(ref.get("apiVersion", "")) != self.owner_group:
                continue
            if self.only_controller and not ref.get("controller"):
                continue
            req = Request(name=ref.get("name", ""), namespace=namespace)
            if req.name and req not in out:
                out.append(req)
        return out


class EnqueueRequestsFromLabel(EventHandler):
    """Enqueue the owner whose name is the value of ``label_key`` on the object.

    For objects that cannot carry an ownerReference to their owner (cross-namespace, or an owner
    outside Kubernetes), the adapter records the owner in a label instead."""

    def __init__(self, label_key: str, *, owner_namespace: str | None = None) -> None:
        self.label_key = label_key
        """Label whose value is the owner's name."""
        self.owner_namespace = owner_namespace
        """Namespace of the owner; ``None`` (default) uses the object's own namespace, ``""`` means
        a cluster-scoped owner."""

    def requests_for(self, obj: Obj) -> Iterable[Request]:
        meta = obj.get("metadata") or {}
        name = (meta.get("labels") or {}).get(self.label_key)
        if not name:
            return ()
        namespace = self.owner_namespace if self.owner_namespace is not None else meta.get("namespace") or ""
        return (Request(name=name, namespace=namespace),)


class EnqueueRequestsFromMapFunc(EventHandler):
    """Enqueue whatever ``fn(obj)`` returns; on update, the union for old and new objects."""

    def __init__(self, fn: MapFunc) -> None:
        self.fn = fn
        """Maps an object to its requests; must be fast and must not do API calls (it runs on the
        informer's dispatch thread)."""

    def requests_for(self, obj: Obj) -> Iterable[Request]:
        return list(self.fn(obj))


def _group_of(api_version: Any) -> str:
    """``"apps/v1"`` → ``"apps"``; ``"v1"`` → ``""`` (the core group)."""
    text = str(api_version or "")
    return text.rsplit("/", 1)[0] if "/" in text else ""
