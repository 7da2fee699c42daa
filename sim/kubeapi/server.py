"""``KubeApiServer``: the emulated kube-apiserver as an object tests start, poke and stop.

stdlib ``ThreadingHTTPServer`` (one thread per keep-alive connection) was chosen over an async
framework because the official client and kubectl open few connections and block on each
response; threads keep watch streams and request handling simple and the server dependency-free.
"""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from . import meta
from .auth import AcceptAnyToken, AllowAll, Authenticator, Authorizer
from .controllers import Controllers
from .faults import Faults, RequestLog, RequestRecord
from .handler import KubeHandler
from .registry import Registry
from .state import State
from .storage import Store

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
                 authorizer: Authorizer | None = None) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.authenticator: Authenticator = authenticator or AcceptAnyToken()
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.state = State(Store(history_size), Registry())
        self.controllers = Controllers(self.state)
        self.faults = Faults(self.state.store.compact, self._drop_watches)
        self._log = RequestLog()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.stopping = False
        self._seed()

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
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig whose context, cluster and user are all named ``envtest``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "envtest", "cluster": {"server": self.url}}],
            "users": [{"name": "envtest", "user": {"token": "envtest-admin"}}],
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
