"""HTTPS for the emulator (``KubeApiServer(tls=True)``): kubectl sends bearer tokens only over TLS.

client-go's kubeconfig loader drops every credential of a plain-``http://`` cluster, so RBAC tests
that run kubectl as a ServiceAccount need a TLS endpoint. The certificate comes from a CA made at
start-up (the NSX simulator's PKI helper); its PEM goes into the kubeconfig, so verification stays on.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import sys
import tempfile
from pathlib import Path
from socketserver import TCPServer
from typing import Any

from sim.nsx.tls import Pki


class _PeekableSSLSocket(ssl.SSLSocket):
    """``recv(n, MSG_PEEK)`` answers "has the peer closed?" as on a plain socket (watch streams
    and the aggregation proxy ask it; ``SSLSocket`` refuses flags): non-empty while data is
    pending, empty only at EOF of the underlying connection."""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if flags == socket.MSG_PEEK:
            if self.pending():
                return b"\0"
            return socket.socket.recv(self, buflen, flags)
        return super().recv(buflen, flags)


def serve_tls(httpd: TCPServer, host: str) -> bytes:
    """Wrap the listening socket; returns the CA certificate (PEM) clients must trust.

    The handshake runs in the connection's own thread on its first read
    (``do_handshake_on_connect=False``), so a slow client cannot stall ``accept``."""
    directory = Path(tempfile.mkdtemp(prefix="kubeapi-tls-"))
    try:
        pki = Pki(directory, host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert_file, pki.server_key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.sslsocket_class = _PeekableSSLSocket
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        _quiet_tls_errors(httpd)
        return pki.ca_file.read_bytes()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _quiet_tls_errors(httpd: TCPServer) -> None:
    """A client that drops a TLS connection mid-record (at shutdown, say) is no server error."""
    report = httpd.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ssl.SSLError):
            report(request, client_address)

    httpd.handle_error = handle_error  # type: ignore[method-assign]
