"""A controller: sources feeding one work queue drained by N reconcile workers.

``Controller(name, reconciler, options).watches(source, handler, *predicates)`` wires the data path
(source → predicate → handler → queue → reconciler); ``for_(informer)`` and ``owns(informer,
owner_kind)`` are the two common wirings (controller-runtime's ``Builder.For`` / ``Owns``).
:meth:`Controller.start` starts the sources,
waits for their caches, then starts the workers (the loop itself lives in
:mod:`reconciler._worker`). A manager normally calls ``start``/``shutdown``; tests and small tools
may call them directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from reconciler import metrics
from reconciler._worker import CURRENT_LOGGER, Worker, run_worker
from reconciler.handler import EnqueueRequestForObject, EnqueueRequestForOwner, EventHandler
from reconciler.predicate import Predicate
from reconciler.ratelimiter import RateLimiter, default_controller_rate_limiter
from reconciler.reconcile import Reconciler, Request, Result
from reconciler.source import InformerLike, Kind, Source
from reconciler.workqueue import WorkQueue

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["CacheSyncTimeoutError", "Controller", "ControllerOptions", "ReconcilerLike", "reconcile_log"]


ReconcilerLike = Callable[[Request], Result | None] | Reconciler
"""A function ``(Request) -> Result | None``, or an object with such a ``reconcile`` method.
Returning None means ``Result()`` (done, no requeue). Raise to report an error."""


def reconcile_log() -> Logger:
    """Inside a reconcile: the logger bound to it (``controller``, ``key``, ``reconcile_id``), so a
    reconciler's lines can be told apart from other workers'. Elsewhere: the plain logger."""
    return CURRENT_LOGGER.get()


class CacheSyncTimeoutError(TimeoutError):
    """A source did not finish its initial list within ``cache_sync_timeout``."""


@dataclass
class ControllerOptions:
    """Per-controller settings; defaults are controller-runtime's (spec §7)."""

    max_concurrent_reconciles: int = 1
    """Worker threads. Defaults to 1. Any number is safe: one key is never reconciled by two
    workers at once (the queue is "stingy"); more workers only let *different* keys overlap."""

    rate_limiter: RateLimiter = field(default_factory=default_controller_rate_limiter)
    """Per-key back-off for errors and ``Result.requeue``. Defaults to
    ``default_controller_rate_limiter()``: max(per-item exponential 5 ms → 1000 s, 10 qps / burst
    100 overall), client-go's ``DefaultTypedControllerRateLimiter``."""

    recover_panic: bool = True
    """Python has no panics apart from exceptions, so every exception from the reconciler is the
    "error" outcome (requeued with back-off). Defaults to True: the worker survives it. False
    reproduces an unrecovered Go panic: after counting and requeueing, the exception ends the
    worker and is reported to the manager, which stops (the process would have crashed)."""

    cache_sync_timeout: float = 120.0
    """Seconds ``start`` waits for every source's initial list before failing with
    :class:`CacheSyncTimeoutError`. Defaults to 120 s (controller-runtime's 2 minutes)."""

    need_leader_election: bool = True
    """Run only on the elected leader. Defaults to True; False for controllers that only read or
    only write replica-local state."""


class Controller:
    """Reconciles the keys its sources enqueue. See the module docstring for the data path."""

    def __init__(self, name: str, reconciler: ReconcilerLike, options: ControllerOptions | None = None) -> None:
        if not name:
            raise ValueError("a controller needs a name (it labels every metric)")
        self.name = name
        """Unique within a process: the ``controller`` label of metrics and logs."""
        self.options = options or ControllerOptions()
        if self.options.max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        fn = getattr(reconciler, "reconcile", reconciler)
        if not callable(fn):
            raise TypeError("reconciler must be callable or have a reconcile(request) method")
        self._reconcile: Callable[[Request], Result | None] = fn
        self.queue: WorkQueue[Request] = WorkQueue(name, rate_limiter=self.options.rate_limiter)
        """The controller's work queue of :class:`Request` keys."""
        self._watches: list[tuple[Source, EventHandler, tuple[Predicate, ...]]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._fence: Callable[[], bool] = _always
        self.on_fatal: Callable[[BaseException], None] | None = None
        """Set by the manager: called when a worker dies (``recover_panic=False``)."""
        self.error: BaseException | None = None
        """The exception that ended a worker, if any."""
        metrics.controller_registered(name, self.options.max_concurrent_reconciles)

    def watches(self, source: Source, handler: EventHandler, *predicates: Predicate) -> Controller:
        """Feed ``source``'s events, filtered by ``predicates`` (all must pass), through ``handler``
        into this controller's queue. Chainable; a watch added after start begins at once."""
        entry = (source, handler, tuple(predicates))
        with self._lock:
            self._watches.append(entry)
            started = self._started
        if started:
            source.start(handler, self.queue, entry[2])
        return self

    def for_(self, informer: InformerLike, *predicates: Predicate) -> Controller:
        """Reconcile the objects of ``informer`` themselves (``Builder.For``)."""
        return self.watches(Kind(informer), EnqueueRequestForObject(), *predicates)

    def owns(self, informer: InformerLike, owner_kind: str, owner_api_version: str | None = None,
             *predicates: Predicate) -> Controller:
        """Reconcile the controller-owner (of ``owner_kind``) of the objects of ``informer``
        (``Builder.Owns``)."""
        return self.watches(Kind(informer), EnqueueRequestForOwner(owner_kind, owner_api_version), *predicates)

    @property
    def started(self) -> bool:
        with self._lock:
            return self._started

    def start(self, fence: Callable[[], bool] | None = None) -> None:
        """Start the sources, wait for their caches, start the workers; returns once they run.

        ``fence`` is checked before every reconcile (the manager passes the leader-election fence);
        when it returns False the key is dropped unreconciled. Raises
        :class:`CacheSyncTimeoutError` if a source does not sync in ``cache_sync_timeout``."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"controller {self.name} was already started")
            self._started = True
            watches = list(self._watches)
        self._fence = fence or _always
        for source, handler, preds in watches:
            source.start(handler, self.queue, preds)
        for source, _, _ in watches:
            if not source.wait_for_sync(self.options.cache_sync_timeout):
                self.queue.shut_down()
                raise CacheSyncTimeoutError(
                    f"controller {self.name}: source {source!r} did not sync within "
                    f"{self.options.cache_sync_timeout}s"
                )
        worker = Worker(
            controller=self.name,
            queue=self.queue,
            reconcile=self._reconcile,
            may_reconcile=self._fence,
            recover_panic=self.options.recover_panic,
            on_fatal=self._fatal,
        )
        for i in range(self.options.max_concurrent_reconciles):
            t = threading.Thread(target=run_worker, args=(worker,), name=f"{self.name}-worker-{i}", daemon=True)
            self._threads.append(t)
            t.start()
        logger.info("controller {} started with {} workers", self.name, len(self._threads))

    def _fatal(self, err: BaseException) -> None:
        self.error = err
        self.queue.shut_down()
        if self.on_fatal is not None:
            self.on_fatal(err)

    def shutdown(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop taking keys and wait, at most ``timeout`` seconds (None: no bound), for in-flight
        reconciles to finish; keys still queued are dropped (the next start lists everything
        again). ``drain`` waits on the queue's own drain (``shut_down_with_drain``); without it only
        the worker threads are joined. True if every worker ended within the time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if drain:
            if not self.queue.shut_down_with_drain(timeout):
                logger.warning("controller {}: in-flight reconciles still running after {}s", self.name, timeout)
        else:
            self.queue.shut_down()
        return self.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers to end; True if all did within ``timeout``."""
        for t in self._threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def __repr__(self) -> str:
        return f"Controller({self.name!r})"


def _always() -> bool:
    return True
