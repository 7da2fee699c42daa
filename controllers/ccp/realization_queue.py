"""Coalescing of realization reports into batches: the bookkeeping, without threads or I/O.

Why a queue at all: a cold start with 1,000 policies used to cost 1,000 POSTs, each a round trip
through the transport's rate limit. Changes now wait a short window (``BatchOptions.window``)
and leave together, one POST per batch. The rules kept here:

- only on change: a report equal to the last one NSX acknowledged is not queued (nor sent when
  it became equal while waiting), except the periodic re-send of an ERROR;
- latest state wins: a path has at most one queued change; a newer one replaces it in place;
- nothing lost, nothing doubled: a path is in at most one batch in flight; a failed item comes
  back only if no newer change for its path arrived meanwhile; a failed batch keeps its order.

Every method takes ``now`` (monotonic seconds) so the logic is testable without sleeping. The
caller serialises access (``RealizationReporter`` holds one lock around it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nsx.models.channel import RealizationReport

Key = tuple[Any, ...]
"""What makes two reports equal for "only on change": (state, reasons, intent_revision)."""

MAX_BATCH = 1000  # the channel's per-request cap (docs/adapter-channel.md §3)


@dataclass(frozen=True)
class BatchOptions:
    """How realization reports are coalesced and retried."""

    window: float = 0.5
    """Seconds a change may wait for others before its batch leaves. Defaults to 0.5 s: long
    enough to gather a cold start's burst, short against ``--realization-timeout`` (60 s)."""

    max_reports: int = 500
    """Items per POST; a batch leaves as soon as this many are due, window or not. Defaults to
    500 (half the channel's cap of 1,000, so a request stays well under its body limits)."""

    retry_initial: float = 0.5
    """First back-off (s) after a failed batch or item; doubles per failure. Defaults to 0.5 s."""

    retry_max: float = 30.0
    """Cap of the back-off (s). Defaults to 30 s, so a recovered NSX hears from us quickly."""

    flush_timeout: float = 5.0
    """Seconds spent sending what is queued when the adapter stops. Defaults to 5 s (a
    restarted adapter re-reports anything left: it compares with what NSX holds first)."""

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError("window must be >= 0")
        if not 1 <= self.max_reports <= MAX_BATCH:
            raise ValueError(f"max_reports must be 1..{MAX_BATCH}")
        if self.retry_initial <= 0 or self.retry_max < self.retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        if self.flush_timeout < 0:
            raise ValueError("flush_timeout must be >= 0")

    def backoff(self, failures: int) -> float:
        return float(min(self.retry_max, self.retry_initial * 2 ** max(0, failures - 1)))


@dataclass
class Change:
    """One queued change of a path: a report, or a withdrawal when ``report`` is None."""

    path: str
    report: RealizationReport | None
    key: Key | None
    queued_at: float
    order: int = 0  # ties of queued_at: first queued, first sent
    offered_at: float = 0.0  # when this very state was offered (the ERROR re-send clock starts there)
    force: bool = False  # send even when equal to the acknowledged report (ERROR re-send)
    attempts: int = 0  # failed sends of this change as an item
    not_before: float = 0.0

    @property
    def withdraw(self) -> bool:
        return self.report is None

    def due_at(self, window: float) -> float:
        return max(self.not_before, self.queued_at + window)


@dataclass(frozen=True)
class Acked:
    key: Key
    at: float  # when the acknowledged state was offered, not when NSX answered (see offer())


@dataclass(frozen=True)
class Batch:
    changes: tuple[Change, ...]

    @property
    def reports(self) -> list[RealizationReport]:
        return [c.report for c in self.changes if c.report is not None]

    @property
    def withdrawals(self) -> list[str]:
        return [c.path for c in self.changes if c.report is None]

    def __len__(self) -> int:
        return len(self.changes)


@dataclass
class Settled:
    """What became of a batch's items (for logs and counters)."""

    acked: list[Change] = field(default_factory=list)
    retried: list[Change] = field(default_factory=list)
    dropped: list[tuple[Change, int]] = field(default_factory=list)  # permanent failures, with status
    superseded: list[Change] = field(default_factory=list)  # failed, but a newer change is queued


def retryable(status: int) -> bool:
    """Whether a failed item may succeed later. 404 is retried: the policy may be there on the
    next try, and if it is really gone its withdrawal replaces the queued report."""
    return not 400 <= status < 500 or status in (404, 408, 409, 429)


class ReportQueue:
    def __init__(self, options: BatchOptions | None = None) -> None:
        self.options = options or BatchOptions()
        self._acked: dict[str, Acked] = {}
        self._pending: dict[str, Change] = {}
        self._in_flight: dict[str, Change] = {}
        self._failures = 0  # consecutive failed batches
        self._blocked_until = 0.0
        self._counter = 0

    def _change(self, path: str, report: RealizationReport | None, key: Key | None, now: float,
                queued_at: float | None = None, order: int | None = None, force: bool = False) -> Change:
        """A new change; one replacing a queued change keeps its place (``queued_at``, ``order``)."""
        queued_at = now if queued_at is None else queued_at
        if order is None:
            self._counter += 1
            order = self._counter
        return Change(path, report, key, queued_at, order, offered_at=now, force=force)

    # ------------------------------------------------------------------ what callers offer
    def prime(self, acked: Mapping[str, Key], now: float) -> None:
        """What NSX already holds counts as acknowledged (after a restart)."""
        for path, key in acked.items():
            self._acked.setdefault(path, Acked(key, now))

    def offer(self, path: str, key: Key, report: RealizationReport, now: float,
              resend_after: float | None = None) -> bool:
        """Queue ``report`` unless NSX has (or is being sent) exactly that; True if queued.

        ``resend_after``: re-send an acknowledged equal report once it is that old (ERRORs)."""
        acked = self._acked.get(path)
        due = resend_after is not None and acked is not None and acked.key == key and \
            now - acked.at >= resend_after
        queued = self._pending.get(path)
        if queued is not None:
            if queued.key == key:  # the same change again: keep its place and its back-off
                newly_forced = due and not queued.force
                queued.force = queued.force or due
                return newly_forced
            self._pending[path] = self._change(path, report, key, now, queued.queued_at, queued.order, due)
            return True
        flying = self._in_flight.get(path)
        if flying is not None:
            if flying.key == key:  # being sent right now (a re-send included)
                return False
        elif acked is not None and acked.key == key and not due:
            return False
        self._pending[path] = self._change(path, report, key, now, force=due)
        return True

    def withdraw(self, path: str, now: float) -> bool:
        """Queue the withdrawal of ``path``'s report if NSX may hold one; True if newly queued."""
        queued = self._pending.get(path)
        latest = queued if queued is not None else self._in_flight.get(path)
        if latest is None and path not in self._acked:
            return False
        if latest is not None and latest.withdraw:
            return False  # already on its way
        self._pending[path] = self._change(path, None, None, now, queued.queued_at if queued else None,
                                           queued.order if queued else None)
        return True

    def knows(self, path: str) -> bool:
        """Whether NSX holds, or is about to hold, a report of ``path``."""
        return path in self._acked or path in self._pending or path in self._in_flight

    def acked(self, path: str) -> Acked | None:
        return self._acked.get(path)

    def due_at(self, path: str) -> float | None:
        """When ``path``'s queued change may leave (window and back-off); None if none is queued."""
        change = self._pending.get(path)
        return None if change is None else change.due_at(self.options.window)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # ------------------------------------------------------------------ what the sender does
    def take(self, now: float, *, flush: bool = False) -> Batch | None:
        """The next batch if one is due (``flush``: anything queued, window and back-off ignored)."""
        if self._in_flight or (not flush and now < self._blocked_until):
            return None
        self._drop_redundant()
        window = self.options.window
        ready = [c for c in self._pending.values() if flush or c.not_before <= now]
        if not ready:
            return None
        if not flush and len(ready) < self.options.max_reports and \
                not any(c.due_at(window) <= now for c in ready):
            return None
        ready.sort(key=lambda c: (c.queued_at, c.order))
        chosen = ready[:self.options.max_reports]
        for change in chosen:
            del self._pending[change.path]
            self._in_flight[change.path] = change
        return Batch(tuple(chosen))

    def wake_in(self, now: float) -> float | None:
        """Seconds until :meth:`take` may return a batch; None while nothing is queued."""
        if self._in_flight or not self._pending:
            return None
        window = self.options.window
        ready = sum(1 for c in self._pending.values() if c.not_before <= now)
        at = now if ready >= self.options.max_reports else min(c.due_at(window) for c in self._pending.values())
        return max(0.0, max(at, self._blocked_until) - now)

    def settle(self, batch: Batch, statuses: Mapping[str, int], now: float) -> Settled:
        """Apply the per-item answer of a sent batch (an item without an answer counts as 503)."""
        self._failures = 0
        self._blocked_until = 0.0
        out = Settled()
        for change in batch.changes:
            self._in_flight.pop(change.path, None)
            status = statuses.get(change.path, 503)
            if 200 <= status < 300:
                if change.withdraw:
                    self._acked.pop(change.path, None)
                else:
                    assert change.key is not None
                    self._acked[change.path] = Acked(change.key, change.offered_at)
                out.acked.append(change)
            elif change.path in self._pending:
                self._requeue(change)
                out.superseded.append(change)
            elif not retryable(status):
                out.dropped.append((change, status))
            else:
                change.attempts += 1
                change.not_before = now + self.options.backoff(change.attempts)
                self._pending[change.path] = change
                out.retried.append(change)
        return out

    def fail(self, batch: Batch, now: float) -> float:
        """The whole batch failed (NSX unreachable, 503, 429…): queue it again, unless newer
        changes replaced some items, and hold every send for the returned back-off."""
        self._failures += 1
        delay = self.options.backoff(self._failures)
        self._blocked_until = now + delay
        for change in batch.changes:
            self._requeue(change)
        return delay

    def _requeue(self, change: Change) -> None:
        """Back in the queue at its old place; a newer change of its path wins but takes that place."""
        self._in_flight.pop(change.path, None)
        newer = self._pending.get(change.path)
        if newer is None:
            self._pending[change.path] = change
        else:
            newer.queued_at, newer.order = min((newer.queued_at, newer.order), (change.queued_at, change.order))

    def _drop_redundant(self) -> None:
        """Forget queued reports that became equal to what NSX acknowledged meanwhile."""
        for path in [p for p, c in self._pending.items() if self._redundant(c)]:
            del self._pending[path]

    def _redundant(self, change: Change) -> bool:
        if change.force:
            return False
        if change.withdraw:
            return False
        acked = self._acked.get(change.path)
        return acked is not None and acked.key == change.key
