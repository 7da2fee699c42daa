"""Controllers: the worker loop's outcome mapping, back-off, concurrency, and a full ConfigMap →
derived-object controller over real HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from loguru import logger

from reconciler.client import KubeClient
from reconciler.controller import CacheSyncTimeoutError, Controller, ControllerOptions, reconcile_log
from reconciler.handler import EnqueueRequestForObject, EnqueueRequestForOwner
from reconciler.manager import Manager
from reconciler.predicate import Funcs, LabelChangedPredicate, new_predicate_funcs
from reconciler.ratelimiter import ItemExponentialFailureRateLimiter
from reconciler.reconcile import Request, Result, TerminalError
from reconciler.source import Channel, Kind

CM = ("v1", "ConfigMap")


def key(name: str) -> dict[str, Any]:
    """A generic-event object whose key is ``ns/name``."""
    return {"metadata": {"name": name, "namespace": "ns"}}


@pytest.fixture
def controllers() -> Any:
    """Controllers appended here are shut down after the test."""
    started: list[Controller] = []
    yield started
    for c in started:
        c.shutdown(drain=False, timeout=5)


def test_controller_defaults_are_controller_runtimes() -> None:
    opts = ControllerOptions()
    assert opts.max_concurrent_reconciles == 1
    assert opts.recover_panic is True
    assert opts.cache_sync_timeout == 120.0
    assert opts.need_leader_election is True
    assert opts.rate_limiter.when("x") == pytest.approx(0.005)  # per-item exponential base 5 ms
    assert opts.rate_limiter.when("x") == pytest.approx(0.010)
    with pytest.raises(ValueError):
        Controller("bad", lambda r: None, ControllerOptions(max_concurrent_reconciles=0))


def test_errors_requeue_with_growing_backoff_then_success_forgets(controllers: list[Controller], sample: Any) -> None:
    times: list[float] = []
    done = threading.Event()

    def reconcile(req: Request) -> Result:
        times.append(time.monotonic())
        if len(times) <= 4:
            raise RuntimeError(f"transient failure {len(times)}")
        done.set()
        return Result()

    limiter = ItemExponentialFailureRateLimiter(base_delay=0.05, max_delay=10.0)
    ch = Channel()
    c = Controller("backoff-test", reconcile, ControllerOptions(rate_limiter=limiter))
    c.watches(ch, EnqueueRequestForObject())
    c.start()
    controllers.append(c)
    ch.send(key("flaky"))
    assert done.wait(10)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # 50 ms, 100 ms, 200 ms, 400 ms: each retry waits at least its back-off, and longer than the last.
    # (Lower bounds only: a loaded machine may add delay, never remove it.)
    for gap, expected in zip(gaps, (0.05, 0.1, 0.2, 0.4), strict=True):
        assert gap >= expected * 0.95, gaps
    time.sleep(0.05)
    assert c.queue.num_requeues(Request("flaky", "ns")) == 0  # success forgot the failures
    assert sample("controller_runtime_reconcile_errors_total", controller="backoff-test") == 4
    assert sample("controller_runtime_reconcile_total", controller="backoff-test", result="error") == 4
    assert sample("controller_runtime_reconcile_total", controller="backoff-test", result="success") == 1
    assert sample("controller_runtime_reconcile_time_seconds_count", controller="backoff-test") == 5


def test_terminal_error_is_counted_not_requeued(controllers: list[Controller], sample: Any) -> None:
    calls: list[str] = []
    second = threading.Event()

    def reconcile(req: Request) -> None:
        calls.append(req.name)
        if len(calls) == 2:
            second.set()
        raise TerminalError("spec can never be valid")

    ch = Channel()
    c = Controller("terminal-test", reconcile, ControllerOptions(
        rate_limiter=ItemExponentialFailureRateLimiter(base_delay=0.01, max_delay=1.0)))
    c.watches(ch, EnqueueRequestForObject()).start()
    controllers.append(c)
    ch.send(key("bad"))
    time.sleep(0.5)  # a requeue would have come after 10 ms
    assert calls == ["bad"]
    assert c.queue.waiting_count() == 0 and len(c.queue) == 0
    assert sample("controller_runtime_terminal_reconcile_errors_total", controller="terminal-test") == 1
    assert sample("controller_runtime_reconcile_errors_total", controller="terminal-test") == 1
    ch.send(key("bad"))  # a new event still reconciles
    assert second.wait(5)


def test_requeue_after_is_honoured_and_forgets_backoff(controllers: list[Controller], sample: Any) -> None:
    times: list[float] = []
    twice = threading.Event()

    def reconcile(req: Request) -> Result:
        times.append(time.monotonic())
        if len(times) == 1:
            raise RuntimeError("first attempt fails")  # builds up back-off the timed requeue forgets
        if len(times) == 2:
            return Result(requeue_after=0.4)
        twice.set()
        return Result()

    ch = Channel()
    c = Controller("requeue-after-test", reconcile, ControllerOptions(
        rate_limiter=ItemExponentialFailureRateLimiter(base_delay=0.01, max_delay=1.0)))
    c.watches(ch, EnqueueRequestForObject()).start()
    controllers.append(c)
    ch.send(key("poll"))
    assert twice.wait(5)
    assert 0.4 <= times[2] - times[1] < 1.5
    assert c.queue.num_requeues(Request("poll", "ns")) == 0
    assert sample("controller_runtime_reconcile_total", controller="requeue-after-test", result="requeue_after") == 1


def test_result_requeue_goes_through_the_rate_limiter(controllers: list[Controller], sample: Any) -> None:
    times: list[float] = []
    done = threading.Event()

    def reconcile(req: Request) -> Result:
        times.append(time.monotonic())
        if len(times) < 3:
            return Result(requeue=True)
        done.set()
        return Result()

    ch = Channel()
    c = Controller("requeue-test", reconcile, ControllerOptions(
        rate_limiter=ItemExponentialFailureRateLimiter(base_delay=0.1, max_delay=1.0)))
    c.watches(ch, EnqueueRequestForObject()).start()
    controllers.append(c)
    ch.send(key("again"))
    assert done.wait(5)
    assert times[1] - times[0] >= 0.095 and times[2] - times[1] >= 0.19
    assert sample("controller_runtime_reconcile_total", controller="requeue-test", result="requeue") == 2


def test_many_workers_never_reconcile_one_key_concurrently(controllers: list[Controller], sample: Any) -> None:
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    overlaps: list[str] = []
    peak = 0
    per_key: Counter[str] = Counter()

    def reconcile(req: Request) -> None:
        nonlocal peak
        with lock:
            in_flight[req.name] += 1
            if in_flight[req.name] > 1:
                overlaps.append(req.name)
            peak = max(peak, sum(in_flight.values()))
            per_key[req.name] += 1
        time.sleep(0.01)
        with lock:
            in_flight[req.name] -= 1

    ch = Channel()
    c = Controller("concurrency-test", reconcile, ControllerOptions(max_concurrent_reconciles=4))
    c.watches(ch, EnqueueRequestForObject()).start()
    controllers.append(c)
    assert sample("controller_runtime_max_concurrent_reconciles", controller="concurrency-test") == 4
    names = [f"k{i}" for i in range(6)]
    for _ in range(60):
        for n in names:
            ch.send(key(n))
        time.sleep(0.002)
    time.sleep(0.3)
    assert overlaps == []
    assert peak > 1  # different keys did run in parallel: the check above could have failed
    assert set(per_key) == set(names)


def test_reconciler_objects_and_none_results(controllers: list[Controller]) -> None:
    seen: list[Request] = []
    got = threading.Event()

    records: list[dict[str, Any]] = []

    class Rec:
        def reconcile(self, request: Request) -> None:
            reconcile_log().info("inside")
            seen.append(request)
            got.set()

    sink = logger.add(lambda m: records.append(dict(m.record["extra"])), level="INFO",
                      filter=lambda r: r["message"] == "inside")
    try:
        ch = Channel()
        c = Controller("object-reconciler", Rec())
        c.watches(ch, EnqueueRequestForObject()).start()
        controllers.append(c)
        ch.send({"metadata": {"name": "cluster-scoped"}})
        ch.send({"metadata": {"name": "other", "namespace": "n"}})
        assert got.wait(5)
        time.sleep(0.1)
    finally:
        logger.remove(sink)
    assert seen == [Request("cluster-scoped"), Request("other", "n")]
    assert [(r["controller"], r["key"]) for r in records] == [
        ("object-reconciler", "cluster-scoped"), ("object-reconciler", "n/other")]
    assert records[0]["reconcile_id"] != records[1]["reconcile_id"]
    with pytest.raises(RuntimeError):
        c.start()


def test_cache_sync_timeout(kube_client: KubeClient, kube_server: Any, kube_namespace: str) -> None:
    from reconciler.informer import SharedInformer

    kube_server.faults.fail_next(1000, 500, method="GET", path=rf"/namespaces/{kube_namespace}/configmaps$")
    inf = SharedInformer(kube_client, CM, namespace=kube_namespace)
    inf.start()
    try:
        c = Controller("sync-timeout", lambda r: None, ControllerOptions(cache_sync_timeout=0.5))
        c.watches(Kind(inf), EnqueueRequestForObject())
        t0 = time.monotonic()
        with pytest.raises(CacheSyncTimeoutError):
            c.start()
        assert time.monotonic() - t0 < 3
    finally:
        kube_server.faults.clear()
        inf.stop()


# ------------------------------------------------------------------ over HTTP, with a manager

SOURCE_LABEL = {"role": "source"}


class Deriver:
    """ConfigMap ``<name>`` labelled role=source → ConfigMap ``<name>-derived`` with every key
    prefixed ``copy-``, controlled by the source (ownerReference)."""

    def __init__(self, mgr: Manager, namespace: str) -> None:
        self.client = mgr.client
        self.informer = mgr.informer(CM, namespace=namespace)
        self.requests: list[Request] = []

    def reconcile(self, req: Request) -> None:
        self.requests.append(req)
        src = self.informer.store.get(f"{req.namespace}/{req.name}")
        if src is None:
            return  # the garbage collector removes the derived object through its ownerReference
        desired = {f"copy-{k}": v for k, v in (src.get("data") or {}).items()}
        derived = self.informer.store.get(f"{req.namespace}/{req.name}-derived")
        if derived is None:
            owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": req.name,
                     "uid": src["metadata"]["uid"], "controller": True}
            self.client.create(CM, {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"{req.name}-derived", "namespace": req.namespace,
                             "ownerReferences": [owner]},
                "data": desired,
            })
        elif dict(derived.get("data") or {}) != desired:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "data": desired,
                    "metadata": {**derived["metadata"]}}
            self.client.replace(CM, body)


def setup_deriver(mgr: Manager, namespace: str) -> Deriver:
    rec = Deriver(mgr, namespace)
    is_source = new_predicate_funcs(lambda o: (o["metadata"].get("labels") or {}).get("role") == "source")
    ctrl = Controller(f"deriver-{namespace}", rec)
    ctrl.watches(Kind(rec.informer), EnqueueRequestForObject(), is_source)
    ctrl.watches(Kind(rec.informer), EnqueueRequestForOwner("ConfigMap", "v1"))
    mgr.add(ctrl)
    return rec


@pytest.mark.conformance
def test_configmap_controller_writes_and_repairs_derived_object(
    kube_client: KubeClient, kube_namespace: str, manager_options: Any, run_manager: Any,
    make_cm: Any, wait_until: Any, sample: Any,
) -> None:
    ns = kube_namespace
    kube_client.create(CM, make_cm("before-start", ns, {"a": "1"}, SOURCE_LABEL))
    mgr = Manager(kube_client, manager_options())
    rec = setup_deriver(mgr, ns)
    run = run_manager(mgr)

    def derived(name: str) -> Any:
        try:
            return kube_client.get(CM, f"{name}-derived", ns).get("data")
        except Exception:
            return None

    wait_until(lambda: derived("before-start") == {"copy-a": "1"}, what="derived object of the initial list")
    kube_client.create(CM, make_cm("live", ns, {"b": "2"}, SOURCE_LABEL))
    wait_until(lambda: derived("live") == {"copy-b": "2"}, what="derived object of a live create")
    kube_client.patch(CM, "live", {"data": {"b": "3", "c": "4"}}, ns)
    wait_until(lambda: derived("live") == {"copy-b": "3", "copy-c": "4"}, what="derived object follows update")

    owner = kube_client.get(CM, "live-derived", ns)["metadata"]["ownerReferences"][0]
    assert owner["name"] == "live" and owner["controller"] is True
    # Someone tampers with the derived object: the owner handler maps it back to "live".
    kube_client.patch(CM, "live-derived", {"data": {"copy-b": "tampered"}}, ns)
    wait_until(lambda: derived("live") == {"copy-b": "3", "copy-c": "4"}, what="drift repaired through the owner")
    # Only source keys were ever requested: the derived objects' own events were filtered.
    assert {r.name for r in rec.requests} == {"before-start", "live"}
    assert sample("controller_runtime_reconcile_total", controller=f"deriver-{ns}", result="success") >= 4
    run.stop()
    assert run.error is None


@pytest.mark.conformance
def test_predicates_filter_updates(
    kube_client: KubeClient, kube_namespace: str, manager_options: Any, run_manager: Any,
    make_cm: Any, wait_until: Any,
) -> None:
    ns = kube_namespace
    mgr = Manager(kube_client, manager_options())
    seen: list[str] = []
    ctrl = Controller(f"labels-only-{ns}", lambda r: seen.append(r.name))
    ctrl.watches(Kind(mgr.informer(CM, namespace=ns)), EnqueueRequestForObject(), LabelChangedPredicate())
    mgr.add(ctrl)
    run_manager(mgr)
    wait_until(mgr.elected.is_set)
    kube_client.create(CM, make_cm("p", ns, {"v": "1"}))
    wait_until(lambda: seen.count("p") == 1, what="create passes")
    kube_client.patch(CM, "p", {"data": {"v": "2"}}, ns)  # data only: filtered
    kube_client.patch(CM, "p", {"metadata": {"labels": {"x": "1"}}}, ns)  # label: passes
    wait_until(lambda: seen.count("p") == 2, what="label change passes")
    time.sleep(0.3)
    assert seen.count("p") == 2


@pytest.mark.conformance
def test_initial_backlog_is_overtaken_by_a_live_change(
    kube_client: KubeClient, kube_namespace: str, manager_options: Any, run_manager: Any,
    make_cm: Any, wait_until: Any,
) -> None:
    ns = kube_namespace
    for i in range(20):
        kube_client.create(CM, make_cm(f"old-{i:02d}", ns))
    mgr = Manager(kube_client, manager_options())
    order: list[str] = []
    first_started = threading.Event()
    release = threading.Event()

    def reconcile(req: Request) -> None:
        order.append(req.name)
        if len(order) == 1:
            first_started.set()
            release.wait(10)

    ctrl = Controller(f"backlog-{ns}", reconcile)
    ours = new_predicate_funcs(lambda o: o["metadata"]["name"].startswith(("old-", "live")))
    ctrl.watches(Kind(mgr.informer(CM, namespace=ns)), EnqueueRequestForObject(), ours)
    mgr.add(ctrl)
    run_manager(mgr)
    assert first_started.wait(10)
    # The worker is busy with one backlog key; the other 19 wait at LOW_PRIORITY.
    kube_client.create(CM, make_cm("live", ns))
    wait_until(lambda: len(ctrl.queue) == 20, what="live key queued behind the busy worker")
    release.set()
    wait_until(lambda: len(order) == 21, what="everything reconciled")
    assert order[0].startswith("old-")
    assert order[1] == "live", order[:5]


def test_missed_delete_reaches_the_reconciler_as_a_tombstone(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
    make_cm: Any, wait_until: Any,
) -> None:
    ns = kube_namespace
    kube_client.create(CM, make_cm("goes", ns))
    mgr = Manager(kube_client, manager_options())
    deletes: list[tuple[str, bool]] = []
    reconciled: list[str] = []

    def on_delete(event: Any) -> bool:
        deletes.append((event.obj["metadata"]["name"], event.delete_state_unknown))
        return True

    record_deletes = Funcs(delete=on_delete)
    ctrl = Controller(f"tombstones-{ns}", lambda r: reconciled.append(r.name))
    ctrl.for_(mgr.informer(CM, namespace=ns), record_deletes)
    mgr.add(ctrl)
    run_manager(mgr)
    wait_until(lambda: "goes" in reconciled, what="initial reconcile")
    # The DELETED event is lost: the watch is down while the object goes and history is compacted.
    kube_server.faults.fail_next(1000, 503, method="GET", path=rf"/namespaces/{ns}/configmaps")
    kube_server.faults.drop_watches()
    kube_client.delete(CM, "goes", ns)
    kube_server.faults.compact()
    kube_server.faults.clear()
    wait_until(lambda: deletes == [("goes", True)], timeout=15, what="a delete with unknown final state")
    wait_until(lambda: reconciled.count("goes") == 2, what="the deleted key reconciled again")
