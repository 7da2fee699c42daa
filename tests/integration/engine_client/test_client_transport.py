"""KubeClient's request path over real HTTP: bodies encoded once (unicode, pre-encoded, values only
the official serializer knows), auth and TLS through the official client's configuration, typed
errors, retry accounting, and connections kept in the official client's pool."""

from __future__ import annotations

import datetime
import http.client
import http.server
import json
import threading
import time
import types
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
import yaml
from kubernetes.client import Configuration, V1ObjectMeta

from reconciler import errors, metrics
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from reconciler.planner import apply, plan
from sim.kubeapi import KubeApiServer

CM = ("v1", "ConfigMap")

UNICODE_VALUES = {
    "latin": "héllo wörld ñ",
    "cjk": "日本語のテキスト",
    "emoji": "rocket 🚀 and family 👨‍👩‍👧",
    "rtl": "שלום עולם",
    "escapes": 'quote " backslash \\ slash / tab \t newline \n',
    "separators": "line\u2028para\u2029end",
    "markup": "</script><!-- & -->",
}


def _cm(name: str, ns: str, data: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, **meta},
            "data": data}


def test_unicode_round_trips_through_create_patch_and_replace(kube_client: KubeClient, kube_namespace: str) -> None:
    ns = kube_namespace
    created = kube_client.create(CM, _cm("uni", ns, UNICODE_VALUES, annotations={"note": "café ☕"}))
    assert created["data"] == UNICODE_VALUES
    got = kube_client.get(CM, "uni", ns)
    assert got["data"] == UNICODE_VALUES and got["metadata"]["annotations"] == {"note": "café ☕"}

    patched = kube_client.patch(CM, "uni", {"data": {"emoji": "🎉", "new": "ünïcödé"}}, ns)
    assert patched["data"]["emoji"] == "🎉" and patched["data"]["new"] == "ünïcödé"
    assert patched["data"]["cjk"] == UNICODE_VALUES["cjk"]

    replaced = kube_client.replace(CM, dict(patched, data={"only": "Ωmega"}))
    assert kube_client.get(CM, "uni", ns)["data"] == {"only": "Ωmega"} == replaced["data"]


def test_pre_encoded_bodies_are_sent_as_they_are(kube_client: KubeClient, kube_namespace: str) -> None:
    """bytes (here UTF-8 JSON, not ASCII-escaped) and str (an apply patch in YAML) reach the server
    unchanged: neither is encoded a second time into a JSON string."""
    ns = kube_namespace
    path = kube_client.resource("v1", "ConfigMap").path(ns)
    raw = json.dumps(_cm("pre", ns, {"k": "värde 値"}), ensure_ascii=False).encode("utf-8")
    assert not raw.isascii()
    created = kube_client.request("POST", path, body=raw)
    assert created["data"] == {"k": "värde 値"}

    applied_yaml = yaml.safe_dump(_cm("applied", ns, {"k": "ÿaml ✓"}), allow_unicode=True)
    kube_client.patch(CM, "applied", applied_yaml, ns, patch_type="apply", field_manager="tests", force=True)
    assert kube_client.get(CM, "applied", ns)["data"] == {"k": "ÿaml ✓"}


def test_values_json_cannot_encode_go_through_the_official_serializer(
    kube_client: KubeClient, kube_namespace: str
) -> None:
    """A generated model, a datetime, a read-only mapping view: encoded as the official client's
    ``sanitize_for_serialization`` does. Something nobody can encode fails before any request."""
    ns = kube_namespace
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": V1ObjectMeta(name="mixed", namespace=ns, labels={"a": "b"}),
        "data": types.MappingProxyType({"when": when, "plain": "x"}),
    }
    created = kube_client.request("POST", kube_client.resource("v1", "ConfigMap").path(ns), body=body)
    assert created["metadata"]["name"] == "mixed" and created["metadata"]["labels"] == {"a": "b"}
    assert created["data"] == {"when": when.isoformat(), "plain": "x"}

    with pytest.raises(TypeError):
        kube_client.create(CM, _cm("never", ns, {"k": b"raw bytes"}))
    with pytest.raises(errors.NotFound):
        kube_client.get(CM, "never", ns)


def test_errors_stay_typed_without_retries(kube_env: EnvConfig, kube_server: Any, kube_namespace: str) -> None:
    ns = kube_namespace
    client = kube_env.client(qps=-1, max_retries=0)
    path = rf"/namespaces/{ns}/configmaps"
    try:
        kube_server.faults.fail_next(1, 429, method="POST", path=path, retry_after=7)
        with pytest.raises(errors.TooManyRequests) as tmr:
            client.create(CM, _cm("a", ns, {}))
        assert tmr.value.code == 429 and tmr.value.retry_after == 7

        kube_server.faults.fail_next(1, 503, method="GET", path=path)
        with pytest.raises(errors.ServerError) as se:
            client.list(CM, ns)
        assert se.value.code == 503

        client.create(CM, _cm("a", ns, {"k": "v"}))
        with pytest.raises(errors.AlreadyExists):
            client.create(CM, _cm("a", ns, {}))
        stale = dict(client.get(CM, "a", ns), data={"k": "w"})
        client.patch(CM, "a", {"data": {"k": "x"}}, ns)
        with pytest.raises(errors.Conflict):
            client.replace(CM, stale)
        with pytest.raises(errors.Invalid) as inv:
            client.patch(CM, "a", {"metadata": {"labels": {"bad label!": "x"}}}, ns)
        assert inv.value.code == 422
    finally:
        client.close()


def test_retries_are_counted(kube_client: KubeClient, kube_server: Any, kube_namespace: str) -> None:
    path = rf"/namespaces/{kube_namespace}/configmaps"

    def retries() -> float:
        value = metrics.REGISTRY.get_sample_value(
            "rest_client_request_retries_total", {"code": "429", "verb": "GET", "host": kube_client.host}
        )
        return value or 0.0

    before = retries()
    kube_server.faults.fail_next(2, 429, method="GET", path=path, retry_after=0)
    kube_client.list(CM, kube_namespace)
    assert retries() == before + 2


def test_concurrent_writers_reuse_pooled_connections(kube_env: EnvConfig, kube_namespace: str) -> None:
    """8 writer threads keep at most 8 connections open and reuse them: a pool smaller than the
    writer count would discard a connection after each request and open a new one."""
    ns = kube_namespace
    client = kube_env.client(qps=-1)
    try:
        client.get(("v1", "Namespace"), ns)  # discovery + one connection
        pool = client.api_client.rest_client.pool_manager.connection_from_url(client.api_client.configuration.host)
        desired = {f"{ns}/p-{i}": _cm(f"p-{i}", ns, {"i": str(i)}) for i in range(120)}
        outcomes = apply(plan(desired, {}), client.writer(), concurrency=8)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
        opened = pool.num_connections
        assert opened <= 8, opened
        more = {f"{ns}/q-{i}": _cm(f"q-{i}", ns, {"i": str(i)}) for i in range(120)}
        assert all(o.ok for o in apply(plan(more, {}), client.writer(), concurrency=8))
        assert pool.num_connections == opened  # the second wave opened nothing new
        assert len(client.list(CM, ns)["items"]) == 240
    finally:
        client.close()


def test_client_works_again_after_close(kube_env: EnvConfig, kube_namespace: str) -> None:
    client = kube_env.client(qps=-1)
    try:
        client.get(("v1", "Namespace"), kube_namespace)
        client.close()
        assert client.get(("v1", "Namespace"), kube_namespace)["metadata"]["name"] == kube_namespace
    finally:
        client.close()


def test_tls_verification_and_bearer_token(tls_rbac_server: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    server, kubeconfig = tls_rbac_server
    with KubeClient.from_kubeconfig(kubeconfig, qps=-1) as admin:
        assert admin.api_client.configuration.host.startswith("https://")
        name = f"t-{uuid.uuid4().hex[:8]}"
        admin.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        assert admin.create(CM, _cm("tls", name, {"k": "✓"}))["data"] == {"k": "✓"}

    with KubeClient.from_kubeconfig(server.write_kubeconfig(tmp_path / "bad-token", token="not-a-token"),
                                    qps=-1, max_retries=0) as stranger, pytest.raises(errors.Unauthorized):
        stranger.get(CM, "tls", name)

    untrusting = yaml.safe_load(kubeconfig.read_text())
    del untrusting["clusters"][0]["cluster"]["certificate-authority-data"]
    path = tmp_path / "no-ca"
    path.write_text(yaml.safe_dump(untrusting))
    before = server.count_requests()
    started = time.monotonic()
    with KubeClient.from_kubeconfig(path, qps=-1) as unverified, pytest.raises(errors.ApiError) as tls:
        unverified.get(CM, "tls", name)
    assert tls.value.code == 0 and tls.value.reason == "TLSError"
    assert "certificate" in str(tls.value).lower()
    assert time.monotonic() - started < 5.0  # not retried: a TLS failure is not transient
    assert server.count_requests() == before  # nothing reached the handler


class _ForwardProxy(http.server.ThreadingHTTPServer):
    """A minimal HTTP forward proxy (absolute-form request targets) that records what it relays."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ForwardProxy

    def _relay(self) -> None:
        target = urlsplit(self.path)
        self.server.seen.append((self.command, self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")}
            upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                             body=body or None, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        finally:
            upstream.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_requests_go_through_a_configured_proxy(kube_env: EnvConfig, kube_namespace: str) -> None:
    """With ``configuration.proxy`` the official client builds a ``ProxyManager``: requests then
    take the pool manager's own path, through the proxy, with bodies and errors as usual."""
    if not kube_env.configuration.host.startswith("http://"):
        pytest.skip("the test proxy relays plain HTTP only")
    proxy = _ForwardProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    cfg = Configuration()
    cfg.host = kube_env.configuration.host
    cfg.api_key = dict(kube_env.configuration.api_key)
    cfg.api_key_prefix = dict(kube_env.configuration.api_key_prefix)
    cfg.proxy = f"http://127.0.0.1:{proxy.server_address[1]}"
    client = KubeClient.from_configuration(cfg, qps=-1)
    try:
        assert isinstance(client.api_client.rest_client.pool_manager, urllib3.ProxyManager)
        created = client.create(CM, _cm("via-proxy", kube_namespace, {"k": "prøxy ✓"}))
        assert created["data"] == {"k": "prøxy ✓"}
        with pytest.raises(errors.NotFound):
            client.get(CM, "absent", kube_namespace)
        methods = [m for m, url in proxy.seen if url.startswith("http://") and "/configmaps" in url]
        assert methods.count("POST") == 1 and methods.count("GET") == 1
    finally:
        client.close()
        proxy.shutdown()
        proxy.server_close()
