"""LIST + WATCH as one event stream (client-go's Reflector loop, told as kube-rs ``watcher`` events).

The stream reads::

    Init, InitApply(obj)*, InitDone, (Apply(obj) | Delete(obj))*, [Init, InitApply*, InitDone, ...]

``resource_version`` never runs ahead of the consumer: it moves past an event only after the
consumer asked for the next one (bookmarks, which the consumer never sees, move it at once).

Every (re)list is framed by ``Init``/``InitDone``; the consumer swaps in the listed set on
``InitDone`` and treats whatever it held that is absent as deleted (the Replace/purge rule, spec
§1.2/§5.5). Bookmarks never leave this module: they only advance the resourceVersion to resume from.

State machine (spec §1.1, §7):

* LIST paged by 500; the first list asks for resourceVersion "0" (watch cache, which answers in
  one piece), a relist for the last one seen (without a limit, as the reflector does), and a relist
  after that one was refused as expired for "" (a quorum read, paged).
* WATCH from the list's resourceVersion with ``allowWatchBookmarks=true`` and ``timeoutSeconds``
  drawn uniformly from [300, 600]. A watch that ends (timeout, dropped connection) is re-opened
  from the last resourceVersion — no relist.
* 410 (Expired/Gone) on the watch → relist.
* Failures (5xx, 429, connection errors, "very short watch": closed within 1 s without an event)
  wait a jittered exponential back-off, 0.8 s doubling to 30 s, reset after 2 minutes without
  failure. A transient failure keeps the resourceVersion and re-watches (a relist during a storm
  would multiply the load); any other failure relists.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from reconciler.client import DEFAULT_PAGE_SIZE, KubeClient, ResourceLike, WatchStream
from reconciler.errors import ApiError, Gone, is_transient
from reconciler.restmapper import Resource

__all__ = [
    "Apply",
    "Backoff",
    "Delete",
    "Event",
    "Init",
    "InitApply",
    "InitDone",
    "Watcher",
]

Obj = dict[str, Any]

MIN_WATCH_TIMEOUT = 300
"""Seconds; each WATCH asks the server to end it after a uniform draw from [300, 600] so that
many clients do not reconnect in lock-step (client-go ``defaultMinWatchTimeout``)."""

VERY_SHORT_WATCH = 1.0
"""A watch that ends within this many seconds with no event counts as a failure (hot-loop guard)."""


@dataclass(frozen=True)
class Init:
    """A (re)list starts; the consumer begins buffering ``InitApply`` objects."""


@dataclass(frozen=True)
class InitApply:
    """One object of the list in progress."""

    obj: Obj


@dataclass(frozen=True)
class InitDone:
    """The list is complete: swap the buffer in; what it lacks was deleted meanwhile."""

    resource_version: str = ""


@dataclass(frozen=True)
class Apply:
    """An object was added or modified (watch ADDED / MODIFIED)."""

    obj: Obj


@dataclass(frozen=True)
class Delete:
    """An object was deleted (watch DELETED); ``obj`` is its final state."""

    obj: Obj


Event = Init | InitApply | InitDone | Apply | Delete


class Backoff:
    """Jittered exponential back-off with a health reset (client-go reflector constants).

    Delay n is ``min(cap, initial * factor**n)`` stretched by a uniform ``[0, jitter)`` fraction,
    so the last step lands in [30, 60) s ≈ 0.02 QPS per watcher while the server is unhealthy."""

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._current = 0.0
        self._last_failure = -float("inf")

    def next_delay(self) -> float:
        """The wait before the next attempt after a failure."""
        now = self._clock()
        if now - self._last_failure >= self.reset_after:
            self._current = 0.0
        self._current = self.initial if self._current == 0.0 else min(self.cap, self._current * self.factor)
        self._last_failure = now
        return self._current * (1.0 + random.random() * self.jitter)


class Watcher:
    """Iterate to run the list/watch loop in the calling thread; :meth:`stop` from any thread."""

    def __init__(
        self,
        client: KubeClient,
        resource: ResourceLike,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        min_watch_timeout: int = MIN_WATCH_TIMEOUT,
        backoff: Backoff | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.client = client
        self._resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self.backoff = backoff or Backoff()
        self.stop_event = stop_event or threading.Event()
        self.resource_version = ""
        """Last resourceVersion seen (list, event or bookmark): where a re-watch resumes."""
        self.lists = 0
        """Number of LISTs completed (the initial one included)."""
        self._stream: WatchStream | None = None
        self._lock = threading.Lock()

    @property
    def resource(self) -> Resource:
        if not isinstance(self._resource, Resource):
            self._resource = self.client.resource(*self._resource)
        return self._resource

    def stop(self) -> None:
        """End the iteration promptly (closes an open watch connection)."""
        self.stop_event.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def _sleep(self, reason: BaseException | str) -> None:
        delay = self.backoff.next_delay()
        # A throttling server's Retry-After is a floor, never a ceiling, for the back-off.
        delay = max(delay, getattr(reason, "retry_after", None) or 0.0)
        logger.warning("watch of {} failed ({}); retrying in {:.2f}s", self._name(), reason, delay)
        self.stop_event.wait(delay)

    def _name(self) -> str:
        return str(self._resource) if isinstance(self._resource, Resource) else "/".join(self._resource)

    def __iter__(self) -> Iterator[Event]:
        relist_rv: str | None = "0"  # first list: from the watch cache
        need_list = True
        while not self.stop_event.is_set():
            if need_list:
                try:
                    yield from self._list(relist_rv)
                except Gone as err:
                    # The RV we asked for is too old even for a list: quorum read, at once.
                    logger.info("relist of {} at {!r} expired ({}); reading fresh", self._name(), relist_rv, err)
                    relist_rv = ""
                    continue
                except Exception as err:
                    self._sleep(err)
                    continue
                need_list = False
            try:
                yield from self._watch_once()
            except Gone as err:
                logger.info("watch of {} expired ({}); relisting", self._name(), err.message)
                need_list, relist_rv = True, self.resource_version
            except _ShortWatch as err:
                self._sleep(err)
            except ApiError as err:
                if self.stop_event.is_set():
                    return
                if not is_transient(err):
                    need_list, relist_rv = True, self.resource_version
                self._sleep(err)
            except Exception as err:  # a bug or an undecodable answer: start over from a list
                logger.exception("watch of {} crashed; relisting", self._name())
                need_list, relist_rv = True, self.resource_version
                self._sleep(err)

    def _list(self, rv: str | None) -> Iterator[Event]:
        yield Init()
        list_rv = ""
        for i, page in enumerate(
            self.client.list_pages(
                self.resource, self.namespace, label_selector=self.label_selector,
                field_selector=self.field_selector, resource_version=rv,
                # client-go's reflector pages only the first list ("0": the watch cache answers in
                # one piece anyway) and the quorum read (""); a relist at the last resourceVersion
                # asks for no limit, so the watch cache can serve it instead of etcd.
                limit=self.page_size if rv in (None, "", "0") else None,
            )
        ):
            if i == 0:
                list_rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
            for item in page.get("items") or []:
                yield InitApply(item)
        self.lists += 1
        yield InitDone(list_rv)
        self.resource_version = list_rv

    def _watch_once(self) -> Iterator[Event]:
        timeout = random.randint(self.min_watch_timeout, 2 * self.min_watch_timeout)
        started = time.monotonic()
        stream = self.client.watch(
            self.resource, self.namespace, resource_version=self.resource_version or None,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=timeout, allow_watch_bookmarks=True,
        )
        with self._lock:
            self._stream = stream
        if self.stop_event.is_set():
            stream.close()
        events = 0
        try:
            for raw in stream:
                events += 1
                obj = raw.get("object") or {}
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                kind = raw.get("type")
                if kind in ("ADDED", "MODIFIED"):
                    yield Apply(obj)
                elif kind == "DELETED":
                    yield Delete(obj)
                # Advanced only once the consumer is done with the event (a generator resumes
                # when asked for the next one): whoever reads ``resource_version`` and then the
                # consumer's store finds everything up to it there — a reader that saw the version
                # first could otherwise take an object still being stored for one deleted since.
                if rv:
                    self.resource_version = str(rv)
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        if events == 0 and time.monotonic() - started < VERY_SHORT_WATCH and not self.stop_event.is_set():
            raise _ShortWatch("very short watch: closed within 1s without an event")


class _ShortWatch(ApiError):
    """A watch that ended at once: treated as a failure so the loop backs off instead of spinning."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "VeryShortWatch", message)
