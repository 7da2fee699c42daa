"""HTTP endpoints of a manager: ``/healthz``, ``/readyz`` (controller-runtime ``pkg/healthz``) and
``/metrics`` (Prometheus text, controller-runtime ``pkg/metrics/server``).

Checks are named callables that raise (or return False) to fail. The answers follow the Kubernetes
healthz format, which kubelet probes and humans both read::

    GET /readyz            200 "ok"                  | 500 "[+]ping ok\\n[-]caches failed: ...\\nreadyz check failed"
    GET /readyz?verbose    200 "[+]ping ok\\n[+]caches ok\\nreadyz check passed"
    GET /readyz/caches     one check alone
    GET /readyz?exclude=x  skip check x

Liveness answers "restart me?", readiness "send me traffic / count me in?": a replica waiting for
the Lease is alive and ready (its caches synced); only a stuck process should fail ``/healthz``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from loguru import logger

from reconciler import metrics

__all__ = ["Check", "ProbeServer", "parse_bind_address", "ping", "run_checks"]

Check = Callable[[], object]
"""A health check: raises (or returns False) when unhealthy; any other return means healthy."""

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus text exposition format, the content type Prometheus scrapes by default."""


def ping() -> None:
    """Always healthy: proves the HTTP server (hence the process) answers (``healthz.Ping``)."""


def parse_bind_address(address: str | None) -> tuple[str, int] | None:
    """``":8081"`` → ``("", 8081)`` (all interfaces), ``"127.0.0.1:0"`` → an ephemeral port,
    ``"0"`` / ``""`` / None → None (server disabled), as controller-runtime's bind addresses."""
    if address is None or address.strip() in ("", "0"):
        return None
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        raise ValueError(f"bind address {address!r} is not host:port")
    return host.strip("[]"), int(port)


def run_checks(checks: Mapping[str, Check], exclude: set[str] | None = None) -> list[tuple[str, str | None]]:
    """Run every check not excluded; ``(name, None)`` when it passed, ``(name, reason)`` when not."""
    out: list[tuple[str, str | None]] = []
    for name, check in list(checks.items()):  # a copy: checks may be added while serving
        if exclude and name in exclude:
            continue
        try:
            ok = check()
        except Exception as err:
            out.append((name, str(err) or type(err).__name__))
            continue
        out.append((name, "check returned False" if ok is False else None))
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        path = url.path.rstrip("/") or "/"
        if path == "/metrics" and self.server.serve_metrics:
            self._send(HTTPStatus.OK, metrics.render(), METRICS_CONTENT_TYPE)
            return
        endpoint, _, single = path.lstrip("/").partition("/")
        checks = self.server.endpoints.get(endpoint)
        if checks is None:
            self._send(HTTPStatus.NOT_FOUND, b"404 page not found\n")
            return
        if single:
            check = checks.get(single)
            if check is None:
                self._send(HTTPStatus.NOT_FOUND, b"404 page not found\n")
                return
            ((_, reason),) = run_checks({single: check})
            if reason is None:
                self._send(HTTPStatus.OK, b"ok")
            else:
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal server error: {reason}\n".encode())
            return
        exclude = {x for v in query.get("exclude", []) for x in v.split(",") if x}
        results = run_checks(checks, exclude)
        failed = any(reason is not None for _, reason in results)
        if not failed and "verbose" not in query:
            self._send(HTTPStatus.OK, b"ok")
            return
        lines = [f"[+]{name} ok" if reason is None else f"[-]{name} failed: {reason}" for name, reason in results]
        lines.extend(f"[+]{name} excluded: ok" for name in sorted(exclude & set(checks)))
        lines.append(f"{endpoint} check {'failed' if failed else 'passed'}")
        body = ("\n".join(lines) + "\n").encode()
        self._send(HTTPStatus.INTERNAL_SERVER_ERROR if failed else HTTPStatus.OK, body)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.trace("probe {} " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    endpoints: dict[str, Mapping[str, Check]]
    serve_metrics: bool


class ProbeServer:
    """A threaded HTTP server for some of ``/healthz``, ``/readyz`` and ``/metrics``.

    The check mappings are read on every request, so checks added after start are served."""

    def __init__(
        self,
        bind_address: str,
        *,
        healthz: Mapping[str, Check] | None = None,
        readyz: Mapping[str, Check] | None = None,
        serve_metrics: bool = False,
    ) -> None:
        address = parse_bind_address(bind_address)
        if address is None:
            raise ValueError("bind address disables the server; do not create one")
        self._server = _Server(address, _Handler, bind_and_activate=True)
        self._server.endpoints = {}
        if healthz is not None:
            self._server.endpoints["healthz"] = healthz
        if readyz is not None:
            self._server.endpoints["readyz"] = readyz
        self._server.serve_metrics = serve_metrics
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when the address asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` to reach the server (loopback when bound to all interfaces)."""
        host = str(self._server.server_address[0])
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"probes-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()
