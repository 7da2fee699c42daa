"""The HTTP side of Antrea's own API servers: antrea-controller's aggregated API (behind the API
server's aggregation layer) and each antrea-agent's API (port 10350, reached directly).

Both are Kubernetes-style API servers: ``/apis/<group>/<version>`` answers an ``APIResourceList``,
resources answer JSON objects or ``Status`` errors, watches stream newline-delimited events in a
chunked response, downloads are binary. Callers must be authenticated: behind the aggregator by the
front-proxy ``X-Remote-User`` header the API server adds, directly by a bearer token (real Antrea
checks it with a TokenReview; the stand-in only requires one, as it does not judge identities).

:func:`register_aggregated_api` registers the controller's server with the API server with ordinary
objects, as Antrea's manifests do: the Service ``kube-system/antrea`` (here selector-less, with
Endpoints pointing at the stand-in's loopback port) and one ``APIService`` per group/version.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kubernetes import client

JSON = "application/json"


@dataclass
class ApiRequest:
    method: str
    namespace: str
    plural: str
    name: str
    subresource: str
    query: dict[str, str]
    body: bytes
    user: str

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise ApiFailure(400, "BadRequest", f"invalid JSON body: {err}") from err


@dataclass
class ApiReply:
    code: int = 200
    body: bytes = b""
    content_type: str = JSON
    stream: Iterator[bytes] | None = None
    """Watch: each item is one event line (already JSON-encoded, newline-terminated)."""

    @classmethod
    def of(cls, doc: Any, code: int = 200) -> ApiReply:
        return cls(code, json.dumps(doc).encode())


class ApiFailure(Exception):
    """Answered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "message": message, "reason": reason, "code": code}


Handler = Callable[[ApiRequest], ApiReply]
Authorize = Callable[[str, str, str, str, str, str, str], str]
"""(token, verb, group, version, resource, subresource, name) → user name, or :class:`ApiFailure`."""


@dataclass
class ResourceSpec:
    """One served resource: its discovery entry and the function answering its requests."""

    plural: str
    kind: str
    verbs: tuple[str, ...]
    handler: Handler
    namespaced: bool = False
    subresources: tuple[tuple[str, tuple[str, ...]], ...] = ()
    singular: str = ""


@dataclass
class GroupVersion:
    group: str
    version: str
    resources: dict[str, ResourceSpec] = field(default_factory=dict)

    def add(self, spec: ResourceSpec) -> None:
        self.resources[spec.plural] = spec

    def resource_list(self) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for spec in self.resources.values():
            entries.append({"name": spec.plural, "singularName": spec.singular or spec.kind.lower(),
                            "namespaced": spec.namespaced,
                            "kind": spec.kind, "verbs": list(spec.verbs)})
            for sub, verbs in spec.subresources:
                entries.append({"name": f"{spec.plural}/{sub}", "singularName": "", "namespaced": spec.namespaced,
                                "kind": spec.kind, "verbs": list(verbs)})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{self.group}/{self.version}",
                "resources": entries}


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class AntreaApiServer:
    """One Antrea API server on loopback; ``tls`` (cert, key files) makes it HTTPS."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0,
                 tls: tuple[str, str] | None = None, auth: Authorize | None = None) -> None:
        """``auth``: decides on bearer-token callers (delegated to the API server); without it a
        token is only required, not checked."""
        self.name = name
        self.auth = auth
        self.host = host
        self.port = port
        self._tls = tls
        self.groups: dict[tuple[str, str], GroupVersion] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests = 0

    def group(self, group: str, version: str) -> GroupVersion:
        return self.groups.setdefault((group, version), GroupVersion(group, version))

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> AntreaApiServer:
        if self._httpd is not None:
            return self
        handler = type("BoundAntreaHandler", (_Handler,), {"server_ref": self})
        httpd = _Server((self.host, self.port), handler)
        if self._tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(*self._tls)
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self.stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"antrea-api-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (new connections are refused) and cut open ones (watches end). The port
        is kept, so a restart serves on the same one, as a restarted agent does."""
        httpd = self._httpd
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            (self._conns.add if opened else self._conns.discard)(conn)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: AntreaApiServer

    def setup(self) -> None:
        super().setup()
        self.server_ref._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server_ref._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent, like the emulated API server."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _send(self, reply: ApiReply) -> None:
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _serve(self) -> None:
        server = self.server_ref
        server.requests += 1
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self._route(split.path, dict(parse_qsl(split.query, keep_blank_values=True)), body)
        except ApiFailure as err:
            reply = ApiReply.of(status(err.code, err.reason, err.message), err.code)
        except Exception as err:  # keep serving, answer like an apiserver's panic handler
            reply = ApiReply.of(status(500, "InternalError", f"{type(err).__name__}: {err}"), 500)
        if reply.stream is None:
            self._send(reply)
            return
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for line in reply.stream:
                if server.stopping.is_set():
                    break
                self.wfile.write(b"%x\r\n" % len(line) + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            close = getattr(reply.stream, "close", None)
            if close is not None:
                close()

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        return token or None

    def _authorize(self, gv: GroupVersion, request: ApiRequest) -> str:
        """Front-proxy identity (set by the API server's aggregator, which authorized the request)
        or a bearer token checked by ``auth``."""
        user = self.headers.get("X-Remote-User")
        if user:
            return user
        token = self._token()
        if token is None:
            raise ApiFailure(401, "Unauthorized", "Unauthorized")
        auth = self.server_ref.auth
        if auth is None:
            return "bearer-token-user"
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            request.method, "get" if request.name else ("watch" if request.watch else "list"))
        return auth(token, verb, gv.group, gv.version, request.plural, request.subresource, request.name)

    def _route(self, path: str, query: dict[str, str], body: bytes) -> ApiReply:
        parts = [p for p in path.split("/") if p]
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return ApiReply(200, b"ok", "text/plain; charset=utf-8")
        if not self.headers.get("X-Remote-User") and self._token() is None:
            raise ApiFailure(401, "Unauthorized", "Unauthorized")
        if len(parts) < 3 or parts[0] != "apis":
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        gv = self.server_ref.groups.get((parts[1], parts[2]))
        if gv is None:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        rest = parts[3:]
        if not rest:  # discovery: open to every authenticated caller
            return ApiReply.of(gv.resource_list())
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        spec = gv.resources.get(rest[0])
        if spec is None or len(rest) > 3:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        request = ApiRequest(self.command, namespace, rest[0], rest[1] if len(rest) > 1 else "",
                             rest[2] if len(rest) > 2 else "", query, body, "")
        request.user = self._authorize(gv, request)
        return spec.handler(request)


# --------------------------------------------------------------------------- registration

SERVICE_NAMESPACE = "kube-system"
SERVICE_NAME = "antrea"
SERVICE_PORT = 443
CONTROLLER_API_PORT = 10349


SIM_LABEL = "antrea-simulator"
"""``app.kubernetes.io/managed-by`` of the objects the stand-in registers (and may replace)."""


def register_aggregated_api(api: client.ApiClient, port: int, group_versions: list[tuple[str, str]],
                            host: str = "127.0.0.1") -> bool:
    """Point ``kube-system/antrea`` at ``host:port`` and register one APIService per group/version
    (create, or replace what a previous run left). A ``kube-system/antrea`` Service the stand-in did
    not create (a real Antrea's) is never touched: then nothing is registered and False returned."""
    labels = {"app": "antrea", "app.kubernetes.io/managed-by": SIM_LABEL}
    ns_path = f"/api/v1/namespaces/{SERVICE_NAMESPACE}"
    code, existing = call(api, "GET", f"{ns_path}/services/{SERVICE_NAME}")
    if code == 200 and ((existing.get("metadata") or {}).get("labels") or {}).get(
            "app.kubernetes.io/managed-by") != SIM_LABEL:
        return False
    _put(api, f"{ns_path}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE_NAME, "labels": labels},
        "spec": {"ports": [{"name": "api", "port": SERVICE_PORT, "protocol": "TCP",
                            "targetPort": CONTROLLER_API_PORT}]}})
    _put(api, f"{ns_path}/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": SERVICE_NAME, "labels": labels},
        "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "api", "port": port, "protocol": "TCP"}]}]})
    for group, version in group_versions:
        _put(api, "/apis/apiregistration.k8s.io/v1/apiservices", {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{version}.{group}", "labels": labels},
            "spec": {"group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 100,
                     "service": {"namespace": SERVICE_NAMESPACE, "name": SERVICE_NAME, "port": SERVICE_PORT}}})
    return True


def call(api: client.ApiClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    _, url, headers, payload, _ = api.param_serialize(
        method, path, body=body, header_params={"Accept": JSON, **({"Content-Type": JSON} if body else {})},
        auth_settings=["BearerToken"])
    resp = api.call_api(method, url, headers, payload, None, _request_timeout=10)
    raw = resp.response
    data = raw.data
    raw.release_conn()
    return resp.status, json.loads(data) if data else None


def _put(api: client.ApiClient, collection: str, obj: dict[str, Any]) -> None:
    """Create ``obj``, or replace the existing one of the same name."""
    code, doc = call(api, "POST", collection, obj)
    if code == 409:
        path = f"{collection}/{obj['metadata']['name']}"
        code, current = call(api, "GET", path)
        if code == 200:
            replaced = {**obj, "metadata": {**obj["metadata"],
                                            "resourceVersion": current["metadata"]["resourceVersion"]}}
            code, doc = call(api, "PUT", path, replaced)
    if code >= 300:
        raise RuntimeError(f"registering {obj['kind']} {obj['metadata']['name']}: HTTP {code}: {doc}")
