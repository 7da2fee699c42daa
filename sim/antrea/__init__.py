"""An Antrea controller/agents stand-in for tests and the demo.

It talks to the (emulated or real) API server through the official client only, and never imports
product code, so it judges the adapter the way a real Antrea would: by the objects in the cluster.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from kubernetes import config

from sim.antrea.monitoring import DEFAULT_HEARTBEAT_INTERVAL, Monitoring
from sim.antrea.realizer import PolicyFault, Realizer
from sim.antrea.stats import PolicyStats
from sim.antrea.traceflow import TraceflowRunner

__all__ = ["AntreaSimulator", "PolicyFault"]


class AntreaSimulator:
    """Realizes Antrea policies and ClusterGroups in the cluster named by ``kubeconfig``;
    heartbeats ``AntreaControllerInfo``/``AntreaAgentInfo`` every ``heartbeat_interval`` seconds
    (60 s in Antrea; tests pass less); serves ``stats.antrea.io`` policy statistics refreshed every
    ``stats_interval`` seconds (None: only on demand); runs Traceflows."""

    def __init__(self, kubeconfig: str | Path, *, realization_delay: float = 0.5,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 stats_interval: float | None = 60.0, traceflow_run_time: float = 0.3) -> None:
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self.realizer = Realizer(self._api, realization_delay=realization_delay)
        self.monitoring = Monitoring(self._api, heartbeat_interval=heartbeat_interval)
        self.stats = PolicyStats(self._api, interval=stats_interval)
        self.traceflow = TraceflowRunner(self._api, run_time=traceflow_run_time)

    def start(self, timeout: float = 10.0) -> AntreaSimulator:
        self.realizer.start(timeout)
        self.monitoring.start(timeout)
        self.stats.start(timeout)
        self.traceflow.start(timeout)
        return self

    def stop(self) -> None:
        self.traceflow.stop()
        self.stats.stop()
        self.monitoring.stop()
        self.realizer.stop()
        self._api.close()

    # -- monitoring (antrea.md §4.3) -------------------------------------------------------------
    def stop_agent(self, node: str) -> None:
        """The agent on ``node`` stops heartbeating; its AntreaAgentInfo goes stale."""
        self.monitoring.stop_agent(node)

    def resume_agent(self, node: str) -> None:
        self.monitoring.resume_agent(node)

    def set_agent_condition(self, node: str, type_: str, status: str) -> None:
        """Force an agent condition (``OVSDBConnectionUp`` ``False`` …), reported at once."""
        self.monitoring.set_agent_condition(node, type_, status)

    def clear_agent_conditions(self, node: str) -> None:
        self.monitoring.clear_agent_conditions(node)

    def stop_controller(self) -> None:
        """antrea-controller stops heartbeating; agents report ``ControllerConnectionUp=False``."""
        self.monitoring.stop_controller()

    def resume_controller(self) -> None:
        """antrea-controller comes back; like a restarted controller, its stats counters restart."""
        self.monitoring.resume_controller()
        self.stats.reset()

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
