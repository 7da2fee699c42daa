"""API aggregation, the kube-aggregator part of the emulator: ``APIService`` objects send a group/version
to a backend HTTP server.

An ``apiregistration.k8s.io/v1`` ``APIService`` named ``<version>.<group>`` with a ``spec.service``
reference makes the emulator proxy every request under ``/apis/<group>/<version>`` (all verbs, watch
streams, binary bodies) to that backend, and list the group/version in discovery. ``/apis/<group>``
(the ``APIGroup``) is answered here from the APIServices, as kube-aggregator does; the backend answers
``/apis/<group>/<version>`` (its ``APIResourceList``) and the resources.

The backend is found the way kube-aggregator finds it with ``--enable-aggregator-routing``: the
Service named by ``spec.service`` (port ``spec.service.port``, default 443) and its ``Endpoints``
(the address of the first subset, the endpoint port of the same name as the Service port). So a
backend registers itself with ordinary API objects any client can write: a selector-less Service, its
Endpoints and the APIService (that is what ``sim/antrea`` does). Approximations, kept on purpose:

* only loopback endpoint addresses are dialled (the emulator runs on one machine), over plain HTTP
  (no ``caBundle`` / TLS to the backend);
* the caller is authenticated and authorized in front of routing exactly as for built-in resources
  (``authz_filter``), then passed on as ``X-Remote-User`` / ``X-Remote-Group`` headers (kube's
  front-proxy headers; the client's ``Authorization`` header is not forwarded);
* no availability controller: ``status.conditions`` is not written; a request to a backend that
  cannot be resolved or reached answers 503, like the real aggregator's proxy.
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import errors
from .auth import Authenticator, UserInfo
from .registry import version_priority
from .state import State

if TYPE_CHECKING:
    from .handler import KubeHandler

GROUP = "apiregistration.k8s.io"
KEY = (GROUP, "apiservices")
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
"""Seconds a non-streamed backend response may take (a support bundle download is one of them)."""
AGGREGATOR_USER = "system:kube-aggregator"
"""Who the emulator is to a backend when it fetches the backend's discovery document itself."""
DISCOVERY_TTL = 2.0
"""Seconds a backend's ``APIResourceList`` is reused by aggregated discovery."""
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
                         "upgrade", "proxy-connection"))
_FORWARDED = ("content-type", "accept", "user-agent", "accept-encoding")


class _Unavailable(Exception):
    """The backend cannot be resolved or reached: 503."""


class Aggregator:
    """Resolves APIServices to backends and proxies requests to them (one per server)."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._discovery_cache: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}

    # -- the APIServices ----------------------------------------------------------------------
    def services(self) -> list[dict[str, Any]]:
        """APIServices with a backend (local ones, without ``spec.service``, serve nothing here)."""
        return [s.obj for s in self._state.store.items(KEY) if (s.obj.get("spec") or {}).get("service")]

    def lookup(self, group: str, version: str) -> dict[str, Any] | None:
        stored = self._state.store.get(KEY, "", f"{version}.{group}")
        if stored is None or not (stored.obj.get("spec") or {}).get("service"):
            return None
        return stored.obj

    def groups(self) -> dict[str, list[str]]:
        """Aggregated group → versions, preferred first (``versionPriority``, then Kubernetes order);
        groups also served by the registry (built-ins, CRDs) are left to it."""
        by_group: dict[str, list[tuple[int, str]]] = {}
        for svc in self.services():
            spec = svc["spec"]
            group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
            if group and version and not self._state.registry.versions(group):
                by_group.setdefault(group, []).append((int(spec.get("versionPriority") or 0), version))
        return {g: [v for _, v in sorted(vs, key=lambda p: (-p[0], version_priority(p[1])))]
                for g, vs in sorted(by_group.items())}

    def backend(self, api_service: Mapping[str, Any]) -> tuple[str, int]:
        """(host, port) of the backend, from the Service and its Endpoints; :class:`_Unavailable`
        when they do not resolve to a loopback address."""
        ref = api_service["spec"]["service"]
        namespace, name = str(ref.get("namespace") or "default"), str(ref.get("name") or "")
        want_port = int(ref.get("port") or 443)
        service = self._state.store.get(("", "services"), namespace, name)
        if service is None:
            raise _Unavailable(f'service "{namespace}/{name}" not found')
        ports = [p for p in (service.obj.get("spec") or {}).get("ports") or [] if int(p.get("port") or 0) == want_port]
        if not ports:
            raise _Unavailable(f'service "{namespace}/{name}" has no port {want_port}')
        port_name = ports[0].get("name") or ""
        endpoints = self._state.store.get(("", "endpoints"), namespace, name)
        for subset in (endpoints.obj.get("subsets") or []) if endpoints is not None else []:
            addresses = [a.get("ip") for a in subset.get("addresses") or [] if a.get("ip")]
            candidates = [p for p in subset.get("ports") or [] if (p.get("name") or "") == port_name]
            if not candidates and len(subset.get("ports") or []) == 1:
                candidates = subset["ports"]
            if addresses and candidates:
                host = str(addresses[0])
                if not ipaddress.ip_address(host).is_loopback:
                    raise _Unavailable(f"endpoint {host} of service {namespace}/{name} is not a loopback address "
                                       "(the emulator only dials loopback backends)")
                return host, int(candidates[0]["port"])
        raise _Unavailable(f'no endpoints available for service "{namespace}/{name}"')

    # -- discovery ----------------------------------------------------------------------------
    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def extend_group_list(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Legacy ``/apis``: the aggregated groups after the registry's."""
        for group in self.groups():
            entry = self.api_group(group)
            if entry is not None:
                doc["groups"].append(entry)
        return doc

    def extend_aggregated(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Aggregated discovery (v2) of ``/apis``: each backend's resources, fetched from its
        ``APIResourceList``; a backend that does not answer is listed ``Stale`` with no resources."""
        for group, versions in self.groups().items():
            entries = []
            for version in versions:
                resources = self._backend_resources(group, version)
                entries.append({"version": version, "freshness": "Current" if resources is not None else "Stale",
                                "resources": _aggregated_resources(group, version, resources or {})})
            doc["items"].append({"metadata": {"name": group, "creationTimestamp": None}, "versions": entries})
        return doc

    def _backend_resources(self, group: str, version: str) -> dict[str, Any] | None:
        cached = self._discovery_cache.get((group, version))
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        api_service = self.lookup(group, version)
        result: dict[str, Any] | None = None
        if api_service is not None:
            try:
                code, _, body = self._fetch(api_service, "GET", f"/apis/{group}/{version}", b"",
                                            {"accept": "application/json", "x-remote-user": AGGREGATOR_USER}, None)
                result = json.loads(body) if code == 200 else None
            except (_Unavailable, OSError, ValueError):
                result = None
        self._discovery_cache[(group, version)] = (time.monotonic(), result)
        return result

    # -- proxying -----------------------------------------------------------------------------
    def dispatch(self, handler: KubeHandler, method: str, path: str, raw_query: str, body: bytes,
                 authn: Authenticator) -> int | None:
        """Serve ``path`` when it belongs to an aggregated group; None when it does not (the
        caller routes it as usual). Returns the status code sent."""
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "apis":
            return None
        if len(parts) == 2:
            doc = self.api_group(parts[1]) if method == "GET" else None
            if doc is None:
                return None
            handler._send(200, json.dumps({"kind": "APIGroup", "apiVersion": "v1", **doc}).encode())
            return 200
        api_service = self.lookup(parts[1], parts[2])
        if api_service is None:
            return None
        user = authn.authenticate(handler.hdrs)  # already admitted (authz_filter): who, for the backend
        if user is None:
            raise errors.ApiError(401, "Unauthorized")
        headers = {k: v for k, v in handler.hdrs.items() if k in _FORWARDED}
        headers["x-remote-user"] = user.name
        target = path + (f"?{raw_query}" if raw_query else "")
        try:
            return self._proxy(handler, api_service, method, target, body, headers, user)
        except _Unavailable as err:
            raise errors.ApiError(503, f"error trying to reach service: {err}", reason="ServiceUnavailable") from err

    def _proxy(self, handler: KubeHandler, api_service: Mapping[str, Any], method: str, target: str, body: bytes,
               headers: dict[str, str], user: UserInfo) -> int:
        conn, head, rest = self._open_exchange(api_service, method, target, body, headers, user)
        try:
            code, resp_headers = head
            length = resp_headers.get("content-length")
            if length is not None:
                data = _read_exact(conn, rest, int(length))
                handler._send(code, data, _passed(resp_headers),
                              content_type=resp_headers.get("content-type", "application/json"))
                return code
            chunked = "chunked" in resp_headers.get("transfer-encoding", "").lower()
            self._stream(handler, conn, rest, code, resp_headers, chunked)
            return code
        finally:
            self._forget(conn)

    def _fetch(self, api_service: Mapping[str, Any], method: str, target: str, body: bytes,
               headers: dict[str, str], user: UserInfo | None) -> tuple[int, dict[str, str], bytes]:
        """One whole (non-streamed) exchange, for discovery."""
        conn, (code, resp_headers), rest = self._open_exchange(api_service, method, target, body, headers, user)
        try:
            length = resp_headers.get("content-length")
            if length is None:
                raise _Unavailable("discovery response without Content-Length")
            return code, resp_headers, _read_exact(conn, rest, int(length))
        finally:
            self._forget(conn)

    def _open_exchange(self, api_service: Mapping[str, Any], method: str, target: str, body: bytes,
                       headers: dict[str, str], user: UserInfo | None
                       ) -> tuple[socket.socket, tuple[int, dict[str, str]], bytearray]:
        host, port = self.backend(api_service)
        try:
            conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as err:
            raise _Unavailable(f"dial tcp {host}:{port}: {err.strerror or err}") from err
        with self._lock:
            self._open.add(conn)
        try:
            conn.settimeout(READ_TIMEOUT)
            lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}",
                     "Connection: close", f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            if user is not None:
                lines += [f"X-Remote-Group: {g}" for g in user.groups]
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            buf = bytearray()
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise _Unavailable(f"{host}:{port} closed the connection before answering")
                buf += chunk
            raw_head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
            code = int(status_line.split(" ")[1])
            resp_headers: dict[str, str] = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                resp_headers[name.strip().lower()] = value.strip()
            return conn, (code, resp_headers), bytearray(rest)
        except (OSError, ValueError, IndexError) as err:
            self._forget(conn)
            raise _Unavailable(f"{host}:{port}: {err}") from err
        except _Unavailable:
            self._forget(conn)
            raise

    def _stream(self, handler: KubeHandler, conn: socket.socket, buf: bytearray, code: int,
                resp_headers: dict[str, str], chunked: bool) -> None:
        """Relay a chunked (or close-delimited) body chunk by chunk, as it arrives: watches."""
        head = [f"HTTP/1.1 {code} {'OK' if code == 200 else 'Status'}",
                f"Content-Type: {resp_headers.get('content-type', 'application/json')}",
                "Transfer-Encoding: chunked", "Cache-Control: no-cache, private"]
        head += [f"{k}: {v}" for k, v in _passed(resp_headers).items()]
        wfile = handler.wfile
        wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        wfile.flush()
        handler._log_request(code)
        client = handler.connection if isinstance(handler.connection, socket.socket) else None
        watching = [conn] + ([client] if client is not None else [])
        ended = False
        try:
            while not ended:
                if chunked:
                    parsed = _take_chunk(buf)
                    if parsed is not None:
                        if parsed:
                            wfile.write(b"%x\r\n" % len(parsed) + parsed + b"\r\n")
                            wfile.flush()
                            continue
                        break
                elif buf:
                    wfile.write(b"%x\r\n" % len(buf) + bytes(buf) + b"\r\n")
                    wfile.flush()
                    buf.clear()
                readable, _, _ = select.select(watching, [], [], 1.0)
                if handler.kube.stopping:
                    break
                if client is not None and client in readable:
                    try:
                        peeked = client.recv(1, socket.MSG_PEEK)
                    except OSError:
                        peeked = b""
                    if not peeked:  # the client went away: drop the backend stream too
                        handler.close_connection = True
                        return
                    watching = [conn]  # pipelined data: leave it for the next request
                if conn in readable:
                    data = conn.recv(65536)
                    if not data:
                        ended = True
                    buf += data
            if not chunked and buf:
                wfile.write(b"%x\r\n" % len(buf) + bytes(buf) + b"\r\n")
            wfile.write(b"0\r\n\r\n")
            wfile.flush()
            if ended and chunked:  # the backend dropped the stream mid-body
                handler.close_connection = True
        except OSError:
            handler.close_connection = True

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)
        try:
            conn.close()
        except OSError:
            pass

    def close_all(self) -> None:
        """Cut every backend connection (server shutdown): proxied watches end."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _passed(headers: Mapping[str, str]) -> dict[str, str]:
    """Backend response headers worth passing on (not hop-by-hop, not the ones we write)."""
    return {k.title(): v for k, v in headers.items()
            if k not in _HOP_BY_HOP and k not in ("content-type", "cache-control", "date", "server")}


def _read_exact(conn: socket.socket, buf: bytearray, length: int) -> bytes:
    while len(buf) < length:
        chunk = conn.recv(min(1 << 20, length - len(buf)))
        if not chunk:
            raise _Unavailable("the backend closed the connection mid-body")
        buf += chunk
    return bytes(buf[:length])


def _take_chunk(buf: bytearray) -> bytes | None:
    """Pop one complete chunk off ``buf``: its data, ``b""`` for the last chunk, None when
    incomplete (trailers are not supported: none of our backends sends any)."""
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    size = int(bytes(buf[:end]).split(b";")[0].strip() or b"0", 16)
    if size == 0:
        if len(buf) < end + 4:
            return None
        del buf[:end + 4]
        return b""
    if len(buf) < end + 2 + size + 2:
        return None
    data = bytes(buf[end + 2:end + 2 + size])
    del buf[:end + 2 + size + 2]
    return data


def _aggregated_resources(group: str, version: str, resource_list: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A legacy ``APIResourceList`` as v2 aggregated discovery resources (subresources nested)."""
    out: dict[str, dict[str, Any]] = {}
    subs: list[dict[str, Any]] = []
    for res in resource_list.get("resources") or []:
        name = str(res.get("name") or "")
        kind = {"group": group, "version": version, "kind": res.get("kind") or ""}
        if "/" in name:
            subs.append(res)
            continue
        entry: dict[str, Any] = {"resource": name, "responseKind": kind,
                                 "singularResource": res.get("singularName") or name,
                                 "scope": "Namespaced" if res.get("namespaced") else "Cluster",
                                 "verbs": list(res.get("verbs") or [])}
        if res.get("shortNames"):
            entry["shortNames"] = list(res["shortNames"])
        out[name] = entry
    for res in subs:
        parent, _, sub = str(res["name"]).partition("/")
        if parent in out:
            out[parent].setdefault("subresources", []).append({
                "subresource": sub, "responseKind": {"group": group, "version": version, "kind": res.get("kind") or ""},
                "verbs": list(res.get("verbs") or [])})
    return list(out.values())
