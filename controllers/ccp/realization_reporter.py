"""The sender of realization reports: drains :class:`ReportQueue` into batch POSTs (C9).

Why a runnable of its own rather than a send per reconcile: reconciles of many policies finish
within the same fraction of a second (a cold start, a resync), and one POST for all of them is
what keeps NSX's per-client rate limit and the adapter's start-up time low. One batch is in
flight at a time, so an item's answer always arrives before its path is sent again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from loguru import logger

from controllers.ccp.realization_queue import Acked, Batch, BatchOptions, Key, ReportQueue
from nsx.channel import AdapterChannel
from nsx.models.channel import RealizationReport

_POLL = 0.25  # how often an idle sender looks at its stop event
_SHOWN = 5  # paths named in one log line


def _open() -> bool:
    return True


class RealizationReporter:
    def __init__(
        self,
        channel: AdapterChannel,
        options: BatchOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._queue = ReportQueue(options)
        self._cond = threading.Condition()
        self._clock = clock
        self._wake_at = float("inf")  # when the waiting sender looks at the queue again (its clock)
        self.posts = 0
        """Batch POSTs NSX answered."""
        self.failed_posts = 0
        """Batch POSTs that failed as a whole (each retried later)."""
        self.items_sent = 0
        """Reports and withdrawals NSX accepted."""

    @property
    def options(self) -> BatchOptions:
        return self._queue.options

    # ------------------------------------------------------------------ for the reconciler
    def prime(self, acked: Mapping[str, Key]) -> None:
        with self._cond:
            self._queue.prime(acked, self._clock())

    def offer(self, path: str, key: Key, report: RealizationReport, resend_after: float | None = None) -> bool:
        """Queue a report unless NSX holds (or is being sent) the same one; True if queued."""
        with self._cond:
            queued = self._queue.offer(path, key, report, self._clock(), resend_after)
            if queued:
                self._wake_if_sooner(path)
            return queued

    def withdraw(self, path: str) -> bool:
        with self._cond:
            queued = self._queue.withdraw(path, self._clock())
            if queued:
                self._wake_if_sooner(path)
            return queued

    def _wake_if_sooner(self, path: str) -> None:
        """Wake the sender only if ``path``'s change is due before the sender means to look again,
        or it just filled a batch. Each look scans the whole queue: waking it for every change of a
        burst made a cold start's N reports cost O(N²) (2 s of 30 s at 3,000 policies)."""
        due = self._queue.due_at(path)
        if self._queue.pending == self.options.max_reports or (due is not None and due < self._wake_at):
            self._cond.notify_all()

    def knows(self, path: str) -> bool:
        with self._cond:
            return self._queue.knows(path)

    def acked(self, path: str) -> Acked | None:
        with self._cond:
            return self._queue.acked(path)

    def idle(self) -> bool:
        """Nothing queued and nothing in flight."""
        with self._cond:
            return self._queue.pending == 0 and self._queue.in_flight == 0

    # ------------------------------------------------------------------ the sending thread
    def runnable(self, fence: Callable[[], bool] = _open) -> Callable[[threading.Event], None]:
        """``fn(stop)`` for ``Manager.add_runnable``; ``fence`` closes when writes must stop."""

        def realization_reports(stop: threading.Event) -> None:
            self.run(stop, fence)

        return realization_reports

    def run(self, stop: threading.Event, fence: Callable[[], bool] = _open) -> None:
        """Send batches until ``stop``, then whatever is still queued (bounded by ``flush_timeout``)."""
        while not stop.is_set():
            batch = self._next(fence)
            if batch is not None:
                self._send(batch)
        self._flush(fence)

    def _next(self, fence: Callable[[], bool]) -> Batch | None:
        with self._cond:
            if not fence():  # not (or no longer surely) the leader: hold everything
                self._cond.wait(_POLL)
                return None
            batch = self._queue.take(self._clock())
            if batch is None:
                now = self._clock()
                wait = self._queue.wake_in(now)
                timeout = _POLL if wait is None else min(wait, _POLL)
                self._wake_at = now + timeout
                self._cond.wait(timeout)
            return batch

    def _flush(self, fence: Callable[[], bool]) -> None:
        deadline = self._clock() + self.options.flush_timeout
        while self._clock() < deadline and fence():
            with self._cond:
                batch = self._queue.take(self._clock(), flush=True)
            if batch is None or not self._send(batch):
                break
        with self._cond:
            left = self._queue.pending + self._queue.in_flight
        if left:
            logger.info("stopping with {} realization change(s) unsent; the next start re-reports them", left)

    def _send(self, batch: Batch) -> bool:
        try:
            ack = self._channel.report_realization_batch(batch.reports, batch.withdrawals)
        except Exception as err:  # NSX unreachable, 503/429 past the transport's retries, …
            with self._cond:
                delay = self._queue.fail(batch, self._clock())
            self.failed_posts += 1
            logger.warning("realization batch of {} failed ({}); retrying in {:.1f} s", len(batch), err, delay)
            return False
        statuses = {r.intent_path: r.status for r in ack.results if r.intent_path is not None}
        with self._cond:
            settled = self._queue.settle(batch, statuses, self._clock())
            self._cond.notify_all()
        self.posts += 1
        self.items_sent += len(settled.acked)
        logger.debug("realization batch: {} sent, {} accepted", len(batch), len(settled.acked))
        if settled.retried:
            shown = ", ".join(f"{c.path} ({statuses.get(c.path, 'no answer')})" for c in settled.retried[:_SHOWN])
            logger.warning("realization: {} item(s) refused, retrying them with back-off: {}{}",
                           len(settled.retried), shown, " …" if len(settled.retried) > _SHOWN else "")
        for change, status in settled.dropped:
            detail = next((r.error_message for r in ack.results if r.intent_path == change.path), "")
            logger.error("realization report of {} rejected by NSX ({}: {}); not retried",
                         change.path, status, detail)
        return True
