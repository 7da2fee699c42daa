"""Rate limiters: client-go's exponential per-item back-off, the token bucket, and their max."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.ratelimiter import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exponential_sequence_doubles_from_base_and_caps() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 0.1)
    delays = [limiter.when("a") for _ in range(8)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1])
    assert limiter.num_requeues("a") == 8


def test_exponential_is_per_item_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    for _ in range(3):
        limiter.when("a")
    assert limiter.when("b") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.04)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.num_requeues("b") == 1


def test_exponential_survives_huge_failure_counts() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(1100):
        last = limiter.when("x")
    assert last == 1000.0


def test_bucket_burst_then_spacing_with_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10.0, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # Reservations queue up behind each other, 1/qps apart.
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 0.3  # all three reserved tokens have now been paid for
    assert bucket.reserve() == pytest.approx(0.1)
    clock.now += 10.0  # refill is capped at burst
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_bucket_unlimited_when_qps_not_positive() -> None:
    bucket = TokenBucket(qps=-1, burst=0)
    assert all(bucket.reserve() == 0.0 for _ in range(10_000))


def test_bucket_wait_measured_spacing() -> None:
    """Burst is free, then calls are spaced 1/qps apart (measured, generous tolerance)."""
    qps, burst, extra = 20.0, 5, 6
    bucket = TokenBucket(qps, burst)
    started = time.monotonic()
    for _ in range(burst):
        bucket.wait()
    burst_time = time.monotonic() - started
    for _ in range(extra):
        bucket.wait()
    total = time.monotonic() - started
    assert burst_time < 0.1  # a bucket that was not full would take >= 0.2 s here
    expected = extra / qps  # 0.3 s
    assert expected * 0.9 <= total <= expected + 1.2


def test_bucket_is_thread_safe_no_token_handed_out_twice() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=100.0, burst=10, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            d = bucket.reserve()
            with lock:
                delays.append(d)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delays.sort()
    # 400 reservations at a frozen clock: 10 free, then exactly one per 10 ms slot.
    assert delays[:10] == [0.0] * 10
    assert delays[10:] == pytest.approx([0.01 * i for i in range(1, 391)])


def test_bucket_rate_limiter_ignores_items() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=1.0, burst=1, clock=clock)
    assert limiter.when("a") == 0.0
    assert limiter.when("b") == pytest.approx(1.0)
    assert limiter.num_requeues("a") == 0


def test_max_of_takes_the_worst_and_forgets_in_all() -> None:
    clock = FakeClock()
    exp = ItemExponentialFailureRateLimiter(0.5, 100.0)
    bucket = BucketRateLimiter(qps=1.0, burst=2, clock=clock)
    limiter = MaxOfRateLimiter(exp, bucket)
    assert limiter.when("a") == pytest.approx(0.5)  # per-item dominates while the bucket has tokens
    assert limiter.when("b") == pytest.approx(0.5)
    assert limiter.when("c") == pytest.approx(1.0)  # bucket empty: 1 s > 0.5 s
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert exp.num_requeues("a") == 0


def test_default_controller_rate_limiter_matches_client_go() -> None:
    limiter = default_controller_rate_limiter()
    delays = [limiter.when("k") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    # The overall bucket (10 qps, burst 100) kicks in after 100 failures across all items.
    other = [limiter.when(i) for i in range(200)]
    assert max(other) > 5.0  # 100 queued reservations at 10 qps ≈ 10 s
    assert max(other) <= 10.5
