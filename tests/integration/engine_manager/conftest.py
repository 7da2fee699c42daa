"""Helpers for the manager tests: run managers in threads, wait for conditions, read metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler import metrics
from reconciler.client import KubeClient
from reconciler.manager import Manager, ManagerOptions

CM = ("v1", "ConfigMap")

# Lease timings for tests: production defaults (15 s / 10 s / 2 s) are asserted in
# test_leader_election; these keep the same ratios' constraints (lease > renew > 1.2 * retry).
FAST_LEASE = {"lease_duration": 2.0, "renew_deadline": 1.2, "retry_period": 0.2}


def configmap(name: str, namespace: str, data: dict[str, str] | None = None,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``pred`` until truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        time.sleep(interval)


def sample(metric: str, /, **labels: str) -> float:
    """Current value of one metric series in the engine's registry (0 when absent)."""
    value = metrics.REGISTRY.get_sample_value(metric, labels)
    return 0.0 if value is None else value


class Running:
    """A manager whose ``start()`` runs in a thread; ``error`` holds what ``start`` raised."""

    def __init__(self, mgr: Manager) -> None:
        self.mgr = mgr
        self.error: BaseException | None = None
        self.returned = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-manager", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.mgr.start()
        except BaseException as err:
            self.error = err
        finally:
            self.returned.set()

    def stop(self, timeout: float = 15.0) -> None:
        self.mgr.stop()
        assert self.returned.wait(timeout), "manager did not stop"


@pytest.fixture
def manager_options(kube_namespace: str) -> Callable[..., ManagerOptions]:
    """``manager_options(**overrides)``: options for a test manager, lease in the test namespace,
    probes and metrics off unless asked for."""

    def make(**overrides: Any) -> ManagerOptions:
        base: dict[str, Any] = {
            "leader_election_namespace": kube_namespace,
            "leader_election_id": "test-lease",
            "graceful_shutdown_timeout": 5.0,
            "cache_sync_timeout": 10.0,
            **FAST_LEASE,
        }
        base.update(overrides)
        return ManagerOptions(**base)

    return make


@pytest.fixture
def run_manager(kube_client: KubeClient) -> Iterator[Callable[..., Running]]:
    """``run_manager(mgr)``: start it in a thread; every manager is stopped after the test."""
    running: list[Running] = []

    def run(mgr: Manager) -> Running:
        r = Running(mgr)
        running.append(r)
        return r

    yield run
    for r in running:
        r.mgr.stop()
    for r in running:
        r.returned.wait(15.0)


@pytest.fixture
def new_client(kube_env: Any) -> Iterator[Callable[[], KubeClient]]:
    """Separate clients (own connection pools), as separate replicas would have."""
    clients: list[KubeClient] = []

    def make() -> KubeClient:
        c: KubeClient = kube_env.client(qps=-1)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture(name="wait_until")
def _wait_until() -> Callable[..., Any]:
    """``wait_until(pred, timeout=10, what="...")``: poll until truthy, else fail."""
    return wait_until


@pytest.fixture(name="sample")
def _sample() -> Callable[..., float]:
    """``sample(metric_name, **labels)``: a value from the engine's metrics registry."""
    return sample


@pytest.fixture
def make_cm() -> Callable[..., dict[str, Any]]:
    """``make_cm(name, namespace, data=None, labels=None)``: a ConfigMap dict."""
    return configmap
