"""KubeClient over real HTTP: CRUD, typed errors, paging, discovery, watch, retries, rate limit."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from reconciler import errors
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from reconciler.restmapper import NoKindMatch

CM = ("v1", "ConfigMap")


def _count_settles(server: Any, method: str, path: str, expected: int, timeout: float = 2.0) -> int:
    """The request count once it reaches ``expected`` (the server logs a request after answering
    it, so the last one may land a moment after the client returned)."""
    deadline = time.monotonic() + timeout
    while server.count_requests(method=method, path=path) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    return int(server.count_requests(method=method, path=path))


CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


@pytest.mark.conformance
def test_crud_round_trip(kube_client: KubeClient, kube_namespace: str, make_cm: Any) -> None:
    ns = kube_namespace
    created = kube_client.create(CM, make_cm("a", ns, {"k": "v"}))
    assert created["metadata"]["uid"]
    assert isinstance(created["metadata"]["resourceVersion"], str)
    assert kube_client.get(CM, "a", ns)["data"] == {"k": "v"}

    merged = kube_client.patch(CM, "a", {"data": {"k2": "v2"}}, ns)
    assert merged["data"] == {"k": "v", "k2": "v2"}
    jsonp = kube_client.patch(CM, "a", [{"op": "remove", "path": "/data/k"}], ns, patch_type="json")
    assert jsonp["data"] == {"k2": "v2"}
    strategic = kube_client.patch(CM, "a", {"metadata": {"labels": {"l": "1"}}}, ns, patch_type="strategic")
    assert strategic["metadata"]["labels"] == {"l": "1"}

    stale = dict(created, data={"x": "y"})  # carries the first resourceVersion
    with pytest.raises(errors.Conflict):
        kube_client.replace(CM, stale)
    current = kube_client.get(CM, "a", ns)
    replaced = kube_client.replace(CM, dict(current, data={"x": "y"}))
    assert replaced["data"] == {"x": "y"}

    with pytest.raises(errors.Conflict):
        kube_client.delete(CM, "a", ns, uid="00000000-0000-0000-0000-000000000000")
    kube_client.delete(CM, "a", ns, uid=created["metadata"]["uid"], propagation_policy="Background")
    with pytest.raises(errors.NotFound):
        kube_client.get(CM, "a", ns)


@pytest.mark.conformance
def test_server_side_apply_creates_and_updates(kube_client: KubeClient, kube_namespace: str, make_cm: Any) -> None:
    body = make_cm("applied", kube_namespace, {"a": "1"})
    kube_client.patch(CM, "applied", body, kube_namespace, patch_type="apply", field_manager="tests", force=True)
    body["data"]["b"] = "2"
    kube_client.patch(CM, "applied", body, kube_namespace, patch_type="apply", field_manager="tests", force=True)
    assert kube_client.get(CM, "applied", kube_namespace)["data"] == {"a": "1", "b": "2"}
    with pytest.raises(ValueError):
        kube_client.patch(CM, "applied", body, kube_namespace, patch_type="apply")


@pytest.mark.conformance
def test_typed_errors(kube_client: KubeClient, kube_namespace: str, make_cm: Any) -> None:
    with pytest.raises(errors.NotFound) as nf:
        kube_client.get(CM, "missing", kube_namespace)
    assert nf.value.code == 404 and nf.value.reason == "NotFound"

    kube_client.create(CM, make_cm("dup", kube_namespace))
    with pytest.raises(errors.AlreadyExists) as ae:
        kube_client.create(CM, make_cm("dup", kube_namespace))
    assert ae.value.code == 409 and not isinstance(ae.value, errors.Conflict)

    with pytest.raises(errors.Invalid) as inv:
        kube_client.create(CM, make_cm("Not_A_DNS_Name", kube_namespace))
    assert inv.value.code == 422
    assert inv.value.status.get("kind") == "Status"

    with pytest.raises(errors.NotFound):  # creating in a namespace that does not exist
        kube_client.create(CM, make_cm("x", f"absent-{uuid.uuid4().hex[:6]}"))


@pytest.mark.conformance
def test_list_is_paged_and_filtered(kube_client: KubeClient, kube_namespace: str, make_cm: Any) -> None:
    ns = kube_namespace
    for i in range(7):
        kube_client.create(CM, make_cm(f"cm-{i}", ns, labels={"parity": "even" if i % 2 == 0 else "odd"}))
    pages = list(kube_client.list_pages(CM, ns, limit=3))
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert all(p["metadata"].get("continue") for p in pages[:-1])

    full = kube_client.list(CM, ns, limit=3)
    assert full["kind"] == "ConfigMapList" and full["metadata"]["resourceVersion"]
    names = sorted(i["metadata"]["name"] for i in full["items"] if i["metadata"]["name"].startswith("cm-"))
    assert names == [f"cm-{i}" for i in range(7)]
    assert all(i["apiVersion"] == "v1" and i["kind"] == "ConfigMap" for i in full["items"])

    even = kube_client.list(CM, ns, label_selector={"parity": "even"})
    assert sorted(i["metadata"]["name"] for i in even["items"]) == ["cm-0", "cm-2", "cm-4", "cm-6"]
    assert len(kube_client.list(CM, ns, label_selector="parity in (odd),parity!=even")["items"]) == 3
    one = kube_client.list(CM, ns, field_selector="metadata.name=cm-5")
    assert [i["metadata"]["name"] for i in one["items"]] == ["cm-5"]


def _widget_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }


@pytest.mark.conformance
def test_discovery_finds_a_crd_created_after_start(kube_client: KubeClient, kube_namespace: str) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    with pytest.raises(NoKindMatch):
        kube_client.resource(f"{group}/v1", "Widget")
    kube_client.create(CRD, _widget_crd(group))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                res = kube_client.resource(f"{group}/v1", "Widget")
                break
            except NoKindMatch:
                assert time.monotonic() < deadline, "CRD never became discoverable"
                time.sleep(0.05)
        assert res.plural == "widgets" and res.namespaced and "status" in res.subresources
        w = kube_client.create(res, {"apiVersion": f"{group}/v1", "kind": "Widget",
                                     "metadata": {"name": "w1", "namespace": kube_namespace},
                                     "spec": {"size": 3}})
        assert w["spec"] == {"size": 3}
        status = kube_client.patch_status(res, "w1", {"status": {"ready": True}}, kube_namespace)
        assert status["status"] == {"ready": True}
        writer = kube_client.writer(field_manager="tests")
        patched = writer.patch(w, {"spec": {"size": 4}})
        assert patched["spec"]["size"] == 4
        writer.delete(patched)
        writer.delete(patched)  # already gone: still fine
        with pytest.raises(errors.NotFound):
            kube_client.get(res, "w1", kube_namespace)
    finally:
        kube_client.delete(CRD, f"widgets.{group}")


@pytest.mark.conformance
def test_watch_streams_changes_from_a_resource_version(
    kube_client: KubeClient, kube_namespace: str, make_cm: Any
) -> None:
    ns = kube_namespace
    rv = kube_client.list(CM, ns)["metadata"]["resourceVersion"]
    kube_client.create(CM, make_cm("w", ns, {"a": "1"}))
    kube_client.patch(CM, "w", {"data": {"a": "2"}}, ns)
    kube_client.delete(CM, "w", ns)
    seen: list[tuple[str, str]] = []
    with kube_client.watch(CM, ns, resource_version=rv, timeout_seconds=5) as stream:
        for ev in stream:
            if ev["type"] == "BOOKMARK":
                continue
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            assert ev["object"]["kind"] == "ConfigMap"
            if ev["type"] == "DELETED":
                break
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_from_a_compacted_version_raises_gone(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, make_cm: Any
) -> None:
    rv = kube_client.list(CM, kube_namespace)["metadata"]["resourceVersion"]
    kube_client.create(CM, make_cm("c", kube_namespace))
    kube_server.faults.compact()
    with pytest.raises(errors.Gone) as gone:
        for _ in kube_client.watch(CM, kube_namespace, resource_version=rv, timeout_seconds=5):
            pass
    assert gone.value.code == 410


def test_429_is_retried_after_retry_after(kube_client: KubeClient, kube_server: Any, kube_namespace: str) -> None:
    path = rf"/namespaces/{kube_namespace}/configmaps"
    kube_server.faults.fail_next(1, 429, method="GET", path=path, retry_after=1)
    before = _count_settles(kube_server, "GET", path, 0, timeout=0)
    started = time.monotonic()
    kube_client.list(CM, kube_namespace)
    elapsed = time.monotonic() - started
    assert _count_settles(kube_server, "GET", path, before + 2) - before == 2
    assert 1.0 <= elapsed < 3.0, elapsed


def test_create_is_retried_on_429_but_not_on_500(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, make_cm: Any
) -> None:
    path = rf"/namespaces/{kube_namespace}/configmaps"
    kube_server.faults.fail_next(1, 429, method="POST", path=path, retry_after=0)
    before = kube_server.count_requests(method="POST", path=path)
    kube_client.create(CM, make_cm("after-429", kube_namespace))
    assert _count_settles(kube_server, "POST", path, before + 2) - before == 2

    kube_server.faults.fail_next(1, 500, method="POST", path=path)
    before = kube_server.count_requests(method="POST", path=path)
    with pytest.raises(errors.ServerError):
        kube_client.create(CM, make_cm("after-500", kube_namespace))
    assert _count_settles(kube_server, "POST", path, before + 2, timeout=0.3) - before == 1


def test_5xx_reads_are_retried_and_retries_are_bounded(
    kube_env: EnvConfig, kube_server: Any, kube_namespace: str
) -> None:
    path = rf"/namespaces/{kube_namespace}/configmaps"
    client = kube_env.client(qps=-1, max_retries=2)
    try:
        kube_server.faults.fail_next(2, 500, method="GET", path=path)
        before = kube_server.count_requests(method="GET", path=path)
        client.list(CM, kube_namespace)
        assert _count_settles(kube_server, "GET", path, before + 3) - before == 3

        kube_server.faults.fail_next(10, 503, method="GET", path=path)
        before = _count_settles(kube_server, "GET", path, before + 3)
        with pytest.raises(errors.ServerError) as err:
            client.list(CM, kube_namespace)
        assert err.value.code == 503 and errors.is_transient(err.value)
        assert _count_settles(kube_server, "GET", path, before + 4, timeout=0.3) - before == 3
    finally:
        client.close()


@pytest.mark.conformance
def test_client_side_rate_limit(kube_env: EnvConfig, kube_namespace: str) -> None:
    client = kube_env.client(qps=10, burst=2)
    try:
        started = time.monotonic()
        for _ in range(7):
            client.get(("v1", "Namespace"), kube_namespace)
        elapsed = time.monotonic() - started
    finally:
        client.close()
    # 2 from the burst, then 5 more at 10/s: at least ~0.5 s.
    assert elapsed >= 0.45, elapsed


def test_requests_are_counted_in_metrics(kube_client: KubeClient, kube_namespace: str) -> None:
    from reconciler import metrics

    def count(code: str) -> float:
        return metrics.REGISTRY.get_sample_value(
            "rest_client_requests_total", {"code": code, "method": "GET", "host": kube_client.host}
        ) or 0.0

    ok, missing = count("200"), count("404")
    kube_client.get(("v1", "Namespace"), kube_namespace)
    with pytest.raises(errors.NotFound):
        kube_client.get(CM, "nothing-here", kube_namespace)
    assert count("200") == ok + 1
    assert count("404") == missing + 1


def test_connection_refused_is_a_transient_connection_failure() -> None:
    import socket

    from kubernetes.client import Configuration

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    client = KubeClient.from_configuration(cfg, qps=-1, max_retries=1)
    with pytest.raises(errors.ConnectionFailure) as err:
        client.get_json("/version")
    assert err.value.sent is False and errors.is_transient(err.value)


def test_the_next_page_is_requested_while_the_current_one_is_held(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, make_cm: Any
) -> None:
    ns = kube_namespace
    for i in range(7):
        kube_client.create(CM, make_cm(f"ahead-{i}", ns))
    since = time.time()

    def gets() -> list[Any]:
        return [r for r in kube_server.requests if r.method == "GET" and r.time >= since
                and r.path == f"/api/v1/namespaces/{ns}/configmaps" and "watch=" not in r.query]

    stream = kube_client.list_pages(CM, ns, limit=3)
    first = next(stream)
    deadline = time.monotonic() + 5
    while len(gets()) < 2:  # nobody asked for page 2 yet: it was requested ahead
        assert time.monotonic() < deadline, "the second page was not requested ahead"
        time.sleep(0.01)
    assert "continue=" in gets()[1].query
    rest = list(stream)
    assert [len(p["items"]) for p in [first, *rest]] == [3, 3, 1]
    assert len(gets()) == 3, "each page requested once"
