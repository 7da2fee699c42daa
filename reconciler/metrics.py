"""Prometheus metrics of the engine, named exactly as controller-runtime and client-go name them
(spec §1.9), so existing dashboards and alerts work unchanged.

All metrics live in :data:`REGISTRY`, a registry of this process — not ``prometheus_client``'s
global default — so importing a library that registers its own collectors cannot pollute
``/metrics``, and tests can read values without cross-talk from other libraries.

Recording helpers (``observe_*``, ``set_*``) are the stable interface for the client, the worker
loop and leader election; the metric objects are public too for anything more specific.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = [
    "CONTENT_TYPE_LATEST",
    "REGISTRY",
    "RECONCILE_RESULTS",
    "controller_registered",
    "observe_rate_limiter_wait",
    "observe_rest_retry",
    "observe_reconcile",
    "observe_rest_request",
    "record_leader_slowpath",
    "record_reconcile_panic",
    "record_terminal_error",
    "render",
    "set_leader_status",
    "set_weak_gauge_function",
]

REGISTRY = CollectorRegistry(auto_describe=True)
"""The process's metrics registry, served on ``/metrics`` by the manager."""

RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")
"""Values of the ``result`` label of ``controller_runtime_reconcile_total``."""

# controller-runtime pkg/internal/controller/metrics: 0.005 … 60 s.
_RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip
# client-go workqueue: ExponentialBuckets(10e-9, 10, 12) → 1e-8 … 1e3 s.
_WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))
# client-go rest_client latency buckets.
_REST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

# ------------------------------------------------------------------------------ controller

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
TERMINAL_RECONCILE_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_PANICS = Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of reconciliation panics (unexpected exceptions) per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
    registry=REGISTRY,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
    registry=REGISTRY,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
    registry=REGISTRY,
)

# ------------------------------------------------------------------------------- workqueue

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=REGISTRY)
WORKQUEUE_ADDS = Counter(
    "workqueue_adds_total", "Total number of adds handled by workqueue", ["name"], registry=REGISTRY
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name"],
    buckets=_WORKQUEUE_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name"],
    buckets=_WORKQUEUE_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name"], registry=REGISTRY
)
WORKQUEUE_UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads.",
    ["name"],
    registry=REGISTRY,
)
WORKQUEUE_LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running",
    ["name"],
    registry=REGISTRY,
)

# ------------------------------------------------------------------------------ API client

REST_REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host",
    ["code", "method", "host"],
    registry=REGISTRY,
)
REST_REQUEST_DURATION = Histogram(
    "rest_client_request_duration_seconds",
    "Request latency in seconds. Broken down by verb and host",
    ["verb", "host"],
    buckets=_REST_BUCKETS,
    registry=REGISTRY,
)
REST_REQUEST_RETRIES = Counter(
    "rest_client_request_retries_total",
    "Number of request retries, partitioned by status code, verb, and host",
    ["code", "verb", "host"],
    registry=REGISTRY,
)
REST_RATE_LIMITER_DURATION = Histogram(
    "rest_client_rate_limiter_duration_seconds",
    "Client side rate limiter latency in seconds",
    buckets=_REST_BUCKETS,
    registry=REGISTRY,
)

# -------------------------------------------------------------------------- leader election

LEADER_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
    ["name"],
    registry=REGISTRY,
)

LEADER_SLOWPATH = Counter(
    "leader_election_slowpath_total",
    "Total number of slow path exercised in renewing leader leases. 'name' is the string used to "
    "identify the lease",
    ["name"],
    registry=REGISTRY,
)

# ---------------------------------------------------------------------------------- helpers


def controller_registered(controller: str, max_concurrent_reconciles: int) -> None:
    """Pre-initialise a controller's series to 0, as controller-runtime does, so rates and alerts
    work before the first reconcile."""
    for result in RECONCILE_RESULTS:
        RECONCILE_TOTAL.labels(controller, result)
    RECONCILE_ERRORS.labels(controller)
    TERMINAL_RECONCILE_ERRORS.labels(controller)
    RECONCILE_PANICS.labels(controller)
    ACTIVE_WORKERS.labels(controller).set(0)
    MAX_CONCURRENT_RECONCILES.labels(controller).set(max_concurrent_reconciles)


def observe_reconcile(controller: str, result: str, seconds: float) -> None:
    """Count one finished reconcile; ``result`` is one of :data:`RECONCILE_RESULTS`."""
    RECONCILE_TOTAL.labels(controller, result).inc()
    if result == "error":
        RECONCILE_ERRORS.labels(controller).inc()
    RECONCILE_TIME.labels(controller).observe(seconds)


def record_terminal_error(controller: str) -> None:
    TERMINAL_RECONCILE_ERRORS.labels(controller).inc()


def record_reconcile_panic(controller: str) -> None:
    RECONCILE_PANICS.labels(controller).inc()


_REST_SERIES: dict[tuple[str, str, str], tuple[Any, Any]] = {}
"""(host, method, code) → its request counter and latency histogram children: ``labels()`` takes
a lock and rebuilds the label tuple on every call, a measurable share of a write's client CPU.
The set of keys is small (a few verbs × a few codes per host); children are never removed."""


def observe_rest_request(host: str, method: str, code: str, seconds: float) -> None:
    """One API request; ``code`` is the HTTP status as a string, or ``"<error>"`` when no response
    arrived (client-go's label for transport errors)."""
    series = _REST_SERIES.get((host, method, code))
    if series is None:
        series = _REST_SERIES.setdefault(
            (host, method, code),
            (REST_REQUESTS.labels(code, method, host), REST_REQUEST_DURATION.labels(method, host)),
        )
    series[0].inc()
    series[1].observe(seconds)


def observe_rest_retry(host: str, verb: str, code: str) -> None:
    """One retried API request (``code`` of the failed attempt, ``"<error>"`` without a response)."""
    REST_REQUEST_RETRIES.labels(code, verb, host).inc()


def observe_rate_limiter_wait(seconds: float) -> None:
    """Time a request spent waiting for the client-side QPS limiter."""
    REST_RATE_LIMITER_DURATION.observe(seconds)


def set_leader_status(name: str, leading: bool) -> None:
    LEADER_STATUS.labels(name).set(1 if leading else 0)


def record_leader_slowpath(name: str) -> None:
    """A lease renewal that had to fall back to a full GET + UPDATE (client-go's slow path)."""
    LEADER_SLOWPATH.labels(name).inc()


def set_weak_gauge_function(gauge: Gauge, name: str, owner: Any, read: Callable[[Any], float]) -> None:
    """Make ``gauge{name}`` computed at scrape time from ``owner``, without keeping it alive.

    client-go refreshes these gauges from a 500 ms ticker goroutine; reading on scrape gives exact
    values and costs no thread. The newest owner of a name wins (queue names are unique in a
    manager; tests may reuse them).
    """
    ref = weakref.ref(owner)

    def value() -> float:
        obj = ref()
        return 0.0 if obj is None else read(obj)

    gauge.labels(name).set_function(value)


def render() -> bytes:
    """The registry in Prometheus text exposition format (``CONTENT_TYPE_LATEST``).

    ``prometheus_client`` adds a ``*_created`` sample to every counter and histogram; Go clients do
    not, so those lines are dropped to keep the output identical in shape to controller-runtime's.
    """
    text = generate_latest(REGISTRY)
    lines = [line for line in text.split(b"\n") if not _is_created_line(line)]
    return b"\n".join(lines)


def _is_created_line(line: bytes) -> bool:
    if line.startswith(b"#"):
        parts = line.split(b" ", 3)
        return len(parts) > 2 and parts[2].endswith(b"_created")
    name = line.split(b"{", 1)[0].split(b" ", 1)[0]
    return name.endswith(b"_created")
