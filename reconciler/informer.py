"""Shared informers: one list/watch per (resource, namespace, selectors), feeding an indexed cache
and the event handlers of every controller that cares (client-go ``SharedIndexInformer``).

Ordering guarantee: the cache is updated *before* handlers hear of a change, and handlers run in
the informer's thread one event at a time, so a handler that reads the cache sees at least the
state it was told about. Handlers must be quick (enqueue a key, nothing more); a handler that raises
is logged and skipped, never allowed to stop the informer.

Cached objects are shared, not copied (a deep copy costs ~190 µs per Pod in Python, spec §1.3):
treat what handlers and ``store`` readers get as read-only.

``resync_period`` has client-go's meaning: re-deliver every *cached* object to the handlers as an
update with old == new, without contacting the server. It is not a relist.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from loguru import logger

from reconciler.cache import NAMESPACE_INDEX, Store, meta_namespace_key, namespace_index
from reconciler.client import DEFAULT_PAGE_SIZE, KubeClient, ResourceLike
from reconciler.restmapper import Resource
from reconciler.watcher import (
    MIN_WATCH_TIMEOUT,
    Apply,
    Backoff,
    Delete,
    Init,
    InitApply,
    InitDone,
    Watcher,
)

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "DeletedFinalStateUnknown",
    "EventHandlerRegistration",
    "InformerFactory",
    "SharedInformer",
    "default_transform",
]

Obj = dict[str, Any]
Cached = Mapping[str, Any]
"""What the cache holds and handlers receive: the decoded dict (read-only by contract), or a
read-only view when the store is frozen."""
Transform = Callable[[Obj], Obj]
IndexFunc = Callable[[Mapping[str, Any]], list[str]]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

MIN_RESYNC_PERIOD = 1.0
"""Seconds; shorter resync periods are raised to this (client-go ``minimumResyncPeriod``)."""

SYNC_POLL_PERIOD = 0.1
"""Seconds between checks in ``wait_for_cache_sync`` (client-go ``syncedPollPeriod``)."""


class DeletedFinalStateUnknown(NamedTuple):
    """Passed to ``on_delete`` for an object that vanished while the watch was down: its DELETED
    event was missed and only a relist showed the absence. ``obj`` is the last state cached, which
    may be stale."""

    key: str
    obj: Cached


def default_transform(obj: Obj) -> Obj:
    """Drop what no controller reads but every cached object would pay for: ``managedFields``
    (2–4 KB per Pod, ~40 % of a cached Pod's memory, spec §4.3) and kubectl's
    last-applied-configuration annotation (a full second copy of the object)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED_ANNOTATION in annotations:
            del annotations[LAST_APPLIED_ANNOTATION]
            if not annotations:
                del meta["annotations"]
    return obj


class EventHandlerRegistration:
    """One ``add_event_handler`` call; pass it to ``remove_event_handler``.

    ``on_add(obj, is_initial_list)``: ``is_initial_list`` is True for objects of the informer's
    first list, and for the replay of the cache to a handler registered after that list.
    ``on_update(old, new)``: a resync delivers old is new. ``on_delete(obj)``: ``obj`` may be a
    :class:`DeletedFinalStateUnknown`."""

    def __init__(
        self,
        on_add: Callable[[Any, bool], None] | None,
        on_update: Callable[[Any, Any], None] | None,
        on_delete: Callable[[Any], None] | None,
    ) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.synced = threading.Event()

    def has_synced(self) -> bool:
        """True once this handler has received the initial list (or the replay of the cache)."""
        return self.synced.is_set()


def _call(fn: Callable[..., None] | None, *args: Any) -> None:
    if fn is None:
        return
    try:
        fn(*args)
    except Exception:
        logger.exception("informer event handler {} failed", getattr(fn, "__qualname__", fn))


class SharedInformer:
    """A cache of one resource kept current by a :class:`~reconciler.watcher.Watcher` thread."""

    def __init__(
        self,
        client: KubeClient,
        resource: ResourceLike,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        transform: Transform | None = default_transform,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        *,
        namespace: str | None = None,
        backoff: Backoff | None = None,
        min_watch_timeout: int = MIN_WATCH_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.client = client
        self.resource: Resource = resource if isinstance(resource, Resource) else client.resource(*resource)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.transform = transform
        self.resync_period = None if not resync_period else max(MIN_RESYNC_PERIOD, resync_period)
        # The namespace index is always there, as controller-runtime registers it on every informer.
        self.store = Store(indexers={NAMESPACE_INDEX: namespace_index, **(indexers or {})})
        self.watcher = Watcher(
            client, self.resource, namespace, label_selector=label_selector,
            field_selector=field_selector, page_size=page_size,
            min_watch_timeout=min_watch_timeout, backoff=backoff,
        )
        self._handlers: list[EventHandlerRegistration] = []
        self._lock = threading.RLock()  # store writes + handler dispatch happen under it
        self._synced = threading.Event()
        self._stop = self.watcher.stop_event
        self._threads: list[threading.Thread] = []
        self._started = False

    # ------------------------------------------------------------------------------ handlers

    def add_event_handler(
        self,
        on_add: Callable[[Any, bool], None] | None = None,
        on_update: Callable[[Any, Any], None] | None = None,
        on_delete: Callable[[Any], None] | None = None,
    ) -> EventHandlerRegistration:
        """Register callbacks. A handler added after the first list gets the current cache replayed
        as initial-list adds, so late controllers see every object once."""
        reg = EventHandlerRegistration(on_add, on_update, on_delete)
        with self._lock:
            self._handlers.append(reg)
            if self._synced.is_set():
                for obj in self.store.list():
                    _call(reg.on_add, obj, True)
                reg.synced.set()
        return reg

    def remove_event_handler(self, reg: EventHandlerRegistration) -> None:
        with self._lock:
            if reg in self._handlers:
                self._handlers.remove(reg)

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the list/watch thread (and the resync thread); idempotent, non-blocking."""
        with self._lock:
            if self._started:
                return
            self._started = True
        name = f"informer-{self.resource.plural}"
        self._threads.append(threading.Thread(target=self.run, name=name, daemon=True))
        if self.resync_period:
            self._threads.append(threading.Thread(target=self._resync_loop, name=f"{name}-resync", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop watching and wait up to ``timeout`` seconds for the threads to end."""
        self.watcher.stop()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def has_synced(self) -> bool:
        """True once the first list is in the cache and was delivered to the handlers."""
        return self._synced.is_set()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Block until synced; False on timeout or when stopped first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._synced.is_set():
            if self._stop.is_set():
                return False
            left = SYNC_POLL_PERIOD if deadline is None else min(SYNC_POLL_PERIOD, deadline - time.monotonic())
            if left <= 0:
                return False
            self._synced.wait(left)
        return True

    @property
    def last_sync_resource_version(self) -> str:
        """The resourceVersion the informer would resume from. Every event up to it is already in
        the store (and was handed to the handlers): read this *before* the store, and an object of
        yours at or below it that the store lacks was deleted, not "not seen yet"."""
        return self.watcher.resource_version

    @property
    def lists(self) -> int:
        """LISTs completed so far (1 after a clean start; more after relists)."""
        return self.watcher.lists

    # -------------------------------------------------------------------------------- the loop

    def run(self) -> None:
        """Consume the watcher's stream until stopped (the body of the informer thread)."""
        buffer: list[Obj] = []
        for event in self.watcher:
            try:
                if isinstance(event, Apply):
                    self._on_apply(self._transform(event.obj))
                elif isinstance(event, Delete):
                    self._on_delete(self._transform(event.obj))
                elif isinstance(event, InitApply):
                    buffer.append(self._transform(event.obj))
                elif isinstance(event, Init):
                    buffer = []
                elif isinstance(event, InitDone):
                    self._on_replace(buffer)
                    buffer = []
            except Exception:  # a malformed object must not end the informer
                logger.exception("{} informer could not apply {}", self.resource, type(event).__name__)

    def _transform(self, obj: Obj) -> Obj:
        return self.transform(obj) if self.transform is not None else obj

    def _on_apply(self, obj: Obj) -> None:
        with self._lock:
            old = self.store.upsert(obj)
            new = self.store.get(meta_namespace_key(obj)) if self.store.frozen else obj
            for reg in self._handlers:
                if old is None:
                    _call(reg.on_add, new, False)
                else:
                    _call(reg.on_update, old, new)

    def _on_delete(self, obj: Obj) -> None:
        with self._lock:
            self.store.delete(meta_namespace_key(obj))
            for reg in self._handlers:
                _call(reg.on_delete, obj)

    def _on_replace(self, objs: list[Obj]) -> None:
        with self._lock:
            initial = not self._synced.is_set()
            keys = [meta_namespace_key(o) for o in objs]
            olds = [self.store.get(k) for k in keys]
            vanished = self.store.replace(objs)
            news: list[Cached] = [self.store.get(k) or o for k, o in zip(keys, objs, strict=True)] \
                if self.store.frozen else list(objs)
            for reg in self._handlers:
                for old, new in zip(olds, news, strict=True):
                    if old is None:
                        _call(reg.on_add, new, initial)
                    else:
                        _call(reg.on_update, old, new)
                for gone in vanished:
                    _call(reg.on_delete, DeletedFinalStateUnknown(meta_namespace_key(gone), gone))
                reg.synced.set()
            self._synced.set()
        logger.debug("{} listed: {} objects, {} vanished", self.resource, len(objs), len(vanished))

    def _resync_loop(self) -> None:
        assert self.resync_period is not None
        while not self._stop.wait(self.resync_period * random.uniform(0.9, 1.1)):
            if not self._synced.is_set():
                continue
            with self._lock:
                for obj in self.store.list():
                    for reg in self._handlers:
                        _call(reg.on_update, obj, obj)


def _selector_key(value: str | Mapping[str, str] | None) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    return ",".join(f"{k}={v}" for k, v in sorted(value.items()))


class InformerFactory:
    """The process's informers, shared per (resource, namespace, label selector, field selector):
    two controllers asking for the same view get the same informer, hence one watch and one cache
    (controller-runtime's cache / client-go ``SharedInformerFactory``)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        resync_period: float | None = None,
        transform: Transform | None = default_transform,
        backoff: Callable[[], Backoff] | None = None,
        min_watch_timeout: int = MIN_WATCH_TIMEOUT,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        """Default for informers created here: None (off), as the engine reconciles on events and
        on its own global resync rather than on cache replays."""
        self.transform = transform
        self._backoff = backoff
        self._min_watch_timeout = min_watch_timeout
        self._informers: dict[tuple[Resource, str, str, str], SharedInformer] = {}
        self._lock = threading.Lock()
        self._started = False

    def informer(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> SharedInformer:
        """The shared informer for this view (created on first use; started at once if the factory
        already runs). Extra ``indexers`` are added to an existing informer's cache."""
        res = resource if isinstance(resource, Resource) else self.client.resource(*resource)
        key = (res, namespace or "", _selector_key(label_selector), field_selector or "")
        with self._lock:
            inf = self._informers.get(key)
            if inf is None:
                inf = SharedInformer(
                    self.client, res, label_selector, field_selector, self.transform,
                    self.resync_period, indexers, namespace=namespace,
                    backoff=self._backoff() if self._backoff else None,
                    min_watch_timeout=self._min_watch_timeout,
                )
                self._informers[key] = inf
                if self._started:
                    inf.start()
            elif indexers:
                # Same name, same meaning: a second controller asking for an index already there
                # shares it.
                known = set(inf.store.indexer_names())
                extra = {k: v for k, v in indexers.items() if k not in known}
                if extra:
                    inf.store.add_indexers(extra)
        return inf

    def informers(self) -> list[SharedInformer]:
        with self._lock:
            return list(self._informers.values())

    def start(self) -> None:
        """Start every informer (and any created later)."""
        with self._lock:
            self._started = True
            todo = list(self._informers.values())
        for inf in todo:
            inf.start()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """True when every informer synced within ``timeout`` seconds overall."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for inf in self.informers():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not inf.wait_for_cache_sync(left):
                return False
        return True

    def stop(self) -> None:
        for inf in self.informers():
            inf.watcher.stop()
        for inf in self.informers():
            inf.stop()
