"""Rate limiters with client-go ``util/workqueue`` semantics (default_rate_limiters.go), plus the
token bucket of ``golang.org/x/time/rate`` that backs both the queue's overall limit and the API
client's ``--kube-api-qps``/``--kube-api-burst``.

A limiter answers one question, "how long should this item wait before it is retried?", and keeps
per-item failure counts until told to :meth:`~RateLimiter.forget` the item (on success, or when the
caller decides to stop retrying). All classes here are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "TokenBucket",
    "default_controller_rate_limiter",
]

Clock = Callable[[], float]
"""A monotonic clock in seconds; injectable so tests can drive time instead of sleeping."""


class RateLimiter(Protocol):
    """client-go ``TypedRateLimiter``."""

    def when(self, item: Hashable) -> float:
        """Seconds to wait before ``item`` may be processed again; records one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item``: its next failure starts the back-off from scratch."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times :meth:`when` was asked about ``item`` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-item exponential back-off: ``base_delay * 2**failures``, capped at ``max_delay``.

    Defaults are controller-runtime's (5 ms → 1000 s), so an item that keeps failing is retried
    after 5 ms, 10 ms, 20 ms, … and after ~18 failures once every 16 minutes 40 seconds.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            exp = self._failures.get(item, 0)
            self._failures[item] = exp + 1
        # Float overflow (2**1100) raises in Python; Go checks for it too and returns the cap.
        if exp >= 1023:
            return self.max_delay
        return min(self.base_delay * (2.0**exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class TokenBucket:
    """A token bucket with ``golang.org/x/time/rate.Limiter`` semantics (reservations).

    The bucket holds at most ``burst`` tokens and refills at ``qps`` tokens per second; it starts
    full. :meth:`reserve` always takes a token — the balance may go negative — and returns how long
    the caller must wait before using it, so concurrent callers are spaced ``1/qps`` apart rather
    than racing for the next token. ``qps <= 0`` means unlimited (controller-runtime since v0.21
    disables the client-side limit this way and relies on API Priority and Fairness).
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        self.qps = qps
        self.burst = max(1, int(burst))
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0

    def reserve(self) -> float:
        """Take one token; return the seconds until it is usable (``0.0`` when available now)."""
        if self.unlimited:
            return 0.0
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.qps

    def wait(self) -> None:
        """Block until a token is available (take it)."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)


class BucketRateLimiter:
    """The overall retry budget shared by all items (client-go ``TypedBucketRateLimiter``).

    Defaults 10 qps / burst 100 are client-go's: "this is only for retry speed and it's only the
    overall factor (not per item)". Failures are not counted per item.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock = time.monotonic) -> None:
        self.bucket = TokenBucket(qps, burst, clock=clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The worst (longest) answer of several limiters; failures are recorded in all of them."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must be asked (not short-circuited): each one records the failure.
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> RateLimiter:
    """client-go ``DefaultTypedControllerRateLimiter``: max(per-item 5 ms → 1000 s, 10 qps / 100).

    This is controller-runtime's default with ``UsePriorityQueue=false``; its priority-queue default
    (v0.23+) drops the overall bucket — pass ``ItemExponentialFailureRateLimiter()`` for that.
    """
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))
