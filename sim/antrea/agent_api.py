"""Each antrea-agent's own API server (port 10350 in Antrea), serving ``system.antrea.io`` supportbundles
with the name ``agent`` (antrea.md §5.3, §7).

A real agent listens on its Node's address with a self-signed certificate it publishes, base64 PEM,
as ``apiCABundle`` of its ``AntreaAgentInfo`` next to ``apiPort``; clients (antctl, the adapter) dial
``<node InternalIP>:<apiPort>``, verify the server with that bundle and send a ServiceAccount token.
The stand-in does the same on one machine: each agent listens on its Node's ``InternalIP`` when that
is a loopback address (``127.0.0.2``… all reach this host), on ``127.0.0.1`` otherwise (then only
the port tells agents apart and a client dialling the Node's real address fails, as it would when
the address is unreachable), on a free port, over TLS with its own self-signed certificate (valid
for that IP and ``localhost``), checking callers' tokens with the API server (:mod:`sim.antrea.delegated_auth`).

Agents are started when the monitoring writes their first ``AntreaAgentInfo`` (:meth:`AgentApis.endpoint`)
and can be stopped and restarted per Node (on the same port).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sim.antrea.apiserver import AntreaApiServer, Authorize
from sim.antrea.system_api import GROUP, VERSION, SupportBundles, serve

Contents = Callable[[str, int | None], dict[str, bytes]]
"""Files of a Node's agent bundle, given the Node name and ``since`` in seconds."""


def self_signed(ip: str, common_name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM), valid for ``ip`` and ``localhost`` for one day (Antrea's agent
    certificate is self-signed too; its PEM is the CA bundle clients trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def bind_address(node: Mapping[str, Any]) -> str:
    """The Node's InternalIP when it is a loopback address, else 127.0.0.1."""
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            try:
                if ipaddress.ip_address(str(addr.get("address"))).is_loopback:
                    return str(addr["address"])
            except ValueError:
                continue
    return "127.0.0.1"


class AgentApis:
    """One API server per Node's agent; see the module docstring."""

    def __init__(self, contents: Contents, collect_time: float = 0.2, auth: Authorize | None = None) -> None:
        """``auth``: how agents check callers' tokens (delegated to the API server)."""
        self._contents = contents
        self._auth = auth
        self.collect_time = collect_time
        self._lock = threading.Lock()
        self._servers: dict[str, AntreaApiServer] = {}
        self._bundles: dict[str, SupportBundles] = {}
        self._ca: dict[str, bytes] = {}
        self._stopped: set[str] = set()
        self._dir = tempfile.TemporaryDirectory(prefix="antrea-sim-agents-")

    def endpoint(self, node: Mapping[str, Any]) -> tuple[int, bytes]:
        """(apiPort, CA bundle PEM) of the Node's agent, starting its server the first time."""
        name = str(node["metadata"]["name"])
        with self._lock:
            server = self._servers.get(name)
            if server is None:
                host = bind_address(node)
                cert, key = self_signed(host, f"antrea-agent-{name}")
                cert_file, key_file = Path(self._dir.name, f"{name}.crt"), Path(self._dir.name, f"{name}.key")
                cert_file.write_bytes(cert)
                key_file.write_bytes(key)
                key_file.chmod(0o600)
                server = AntreaApiServer(f"agent-{name}", host, 0, tls=(str(cert_file), str(key_file)),
                                         auth=self._auth)
                bundles = SupportBundles("agent", _bound(self._contents, name), self.collect_time)
                serve(server.group(GROUP, VERSION), bundles)
                self._servers[name], self._bundles[name], self._ca[name] = server, bundles, cert
                if name not in self._stopped:
                    server.start()
            return server.port, self._ca[name]

    def stop(self, node: str) -> None:
        """The agent's API goes away: connections to it are refused."""
        with self._lock:
            self._stopped.add(node)
            server = self._servers.get(node)
        if server is not None:
            server.stop()

    def start(self, node: str) -> None:
        with self._lock:
            self._stopped.discard(node)
            server = self._servers.get(node)
        if server is not None:
            server.start()

    def bundles(self, node: str) -> SupportBundles | None:
        with self._lock:
            return self._bundles.get(node)

    def server(self, node: str) -> AntreaApiServer | None:
        with self._lock:
            return self._servers.get(node)

    def close(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
        for server in servers:
            server.stop()
        self._dir.cleanup()


def _bound(contents: Contents, node: str) -> Callable[[int | None], dict[str, bytes]]:
    def files(since: int | None) -> dict[str, bytes]:
        return contents(node, since)
    return files
