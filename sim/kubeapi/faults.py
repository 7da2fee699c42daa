"""Fault injection and the request log: what chaos tests and benchmarks drive and count.

Faults are matched on method and a regular expression searched in the request path, before any
routing, so they also hit discovery and watches. An injected failure is a proper ``Status`` body
(429s and 503s carry ``Retry-After`` and ``details.retryAfterSeconds``) so that client retry
logic sees exactly what a throttling or failing apiserver sends.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import REASONS, ApiError


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    time: float  # wall clock when the request arrived
    duration: float  # seconds spent answering (for watches: until the headers were sent)


@dataclass
class _Failure:
    remaining: int
    code: int
    method: str | None
    path: re.Pattern[str] | None
    retry_after: int | None


@dataclass
class _Latency:
    seconds: float
    method: str | None
    path: re.Pattern[str] | None


def _matches(rule_method: str | None, rule_path: re.Pattern[str] | None, method: str, path: str) -> bool:
    if rule_method is not None and rule_method.upper() != method:
        return False
    return rule_path is None or bool(rule_path.search(path))


class Faults:
    """Thread-safe fault rules, plus hooks into the store and the open watches."""

    def __init__(self, compact: Callable[[], int], drop_watches: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._latencies: list[_Latency] = []
        self._compact = compact
        self._drop_watches = drop_watches

    def compact(self) -> int:
        """Forget the watch history; returns the resourceVersion everything older than expires at."""
        return self._compact()

    def drop_watches(self) -> int:
        """End every open watch stream now; returns how many were open."""
        return self._drop_watches()

    def fail_next(self, n: int, code: int, method: str | None = None, path: str | None = None,
                  retry_after: int | None = None) -> None:
        if n <= 0:
            raise ValueError("n must be positive")
        with self._lock:
            self._failures.append(_Failure(n, code, method, re.compile(path) if path else None, retry_after))

    def add_latency(self, seconds: float, method: str | None = None, path: str | None = None) -> None:
        with self._lock:
            self._latencies.append(_Latency(seconds, method, re.compile(path) if path else None))

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._latencies.clear()

    def before_request(self, method: str, path: str) -> None:
        """Sleep for matching latency rules, then raise the first matching injected failure."""
        with self._lock:
            delay = sum(r.seconds for r in self._latencies if _matches(r.method, r.path, method, path))
            failure = next((f for f in self._failures if _matches(f.method, f.path, method, path)), None)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
        if delay > 0:
            time.sleep(delay)
        if failure is not None:
            raise _injected(failure.code, failure.retry_after, method, path)

    def apply(self, op: dict[str, Any]) -> dict[str, Any]:
        """The admin endpoint's JSON operations (``{"op": "fail_next", "n": 2, "code": 503}``)."""
        name = op.get("op")
        args = {k: v for k, v in op.items() if k != "op"}
        if name == "compact":
            return {"compactedResourceVersion": str(self.compact())}
        if name == "drop_watches":
            return {"dropped": self.drop_watches()}
        if name == "fail_next":
            self.fail_next(int(args["n"]), int(args["code"]), args.get("method"), args.get("path"),
                           args.get("retry_after"))
        elif name == "add_latency":
            self.add_latency(float(args["seconds"]), args.get("method"), args.get("path"))
        elif name == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault op {name!r}")
        return {}


def _injected(code: int, retry_after: int | None, method: str, path: str) -> ApiError:
    reason = REASONS.get(code, "Unknown")
    messages = {
        429: "Too many requests, please try again later.",
        500: "Internal error occurred: injected fault",
        503: "The server is currently unable to handle the request",
        409: "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest "
             "version and try again",
    }
    message = messages.get(code, f"injected fault for {method} {path}")
    details: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if retry_after is not None:
        details = {"retryAfterSeconds": retry_after}
        headers["Retry-After"] = str(retry_after)
    return ApiError(code, message, reason=reason, details=details, headers=headers)


class RequestLog:
    """Every API request, for tests and benchmarks that count writes or check what was sent."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        # bounded so a long-running demo server cannot grow without limit; counts cover the window
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=limit)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        rx = re.compile(path) if path else None
        return sum(1 for r in self.snapshot() if _matches(method, rx, r.method, r.path))
