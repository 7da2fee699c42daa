"""Fault injection and the request log: what chaos tests and benchmarks drive and count.

Faults are matched on method and a regular expression searched in the request path, before any
routing, so they also hit discovery and watches. An injected failure is a proper ``Status`` body
(429s and 503s carry ``Retry-After`` and ``details.retryAfterSeconds``) so that client retry
logic sees exactly what a throttling or failing apiserver sends.

Rules can also be narrowed to one client (``client=``): two replicas of a controller share one
server, and a chaos test must fail or cut off one of them only. A client is named by
:func:`client_of` from its bearer token's fingerprint (the token itself is never kept), so a test
gives each replica its own kubeconfig token. :meth:`Faults.partition` cuts a client off the way a
network partition does: its requests hang (up to ``hold`` seconds) and then the connection is
reset, without the server having acted on them.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping
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
    client: str = ""  # client_of(the request's headers); status 0 = connection dropped unanswered


ANONYMOUS_CLIENT = "anonymous"


@functools.lru_cache(maxsize=256)  # every request hashes its token: clients reuse a handful
def client_id(token: str) -> str:
    """The name a client with bearer ``token`` gets in the request log and in fault rules: a
    fingerprint, so that a log or an admin dump never holds a credential."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def client_of(headers: Mapping[str, str] | None) -> str:
    """The client of a request (header names lower-case, as the handler keeps them)."""
    auth = (headers or {}).get("authorization") or ""
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return client_id(auth[7:].strip())
    return ANONYMOUS_CLIENT


@dataclass
class _Failure:
    remaining: int
    code: int
    method: str | None
    path: re.Pattern[str] | None
    retry_after: int | None
    client: str | None = None


@dataclass
class _Latency:
    seconds: float
    method: str | None
    path: re.Pattern[str] | None
    client: str | None = None


def _matches(rule_method: str | None, rule_path: re.Pattern[str] | None, method: str, path: str,
             rule_client: str | None = None, client: str = "") -> bool:
    if rule_client is not None and rule_client != client:
        return False
    if rule_method is not None and rule_method.upper() != method:
        return False
    return rule_path is None or bool(rule_path.search(path))


class Faults:
    """Thread-safe fault rules, plus hooks into the store and the open watches."""

    def __init__(self, compact: Callable[[], int], drop_watches: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._latencies: list[_Latency] = []
        self._partitioned: dict[str, float] = {}  # client -> seconds a request of it hangs before the reset
        self._healed = threading.Condition(self._lock)
        self._compact = compact
        self._drop_watches = drop_watches

    def compact(self) -> int:
        """Forget the watch history; returns the resourceVersion everything older than expires at."""
        return self._compact()

    def drop_watches(self) -> int:
        """End every open watch stream now; returns how many were open."""
        return self._drop_watches()

    def fail_next(self, n: int, code: int, method: str | None = None, path: str | None = None,
                  retry_after: int | None = None, client: str | None = None) -> None:
        """Fail the next ``n`` matching requests (of ``client`` only, when given) with ``code``."""
        if n <= 0:
            raise ValueError("n must be positive")
        with self._lock:
            self._failures.append(_Failure(n, code, method, re.compile(path) if path else None, retry_after,
                                           client))

    def add_latency(self, seconds: float, method: str | None = None, path: str | None = None,
                    client: str | None = None) -> None:
        with self._lock:
            self._latencies.append(_Latency(seconds, method, re.compile(path) if path else None, client))

    def partition(self, client: str, hold: float = 0.0) -> None:
        """Cut ``client`` off until :meth:`heal`: each of its requests hangs up to ``hold`` seconds
        (a black hole; 0 = refused at once) and then its connection is reset, unanswered and not
        acted on. Open watch streams are not cut here: call :meth:`drop_watches` too."""
        if hold < 0:
            raise ValueError("hold must not be negative")
        with self._lock:
            self._partitioned[client] = hold

    def heal(self, client: str | None = None) -> None:
        """End the partition of ``client`` (of every client when None); held requests are reset."""
        with self._lock:
            if client is None:
                self._partitioned.clear()
            else:
                self._partitioned.pop(client, None)
            self._healed.notify_all()

    def partitioned(self) -> list[str]:
        with self._lock:
            return sorted(self._partitioned)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._latencies.clear()
            self._partitioned.clear()
            self._healed.notify_all()

    def before_request(self, method: str, path: str, client: str = "") -> None:
        """Cut off a partitioned client (``ConnectionResetError``: the handler drops the connection
        without an answer); else sleep for matching latency rules, then raise the first matching
        injected failure."""
        with self._lock:
            if client in self._partitioned:
                deadline = time.monotonic() + self._partitioned[client]
                while client in self._partitioned and (left := deadline - time.monotonic()) > 0:
                    self._healed.wait(left)
                raise ConnectionResetError(f"client {client} is partitioned from the API server")
            delay = sum(r.seconds for r in self._latencies if _matches(r.method, r.path, method, path,
                                                                       r.client, client))
            failure = next((f for f in self._failures if _matches(f.method, f.path, method, path,
                                                                  f.client, client)), None)
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
                           args.get("retry_after"), args.get("client"))
        elif name == "add_latency":
            self.add_latency(float(args["seconds"]), args.get("method"), args.get("path"), args.get("client"))
        elif name == "partition":
            self.partition(str(args["client"]), float(args.get("hold", 0.0)))
        elif name == "heal":
            self.heal(args.get("client"))
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

    def count(self, method: str | None = None, path: str | None = None, client: str | None = None) -> int:
        rx = re.compile(path) if path else None
        return sum(1 for r in self.snapshot() if _matches(method, rx, r.method, r.path, client, r.client))
