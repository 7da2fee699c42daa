"""Sources: where a controller's events come from (controller-runtime ``pkg/source`` + ``pkg/event``).

The data path of a controller reads left to right::

    source → predicate → handler → queue → reconciler → client/cache

A source turns informer callbacks into typed events, lets every predicate veto the event, and hands
the survivors to an event handler, which maps them to :class:`~reconciler.reconcile.Request` keys
on the work queue. Events carry the objects (plain dicts) only so that predicates and handlers can
decide *which keys* to enqueue; the reconciler itself only ever sees the key (spec §1.5: "It does
NOT contain information about any specific Event").

Two sources exist:

* :class:`Kind` — events from a shared informer (one per resource and selector set);
* :class:`Channel` — generic events pushed by code, e.g. "the NSX side changed, re-check this key",
  or a periodic global resync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reconciler.handler import EventHandler
    from reconciler.predicate import Predicate
    from reconciler.reconcile import Request
    from reconciler.workqueue import WorkQueue

Obj = dict[str, Any]
"""Objects stay plain dicts, exactly as the API server returned them."""


@dataclass(frozen=True)
class CreateEvent:
    """An object was seen for the first time (initial LIST, or an ADDED watch event)."""

    obj: Obj
    is_in_initial_list: bool = False
    """True when the object came from the informer's initial LIST (or the replay a late handler
    receives). Handlers queue such events at LOW_PRIORITY so that live changes overtake the startup
    backlog (controller-runtime ``IsInInitialList``)."""


@dataclass(frozen=True)
class UpdateEvent:
    """An object changed (or was re-delivered by a resync: then old and new resourceVersion match)."""

    old: Obj
    new: Obj


@dataclass(frozen=True)
class DeleteEvent:
    """An object disappeared."""

    obj: Obj
    delete_state_unknown: bool = False
    """True when the informer missed the DELETED event and only learnt of the deletion on relist
    (client-go ``DeletedFinalStateUnknown``): ``obj`` is then the last state the cache knew, which
    may be stale."""


@dataclass(frozen=True)
class GenericEvent:
    """An event from outside the API server (a :class:`Channel`); no old/new semantics."""

    obj: Obj


Event = CreateEvent | UpdateEvent | DeleteEvent | GenericEvent


class Source(Protocol):
    """What a controller needs from a source: connect it to a queue, and say when it is synced."""

    def start(self, handler: EventHandler, queue: WorkQueue[Request], predicates: Sequence[Predicate]) -> None:
        """Begin delivering events through ``predicates`` to ``handler``, which fills ``queue``.

        Called once per ``Controller.watches`` registration, when the controller starts. Must not
        block."""
        ...

    def wait_for_sync(self, timeout: float) -> bool:
        """Block until the source's view is complete (initial list delivered); False on timeout."""
        ...


def dispatch(event: Event, handler: EventHandler, queue: WorkQueue[Request], predicates: Sequence[Predicate]) -> None:
    """Run ``event`` through every predicate (all must agree, as in controller-runtime) and, if it
    survives, through the handler's method for its type."""
    if isinstance(event, CreateEvent):
        if all(p.create(event) for p in predicates):
            handler.create(event, queue)
    elif isinstance(event, UpdateEvent):
        if all(p.update(event) for p in predicates):
            handler.update(event, queue)
    elif isinstance(event, DeleteEvent):
        if all(p.delete(event) for p in predicates):
            handler.delete(event, queue)
    elif all(p.generic(event) for p in predicates):
        handler.generic(event, queue)


def unwrap_tombstone(obj: Any) -> tuple[Obj, bool]:
    """Return ``(object, delete_state_unknown)`` for what an informer passed to its delete callback.

    The informer passes either the deleted object or a tombstone (client-go
    ``DeletedFinalStateUnknown``: attributes ``key`` and ``obj``) when it only noticed the deletion
    on relist. A tombstone given as a dict ``{"key": ..., "obj": {...}}`` without ``metadata`` is
    accepted too, so this stays independent of how the informer spells it."""
    inner = getattr(obj, "obj", None)
    if isinstance(inner, dict):
        return inner, True
    if isinstance(obj, dict) and "metadata" not in obj and isinstance(obj.get("obj"), dict):
        return obj["obj"], True
    return obj, False


class InformerLike(Protocol):
    """The part of ``reconciler.informer.SharedInformer`` a :class:`Kind` source uses."""

    def add_event_handler(
        self,
        on_add: Callable[..., None] | None = ...,
        on_update: Callable[..., None] | None = ...,
        on_delete: Callable[..., None] | None = ...,
    ) -> Any: ...

    def wait_for_cache_sync(self, timeout: float | None = ...) -> bool: ...


class Kind:
    """Events for one resource, from a shared informer (controller-runtime ``source.Kind``).

    The informer is shared: several controllers may watch the same one, each through its own
    ``Kind``. The informer replays its cache as initial-list adds to handlers registered late, so a
    controller started after the caches synced still sees every object once."""

    def __init__(self, informer: InformerLike) -> None:
        self.informer = informer
        """The shared informer whose callbacks this source translates into events."""

    def start(self, handler: EventHandler, queue: WorkQueue[Request], predicates: Sequence[Predicate]) -> None:
        preds = tuple(predicates)

        def on_add(obj: Obj, is_initial_list: bool = False) -> None:
            dispatch(CreateEvent(obj, is_in_initial_list=is_initial_list), handler, queue, preds)

        def on_update(old: Obj, new: Obj) -> None:
            dispatch(UpdateEvent(old, new), handler, queue, preds)

        def on_delete(obj: Any) -> None:
            final, unknown = unwrap_tombstone(obj)
            dispatch(DeleteEvent(final, delete_state_unknown=unknown), handler, queue, preds)

        self.informer.add_event_handler(on_add=on_add, on_update=on_update, on_delete=on_delete)

    def wait_for_sync(self, timeout: float) -> bool:
        return bool(self.informer.wait_for_cache_sync(timeout))


class Channel:
    """Generic events pushed by code (controller-runtime ``source.Channel``).

    Use it to wake a controller from outside the API server — e.g. the NSX side changed — or to
    drive a periodic global resync. Objects sent before the controller started are buffered and
    delivered on start; ``send`` never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Obj] = []
        self._sinks: list[Callable[[GenericEvent], None]] = []

    def send(self, obj: Obj) -> None:
        """Deliver ``obj`` as a :class:`GenericEvent` to every controller watching this channel."""
        event = GenericEvent(obj)
        with self._lock:
            sinks = list(self._sinks)
            if not sinks:
                self._pending.append(obj)
        for sink in sinks:
            sink(event)

    def send_all(self, objs: Iterable[Obj]) -> None:
        """``send`` each object in turn."""
        for obj in objs:
            self.send(obj)

    def start(self, handler: EventHandler, queue: WorkQueue[Request], predicates: Sequence[Predicate]) -> None:
        preds = tuple(predicates)

        def sink(event: GenericEvent) -> None:
            dispatch(event, handler, queue, preds)

        with self._lock:
            self._sinks.append(sink)
            pending, self._pending = self._pending, []
        for obj in pending:
            sink(GenericEvent(obj))

    def wait_for_sync(self, timeout: float) -> bool:
        """A channel has no initial state to wait for."""
        return True
