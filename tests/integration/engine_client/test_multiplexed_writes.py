"""Multiplexed creates (``KubeClient.create_many`` and the planner's use of it) against the emulated
API server over real HTTP and HTTPS: every object lands once, what fails there is sent again one
by one with its typed error kept, TLS and tokens are those of the client, and a fence holds."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from reconciler.leaderelection import FencedClient, NotLeaderError
from reconciler.planner import apply, plan
from sim.kubeapi import KubeApiServer

CM = ("v1", "ConfigMap")


def _cm(name: str, ns: str, i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"i": str(i), "text": "ünïcödé ✓"}}


def _wave(ns: str, n: int, prefix: str = "m") -> dict[str, dict[str, Any]]:
    return {f"{ns}/{prefix}-{i}": _cm(f"{prefix}-{i}", ns, i) for i in range(n)}


def test_create_many_returns_each_created_object_in_order(kube_client: KubeClient, kube_server: Any,
                                                          kube_namespace: str) -> None:
    ns = kube_namespace
    objs = list(_wave(ns, 40).values())
    before = kube_server.count_requests("POST", rf"/namespaces/{ns}/configmaps")
    created = kube_client.writer(field_manager="mux-test").create_many(objs, 4)
    assert created is not None  # a plain-HTTP client without a proxy multiplexes
    assert [c["metadata"]["name"] for c in created] == [o["metadata"]["name"] for o in objs]
    assert all(c["metadata"]["resourceVersion"] and c["metadata"]["uid"] for c in created)
    assert created[7]["data"] == {"i": "7", "text": "ünïcödé ✓"}
    assert kube_server.count_requests("POST", rf"/namespaces/{ns}/configmaps") - before == 40  # each once
    listed = kube_client.list(CM, ns)["items"]
    assert sorted(o["metadata"]["name"] for o in listed) == sorted(o["metadata"]["name"] for o in objs)
    posts = [r for r in kube_server.requests if r.method == "POST" and r.path.endswith(f"/{ns}/configmaps")]
    assert {r.query for r in posts} == {"fieldManager=mux-test"}  # in the query, as on single creates


def test_failures_keep_their_typed_errors_and_only_retryable_ones_are_sent_again(
    kube_env: EnvConfig, kube_server: Any, kube_namespace: str,
) -> None:
    """As with single creates: a 429 is retried (through ``create``), an object already there is
    ``AlreadyExists``, and a POST answered 503 without ``Retry-After`` is not sent again."""
    ns = kube_namespace
    path = rf"/namespaces/{ns}/configmaps"
    client = kube_env.client(qps=-1)
    try:
        client.create(CM, dict(_cm("m-5", ns, 5), data={"owner": "someone else"}))
        kube_server.faults.fail_next(2, 429, method="POST", path=path, retry_after=0)
        before = kube_server.count_requests("POST", path)
        outcomes = apply(plan(_wave(ns, 30), {}), client.writer(), concurrency=4)
        assert kube_server.count_requests("POST", path) - before in (32, 33)  # 2 re-sent; m-5 maybe twice
        failed = [o for o in outcomes if not o.ok]
        assert [o.key for o in failed] == [f"{ns}/m-5"] and isinstance(failed[0].error, errors.AlreadyExists)
        assert all(o.result is not None and o.result["metadata"]["uid"] for o in outcomes if o.ok)
        items = client.list(CM, ns)["items"]
        assert len(items) == 30
        assert next(o for o in items if o["metadata"]["name"] == "m-5")["data"] == {"owner": "someone else"}

        kube_server.faults.fail_next(3, 503, method="POST", path=path)
        before = kube_server.count_requests("POST", path)
        outcomes = apply(plan(_wave(ns, 20, prefix="r"), {}), client.writer(), concurrency=4)
        assert kube_server.count_requests("POST", path) - before == 20  # nothing sent twice
        failed = [o for o in outcomes if not o.ok]
        assert len(failed) == 3 and all(isinstance(o.error, errors.ServerError) and o.error.code == 503
                                        for o in failed)
        assert len(client.list(CM, ns)["items"]) == 30 + 17
    finally:
        client.close()


def test_a_fenced_client_sends_no_write(kube_env: EnvConfig, kube_server: Any, kube_namespace: str) -> None:
    ns = kube_namespace
    inner = kube_env.client(qps=-1)
    fenced = FencedClient(inner, fence=lambda: False)
    try:
        before = kube_server.count_requests("POST", rf"/namespaces/{ns}/configmaps")
        outcomes = apply(plan(_wave(ns, 20), {}), fenced.writer(), concurrency=4)
        assert len(outcomes) == 20 and not any(o.ok for o in outcomes)
        assert all(isinstance(o.error, NotLeaderError) for o in outcomes)
        assert kube_server.count_requests("POST", rf"/namespaces/{ns}/configmaps") == before
    finally:
        inner.close()


def test_multiplexed_creates_over_tls_use_the_clients_trust_and_token(
    tls_rbac_server: tuple[KubeApiServer, Path], tmp_path: Path,
) -> None:
    server, kubeconfig = tls_rbac_server
    ns = f"t-{uuid.uuid4().hex[:8]}"
    with KubeClient.from_kubeconfig(kubeconfig, qps=-1) as admin:
        admin.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        pool = admin.api_client.rest_client.pool_manager.connection_from_url(admin.api_client.configuration.host)
        outcomes = apply(plan(_wave(ns, 24), {}), admin.writer(), concurrency=4)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:2]
        assert len(admin.list(CM, ns)["items"]) == 24
        opened = pool.num_connections
        assert opened <= 4
        more = apply(plan(_wave(ns, 24, prefix="n"), {}), admin.writer(), concurrency=4)
        assert all(o.ok for o in more)
        assert pool.num_connections == opened  # the TLS connections went back to the pool and were reused

    stranger_config = server.write_kubeconfig(tmp_path / "bad-token", token="not-a-token")
    with KubeClient.from_kubeconfig(stranger_config, qps=-1, max_retries=0) as stranger:
        outcomes = apply(plan(_wave(ns, 12, prefix="x"), {}), stranger.writer(), concurrency=4)
        assert not any(o.ok for o in outcomes)
        assert all(isinstance(o.error, errors.Unauthorized) for o in outcomes)


def test_creates_cut_off_after_sending_fail_once_as_connection_failures(
    kube_env: EnvConfig, kube_server: Any, kube_namespace: str,
) -> None:
    """A reset after sending is ambiguous (the create may have landed): like ``create``, the
    multiplexed path reports it and never sends that POST again."""
    ns = kube_namespace
    path = rf"/namespaces/{ns}/configmaps"
    client = kube_env.client(qps=-1)
    try:
        client.get(("v1", "Namespace"), ns)
        who = kube_server.requests[-1].client
        before = kube_server.count_requests("POST", path)
        kube_server.faults.partition(who)
        try:
            outcomes = apply(plan(_wave(ns, 12), {}), client.writer(), concurrency=4)
        finally:
            kube_server.faults.heal(who)
        assert len(outcomes) == 12 and not any(o.ok for o in outcomes)
        assert all(isinstance(o.error, errors.ConnectionFailure) and o.error.sent for o in outcomes)
        assert kube_server.count_requests("POST", path) - before == 12  # each sent exactly once
        assert client.list(CM, ns)["items"] == []
        again = apply(plan(_wave(ns, 12), {}), client.writer(), concurrency=4)  # the pool recovered
        assert all(o.ok for o in again)
    finally:
        client.close()
