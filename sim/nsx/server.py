"""HTTP(S) mechanics: a threaded ``http.server`` with TCP_NODELAY, TLS per connection, keep-alive.

``http.server`` + ``ssl`` is enough here (no extra dependency): one thread per connection, the TLS
handshake done in that thread (so a slow client cannot stall ``accept``), every request answered with a
Content-Length so keep-alive works. The per-request pipeline (auth, limits, faults, dispatch) lives in
:class:`sim.nsx.app.NsxApp`; this module only moves bytes and can reset a connection on purpose.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from sim.nsx.routing import Request, Response
from sim.nsx.tls import der_thumbprint


class App(Protocol):
    ssl_context: ssl.SSLContext | None

    def unreachable(self) -> bool: ...

    def handle(self, req: Request) -> Response | None: ...


class _Drop(Exception):
    """Raised to reset the connection without answering."""


class NsxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, addr: tuple[str, int], app: App) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def close_all_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


def reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the client sees 'connection reset', like a crashed manager."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NSX"
    sys_version = ""
    timeout = 120
    server: NsxHTTPServer

    def setup(self) -> None:
        self._broken = False
        self._thumb: str | None = None
        raw: socket.socket = self.request
        with self.server.conn_lock:
            self.server.connections.add(raw)
        self._raw = raw
        if self.server.app.unreachable():
            self._broken = True
            reset(raw)
            self.rfile = self.wfile = None  # type: ignore[assignment]
            return
        ctx = self.server.app.ssl_context
        if ctx is not None:
            try:
                raw.settimeout(10)
                tls = ctx.wrap_socket(raw, server_side=True)
                der = tls.getpeercert(binary_form=True)
                self._thumb = der_thumbprint(der) if der else None
                self.request = tls
                # wrap_socket detached ``raw``: track the TLS socket so stop() can close it.
                with self.server.conn_lock:
                    self.server.connections.discard(raw)
                    self.server.connections.add(tls)
                self._raw = tls
            except (OSError, ssl.SSLError):
                self._broken = True
                reset(raw)
                self.rfile = self.wfile = None  # type: ignore[assignment]
                return
        super().setup()

    def handle(self) -> None:
        if self._broken:
            return
        try:
            super().handle()
        except (_Drop, OSError, ssl.SSLError):
            self.close_connection = True

    def finish(self) -> None:
        if not self._broken:
            with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                super().finish()
        with self.server.conn_lock:
            self.server.connections.discard(self._raw)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        req = Request(self.command, parts.path, query, self.headers, body, peer_thumbprint=self._thumb)
        resp = self.server.app.handle(req)
        if resp is None:  # the app asked for a reset
            reset(self.request)
            raise _Drop()
        data = resp.encode()
        self.send_response(resp.status)
        if data or resp.body is not None:
            self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
