"""The HTTP/1.1 side: keep-alive connections, one thread each, responses written in one send.

Nagle is off (``disable_nagle_algorithm``): with it, every keep-alive request stalls ~40 ms on
delayed ACKs. Headers and body go out in a single write for the same reason. Watches are chunked
NDJSON; faults and the request log sit in front of routing so they apply to every endpoint.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import authz_filter, discovery, errors, openapi, routing
from .faults import RequestRecord, client_of
from .state import Response, error_response
from .watch import WatchPlan, run_watch

if TYPE_CHECKING:
    from .server import KubeApiServer

log = logging.getLogger(__name__)
_JSON = "application/json"


@functools.lru_cache(maxsize=128)  # HTTPStatus(code) is an enum lookup on every response
def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


class KubeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    kube: KubeApiServer  # set on the subclass the server creates
    _record: RequestRecord | None = None
    hdrs: dict[str, str]

    def setup(self) -> None:
        super().setup()
        self.kube._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.kube._track(self.connection, False)

    def handle_one_request(self) -> None:
        """Request line and headers parsed by hand: the stdlib's email-based header parser was
        the single largest cost per request. Header names are kept lower-cased."""
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            parts = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                self.close_connection = True
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.command, self.path, self.request_version = parts
            hdrs: dict[str, str] = {}
            for _ in range(200):
                raw = self.rfile.readline(65537)
                if raw in (b"\r\n", b"\n", b""):
                    break
                name, _, value = raw.decode("latin-1").partition(":")
                hdrs[name.strip().lower()] = value.strip()
            self.hdrs = hdrs
            conn = hdrs.get("connection", "").lower()
            self.close_connection = conn == "close" or (self.request_version == "HTTP/1.0" and conn != "keep-alive")
            if hdrs.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            handler = getattr(self, "do_" + self.command, None)
            if handler is None:
                self.close_connection = True
                self.wfile.write(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            handler()
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log records requests; stderr noise would hide test output."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = self.hdrs.get("content-length")
        if length:
            return self.rfile.read(int(length))
        if self.hdrs.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None,
              warnings: list[str] | None = None, content_type: str = _JSON) -> None:
        self._log_request(code)  # before the answer leaves: a client that got it finds it logged
        lines = [f"HTTP/1.1 {code} {_phrase(code)}", f"Content-Type: {content_type}",
                 f"Content-Length: {len(body)}", "Cache-Control: no-cache, private"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        for warning in warnings or []:
            lines.append("Warning: 299 - " + json.dumps(warning))
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _send_json(self, code: int, doc: Any) -> None:
        self._send(code, json.dumps(doc).encode())

    def _dispatch(self) -> None:
        started = time.time()
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        method = self.command
        code = 500
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        if path.startswith("/__admin/"):
            self._admin(method, path, body)
            return
        client = client_of(self.hdrs)
        self._record = RequestRecord(method, path, split.query, 0, started, 0.0, client)
        try:
            self.kube.faults.before_request(method, path, client)
            authz_filter.admit(self.kube.authenticator, self.kube.authorizer, method, path, query, self.hdrs)
            code = self._route(method, path, query, body)
        except errors.ApiError as exc:
            code = exc.code
            resp = error_response(exc)
            self._send(code, resp.body, exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            code = 0  # dropped unanswered (a partitioned client, or the client went away)
            self.close_connection = True
        except Exception as exc:  # keep serving; report like the apiserver's panic handler
            log.exception("internal error for %s %s", method, path)
            err = errors.ApiError(500, f"Internal error occurred: {type(exc).__name__}: {exc}")
            code = 500
            self._send(500, error_response(err).body)
        finally:
            self._log_request(code)

    def _log_request(self, code: int) -> None:
        """Record once per request; watches are recorded when their headers go out."""
        rec = self._record
        if rec is not None:
            self._record = None
            self.kube._log.add(RequestRecord(rec.method, rec.path, rec.query, code, rec.time, time.time() - rec.time,
                                             rec.client))

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> int:
        kube = self.kube
        state = kube.state
        served = kube.aggregator.dispatch(self, method, path, urlsplit(self.path).query, body, kube.authenticator)
        if served is not None:  # an APIService's group/version (aggregation.py)
            return served
        if method == "GET":
            stripped = path.rstrip("/")
            if stripped in ("/api", "/apis") and discovery.wants_aggregated(self.hdrs.get("accept", "")):
                doc = discovery.aggregated(state.registry, legacy_core=stripped == "/api")
                if stripped == "/apis":
                    doc = kube.aggregator.extend_aggregated(doc)
                self._send(200, json.dumps(doc).encode(), content_type=discovery.AGGREGATED_V2)
                return 200
            doc = self._static(path)
            if doc is not None:
                self._send_json(200, doc)
                return 200
            if path.startswith(("/healthz", "/readyz", "/livez")):
                self._send(200, b"ok", content_type="text/plain; charset=utf-8")
                return 200
        rp = routing.parse_resource_path(path)
        if rp is None:
            raise errors.ApiError(404, routing.NOT_FOUND, details={})
        result = routing.handle(state, method, rp, query, body, self.hdrs.get("content-type") or _JSON,
                                self.hdrs, kube.authenticator, kube.authorizer)
        if isinstance(result, WatchPlan):
            self._stream(result)
            return 200
        assert isinstance(result, Response)
        self._send(result.code, result.body, warnings=result.warnings)
        return result.code

    def _static(self, path: str) -> Any:
        registry = self.kube.state.registry
        stripped = path.rstrip("/") or "/"
        if stripped == "/version":
            return discovery.VERSION_INFO
        if stripped == "/api":
            return discovery.api_versions(f"{self.kube.host}:{self.kube.port}")
        if stripped == "/apis":
            return self.kube.aggregator.extend_group_list(discovery.api_group_list(registry))
        if stripped == "/openapi/v3":
            return openapi.root(registry)
        parts = [p for p in stripped.split("/") if p]
        if len(parts) == 2 and parts[0] == "api":
            return discovery.api_resource_list(registry, "", parts[1]) or _not_found()
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(registry, parts[1]) or _not_found()
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.api_resource_list(registry, parts[1], parts[2]) or _not_found()
        if parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if len(rest) == 2 and rest[0] == "api":
                doc = openapi.gv_document(registry, "", rest[1])
            elif len(rest) == 3 and rest[0] == "apis":
                doc = openapi.gv_document(registry, rest[1], rest[2])
            else:
                doc = None
            return doc or _not_found()
        return None

    def _stream(self, plan: WatchPlan) -> None:
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                "Cache-Control: no-cache, private\r\n\r\n")
        self._log_request(200)
        self.wfile.write(head.encode())
        wfile = self.wfile

        def send(data: bytes) -> None:
            wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

        sock = self.connection if isinstance(self.connection, socket.socket) else None
        try:
            run_watch(self.kube.state, plan, send, sock, self.kube.bookmark_interval, lambda: self.kube.stopping)
            wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return
        if plan.watcher.dropped:
            self.close_connection = True

    def _admin(self, method: str, path: str, body: bytes) -> None:
        kube = self.kube
        try:
            if method == "POST" and path == "/__admin/faults":
                result = kube.faults.apply(json.loads(body or b"{}"))
                self._send_json(200, result)
            elif method == "GET" and path == "/__admin/requests":
                self._send_json(200, {"requests": [
                    {"method": r.method, "path": r.path, "query": r.query, "status": r.status, "time": r.time,
                     "duration": r.duration, "client": r.client} for r in kube.requests]})
            else:
                self._send_json(404, errors.status_body(404, "NotFound", f"no admin endpoint {method} {path}"))
        except (ValueError, KeyError, TypeError) as exc:
            self._send_json(400, errors.status_body(400, "BadRequest", f"bad fault request: {exc}"))


def _not_found() -> Any:
    raise errors.ApiError(404, routing.NOT_FOUND, details={})
