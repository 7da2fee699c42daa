"""An Antrea controller/agents stand-in for tests and the demo.

It talks to the (emulated or real) API server through the official client only, and never imports
product code, so it judges the adapter the way a real Antrea would: by the objects in the cluster.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from kubernetes import config

from sim.antrea.realizer import PolicyFault, Realizer

__all__ = ["AntreaSimulator", "PolicyFault"]


class AntreaSimulator:
    """Realizes Antrea policies and ClusterGroups in the cluster named by ``kubeconfig``."""

    def __init__(self, kubeconfig: str | Path, *, realization_delay: float = 0.5) -> None:
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self.realizer = Realizer(self._api, realization_delay=realization_delay)

    def start(self, timeout: float = 10.0) -> AntreaSimulator:
        self.realizer.start(timeout)
        return self

    def stop(self) -> None:
        self.realizer.stop()
        self._api.close()

    def fail_policy(self, name: str, message: str = "injected realization failure",
                    nodes: list[str] | None = None, namespace: str = "") -> None:
        """The policy's next realization ends ``Failed`` with a ``RealizationFailure`` condition."""
        self.realizer.fail_policy(name, message, nodes, namespace)

    def stall_policy(self, name: str, namespace: str = "") -> None:
        """The policy stays ``Realizing`` (for realization-timeout tests)."""
        self.realizer.stall_policy(name, namespace)

    def clear_fault(self, name: str, namespace: str = "") -> None:
        self.realizer.clear_fault(name, namespace)

    def __enter__(self) -> AntreaSimulator:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
