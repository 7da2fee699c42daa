"""Coalescing of realization reports (controllers/ccp/realization_queue.py), with an explicit clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.ccp.realization_queue import Batch, BatchOptions, ReportQueue, retryable
from nsx.models.channel import RealizationReport

PATH = "/infra/domains/default/security-policies/p{}"
OPTS = BatchOptions(window=0.5, max_reports=500, retry_initial=1.0, retry_max=8.0)


def report(n: int, state: str = "IN_PROGRESS", revision: int = 0) -> tuple[str, tuple[Any, ...], RealizationReport]:
    path = PATH.format(n)
    return path, (state, (), revision), RealizationReport(intent_path=path, state=state,  # type: ignore[arg-type]
                                                          intent_revision=revision)


def offer(q: ReportQueue, n: int, now: float, state: str = "IN_PROGRESS", revision: int = 0,
          resend_after: float | None = None) -> bool:
    path, key, rep = report(n, state, revision)
    return q.offer(path, key, rep, now, resend_after)


def states(batch: Batch) -> dict[str, str]:
    out: dict[str, str] = {r.intent_path: r.state for r in batch.reports}
    out.update({p: "WITHDRAW" for p in batch.withdrawals})
    return out


def ok(batch: Batch, **overrides: int) -> dict[str, int]:
    """Every item answered 200, except ``p<n>=status`` overrides."""
    statuses = {c.path: 200 for c in batch.changes}
    for name, status in overrides.items():
        statuses[PATH.format(name[1:])] = status
    return statuses


def test_a_burst_waits_for_the_window_then_leaves_as_one_batch() -> None:
    q = ReportQueue(OPTS)
    for n in range(300):
        assert offer(q, n, now=10.0 + n * 0.001)
    assert q.take(10.3) is None, "inside the window nothing leaves"
    assert q.wake_in(10.3) == pytest.approx(0.2)
    batch = q.take(10.5)
    assert batch is not None and len(batch) == 300
    assert [r.intent_path for r in batch.reports] == [PATH.format(n) for n in range(300)], "oldest first"
    assert q.take(11.0) is None and q.wake_in(11.0) is None


def test_a_full_batch_leaves_at_once_and_the_rest_after_the_window() -> None:
    q = ReportQueue(OPTS)
    for n in range(1200):
        offer(q, n, now=0.0)
    first = q.take(0.0)
    assert first is not None and len(first) == 500
    assert q.take(0.0) is None, "one batch in flight at a time"
    q.settle(first, ok(first), 0.1)
    second = q.take(0.1)
    assert second is not None and len(second) == 500
    q.settle(second, ok(second), 0.2)
    assert q.take(0.2) is None, "200 left: they wait for the window"
    third = q.take(0.5)
    assert third is not None and len(third) == 200
    sent = [*states(first), *states(second), *states(third)]
    assert sorted(sent) == sorted(PATH.format(n) for n in range(1200)), "each path exactly once"


def test_latest_state_wins_inside_a_window() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "IN_PROGRESS")
    offer(q, 2, 0.1, "IN_PROGRESS")
    offer(q, 1, 0.2, "REALIZED")
    batch = q.take(0.5)
    assert batch is not None
    assert states(batch) == {PATH.format(1): "REALIZED", PATH.format(2): "IN_PROGRESS"}
    assert [c.path for c in batch.changes] == [PATH.format(1), PATH.format(2)], "a replaced change keeps its place"


def test_only_changes_are_sent() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "REALIZED")
    batch = q.take(1.0)
    assert batch is not None
    q.settle(batch, ok(batch), 1.1)
    assert not offer(q, 1, 2.0, "REALIZED"), "identical to the acknowledged report"
    assert q.pending == 0
    assert offer(q, 1, 2.0, "REALIZED", revision=1)
    assert q.pending == 1


def test_a_change_reverted_before_its_batch_leaves_is_not_sent() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "REALIZED")
    batch = q.take(1.0)
    assert batch is not None
    q.settle(batch, ok(batch), 1.0)
    assert offer(q, 1, 2.0, "IN_PROGRESS", revision=1)
    assert not offer(q, 1, 2.1, "REALIZED") or q.pending == 1
    assert q.take(3.0) is None, "back to what NSX holds: nothing to send"
    assert q.pending == 0


def test_a_change_while_in_flight_follows_the_batch() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "IN_PROGRESS")
    flying = q.take(1.0)
    assert flying is not None
    assert not offer(q, 1, 1.1, "IN_PROGRESS"), "the same report is being sent"
    assert offer(q, 1, 1.2, "REALIZED")
    assert q.take(5.0) is None, "the path is in flight"
    q.settle(flying, ok(flying), 1.3)
    after = q.take(1.7)
    assert after is not None and states(after) == {PATH.format(1): "REALIZED"}


def test_partial_failure_retries_only_the_failed_items_with_back_off() -> None:
    q = ReportQueue(OPTS)
    for n in range(5):
        offer(q, n, 0.0)
    batch = q.take(0.5)
    assert batch is not None
    settled = q.settle(batch, ok(batch, p1=503, p2=404, p3=400), 1.0)
    assert {c.path for c in settled.acked} == {PATH.format(0), PATH.format(4)}
    assert {c.path for c in settled.retried} == {PATH.format(1), PATH.format(2)}
    assert [(c.path, s) for c, s in settled.dropped] == [(PATH.format(3), 400)]
    assert q.acked(PATH.format(0)) is not None and q.acked(PATH.format(1)) is None
    assert q.take(1.9) is None, "back-off of the first failure: 1 s"
    assert q.wake_in(1.9) == pytest.approx(0.1)
    retry = q.take(2.0)
    assert retry is not None and set(states(retry)) == {PATH.format(1), PATH.format(2)}
    settled = q.settle(retry, ok(retry, p1=503), 2.1)
    assert [c.attempts for c in settled.retried] == [2]
    assert q.take(4.0) is None and q.take(4.1) is not None, "second failure: 2 s"


def test_an_item_answer_missing_from_the_response_is_retried() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0)
    offer(q, 2, 0.0)
    batch = q.take(1.0)
    assert batch is not None
    settled = q.settle(batch, {PATH.format(1): 200}, 1.0)
    assert [c.path for c in settled.retried] == [PATH.format(2)]


def test_a_failed_item_superseded_by_a_newer_change_is_not_resent() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "IN_PROGRESS")
    batch = q.take(1.0)
    assert batch is not None
    offer(q, 1, 1.1, "REALIZED")
    settled = q.settle(batch, ok(batch, p1=503), 1.2)
    assert [c.path for c in settled.superseded] == [PATH.format(1)]
    nxt = q.take(1.6)
    assert nxt is not None and states(nxt) == {PATH.format(1): "REALIZED"}


def test_a_failed_batch_is_retried_whole_after_back_off_without_duplicates() -> None:
    q = ReportQueue(OPTS)
    for n in range(4):
        offer(q, n, 0.0, "IN_PROGRESS")
    batch = q.take(0.5)
    assert batch is not None
    offer(q, 2, 0.6, "REALIZED")  # changed while the batch was failing
    assert q.fail(batch, 0.7) == 1.0
    assert q.take(1.6) is None, "every send waits for the back-off"
    assert q.fail(q.take(1.7) or Batch(()), 1.8) == 2.0, "consecutive failures double it"
    assert q.take(3.7) is None
    again = q.take(3.8)
    assert again is not None
    assert [c.path for c in again.changes] == [PATH.format(n) for n in range(4)]
    assert states(again)[PATH.format(2)] == "REALIZED", "latest state"
    q.settle(again, ok(again), 3.9)
    assert q.pending == 0 and q.in_flight == 0
    offer(q, 5, 4.0)
    assert q.take(4.5) is not None, "a success resets the back-off"


def test_errors_are_resent_after_the_interval_only() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "ERROR")
    batch = q.take(1.0)
    assert batch is not None
    q.settle(batch, ok(batch), 1.0)
    assert not offer(q, 1, 500.0, "ERROR", resend_after=600.0)
    assert offer(q, 1, 601.0, "ERROR", resend_after=600.0)
    resend = q.take(602.0)
    assert resend is not None and states(resend) == {PATH.format(1): "ERROR"}
    q.settle(resend, ok(resend), 602.0)
    assert not offer(q, 1, 700.0, "ERROR", resend_after=600.0), "the clock restarts at the re-send"


def test_the_resend_clock_starts_when_the_error_was_offered() -> None:
    """The reconciler requeues exactly ``error_resend_interval`` after it offered the report; the
    batch window must not push the re-send to the requeue after that."""
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0, "ERROR")
    batch = q.take(0.5)
    assert batch is not None
    q.settle(batch, ok(batch), 0.6)
    assert offer(q, 1, 600.0, "ERROR", resend_after=600.0)


def test_withdrawals() -> None:
    q = ReportQueue(OPTS)
    assert not q.withdraw(PATH.format(9), 0.0), "nothing known: nothing to withdraw"
    offer(q, 1, 0.0, "REALIZED")
    batch = q.take(1.0)
    assert batch is not None
    q.settle(batch, ok(batch), 1.0)
    assert q.withdraw(PATH.format(1), 2.0)
    offer(q, 2, 2.0)
    assert q.withdraw(PATH.format(2), 2.1), "queued but not sent: withdrawn all the same, in order"
    assert not q.withdraw(PATH.format(2), 2.2), "already queued"
    out = q.take(3.0)
    assert out is not None and states(out) == {PATH.format(1): "WITHDRAW", PATH.format(2): "WITHDRAW"}
    q.settle(out, ok(out), 3.0)
    assert not q.knows(PATH.format(1)) and q.acked(PATH.format(1)) is None
    assert offer(q, 1, 4.0, "REALIZED"), "after a withdrawal the same report is new again"


def test_prime_counts_as_acknowledged() -> None:
    q = ReportQueue(OPTS)
    path, key, _ = report(1, "REALIZED")
    q.prime({path: key}, 0.0)
    assert not offer(q, 1, 1.0, "REALIZED")
    assert q.knows(path)


def test_flush_ignores_window_and_back_off() -> None:
    q = ReportQueue(OPTS)
    offer(q, 1, 0.0)
    batch = q.take(0.5)
    assert batch is not None
    q.fail(batch, 0.5)
    offer(q, 2, 0.6)
    flushed = q.take(0.6, flush=True)
    assert flushed is not None and len(flushed) == 2


def test_options() -> None:
    assert [OPTS.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    for bad in ({"max_reports": 0}, {"max_reports": 1001}, {"window": -1}, {"retry_initial": 0},
                {"retry_initial": 5, "retry_max": 1}):
        with pytest.raises(ValueError):
            BatchOptions(**bad)
    assert retryable(503) and retryable(429) and retryable(404) and not retryable(400)


# --------------------------------------------------------------------------- model-based check
op = st.one_of(
    st.tuples(st.just("offer"), st.integers(0, 4), st.sampled_from(["IN_PROGRESS", "REALIZED", "ERROR"])),
    st.tuples(st.just("withdraw"), st.integers(0, 4), st.none()),
    st.tuples(st.just("tick"), st.floats(0.0, 3.0), st.none()),
    st.tuples(st.just("send"), st.lists(st.sampled_from([200, 200, 503, 404, 429]), min_size=5, max_size=5),
              st.none()),
    st.tuples(st.just("fail"), st.none(), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=60), st.integers(1, 4))
def test_any_interleaving_ends_with_the_latest_state_acknowledged(ops: list[Any], max_reports: int) -> None:
    """Whatever the order of changes, partial and full failures: once NSX answers again, what
    it holds is the last state offered per path, and nothing equal to it was sent twice."""
    q = ReportQueue(BatchOptions(window=0.5, max_reports=max_reports, retry_initial=0.5, retry_max=2.0))
    now = 0.0
    latest: dict[str, tuple[Any, ...] | None] = {}
    nsx: dict[str, tuple[Any, ...]] = {}

    def send(batch: Batch, answers: list[int]) -> None:
        paths = [c.path for c in batch.changes]
        assert len(paths) == len(set(paths)), "a path twice in one batch"
        statuses = {}
        for i, change in enumerate(batch.changes):
            status = answers[i % len(answers)]
            statuses[change.path] = status
            if status == 200:
                if change.withdraw:
                    nsx.pop(change.path, None)
                else:
                    assert change.force or nsx.get(change.path) != change.key, "an unchanged report was re-sent"
                    assert change.key is not None
                    nsx[change.path] = change.key
        q.settle(batch, statuses, now)

    for kind, arg, state in ops:
        if kind == "offer":
            path, key, rep = report(arg, state)
            q.offer(path, key, rep, now)
            latest[path] = key
        elif kind == "withdraw":
            q.withdraw(PATH.format(arg), now)
            latest[PATH.format(arg)] = None
        elif kind == "tick":
            now += arg
        else:
            batch = q.take(now)
            if batch is not None:
                if kind == "send":
                    send(batch, arg)
                else:
                    q.fail(batch, now)
    for _ in range(100):  # NSX healthy again: drain
        if q.pending == 0:
            break
        now += 2.5
        batch = q.take(now)
        if batch is not None:
            send(batch, [200])
    assert q.pending == 0 and q.in_flight == 0
    assert nsx == {p: k for p, k in latest.items() if k is not None}
