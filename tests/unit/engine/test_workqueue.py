"""The work queue contract of client-go util/workqueue, with controller-runtime priorities."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Hashable
from typing import TypeVar

import pytest

from reconciler.ratelimiter import ItemExponentialFailureRateLimiter
from reconciler.workqueue import LOW_PRIORITY, WorkQueue

H = TypeVar("H", bound=Hashable)


def drain(q: WorkQueue[H]) -> list[H]:
    out: list[H] = []
    while (item := q.get(timeout=0)) is not None:
        out.append(item)
        q.done(item)
    return out


def test_fifo_and_dedup_while_waiting() -> None:
    q: WorkQueue[str] = WorkQueue("t-fifo")
    for item in ["a", "b", "a", "c", "b"]:
        q.add(item)
    assert len(q) == 3
    assert drain(q) == ["a", "b", "c"]


def test_readd_during_processing_is_deferred_until_done() -> None:
    q: WorkQueue[str] = WorkQueue("t-defer")
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0
    assert q.get(timeout=0.01) is None  # not handed to a second worker while in flight
    q.done("a")
    assert len(q) == 1
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert q.get(timeout=0) is None


def test_stray_done_does_not_reorder_or_duplicate() -> None:
    q: WorkQueue[str] = WorkQueue("")
    q.add("a")
    q.add("b")
    q.done("a")  # never handed out: must not move "a" behind "b" nor queue it twice
    assert drain(q) == ["a", "b"]


def test_done_without_readd_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue("t-done")
    q.add("a")
    q.done(q.get(timeout=0) or "")
    assert len(q) == 0


def test_priority_live_add_overtakes_low_priority_backlog() -> None:
    q: WorkQueue[str] = WorkQueue("t-prio")
    for i in range(100):
        q.add(f"backlog-{i}", priority=LOW_PRIORITY)
    q.add("live")
    assert q.get(timeout=0) == "live"
    q.done("live")
    # A live event for a key in the backlog promotes it, and the rest stays FIFO.
    q.add("backlog-50")
    order = drain(q)
    assert order[0] == "backlog-50"
    assert order[1:] == [f"backlog-{i}" for i in range(100) if i != 50]


def test_lower_priority_readd_does_not_demote() -> None:
    q: WorkQueue[str] = WorkQueue("t-nodemote")
    q.add("a", priority=LOW_PRIORITY)
    q.add("b", priority=0)
    q.add("b", priority=LOW_PRIORITY)
    assert drain(q) == ["b", "a"]


def test_priority_raised_while_processing_applies_on_done() -> None:
    q: WorkQueue[str] = WorkQueue("t-prio-defer")
    q.add("x")
    assert q.get(timeout=0) == "x"
    q.add("x", priority=10)
    q.add("y", priority=5)
    q.done("x")
    assert drain(q) == ["x", "y"]


def test_add_after_orders_by_ready_time() -> None:
    q: WorkQueue[str] = WorkQueue("t-after")
    started = time.monotonic()
    q.add_after("late", 0.15)
    q.add_after("early", 0.05)
    q.add_after("now", 0)
    assert q.waiting_count() == 2
    got = []
    for _ in range(3):
        item = q.get(timeout=2)
        assert item is not None
        got.append((item, time.monotonic() - started))
        q.done(item)
    assert [g[0] for g in got] == ["now", "early", "late"]
    assert got[1][1] >= 0.05 - 0.005
    assert got[2][1] >= 0.15 - 0.005
    assert got[2][1] < 1.0


def test_add_after_keeps_earliest_ready_time() -> None:
    q: WorkQueue[str] = WorkQueue("t-after-min")
    q.add_after("a", 0.05)
    q.add_after("a", 5.0)  # must not push it back
    started = time.monotonic()
    assert q.get(timeout=2) == "a"
    assert time.monotonic() - started < 1.0
    q.done("a")
    assert q.waiting_count() == 0
    assert q.get(timeout=0.1) is None  # exactly once


def test_add_cancels_pending_delay() -> None:
    q: WorkQueue[str] = WorkQueue("t-after-cancel")
    q.add_after("a", 0.05)
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert q.get(timeout=0.15) is None  # the delayed copy was folded into the add


def test_add_after_on_queued_item_is_noop() -> None:
    q: WorkQueue[str] = WorkQueue("t-after-queued")
    q.add("a")
    q.add_after("a", 0.02)
    assert drain(q) == ["a"]
    assert q.get(timeout=0.1) is None


def test_requeue_after_while_processing_fires_later() -> None:
    q: WorkQueue[str] = WorkQueue("t-requeue-after")
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add_after("a", 0.05)  # what a worker does for Result(requeue_after=...)
    q.done("a")
    assert len(q) == 0
    assert q.get(timeout=2) == "a"


def test_cancelled_delays_do_not_accumulate() -> None:
    q: WorkQueue[int] = WorkQueue("")
    for round_ in range(50):
        for i in range(100):
            q.add_after(i, 1000.0)  # a long back-off ...
        for i in range(100):
            q.add(i)  # ... overtaken by live events
        assert drain(q) == list(range(100)), round_
    assert q.waiting_count() == 0
    assert len(q._waiting_heap) <= 2 * 100 + 64


def test_blocked_getter_wakes_for_delayed_item() -> None:
    q: WorkQueue[str] = WorkQueue("t-wake")
    result: list[str | None] = []
    t = threading.Thread(target=lambda: result.append(q.get(timeout=5)))
    t.start()
    time.sleep(0.02)  # let it block with nothing queued
    started = time.monotonic()
    q.add_after("a", 0.05)
    t.join(timeout=5)
    assert result == ["a"]
    assert time.monotonic() - started < 1.0


def test_rate_limited_requeue_backs_off_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue("t-rl", ItemExponentialFailureRateLimiter(0.01, 1.0))
    for expected in (0.01, 0.02, 0.04):
        started = time.monotonic()
        q.add_rate_limited("a")
        assert q.get(timeout=2) == "a"
        elapsed = time.monotonic() - started
        q.done("a")
        assert elapsed >= expected - 0.002
        assert elapsed < expected + 0.5
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0


def test_get_timeout_returns_none() -> None:
    q: WorkQueue[str] = WorkQueue("t-timeout")
    started = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert 0.04 <= time.monotonic() - started < 1.0


def test_get_returns_none_after_shutdown_and_adds_ignored() -> None:
    q: WorkQueue[str] = WorkQueue("t-shutdown")
    results: list[str | None] = []
    getters = [threading.Thread(target=lambda: results.append(q.get())) for _ in range(4)]
    for t in getters:
        t.start()
    time.sleep(0.02)
    q.shut_down()
    for t in getters:
        t.join(timeout=2)
        assert not t.is_alive()
    assert results == [None] * 4
    assert q.shutting_down()
    q.add("a")
    q.add_after("b", 0.01)
    assert q.get(timeout=0.05) is None
    assert len(q) == 0


def test_shutdown_with_drain_waits_for_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue("t-drain")
    q.add("a")
    item = q.get(timeout=0)
    assert item == "a"
    release_at: list[float] = []

    def finish() -> None:
        time.sleep(0.1)
        release_at.append(time.monotonic())
        q.done("a")

    threading.Thread(target=finish).start()
    assert q.shut_down_with_drain(timeout=5) is True
    returned = time.monotonic()
    assert release_at and returned >= release_at[0]
    assert q.get(timeout=0) is None


def test_shutdown_with_drain_times_out_if_worker_never_finishes() -> None:
    q: WorkQueue[str] = WorkQueue("t-drain-timeout")
    q.add("a")
    q.get(timeout=0)
    assert q.shut_down_with_drain(timeout=0.05) is False


def test_stress_no_key_processed_concurrently_and_nothing_lost() -> None:
    """Many producers and workers: an item is never in two workers at once, and every add made
    while an item was not being processed leads to a later processing of that item."""
    q: WorkQueue[int] = WorkQueue("t-stress")
    keys = 20
    in_flight: set[int] = set()
    lock = threading.Lock()
    violations: list[int] = []
    processed: Counter[int] = Counter()
    last_add: dict[int, int] = defaultdict(int)  # key → add generation
    seen_gen: dict[int, int] = defaultdict(int)  # key → generation observed at get()
    gen = 0

    def producer(seed: int) -> None:
        nonlocal gen
        rng = random.Random(seed)
        for _ in range(2000):
            key = rng.randrange(keys)
            with lock:
                gen += 1
                last_add[key] = gen
            roll = rng.random()
            if roll < 0.05:
                q.add_after(key, rng.uniform(0, 0.005), priority=rng.choice([0, LOW_PRIORITY]))
            elif roll < 0.15:
                q.add(key, priority=rng.choice([0, LOW_PRIORITY, 5]))
            else:
                q.add(key)

    def worker() -> None:
        while (key := q.get()) is not None:
            with lock:
                if key in in_flight:
                    violations.append(key)
                in_flight.add(key)
                seen_gen[key] = max(seen_gen[key], last_add[key])
            time.sleep(0)  # yield to widen the race window
            with lock:
                in_flight.discard(key)
                processed[key] += 1
            q.done(key)

    workers = [threading.Thread(target=worker) for _ in range(16)]
    producers = [threading.Thread(target=producer, args=(s,)) for s in range(8)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            idle = not in_flight
        if idle and len(q) == 0 and q.waiting_count() == 0:
            time.sleep(0.05)
            with lock:
                if not in_flight and len(q) == 0 and q.waiting_count() == 0:
                    break
        time.sleep(0.01)
    q.shut_down_with_drain(timeout=5)
    for t in workers:
        t.join(timeout=5)
    assert violations == []
    # Level-triggered guarantee: every key's latest add was followed by a processing of it.
    assert all(seen_gen[k] == last_add[k] for k in last_add)
    assert sum(processed.values()) <= 16_000  # deduplicated: never more than the adds


@pytest.mark.parametrize("name", ["", "t-nometrics"])
def test_works_with_and_without_metrics(name: str) -> None:
    q: WorkQueue[str] = WorkQueue(name)
    q.add("a")
    assert drain(q) == ["a"]
