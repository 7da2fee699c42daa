"""The worker loop of a controller (controller-runtime ``pkg/internal/controller``): internal.

One worker = one thread running :func:`run_worker`. The queue guarantees that a key is handed to
one worker at a time, so a reconciler never runs concurrently with itself for the same object,
however many workers there are.

Outcome mapping, in controller-runtime's order (spec §1.5):

1. the reconciler raised :class:`TerminalError` → counted as an error, logged, **not** requeued;
2. it raised anything else → counted as an error, requeued rate-limited (per-key back-off);
3. ``Result.requeue_after > 0`` → back-off forgotten, key re-added after that delay;
4. ``Result.requeue`` → requeued rate-limited;
5. otherwise → back-off forgotten ("success").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loguru import logger

from reconciler import metrics
from reconciler.logging import reconcile_logger
from reconciler.reconcile import Request, Result, TerminalError
from reconciler.workqueue import WorkQueue

if TYPE_CHECKING:
    from loguru import Logger

ReconcileFunc = Callable[[Request], Result | None]

CURRENT_LOGGER: ContextVar[Logger] = ContextVar("reconcile_logger", default=logger)
"""The logger bound to the reconcile running in this thread (controller, key, reconcile_id)."""


@dataclass
class Worker:
    """Everything a worker thread needs; shared by the controller's N workers."""

    controller: str
    """Controller name: the ``controller`` label of every metric and log line."""
    queue: WorkQueue[Request]
    reconcile: ReconcileFunc
    may_reconcile: Callable[[], bool]
    """The leader fence: checked before each reconcile; when False the key is dropped (the next
    leader lists everything anyway) and nothing is written."""
    recover_panic: bool
    on_fatal: Callable[[BaseException], None]
    """Called with the exception that ends this worker when ``recover_panic`` is False (the
    worker then returns instead of raising, so the thread ends without a stray traceback)."""


def run_worker(w: Worker) -> None:
    """Process keys until the queue shuts down (thread body)."""
    while process_next_work_item(w):
        pass


def process_next_work_item(w: Worker) -> bool:
    """Take one key, reconcile it, mark it done. False once the queue is shut down."""
    req = w.queue.get()
    if req is None:
        return False
    try:
        return reconcile_handler(w, req) if w.may_reconcile() else True
    finally:
        w.queue.done(req)


def reconcile_handler(w: Worker, req: Request) -> bool:
    """Run the reconciler for ``req`` and map its outcome onto the queue and the metrics.
    False when the worker must end (an unrecovered exception, reported through ``on_fatal``)."""
    log = reconcile_logger(w.controller, str(req))
    token = CURRENT_LOGGER.set(log)
    active = metrics.ACTIVE_WORKERS.labels(w.controller)
    active.inc()
    started = time.monotonic()
    try:
        result = w.reconcile(req) or Result()
    except TerminalError as err:
        metrics.observe_reconcile(w.controller, "error", time.monotonic() - started)
        metrics.record_terminal_error(w.controller)
        log.opt(exception=err).error("terminal reconciler error, not requeued: {}", err)
        return True
    except Exception as err:
        metrics.observe_reconcile(w.controller, "error", time.monotonic() - started)
        w.queue.add_rate_limited(req)
        log.opt(exception=err).error("reconciler error, requeued with back-off: {}", err)
        if not w.recover_panic:
            metrics.record_reconcile_panic(w.controller)
            w.on_fatal(err)
            return False
        return True
    finally:
        active.dec()
        CURRENT_LOGGER.reset(token)
    elapsed = time.monotonic() - started
    if result.requeue_after is not None and result.requeue_after > 0:
        w.queue.forget(req)
        w.queue.add_after(req, result.requeue_after)
        metrics.observe_reconcile(w.controller, "requeue_after", elapsed)
    elif result.requeue:
        w.queue.add_rate_limited(req)
        metrics.observe_reconcile(w.controller, "requeue", elapsed)
    else:
        w.queue.forget(req)
        metrics.observe_reconcile(w.controller, "success", elapsed)
        log.debug("reconciled")
    return True
