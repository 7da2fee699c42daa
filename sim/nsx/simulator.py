"""``NsxSimulator``: start an NSX Manager simulator in-process (or via ``python -m sim.nsx``).

Everything a test needs is on the instance: ``url``, ``ca_file``, ``thumbprint``, credentials,
``issue_client_certificate`` for principal identities, ``faults`` and ``state``.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from sim.nsx.app import NsxApp
from sim.nsx.auth import Authenticator, PrincipalIdentities, Sessions
from sim.nsx.channel import ChannelState
from sim.nsx.faults import Faults
from sim.nsx.inventory import Inventory
from sim.nsx.policy_store import PolicyStore
from sim.nsx.seed import apply_seed, seed_defaults
from sim.nsx.server import NsxHTTPServer
from sim.nsx.state import SimState
from sim.nsx.tls import Pki, trust_pem


class NsxSimulator:
    """An NSX Manager over real HTTP(S) on a loopback port."""

    def __init__(
        self,
        tls: bool = True,
        username: str = "admin",
        password: str | None = None,
        seed: dict[str, Any] | str | Path | None = None,
        rate_limit_rps: float = 100.0,
        max_concurrent: int = 40,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        *,
        session_timeout: float = 1800.0,
        default_layer3_id: str = "default-layer3-section",
        support_bundle_wait: float = 30.0,
    ) -> None:
        self.tls = tls
        self.username = username
        self.password_generated = password is None
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.host = host
        self._port = port
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="nsx-sim-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._own_dir:  # kept across stop()/start() (a restart keeps the CA), removed with the object
            weakref.finalize(self, shutil.rmtree, str(self.data_dir), True)
        self._pki = Pki(self.data_dir / "pki", host)
        self.ca_file: Path = self._pki.ca_file
        self.thumbprint: str = self._pki.thumbprint
        self._ssl = self._pki.server_context() if tls else None

        self.store = PolicyStore()
        seed_defaults(self.store, default_layer3_id)
        if seed is not None:
            apply_seed(self.store, seed)
        self.inventory = Inventory()
        self.channel = ChannelState(self.store, lambda: {ext: name for ext, name in self.inventory.aliases().items()})
        self.store.on_commit.append(self.channel.on_commit)
        self.faults = Faults()
        sessions = Sessions(timeout=session_timeout)
        self.faults._expire_hook = sessions.expire_all
        identities = PrincipalIdentities(on_trust=self._trust)
        self._auth = Authenticator(username, self.password, sessions, identities)
        self._app = NsxApp(store=self.store, inventory=self.inventory, channel=self.channel, auth=self._auth,
                           faults=self.faults, rate_limit_rps=rate_limit_rps, max_concurrent=max_concurrent,
                           ssl_context=self._ssl)
        self._app.manager_api.support_bundle_wait = support_bundle_wait
        self._app.manager_api.secure_cookies = tls
        self.state = SimState(self._app)
        self._server: NsxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> NsxSimulator:
        if self._server is not None:
            return self
        self.channel.stopping = False
        self._app.stop_event.clear()
        self._server = NsxHTTPServer((self.host, self._port), self._app)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"nsx-sim-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (open connections are closed). State is kept: ``start()`` again resumes on the
        same port, like a manager coming back after an outage."""
        if self._server is None:
            return
        self.channel.stop()
        self._app.stop_event.set()
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> NsxSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._port}"

    # ------------------------------------------------------------------ identities
    def _trust(self, pem: str) -> None:
        if self._ssl is not None:
            trust_pem(self._ssl, pem)

    def issue_client_certificate(self, name: str) -> tuple[Path, Path]:
        """(cert PEM path, key PEM path) of a client certificate with CN ``name``, signed by the sim CA."""
        return self._pki.issue_client_certificate(name)

    def register_principal_identity(self, name: str, cert_pem: str | Path, role: str = "enterprise_admin",
                                    node_id: str | None = None, is_protected: bool = True) -> dict[str, Any]:
        """Create a PI as ``POST …/principal-identities/with-certificate`` would (``cert_pem``: text or path)."""
        pem = Path(cert_pem).read_text() if isinstance(cert_pem, Path) or (
            isinstance(cert_pem, str) and "BEGIN CERTIFICATE" not in cert_pem) else str(cert_pem)
        body = {"name": name, "node_id": node_id or name, "certificate_pem": pem, "is_protected": is_protected,
                "roles_for_paths": [{"path": "/", "roles": [{"role": role}]}]}
        return self._auth.identities.create_with_certificate(body, self.username)

    # ------------------------------------------------------------------ NSX-initiated requests
    def request_log_collection(self, cluster_id: str, components: list[str] | None = None,
                               since_seconds: int = 3600, nodes: list[str] | None = None) -> str:
        """Queue a LOG_COLLECTION request for a cluster (stands in for NSX-RPC); returns the request id."""
        cid = self.channel.resolve_cluster(cluster_id)
        if cid is None:
            raise KeyError(f"cluster {cluster_id} is not registered")
        payload = {"nodes": nodes or [], "components": components or ["mp-adapter", "ccp-adapter"],
                   "since_seconds": since_seconds}
        return self.channel.enqueue(cid, "LOG_COLLECTION", payload)

    def request_support_bundle(self, cluster_id: str, nodes: list[str] | None = None) -> str:
        """Queue a SUPPORT_BUNDLE request without blocking (the REST collect call waits for the result)."""
        cid = self.channel.resolve_cluster(cluster_id)
        if cid is None:
            raise KeyError(f"cluster {cluster_id} is not registered")
        return self.channel.enqueue(cid, "SUPPORT_BUNDLE", {"nodes": nodes or [], "log_age_limit": None,
                                                           "content_filters": ["DEFAULT"]})

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        return self.state.count_requests(method, path)
