"""An Antrea controller/agents stand-in for tests and the demo.

It talks to the (emulated or real) API server through the official client only, and never imports
product code, so it judges the adapter the way a real Antrea would: by the objects in the cluster
and by Antrea's own APIs.

Modules: ``realizer`` (policy and group status), ``monitoring`` (AntreaControllerInfo /
AntreaAgentInfo heartbeats), ``stats``, ``traceflow``; antrea-controller's aggregated API —
``apiserver`` (HTTP side and APIService registration), ``system_api`` (supportbundles,
controllerinfos), ``controlplane_api`` (internal NetworkPolicies and their realization); each
agent's API (``agent_api``, supportbundles over TLS, callers checked by ``delegated_auth``).
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client, config

from sim.antrea import controlplane_api, system_api
from sim.antrea.agent_api import AgentApis
from sim.antrea.apiserver import AntreaApiServer, register_aggregated_api
from sim.antrea.controlplane_api import ControlPlane
from sim.antrea.delegated_auth import Access, DelegatedAuth
from sim.antrea.monitoring import DEFAULT_HEARTBEAT_INTERVAL, Monitoring
from sim.antrea.realizer import PolicyFault, Realizer
from sim.antrea.stats import PolicyStats
from sim.antrea.system_api import ControllerInfos, SupportBundles, json_file
from sim.antrea.traceflow import TraceflowRunner

__all__ = ["AntreaSimulator", "PolicyFault"]


class AntreaSimulator:
    """Realizes Antrea policies and ClusterGroups in the cluster named by ``kubeconfig``;
    heartbeats ``AntreaControllerInfo``/``AntreaAgentInfo`` every ``heartbeat_interval`` seconds
    (60 s in Antrea; tests pass less); serves ``stats.antrea.io`` policy statistics refreshed every
    ``stats_interval`` seconds (None: only on demand); runs Traceflows.

    With ``aggregated_api`` (the default) it also serves antrea-controller's aggregated API —
    ``system.antrea.io/v1beta1`` (supportbundles ``controller``, controllerinfos) and
    ``controlplane.antrea.io/v1beta2`` (internal networkpolicies and their realization) — registered
    with the API server through the Service ``kube-system/antrea`` and its APIServices, and one agent
    API server per Node (supportbundles ``agent``) whose port and CA its AntreaAgentInfo carries.
    ``bundle_collect_time``: seconds a support bundle stays ``Collecting``."""

    def __init__(self, kubeconfig: str | Path, *, realization_delay: float = 0.5,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 stats_interval: float | None = 60.0, traceflow_run_time: float = 0.3,
                 aggregated_api: bool = True, bundle_collect_time: float = 0.2) -> None:
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self.aggregated_api = aggregated_api
        self.registered = False
        """Whether the aggregated API is registered with the API server (see ``register_aggregated_api``)."""
        self.realizer = Realizer(self._api, realization_delay=realization_delay)
        self.delegated_auth = DelegatedAuth(self._api)
        self.agent_apis = AgentApis(self._agent_bundle_files, bundle_collect_time, auth=self._check_caller)
        self.monitoring = Monitoring(self._api, heartbeat_interval=heartbeat_interval,
                                     agent_endpoint=self.agent_apis.endpoint if aggregated_api else None)
        self.stats = PolicyStats(self._api, interval=stats_interval)
        self.traceflow = TraceflowRunner(self._api, run_time=traceflow_run_time)
        self.controlplane = ControlPlane(self._api, realization_delay=realization_delay)
        self.controller_bundles = SupportBundles("controller", self._controller_bundle_files, bundle_collect_time)
        self.controller_api = AntreaApiServer("controller")
        system_api.serve(self.controller_api.group(system_api.GROUP, system_api.VERSION), self.controller_bundles,
                         ControllerInfos(self._controller_info))
        self.controlplane.serve(self.controller_api.group(controlplane_api.GROUP, controlplane_api.VERSION))

    def start(self, timeout: float = 10.0) -> AntreaSimulator:
        self.realizer.start(timeout)
        if self.aggregated_api:
            self.controlplane.start(timeout)
            self.controller_api.start()
            self.registered = register_aggregated_api(self._api, self.controller_api.port, [
                (system_api.GROUP, system_api.VERSION), (controlplane_api.GROUP, controlplane_api.VERSION)])
            if not self.registered:
                warnings.warn("kube-system/antrea belongs to a real Antrea: the stand-in's aggregated API is "
                              "served but not registered", RuntimeWarning, stacklevel=2)
        self.monitoring.start(timeout)
        self.stats.start(timeout)
        self.traceflow.start(timeout)
        return self

    def stop(self) -> None:
        self.traceflow.stop()
        self.stats.stop()
        self.monitoring.stop()
        self.controller_api.stop()
        self.agent_apis.close()
        self.controlplane.stop()
        self.realizer.stop()
        self._api.close()

    def _check_caller(self, token: str, verb: str, group: str, version: str, resource: str, subresource: str,
                      name: str) -> str:
        return self.delegated_auth.check(token, Access(verb, group, version, resource, subresource, name))

    # -- aggregated API contents (antrea.md §5.3) -----------------------------------------------
    def _controller_info(self) -> dict[str, Any] | None:
        try:
            info = client.CustomObjectsApi(self._api).get_cluster_custom_object(
                "crd.antrea.io", "v1beta1", "antreacontrollerinfos", "antrea-controller")
            return info if isinstance(info, dict) else None
        except client.ApiException:
            return None

    def _controller_bundle_files(self, since: int | None) -> dict[str, bytes]:
        policies = self.controlplane.policies()
        stamp = datetime.now(UTC).isoformat()
        logs = (f"{stamp} I antrea-controller: support bundle requested (since={since}s)\n"
                f"{stamp} I antrea-controller: {len(policies)} internal NetworkPolicies\n")
        return {"logs/antrea-controller.log": logs.encode(),
                "controllerinfo.json": json_file(self._controller_info() or {}),
                "networkpolicies.json": json_file(policies)}

    def _agent_bundle_files(self, node: str, since: int | None) -> dict[str, bytes]:
        policies = [p for p in self.controlplane.policies()
                    if any(n.get("nodeName") == node for n in p["status"].get("nodes") or [])]
        stamp = datetime.now(UTC).isoformat()
        return {"logs/antrea-agent.log": f"{stamp} I antrea-agent {node}: support bundle (since={since}s)\n".encode(),
                "agentinfo.json": json.dumps({"node": node}).encode(),
                "networkpolicies.json": json_file(policies),
                "ovs/flows.txt": f"cookie=0x0, table=0, priority=0 actions=drop  # {node}\n".encode()}

    # -- agent APIs and realization of K8s NetworkPolicies (antrea.md §2.7, §5.3) ----------------
    def stop_agent_api(self, node: str) -> None:
        """Only the agent's API server on ``node`` stops (its bundle cannot be fetched)."""
        self.agent_apis.stop(node)

    def start_agent_api(self, node: str) -> None:
        self.agent_apis.start(node)

    def fail_network_policy(self, namespace: str, name: str, node: str,
                            message: str = "injected realization failure") -> None:
        """The agent on ``node`` fails to realize the K8s NetworkPolicy ``namespace/name``."""
        self.controlplane.fail_policy(name, node, message, namespace)

    def clear_network_policy_fault(self, namespace: str, name: str) -> None:
        self.controlplane.clear_fault(name, namespace)

    # -- monitoring (antrea.md §4.3) -------------------------------------------------------------
    def stop_agent(self, node: str) -> None:
        """The agent on ``node`` dies: it stops heartbeating (its AntreaAgentInfo goes stale), its
        API refuses connections and it realizes no policy change."""
        self.monitoring.stop_agent(node)
        self.agent_apis.stop(node)
        self.controlplane.silence_agent(node)

    def resume_agent(self, node: str) -> None:
        self.agent_apis.start(node)
        self.controlplane.silence_agent(node, silent=False)
        self.monitoring.resume_agent(node)

    def set_agent_condition(self, node: str, type_: str, status: str) -> None:
        """Force an agent condition (``OVSDBConnectionUp`` ``False`` …), reported at once."""
        self.monitoring.set_agent_condition(node, type_, status)

    def clear_agent_conditions(self, node: str) -> None:
        self.monitoring.clear_agent_conditions(node)

    def stop_controller(self) -> None:
        """antrea-controller stops heartbeating (agents report ``ControllerConnectionUp=False``) and
        its aggregated API stops answering (the API server then answers 503)."""
        self.monitoring.stop_controller()
        self.controller_api.stop()

    def resume_controller(self) -> None:
        """antrea-controller comes back; like a restarted controller, its stats counters restart."""
        if self.aggregated_api:
            self.controller_api.start()
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
