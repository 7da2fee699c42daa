"""``KubeApiServer``: the emulated kube-apiserver as an object tests start, poke and stop.

stdlib ``ThreadingHTTPServer`` (one thread per keep-alive connection) was chosen over an async
framework because the official client and kubectl open few connections and block on each
response; threads keep watch streams and request handling simple and the server dependency-free.
"""

from __future__ import annotations

import base64
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from . import meta
from .aggregation import Aggregator
from .auth import AllowAll, Authenticator, Authorizer
from .controllers import Controllers
from .faults import Faults, RequestLog, RequestRecord
from .handler import KubeHandler
from .rbac import RbacAuthorizer, seed_bootstrap_policy
from .registry import Registry
from .state import State
from .storage import Store
from .tls import serve_tls
from .tokens import ADMIN_TOKEN, TokenAuthenticator

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class KubeApiServer:
    """An emulated kube-apiserver on loopback (random free port by default).

    ::

        with KubeApiServer() as srv:
            srv.write_kubeconfig(tmp / "kubeconfig")
            srv.faults.fail_next(1, 503, method="POST")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, bookmark_interval: float = 1.0,
                 history_size: int = 20000, authenticator: Authenticator | None = None,
                 authorizer: Authorizer | None = None, rbac: bool = False, tls: bool = False) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.tls = tls
        self.ca_pem = b""  # with tls: the CA clients trust (in write_kubeconfig's output)
        self.state = State(Store(history_size), Registry())
        self.authenticator: Authenticator = authenticator or TokenAuthenticator(self.state)
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.controllers = Controllers(self.state)
        self.aggregator = Aggregator(self.state)
        self.faults = Faults(self.state.store.compact, self._drop_watches)
        self._log = RequestLog()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.stopping = False
        self._seed()
        if rbac:
            self.enable_rbac()

    def _seed(self) -> None:
        store = self.state.store
        for name in DEFAULT_NAMESPACES:
            store.commit(("", "namespaces"), {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": meta.new_uid(), "creationTimestamp": meta.now_rfc3339(),
                             "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, "ADDED")

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> KubeApiServer:
        if self._httpd is not None:
            return self
        handler = type("BoundKubeHandler", (KubeHandler,), {"kube": self})
        self.stopping = False
        self._httpd = _HTTPServer((self.host, self._requested_port), handler)
        self.port = self._httpd.server_address[1]
        if self.tls:
            self.ca_pem = serve_tls(self._httpd, self.host)
        self.controllers.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"kubeapi-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping = True
        self._drop_watches()
        self.aggregator.close_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.controllers.stop()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _track(self, conn: Any, opened: bool) -> None:
        with self._conns_lock:
            if opened:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _drop_watches(self) -> int:
        watchers = self.state.store.all_watchers()
        for watcher in watchers:
            watcher.close()
        return len(watchers)

    # -- what tests use -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def enable_rbac(self) -> None:
        """Enforce RBAC from the stored Roles and bindings (rbac.py); the admin token keeps
        ``system:masters``, unknown tokens get 401 from now on, the default bootstrap roles appear."""
        seed_bootstrap_policy(self.state.store)
        if isinstance(self.authenticator, TokenAuthenticator):
            self.authenticator.strict = True
        self.authorizer = RbacAuthorizer(self.state.store)

    def create_token(self, namespace: str, service_account: str, expiration_seconds: int = 3600) -> str:
        """A ServiceAccount token, as ``kubectl create token`` gets one (tokens.py)."""
        if not isinstance(self.authenticator, TokenAuthenticator):
            raise TypeError("tokens are minted by the default authenticator only")
        return self.authenticator.mint(namespace, service_account, expiration_seconds)[0]

    def write_kubeconfig(self, path: str | Path, namespace: str = "default", token: str | None = None) -> Path:
        """A kubeconfig whose context, cluster and user are all named ``envtest``; the admin's
        unless ``token`` (e.g. from :meth:`create_token`) is given."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "envtest", "cluster": {"server": self.url, **(
                {"certificate-authority-data": base64.b64encode(self.ca_pem).decode()} if self.tls else {})}}],
            "users": [{"name": "envtest", "user": {"token": token or ADMIN_TOKEN}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "envtest",
                                                         "namespace": namespace}}],
            "current-context": "envtest",
        }
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)
        return target

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        return self._log.count(method, path)

    def clear_requests(self) -> None:
        self._log.clear()
