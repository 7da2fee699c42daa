"""A rate-limited, delaying priority work queue with the client-go ``util/workqueue`` contract.

The contract (spec §1.4) is what makes level-triggered controllers safe with many workers:

* **Stingy** — an item waiting to be processed is held once, however often it is added.
* **One worker per item** — an item handed out by :meth:`WorkQueue.get` is not handed out again
  until :meth:`WorkQueue.done`; adding it meanwhile marks it dirty and it is queued again on
  ``done``, so the change that arrived during processing is never lost.
* **Priorities** — controller-runtime's priority queue (default since v0.23): higher priority first,
  FIFO within a priority. A duplicate add keeps the *highest* priority and the *earliest* ready
  time, so a live event for a key stuck in a :data:`LOW_PRIORITY` startup/resync backlog jumps it.

Delayed items (``add_after``) are promoted by the getters themselves, who sleep only until the
next one is due (at most :data:`MAX_WAIT`, client-go's heartbeat) — no timer thread.

Deliberate difference from client-go: after :meth:`WorkQueue.shut_down` ``get`` returns ``None``
at once rather than handing out the backlog. Go workers are stopped by context cancellation; a
Python worker has no such signal, and a level-triggered backlog is rebuilt by the next start.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from reconciler import metrics
from reconciler.ratelimiter import RateLimiter, default_controller_rate_limiter

__all__ = ["LOW_PRIORITY", "MAX_WAIT", "WorkQueue"]

T = TypeVar("T", bound=Hashable)

LOW_PRIORITY = -100
"""Priority of initial-list creates and resync re-deliveries (controller-runtime ``LowPriority``)."""

MAX_WAIT = 10.0
"""Longest a getter sleeps without re-checking delayed items (client-go delaying queue ``maxWait``)."""


class _QueueMetrics:
    """The label children of one named queue, resolved once (``labels()`` costs a lock + dict)."""

    def __init__(self, name: str, queue: WorkQueue[T]) -> None:
        self.adds = metrics.WORKQUEUE_ADDS.labels(name)
        self.retries = metrics.WORKQUEUE_RETRIES.labels(name)
        self.queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self.work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name)
        metrics.set_weak_gauge_function(metrics.WORKQUEUE_DEPTH, name, queue, len)
        metrics.set_weak_gauge_function(
            metrics.WORKQUEUE_UNFINISHED_WORK, name, queue, lambda q: q.unfinished_work_seconds()
        )
        metrics.set_weak_gauge_function(
            metrics.WORKQUEUE_LONGEST_RUNNING, name, queue, lambda q: q.longest_running_processor_seconds()
        )


class WorkQueue(Generic[T]):
    """Thread-safe work queue of hashable keys (never the objects themselves).

    ``name`` labels the ``workqueue_*`` metrics; an empty name records no metrics. ``rate_limiter``
    decides :meth:`add_rate_limited` delays; it defaults to
    :func:`~reconciler.ratelimiter.default_controller_rate_limiter` (max of per-item exponential
    5 ms → 1000 s and an overall 10 qps / burst 100 bucket). ``None`` cannot be queued.
    """

    def __init__(self, name: str, rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter if rate_limiter is not None else default_controller_rate_limiter()
        self._cond = threading.Condition(threading.Lock())
        self._seq = itertools.count()
        # Items to be processed (ready, or re-added while processing) → their priority.
        self._dirty: dict[T, int] = {}
        # Ready items → (priority, seq) of their valid heap entry; stale heap entries are skipped.
        self._ready: dict[T, tuple[int, int]] = {}
        self._ready_heap: list[tuple[int, int, T]] = []
        # Delayed items → (ready_at, priority, seq); same lazy-deletion scheme.
        self._waiting: dict[T, tuple[float, int, int]] = {}
        self._waiting_heap: list[tuple[float, int, T]] = []
        # Items handed out and not done yet → monotonic start time.
        self._processing: dict[T, float] = {}
        self._added_at: dict[T, float] = {}
        self._shutting_down = False
        self._metrics = _QueueMetrics(name, self) if name else None

    # ------------------------------------------------------------------------------ producers

    def add(self, item: T, priority: int = 0) -> None:
        """Queue ``item`` now. Ignored once shutting down.

        Already waiting: only its priority may rise. Being processed: marked dirty and queued again
        by :meth:`done`. Waiting for an ``add_after`` delay: the delay is cancelled (the earliest
        ready time wins) and the higher of the two priorities is kept.
        """
        with self._cond:
            if self._shutting_down:
                return
            delayed = self._waiting.pop(item, None)
            if delayed is not None:
                priority = max(priority, delayed[1])
                self._compact_waiting_locked()
            self._add_locked(item, priority, time.monotonic())

    def add_after(self, item: T, delay: float, priority: int = 0) -> None:
        """Queue ``item`` once ``delay`` seconds have passed (``<= 0``: now).

        An item already queued (or dirty while processing) is not delayed again — it will be
        processed sooner anyway; only its priority may rise. An item already delayed keeps the
        earlier ready time and the higher priority. Counts in ``workqueue_retries_total``.
        """
        with self._cond:
            if self._shutting_down:
                return
            if self._metrics is not None:
                self._metrics.retries.inc()
            now = time.monotonic()
            if delay <= 0 or item in self._dirty:
                delayed = self._waiting.pop(item, None)
                self._add_locked(item, max(priority, delayed[1]) if delayed else priority, now)
                return
            ready_at = now + delay
            current = self._waiting.get(item)
            if current is not None:
                if current[0] <= ready_at:
                    if priority > current[1]:
                        self._waiting[item] = (current[0], priority, current[2])
                    return
                priority = max(priority, current[1])
            seq = next(self._seq)
            self._waiting[item] = (ready_at, priority, seq)
            heapq.heappush(self._waiting_heap, (ready_at, seq, item))
            # A getter may be sleeping until a later ready time (or forever): let one recompute.
            self._cond.notify()

    def add_rate_limited(self, item: T, priority: int = 0) -> None:
        """``add_after(item, rate_limiter.when(item))``: retry with back-off after a failure."""
        self.add_after(item, self.rate_limiter.when(item), priority)

    def forget(self, item: T) -> None:
        """Reset the item's back-off (after success, or when giving up on it)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    # ------------------------------------------------------------------------------ consumers

    def get(self, timeout: float | None = None) -> T | None:
        """Block until an item is ready and hand it out; ``None`` on shutdown or after ``timeout``.

        The caller owns the item until it calls :meth:`done` (always — use ``try/finally``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                now = time.monotonic()
                self._promote_due_locked(now)
                item = self._pop_ready_locked()
                if item is not None:
                    del self._dirty[item]
                    self._processing[item] = now
                    added = self._added_at.pop(item, None)
                    if self._metrics is not None and added is not None:
                        self._metrics.queue_duration.observe(now - added)
                    return item
                wait = MAX_WAIT
                if self._waiting_heap:
                    wait = min(wait, self._waiting_heap[0][0] - now)
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = min(wait, left)
                self._cond.wait(max(wait, 0.0005))

    def done(self, item: T) -> None:
        """Mark ``item`` processed; if it was added meanwhile, queue it again."""
        with self._cond:
            started = self._processing.pop(item, None)
            if started is not None and self._metrics is not None:
                self._metrics.work_duration.observe(time.monotonic() - started)
            if self._shutting_down:
                if not self._processing:
                    self._cond.notify_all()  # wake shut_down_with_drain
                return
            priority = self._dirty.get(item)
            if priority is not None and started is not None:  # a stray second done() is a no-op
                self._push_ready_locked(item, priority, next(self._seq))

    # ---------------------------------------------------------------------------- inspection

    def __len__(self) -> int:
        """Items ready to be handed out (not the delayed ones, nor those being processed)."""
        with self._cond:
            self._promote_due_locked(time.monotonic())
            return len(self._ready)

    def is_processing(self, item: T) -> bool:
        with self._cond:
            return item in self._processing

    def waiting_count(self) -> int:
        """Items waiting for an ``add_after`` delay."""
        with self._cond:
            return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        """Sum of the time every in-flight item has been processed so far."""
        with self._cond:
            now = time.monotonic()
            return sum(now - started for started in self._processing.values())

    def longest_running_processor_seconds(self) -> float:
        with self._cond:
            if not self._processing:
                return 0.0
            return time.monotonic() - min(self._processing.values())

    # ------------------------------------------------------------------------------ shutdown

    def shut_down(self) -> None:
        """Stop accepting adds and wake every getter: ``get`` returns ``None`` from now on."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """:meth:`shut_down`, then wait until every in-flight item is :meth:`done`.

        Workers must call ``done`` or this blocks until ``timeout`` (``None``: forever, as in
        client-go). Returns whether everything in flight finished.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()
            while self._processing:
                if deadline is None:
                    self._cond.wait()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    # ------------------------------------------------------------------------------ internals

    def _add_locked(self, item: T, priority: int, now: float) -> None:
        current = self._dirty.get(item)
        if current is not None:
            if priority > current:
                self._dirty[item] = priority
                queued = self._ready.get(item)
                if queued is not None:
                    # Keep its place in line (seq) within the higher priority: it waited longest.
                    self._push_ready_locked(item, priority, queued[1])
            return
        self._dirty[item] = priority
        self._added_at.setdefault(item, now)
        if self._metrics is not None:
            self._metrics.adds.inc()
        if item in self._processing:
            return  # done() queues it again
        self._push_ready_locked(item, priority, next(self._seq))

    def _push_ready_locked(self, item: T, priority: int, seq: int) -> None:
        self._ready[item] = (priority, seq)
        heapq.heappush(self._ready_heap, (-priority, seq, item))
        self._cond.notify()

    def _pop_ready_locked(self) -> T | None:
        heap = self._ready_heap
        while heap:
            neg_priority, seq, item = heapq.heappop(heap)
            if self._ready.get(item) == (-neg_priority, seq):
                del self._ready[item]
                return item
        return None

    def _compact_waiting_locked(self) -> None:
        """Drop heap entries of cancelled delays. They would otherwise linger until their ready time
        — up to 1000 s of back-off — when live events keep overtaking rate-limited retries."""
        if len(self._waiting_heap) > 2 * len(self._waiting) + 64:
            self._waiting_heap = [
                (ready_at, seq, item) for item, (ready_at, _, seq) in self._waiting.items()
            ]
            heapq.heapify(self._waiting_heap)

    def _promote_due_locked(self, now: float) -> None:
        heap = self._waiting_heap
        while heap and heap[0][0] <= now:
            _, seq, item = heapq.heappop(heap)
            entry = self._waiting.get(item)
            if entry is None or entry[2] != seq:
                continue  # superseded by an earlier ready time, or added directly since
            del self._waiting[item]
            self._add_locked(item, entry[1], now)
