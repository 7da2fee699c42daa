"""API aggregation: an ``APIService`` backed by a Service and its Endpoints makes the emulator proxy a
group/version to a backend HTTP server (kube-aggregator's behaviour), seen through the official
client and kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from sim.kubeapi import KubeApiServer


@dataclass
class Backend:
    group: str
    seen: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])


def _backend(group: str) -> Backend:
    backend = Backend(group)
    prefix = f"/apis/{group}/v1"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            backend.seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
            if self.path == prefix:
                self._reply(200, json.dumps({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion":
                                             f"{group}/v1", "resources": [
                                                 {"name": "things", "singularName": "thing", "namespaced": False,
                                                  "kind": "Thing", "verbs": ["get", "list", "watch"]},
                                                 {"name": "blobs", "singularName": "blob", "namespaced": False,
                                                  "kind": "Blob", "verbs": ["create"]}]}).encode())
            elif self.path.startswith(prefix + "/things?") and "watch=true" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(3):
                    line = json.dumps({"type": "ADDED", "object": {"kind": "Thing", "apiVersion": f"{group}/v1",
                                                                   "metadata": {"name": f"t{i}"}}}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                    time.sleep(0.4)
                self.wfile.write(b"0\r\n\r\n")
            elif self.path.startswith(prefix + "/things"):
                self._reply(200, json.dumps({"kind": "ThingList", "apiVersion": f"{group}/v1", "metadata": {},
                                             "items": [{"metadata": {"name": "t0"}}]}).encode())
            else:
                self._reply(404, b'{"kind":"Status","apiVersion":"v1","code":404,"reason":"NotFound","message":"x"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._reply(201, body[::-1], "application/octet-stream")

    backend.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    backend.server.daemon_threads = True
    threading.Thread(target=backend.server.serve_forever, daemon=True).start()
    return backend


@pytest.fixture
def backend(api: client.ApiClient, ns: str) -> Iterator[Backend]:
    """A backend registered for ``<random>.example.io/v1`` through Service ``ns/backend``."""
    group = f"g{uuid.uuid4().hex[:8]}.example.io"
    be = _backend(group)
    core = client.CoreV1Api(api)
    core.create_namespaced_service(ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
                                        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
    core.create_namespaced_endpoints(ns, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "backend"},
                                          "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                                                       "ports": [{"name": "https", "port": be.port}]}]})
    client.CustomObjectsApi(api).create_cluster_custom_object("apiregistration.k8s.io", "v1", "apiservices", {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": f"v1.{group}"},
        "spec": {"group": group, "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 100,
                 "service": {"namespace": ns, "name": "backend"}}})
    yield be
    client.CustomObjectsApi(api).delete_cluster_custom_object("apiregistration.k8s.io", "v1", "apiservices",
                                                              f"v1.{group}")
    assert be.server is not None
    be.server.shutdown()
    be.server.server_close()


def _call(api: client.ApiClient, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Any:
    _, url, headers, payload, _ = api.param_serialize(
        method, path, body=body, query_params=query, header_params={"Accept": "*/*", "Content-Type": content_type},
        auth_settings=["BearerToken"])
    return api.call_api(method, url, headers, payload, None, _request_timeout=30)


def _status(api: client.ApiClient, path: str) -> tuple[int, dict[str, Any]]:
    try:
        resp = _call(api, "GET", path)
        resp.read()
        return resp.status, json.loads(resp.data)
    except client.ApiException as err:
        return err.status, json.loads(err.body)


def test_requests_are_proxied_with_the_callers_identity(kapi: KubeApiServer, api: client.ApiClient,
                                                        backend: Backend) -> None:
    code, body = _status(api, f"/apis/{backend.group}/v1/things")
    assert code == 200 and body["items"] == [{"metadata": {"name": "t0"}}]
    seen = backend.seen[-1]
    assert seen[":path"] == f"/apis/{backend.group}/v1/things"
    assert seen["x-remote-user"] and "authorization" not in seen  # front-proxy headers, not the token
    deadline = time.monotonic() + 5  # the log records a request just after answering it
    while not kapi.count_requests("GET", rf"^/apis/{backend.group}/v1/things$") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kapi.count_requests("GET", rf"^/apis/{backend.group}/v1/things$") == 1  # in the request log


def test_discovery_lists_the_aggregated_group(api: client.ApiClient, kubeconfig: Path, backend: Backend) -> None:
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups[backend.group].preferred_version.group_version == f"{backend.group}/v1"
    code, group_doc = _status(api, f"/apis/{backend.group}")  # served by the emulator from the APIService
    assert code == 200 and group_doc["kind"] == "APIGroup"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    out = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "api-resources", "--api-group", backend.group,
                          "-o", "name"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == {f"things.{backend.group}", f"blobs.{backend.group}"}
    raw = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "--raw", f"/apis/{backend.group}/v1/things"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert raw.returncode == 0 and json.loads(raw.stdout)["kind"] == "ThingList"


def test_binary_bodies_pass_unchanged_both_ways(api: client.ApiClient, backend: Backend) -> None:
    payload = bytes(range(256)) * 64
    resp = _call(api, "POST", f"/apis/{backend.group}/v1/blobs", body=payload,
                 content_type="application/octet-stream")
    resp.read()
    assert resp.status == 201 and resp.data == payload[::-1]
    assert resp.getheader("Content-Type") == "application/octet-stream"


def test_watches_stream_through_as_the_backend_writes(api: client.ApiClient, backend: Backend) -> None:
    resp = _call(api, "GET", f"/apis/{backend.group}/v1/things", query=[("watch", "true")])
    arrivals: list[float] = []
    buffer = b""
    try:
        for chunk in resp.response.stream(256):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                assert json.loads(line)["type"] == "ADDED"
                arrivals.append(time.monotonic())
    finally:
        resp.response.release_conn()
    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 0.5  # events came as written, not buffered to the end


def test_an_unreachable_backend_answers_503(api: client.ApiClient, ns: str, backend: Backend) -> None:
    assert backend.server is not None
    backend.server.shutdown()
    backend.server.server_close()
    code, body = _status(api, f"/apis/{backend.group}/v1/things")
    assert (code, body["reason"]) == (503, "ServiceUnavailable")
    assert "error trying to reach service" in body["message"]
    client.CoreV1Api(api).delete_namespaced_endpoints("backend", ns)
    code, body = _status(api, f"/apis/{backend.group}/v1/things")
    assert code == 503 and "no endpoints available" in body["message"]


def test_without_an_apiservice_the_group_is_unknown(api: client.ApiClient) -> None:
    code, _ = _status(api, "/apis/nothing.example.io/v1/things")
    assert code == 404
