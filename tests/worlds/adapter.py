"""An adapter process-equivalent for end-to-end tests: its own clients and a Manager in a thread, so
a test can run several (replicas, a restart) against one world and stop each cleanly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Self

from nsx.client import NsxClient
from nsx.transport import RetryPolicy, Timeout
from reconciler.client import KubeClient
from reconciler.manager import Manager, ManagerOptions
from sim.nsx import NsxSimulator
from tests.worlds.nsx import adapter_nsx_client

STOP_TIMEOUT = 15.0
"""Generous: a manager stops in well under a second, but CI machines are shared."""


class ManagerThread:
    """A Manager with its own Kubernetes client (from ``kubeconfig``: admin or a ServiceAccount) and
    NSX client. Wire controllers onto :attr:`manager` / :attr:`nsx` before :meth:`start`; use as a
    context manager, or :meth:`start` and :meth:`stop` (idempotent: a test may stop a replica early
    and the fixture stop it again)."""

    def __init__(self, kubeconfig: str | Path, sim: NsxSimulator, options: ManagerOptions | None = None, *,
                 kube_qps: float | None = None, nsx_retry: RetryPolicy | None = None,
                 nsx_timeout: Timeout | None = None) -> None:
        self.kube = (KubeClient.from_kubeconfig(kubeconfig) if kube_qps is None
                     else KubeClient.from_kubeconfig(kubeconfig, qps=kube_qps))
        self.nsx: NsxClient = adapter_nsx_client(sim, retry=nsx_retry, timeout=nsx_timeout)
        self.manager = Manager(self.kube, options or ManagerOptions())
        self.thread = threading.Thread(target=self.manager.start, daemon=True)
        self._closed = False

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop the manager, check its thread ended, and close the clients."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.thread.is_alive():
                self.manager.stop()
                self.thread.join(STOP_TIMEOUT)
                assert not self.thread.is_alive(), f"the manager did not stop within {STOP_TIMEOUT} s"
        finally:
            self.nsx.close()
            self.kube.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
