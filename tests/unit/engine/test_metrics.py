"""Metrics: controller-runtime/client-go names in the exposition, and the work queue feeding them."""

from __future__ import annotations

import re
import time

from prometheus_client.parser import text_string_to_metric_families

from reconciler import metrics
from reconciler.workqueue import WorkQueue

EXPECTED = [
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "rest_client_requests_total",
    "rest_client_request_duration_seconds",
    "leader_election_master_status",
    "leader_election_slowpath_total",
    "rest_client_request_retries_total",
    "rest_client_rate_limiter_duration_seconds",
    "controller_runtime_reconcile_panics_total",
]


def sample(metric: str, /, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_names_rendered_and_no_created_series() -> None:
    metrics.controller_registered("t-names", 3)
    metrics.observe_rest_request("https://api:6443", "GET", "200", 0.01)
    metrics.set_leader_status("t-lease", True)
    q: WorkQueue[str] = WorkQueue("t-names-q")
    q.add("a")
    text = metrics.render().decode()
    for name in EXPECTED:
        assert re.search(rf"^# TYPE {name}(_total)? ", text, re.M) or f"# TYPE {name} " in text, name
    assert "_created" not in text
    assert sample("controller_runtime_reconcile_total", controller="t-names", result="requeue_after") == 0.0
    assert sample("controller_runtime_max_concurrent_reconciles", controller="t-names") == 3.0
    assert sample("leader_election_master_status", name="t-lease") == 1.0
    assert sample("rest_client_requests_total", code="200", method="GET", host="https://api:6443") == 1.0


def test_observe_reconcile_counts_errors() -> None:
    metrics.controller_registered("t-rec", 1)
    metrics.observe_reconcile("t-rec", "success", 0.01)
    metrics.observe_reconcile("t-rec", "error", 0.02)
    metrics.observe_reconcile("t-rec", "error", 0.02)
    assert sample("controller_runtime_reconcile_total", controller="t-rec", result="error") == 2.0
    assert sample("controller_runtime_reconcile_errors_total", controller="t-rec") == 2.0
    assert sample("controller_runtime_reconcile_time_seconds_count", controller="t-rec") == 3.0


def test_work_queue_updates_its_metrics() -> None:
    q: WorkQueue[str] = WorkQueue("t-wq")
    for key in ["a", "b", "a"]:
        q.add(key)
    assert sample("workqueue_adds_total", name="t-wq") == 2.0  # the duplicate is not an add
    assert sample("workqueue_depth", name="t-wq") == 2.0
    item = q.get(timeout=0)
    assert item == "a"
    time.sleep(0.02)
    assert (sample("workqueue_unfinished_work_seconds", name="t-wq") or 0) >= 0.015
    assert (sample("workqueue_longest_running_processor_seconds", name="t-wq") or 0) >= 0.015
    q.done(item)
    assert sample("workqueue_depth", name="t-wq") == 1.0
    q.add_rate_limited("c")
    assert sample("workqueue_retries_total", name="t-wq") == 1.0
    assert sample("workqueue_queue_duration_seconds_count", name="t-wq") == 1.0
    assert sample("workqueue_work_duration_seconds_count", name="t-wq") == 1.0
    assert (sample("workqueue_work_duration_seconds_sum", name="t-wq") or 0) >= 0.015
    assert sample("workqueue_unfinished_work_seconds", name="t-wq") == 0.0
