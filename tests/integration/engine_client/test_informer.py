"""SharedInformer over real HTTP: sync, events, resume without relist, relist + tombstones,
fault storms, selectors, transform, resync, sharing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reconciler.client import KubeClient
from reconciler.informer import DeletedFinalStateUnknown, InformerFactory, SharedInformer
from reconciler.watcher import Backoff

CM = ("v1", "ConfigMap")


def _gets(server: Any, namespace: str, watch: bool) -> int:
    """LIST (watch=False) or WATCH requests the server saw for ConfigMaps in ``namespace``."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    return sum(1 for r in server.requests if r.method == "GET" and r.path == path
               and ("watch=true" in r.query) == watch)


def _names(inf: SharedInformer) -> list[str]:
    return sorted(o["metadata"]["name"] for o in inf.store.list())


@pytest.mark.conformance
def test_initial_sync_then_live_events(
    kube_client: KubeClient, kube_namespace: str, start_informer: Any, recorder: Any, make_cm: Any
) -> None:
    ns = kube_namespace
    for i in range(3):
        kube_client.create(CM, make_cm(f"pre-{i}", ns))
    rec = recorder()
    inf = start_informer(CM, handler=rec, namespace=ns)
    assert inf.wait_for_cache_sync(10)
    assert inf.has_synced()
    assert [n for n in _names(inf) if n.startswith("pre-")] == ["pre-0", "pre-1", "pre-2"]
    assert {e[1] for e in rec.events if e[0] == "add" and e[2] is True} >= {"pre-0", "pre-1", "pre-2"}

    kube_client.create(CM, make_cm("live", ns, {"v": "1"}))
    rec.wait_for(lambda e: e[:3] == ("add", "live", False))
    kube_client.patch(CM, "live", {"data": {"v": "2"}}, ns)
    ev = rec.wait_for(lambda e: e[0] == "update" and e[1] == "live")
    assert ev[3]["data"] == {"v": "2"}
    assert inf.store.get(f"{ns}/live")["data"] == {"v": "2"}
    kube_client.delete(CM, "live", ns)
    ev = rec.wait_for(lambda e: e[0] == "delete" and isinstance(e[1], dict) and e[1]["metadata"]["name"] == "live")
    assert inf.store.get(f"{ns}/live") is None

    late = recorder()
    late.register(inf)  # registered after sync: the cache is replayed as initial-list adds
    assert {e[1] for e in late.events if e[0] == "add" and e[2] is True} >= {"pre-0", "pre-1", "pre-2"}


def test_resumes_after_dropped_watch_without_relist(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, start_informer: Any,
    recorder: Any, make_cm: Any,
) -> None:
    ns = kube_namespace
    rec = recorder()
    inf = start_informer(CM, handler=rec, namespace=ns)
    assert inf.wait_for_cache_sync(10)
    for round_ in range(3):
        # Drop until one of *this* informer's watches was cut (the server logs a watch when it ends).
        ended, deadline = _gets(kube_server, ns, watch=True), time.monotonic() + 5
        while _gets(kube_server, ns, watch=True) == ended:
            assert time.monotonic() < deadline, "the informer never re-opened its watch"
            kube_server.faults.drop_watches()
            time.sleep(0.02)
        kube_client.create(CM, make_cm(f"after-drop-{round_}", ns))
        rec.wait_for(lambda e, r=round_: e[:2] == ("add", f"after-drop-{r}"))
    assert inf.lists == 1
    # The server logs a watch when it ends: the three dropped ones are there, and one LIST only.
    assert _gets(kube_server, ns, watch=True) >= 3
    assert _gets(kube_server, ns, watch=False) == 1
    from urllib.parse import parse_qs

    for rec_ in kube_server.requests:
        if rec_.path == f"/api/v1/namespaces/{ns}/configmaps" and "watch=true" in rec_.query:
            q = parse_qs(rec_.query)
            assert q["allowWatchBookmarks"] == ["true"]
            assert 300 <= int(q["timeoutSeconds"][0]) <= 600
            assert q["resourceVersion"][0]  # always resumed from a known version
    assert not [e for e in rec.events if e[0] == "delete"]
    assert inf.last_sync_resource_version


def test_relists_after_compaction_and_reports_deletes_missed(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, start_informer: Any,
    recorder: Any, make_cm: Any,
) -> None:
    ns = kube_namespace
    kube_client.create(CM, make_cm("stays", ns))
    kube_client.create(CM, make_cm("goes", ns))
    rec = recorder()
    inf = start_informer(CM, handler=rec, namespace=ns, backoff=Backoff(initial=0.3, cap=0.3, jitter=0))
    assert inf.wait_for_cache_sync(10)
    # Keep the watch down while the object is deleted and history compacted away.
    watch_path = rf"/namespaces/{ns}/configmaps"
    kube_server.faults.fail_next(1000, 503, method="GET", path=watch_path)
    kube_server.faults.drop_watches()
    kube_client.delete(CM, "goes", ns)
    kube_client.create(CM, make_cm("new", ns))
    kube_server.faults.compact()
    kube_server.faults.clear()

    tomb = rec.wait_for(lambda e: e[0] == "delete" and isinstance(e[1], DeletedFinalStateUnknown))
    assert tomb[1].key == f"{ns}/goes"
    assert tomb[1].obj["metadata"]["name"] == "goes"
    rec.wait_for(lambda e: e[:2] == ("add", "new"))
    assert inf.lists >= 2
    assert _names(inf) == ["new", "stays"]


@pytest.mark.parametrize("code", [500, 503, 429])
def test_survives_error_storms_with_backoff(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, start_informer: Any,
    recorder: Any, make_cm: Any, code: int,
) -> None:
    ns = kube_namespace
    rec = recorder()
    inf = start_informer(CM, handler=rec, namespace=ns)
    assert inf.wait_for_cache_sync(10)
    path = rf"/namespaces/{ns}/configmaps"
    before = kube_server.count_requests(method="GET", path=path)
    kube_server.faults.fail_next(6, code, method="GET", path=path, retry_after=0 if code == 429 else None)
    kube_server.faults.drop_watches()
    kube_client.create(CM, make_cm("after-storm", ns))
    rec.wait_for(lambda e: e[:2] == ("add", "after-storm"), timeout=20)
    # All six faults were consumed by the watcher's retries, then it recovered (the open watch is
    # logged by the server only when it ends).
    assert kube_server.count_requests(method="GET", path=path) - before >= 6
    # ...spaced by a growing, jittered back-off (0.05 s doubling to 0.3 s here), with no relist.
    failed = sorted(r.time for r in kube_server.requests if r.status == code and path in r.path)
    gaps = [b - a for a, b in zip(failed, failed[1:], strict=False)]
    assert len(gaps) == 5 and gaps[0] < 0.25 and gaps[-1] >= 0.3, gaps
    assert inf.lists == 1
    kube_client.patch(CM, "after-storm", {"data": {"x": "1"}}, ns)
    rec.wait_for(lambda e: e[0] == "update" and e[1] == "after-storm")


@pytest.mark.conformance
def test_label_and_field_selectors(
    kube_client: KubeClient, kube_namespace: str, start_informer: Any, recorder: Any, make_cm: Any
) -> None:
    ns = kube_namespace
    kube_client.create(CM, make_cm("yes", ns, labels={"app": "x"}))
    kube_client.create(CM, make_cm("no", ns, labels={"app": "y"}))
    by_label = start_informer(CM, namespace=ns, label_selector={"app": "x"})
    by_field = start_informer(CM, namespace=ns, field_selector="metadata.name=no")
    assert by_label.wait_for_cache_sync(10) and by_field.wait_for_cache_sync(10)
    assert _names(by_label) == ["yes"]
    assert _names(by_field) == ["no"]

    rec = recorder().register(by_label)
    kube_client.patch(CM, "no", {"metadata": {"labels": {"app": "x"}}}, ns)  # enters the selection
    rec.wait_for(lambda e: e[:2] == ("add", "no") or (e[0] == "update" and e[1] == "no"))
    kube_client.patch(CM, "yes", {"metadata": {"labels": {"app": "z"}}}, ns)  # leaves it
    rec.wait_for(lambda e: e[0] == "delete" and e[1]["metadata"]["name"] == "yes")
    assert _names(by_label) == ["no"]


@pytest.mark.conformance
def test_default_and_custom_transform(
    kube_client: KubeClient, kube_namespace: str, start_informer: Any, make_cm: Any
) -> None:
    ns = kube_namespace
    annotated = make_cm("annotated", ns, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": '{"big": "copy"}', "keep": "me"})
    kube_client.create(CM, annotated)
    kube_client.patch(CM, "annotated", make_cm("annotated", ns, {"a": "b"}), ns,
                      patch_type="apply", field_manager="tests", force=True)
    default = start_informer(CM, namespace=ns)
    custom = start_informer(CM, namespace=ns, label_selector=None,
                            transform=lambda o: {"metadata": o["metadata"], "kind": o["kind"]})
    assert default.wait_for_cache_sync(10) and custom.wait_for_cache_sync(10)
    meta = default.store.get(f"{ns}/annotated")["metadata"]
    assert "managedFields" not in meta
    assert meta["annotations"] == {"keep": "me"}
    assert "data" not in custom.store.get(f"{ns}/annotated")
    # Without a transform everything is kept.
    raw = start_informer(CM, namespace=ns, transform=None)
    assert raw.wait_for_cache_sync(10)
    raw_annotations = raw.store.get(f"{ns}/annotated")["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in raw_annotations


@pytest.mark.conformance
def test_resync_redelivers_cache_as_updates_without_listing(
    kube_client: KubeClient, kube_namespace: str, start_informer: Any, recorder: Any, make_cm: Any
) -> None:
    kube_client.create(CM, make_cm("r", kube_namespace))
    rec = recorder()
    inf = start_informer(CM, handler=rec, namespace=kube_namespace, resync_period=1.0)
    assert inf.wait_for_cache_sync(10)
    ev = rec.wait_for(lambda e: e[0] == "update" and e[1] == "r", timeout=5)
    assert ev[2] is True  # old is new: a replay of the cache
    assert inf.lists == 1


def test_wait_for_cache_sync_times_out_while_the_list_fails(
    kube_server: Any, kube_namespace: str, start_informer: Any
) -> None:
    never = start_informer(CM, namespace=kube_namespace, start=False)
    assert never.wait_for_cache_sync(0.2) is False

    kube_server.faults.fail_next(1000, 500, method="GET", path=rf"/namespaces/{kube_namespace}/configmaps")
    failing = start_informer(CM, namespace=kube_namespace)
    started = time.monotonic()
    assert failing.wait_for_cache_sync(0.5) is False
    assert time.monotonic() - started < 2
    kube_server.faults.clear()
    assert failing.wait_for_cache_sync(10) is True


@pytest.mark.conformance
def test_factory_shares_informers_per_view(kube_client: KubeClient, kube_namespace: str) -> None:
    factory = InformerFactory(kube_client)
    try:
        a = factory.informer(CM, namespace=kube_namespace)
        b = factory.informer(kube_client.resource("v1", "ConfigMap"), namespace=kube_namespace,
                             indexers={"by-app": lambda o: [o["metadata"].get("labels", {}).get("app", "")]})
        c = factory.informer(CM, namespace=kube_namespace, label_selector={"app": "x"})
        assert a is b and a is not c
        factory.start()
        assert factory.wait_for_cache_sync(10)
        late = factory.informer(("v1", "Namespace"))
        assert late.wait_for_cache_sync(10)  # created after start: started at once
        assert late.store.get(kube_namespace) is not None
    finally:
        factory.stop()


@pytest.mark.parametrize("seed", [1, 2])
def test_cache_and_handler_view_converge_under_drops_and_compactions(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, start_informer: Any, make_cm: Any,
    seed: int,
) -> None:
    import random
    import threading

    rng = random.Random(seed)
    ns = kube_namespace
    view: dict[str, str] = {}  # what a controller would know from the callbacks alone
    lock = threading.Lock()

    def on_add(obj: Any, _initial: bool) -> None:
        with lock:
            view[obj["metadata"]["name"]] = obj["data"]["v"]

    def on_update(_old: Any, new: Any) -> None:
        on_add(new, False)

    def on_delete(obj: Any) -> None:
        final = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        with lock:
            view.pop(final["metadata"]["name"], None)

    inf = start_informer(CM, namespace=ns)
    inf.add_event_handler(on_add, on_update, on_delete)
    assert inf.wait_for_cache_sync(10)
    live: set[str] = set()
    for step in range(80):
        op = rng.random()
        if op < 0.35 or not live:
            name = f"o-{step}"
            kube_client.create(CM, make_cm(name, ns, {"v": str(step)}))
            live.add(name)
        elif op < 0.6:
            kube_client.patch(CM, rng.choice(sorted(live)), {"data": {"v": str(step)}}, ns)
        elif op < 0.8:
            name = rng.choice(sorted(live))
            kube_client.delete(CM, name, ns)
            live.discard(name)
        elif op < 0.9:
            kube_server.faults.drop_watches()
        else:
            kube_server.faults.drop_watches()
            kube_server.faults.compact()
    truth = {o["metadata"]["name"]: o["data"]["v"] for o in kube_client.list(CM, ns)["items"]}
    deadline = time.monotonic() + 10
    while True:
        cache = {o["metadata"]["name"]: o["data"]["v"] for o in inf.store.list()}
        with lock:
            seen = dict(view)
        if cache == truth and seen == truth:
            break
        assert time.monotonic() < deadline, (cache, seen, truth)
        time.sleep(0.05)
