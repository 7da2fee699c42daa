"""Fault injection and NSX's per-client limits (nsx-api.md §8.5).

:class:`Faults` is what tests drive (``sim.faults``) and what ``/__admin/faults`` edits; the server asks
it, per request, whether to drop the connection, wait, or answer with an injected error. The limiters
reproduce ``client_api_rate_limit`` (token bucket → 429) and ``client_api_concurrency_limit`` (in-flight
cap → 503) per authenticated client.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Match:
    method: str | None
    path: re.Pattern[str] | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path.pattern if self.path else None}


@dataclass
class FailRule:
    """Answer the next ``remaining`` matching requests with ``code`` instead of serving them."""

    match: _Match
    remaining: int
    code: int
    retry_after: int | None
    error_code: int | None


@dataclass
class LatencyRule:
    match: _Match
    seconds: float


@dataclass
class Injected:
    """An injected error response."""

    status: int
    error_code: int
    retry_after: int | None


@dataclass
class Faults:
    """Fault injection, thread-safe. Admin paths (``/__admin``) are never affected."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fails: list[FailRule] = field(default_factory=list)
    _latency: list[LatencyRule] = field(default_factory=list)
    _drop: int | None = 0  # None = drop every connection until cleared
    _unreachable: bool = False
    _expire_hook: Callable[[], None] | None = None
    injected_count: int = 0

    @staticmethod
    def _match(method: str | None, path: str | None) -> _Match:
        return _Match(method, re.compile(path) if path else None)

    def fail_next(
        self,
        n: int,
        code: int,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
        error_code: int | None = None,
    ) -> None:
        """Fail the next ``n`` requests matching ``method`` and the ``path`` regex (searched in the URL path)."""
        with self._lock:
            self._fails.append(FailRule(self._match(method, path), n, code, retry_after, error_code))

    def add_latency(self, seconds: float, method: str | None = None, path: str | None = None) -> None:
        with self._lock:
            self._latency.append(LatencyRule(self._match(method, path), seconds))

    def drop_connections(self, n: int | None = None) -> None:
        """Reset (TCP RST, no response) the next ``n`` requests; every request while ``n`` is None."""
        with self._lock:
            self._drop = n

    def expire_sessions(self) -> None:
        """Invalidate every session cookie (clients must log in again)."""
        if self._expire_hook is not None:
            self._expire_hook()

    def set_unreachable(self, unreachable: bool) -> None:
        """While true, every new connection is reset before a request is read."""
        with self._lock:
            self._unreachable = unreachable

    def clear(self) -> None:
        with self._lock:
            self._fails.clear()
            self._latency.clear()
            self._drop = 0
            self._unreachable = False

    # -------------------------------------------------------------- used by the server
    @property
    def unreachable(self) -> bool:
        return self._unreachable

    def take_drop(self) -> bool:
        with self._lock:
            if self._drop is None:
                return True
            if self._drop > 0:
                self._drop -= 1
                return True
            return False

    def latency_for(self, method: str, path: str) -> float:
        with self._lock:
            return sum(r.seconds for r in self._latency if r.match.matches(method, path))

    def take_failure(self, method: str, path: str) -> Injected | None:
        with self._lock:
            for rule in self._fails:
                if rule.remaining > 0 and rule.match.matches(method, path):
                    rule.remaining -= 1
                    self.injected_count += 1
                    code = rule.error_code if rule.error_code is not None else rule.code
                    out = Injected(rule.code, code, rule.retry_after)
                    self._fails = [r for r in self._fails if r.remaining > 0]
                    return out
            return None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next": [dict(r.match.describe(), remaining=r.remaining, code=r.code,
                                   retry_after=r.retry_after, error_code=r.error_code) for r in self._fails],
                "latency": [dict(r.match.describe(), seconds=r.seconds) for r in self._latency],
                "drop_connections": "all" if self._drop is None else self._drop,
                "unreachable": self._unreachable,
                "injected_count": self.injected_count,
            }

    def apply_admin(self, body: dict[str, Any]) -> None:
        """Apply an ``/__admin/faults`` POST body (see docs/adapter-channel.md, "Simulator admin")."""
        if body.get("clear"):
            self.clear()
        for f in body.get("fail_next") or []:
            self.fail_next(int(f["n"]), int(f["code"]), f.get("method"), f.get("path"), f.get("retry_after"),
                           f.get("error_code"))
        for lat in body.get("latency") or []:
            self.add_latency(float(lat["seconds"]), lat.get("method"), lat.get("path"))
        if "drop_connections" in body:
            d = body["drop_connections"]
            self.drop_connections(None if d in (None, "all") else int(d))
        if body.get("expire_sessions"):
            self.expire_sessions()
        if "unreachable" in body:
            self.set_unreachable(bool(body["unreachable"]))


class RateLimiter:
    """Per-client token bucket: ``rate`` tokens/s, burst ``rate`` (NSX ``client_api_rate_limit``)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> float:
        """0.0 when allowed; otherwise seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate


class ConcurrencyLimiter:
    """Per-client in-flight cap (NSX ``client_api_concurrency_limit``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self.peak = 0

    def acquire(self, client: str) -> bool:
        with self._lock:
            cur = self._inflight.get(client, 0)
            if self.limit > 0 and cur >= self.limit:
                return False
            self._inflight[client] = cur + 1
            self.peak = max(self.peak, cur + 1)
            return True

    def release(self, client: str) -> None:
        with self._lock:
            cur = self._inflight.get(client, 1) - 1
            if cur <= 0:
                self._inflight.pop(client, None)
            else:
                self._inflight[client] = cur
