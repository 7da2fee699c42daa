"""Writes the monitoring CRDs the way antrea-controller and antrea-agent do (antrea.md §4).

Real Antrea keeps two kinds of heartbeat objects up to date:

- antrea-controller updates the single ``AntreaControllerInfo`` named ``antrea-controller`` every
  60 s (``ControllerHealthy`` with ``lastHeartbeatTime``, ``connectedAgentNum``, policy counters);
  the first write is a full one (version, refs, apiPort), later ones only counters and conditions.
  It also creates an empty ``AntreaAgentInfo`` per Node, deletes it with the Node, and purges stale
  ones when it starts.
- each antrea-agent fills its own ``AntreaAgentInfo`` (name = Node name) every 60 s:
  ``agentConditions`` (``AgentHealthy``, ``ControllerConnectionUp``, ``OVSDBConnectionUp``,
  ``OpenflowConnectionUp``), ``nodeSubnets``, ``localPodNum``, OVS and policy counters.

The adapter's health reporting judges liveness by the age of ``lastHeartbeatTime``, so the
stand-in's job is to keep writing those on a (configurable) period, and to let tests make one agent
or the controller fall silent (``stop_agent`` / ``stop_controller``) or report a broken connection
(``set_agent_condition``). While the controller is stopped, running agents report
``ControllerConnectionUp=False`` at their next heartbeat, as real agents whose watch broke do.

Deviations, kept small on purpose: a test hook (resume, condition change) triggers the affected
heartbeat at once instead of at the next tick, so tests need not wait a full period; the controller
counts only ``networkPolicyNum`` (ACNPs + ANNPs; the address/appliedTo group counters are internal
objects the stand-in does not model and read 0).
"""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from sim.antrea._watch import WatchLoop

GROUP = "crd.antrea.io"
VERSION = "v1beta1"
CONTROLLER_PLURAL = "antreacontrollerinfos"
AGENT_PLURAL = "antreaagentinfos"
CONTROLLER_NAME = "antrea-controller"
AGENT_CONDITIONS = ("AgentHealthy", "ControllerConnectionUp", "OVSDBConnectionUp", "OpenflowConnectionUp")
CONDITION_STATUSES = ("True", "False", "Unknown")
DEFAULT_VERSION = "v2.7.0"
DEFAULT_HEARTBEAT_INTERVAL = 60.0
_POD_CIDR_BASE = ipaddress.ip_network("10.244.0.0/16")
_RETRY_AFTER_ERROR = 1.0
_CONTROLLER = "controller"
_NODES = "nodes"


def _now() -> str:
    """A ``metav1.Time``: RFC 3339, whole seconds (Antrea writes no fractions)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _agent_key(node: str) -> str:
    return f"agent/{node}"


class Monitoring:
    """Heartbeats of one antrea-controller and one antrea-agent per Node, on a fixed period."""

    def __init__(self, api: client.ApiClient, *, heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 version: str = DEFAULT_VERSION, namespace: str = "kube-system",
                 agent_endpoint: Callable[[dict[str, Any]], tuple[int, bytes]] | None = None) -> None:
        """``agent_endpoint``: the agent API (port, CA bundle PEM) of a Node, written as
        ``apiPort``/``apiCABundle`` (without it: Antrea's default port 10350 and no bundle)."""
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        self._custom = client.CustomObjectsApi(api)
        self._api = api
        self.heartbeat_interval = heartbeat_interval
        self._agent_endpoint = agent_endpoint
        self.version = version
        self.namespace = namespace
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._due: dict[str, float] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._subnet_index: dict[str, int] = {}
        self._pods: dict[str, str] = {}  # pod key -> node name
        self._stopped_agents: set[str] = set()
        self._overrides: dict[str, dict[str, str]] = {}
        self._controller_stopped = False
        self._full_written: set[str] = set()  # components whose next write may be partial
        self._loops: list[WatchLoop] = []
        self._thread = threading.Thread(target=self._run, name="antrea-sim-monitoring", daemon=True)
        self.controller_writes = 0
        self.agent_writes = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._loops = [
            WatchLoop(self._api, "/api/v1/nodes", self._on_node, self._stop),
            WatchLoop(self._api, "/api/v1/pods", self._on_pod, self._stop),
        ]
        for loop in self._loops:
            loop.start()
        deadline = time.monotonic() + timeout
        for loop in self._loops:
            loop.synced.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._due[_NODES] = 0.0  # the controller purges stale AgentInfos when it starts
            self._due[_CONTROLLER] = 0.0
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + 0.5
        for loop in self._loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        self._thread.join(2.0)

    # -- test hooks ----------------------------------------------------------------------------
    def stop_agent(self, node: str) -> None:
        """The agent on ``node`` stops heartbeating (its object stays, and goes stale)."""
        with self._lock:
            self._stopped_agents.add(node)
            self._due.pop(_agent_key(node), None)
            self._schedule(_CONTROLLER, 0.0)  # the controller notices the lost watch

    def resume_agent(self, node: str) -> None:
        """The agent restarts: a full heartbeat now, then one per period."""
        with self._lock:
            self._stopped_agents.discard(node)
            self._full_written.discard(_agent_key(node))
            if node in self._nodes:
                self._schedule(_agent_key(node), 0.0)
            self._schedule(_CONTROLLER, 0.0)

    def set_agent_condition(self, node: str, type_: str, status: str) -> None:
        """Force one of the agent's conditions (e.g. ``OVSDBConnectionUp`` ``False``); reported at
        once. ``ControllerConnectionUp`` set here wins over the controller's real state."""
        if type_ not in AGENT_CONDITIONS:
            raise ValueError(f"unknown agent condition {type_!r}; expected one of {AGENT_CONDITIONS}")
        if status not in CONDITION_STATUSES:
            raise ValueError(f"condition status must be one of {CONDITION_STATUSES}")
        with self._lock:
            self._overrides.setdefault(node, {})[type_] = status
            if node in self._nodes and node not in self._stopped_agents:
                self._schedule(_agent_key(node), 0.0)
            self._schedule(_CONTROLLER, 0.0)

    def clear_agent_conditions(self, node: str) -> None:
        """Undo every ``set_agent_condition`` of ``node``."""
        with self._lock:
            self._overrides.pop(node, None)
            if node in self._nodes and node not in self._stopped_agents:
                self._schedule(_agent_key(node), 0.0)
            self._schedule(_CONTROLLER, 0.0)

    def stop_controller(self) -> None:
        """antrea-controller stops heartbeating; agents report ``ControllerConnectionUp=False``."""
        with self._lock:
            self._controller_stopped = True
            self._due.pop(_CONTROLLER, None)

    def resume_controller(self) -> None:
        """antrea-controller restarts (full write now); agents reconnect and report at once."""
        with self._lock:
            self._controller_stopped = False
            self._full_written.discard(_CONTROLLER)
            self._schedule(_NODES, 0.0)
            self._schedule(_CONTROLLER, 0.0)
            for node in self._nodes:
                if node not in self._stopped_agents:
                    self._schedule(_agent_key(node), 0.0)

    # -- events --------------------------------------------------------------------------------
    def _on_node(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        with self._lock:
            if event == "DELETED":
                self._nodes.pop(name, None)
                self._due.pop(_agent_key(name), None)
                self._full_written.discard(_agent_key(name))
                self._schedule(_NODES, 0.0)
                return
            new = name not in self._nodes
            self._nodes[name] = obj
            self._subnet_index.setdefault(name, len(self._subnet_index))
            if new:  # status updates of known Nodes change nothing here
                self._schedule(_NODES, 0.0)
                if name not in self._stopped_agents:
                    self._schedule(_agent_key(name), 0.0)

    def _on_pod(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        node = (obj.get("spec") or {}).get("nodeName")
        with self._lock:
            if event == "DELETED" or not node:
                self._pods.pop(key, None)
            else:
                self._pods[key] = str(node)

    # -- scheduling ----------------------------------------------------------------------------
    def _schedule(self, key: str, delay: float) -> None:
        """(Re)arm ``key`` ``delay`` s from now, never later than it already was. Lock held."""
        due = time.monotonic() + delay
        self._due[key] = min(due, self._due.get(key, due))
        self._wake.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                now = time.monotonic()
                ready = sorted(k for k, due in self._due.items() if due <= now)
                if not ready:
                    wait = min(self._due.values(), default=now + 1.0) - now
                    self._wake.wait(max(0.001, min(wait, 1.0)))
                    continue
                for key in ready:
                    del self._due[key]
            for key in ready:
                if self._stop.is_set():
                    return
                ok = self._tick(key)
                with self._lock:
                    again = self._rearm(key, ok)
                    if again is not None:
                        self._schedule(key, again)

    def _rearm(self, key: str, ok: bool) -> float | None:
        """Delay of the next run of ``key``, or None when it should not run again. Lock held."""
        if key == _NODES:
            return None if ok else _RETRY_AFTER_ERROR
        if key == _CONTROLLER:
            if self._controller_stopped:
                return None
        else:
            node = key.split("/", 1)[1]
            if node not in self._nodes or node in self._stopped_agents:
                return None
        return self.heartbeat_interval if ok else min(self.heartbeat_interval, _RETRY_AFTER_ERROR)

    def _tick(self, key: str) -> bool:
        try:
            if key == _NODES:
                self._sync_agent_objects()
            elif key == _CONTROLLER:
                self._controller_heartbeat()
            else:
                self._agent_heartbeat(key.split("/", 1)[1])
            return True
        except Exception:  # API server unavailable or refusing: try again shortly, as Antrea does
            with self._lock:
                self._full_written.discard(key)  # "the write after an error is a full update"
            return False

    # -- antrea-controller ---------------------------------------------------------------------
    def _sync_agent_objects(self) -> None:
        """Create an empty AntreaAgentInfo per Node, delete those of Nodes that are gone."""
        with self._lock:
            if self._controller_stopped:
                return
            nodes = set(self._nodes)
        existing = {item["metadata"]["name"] for item in self._items(AGENT_PLURAL)}
        for name in sorted(nodes - existing):
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AntreaAgentInfo", "metadata": {"name": name}}
            try:
                self._custom.create_cluster_custom_object(GROUP, VERSION, AGENT_PLURAL, body)
            except client.ApiException as err:
                if err.status != 409:  # the agent was faster: fine
                    raise
        for name in sorted(existing - nodes):
            try:
                self._custom.delete_cluster_custom_object(GROUP, VERSION, AGENT_PLURAL, name)
            except client.ApiException as err:
                if err.status != 404:
                    raise

    def _controller_heartbeat(self) -> None:
        with self._lock:
            if self._controller_stopped:
                return
            connected = sum(1 for n in self._nodes if self._agent_connected(n))
            first_node = min(self._nodes, default="")
            full = _CONTROLLER not in self._full_written
        policies = sum(len(self._items(plural)) for plural in ("clusternetworkpolicies", "networkpolicies"))
        body: dict[str, Any] = {
            "connectedAgentNum": connected,
            "networkPolicyControllerInfo": {"networkPolicyNum": policies, "addressGroupNum": 0,
                                            "appliedToGroupNum": 0},
            "controllerConditions": [{"type": "ControllerHealthy", "status": "True", "lastHeartbeatTime": _now()}],
        }
        if full:
            body.update(
                version=self.version,
                podRef={"kind": "Pod", "namespace": self.namespace, "name": "antrea-controller-sim"},
                nodeRef={"kind": "Node", "name": first_node},
                serviceRef={"kind": "Service", "namespace": self.namespace, "name": "antrea"},
                apiPort=10349,
            )
        self._upsert(CONTROLLER_PLURAL, CONTROLLER_NAME, "AntreaControllerInfo", body)
        with self._lock:
            self._full_written.add(_CONTROLLER)
            self.controller_writes += 1

    def _agent_connected(self, node: str) -> bool:
        """Whether the agent on ``node`` holds a watch on the controller. Lock held."""
        if node in self._stopped_agents or self._controller_stopped:
            return False
        return self._overrides.get(node, {}).get("ControllerConnectionUp", "True") == "True"

    # -- antrea-agent --------------------------------------------------------------------------
    def _agent_heartbeat(self, node: str) -> None:
        with self._lock:
            if node in self._stopped_agents or node not in self._nodes:
                return
            overrides = self._overrides.get(node, {})
            controller_up = "False" if self._controller_stopped else "True"
            stamp = _now()
            conditions = [
                {"type": t, "status": overrides.get(t, controller_up if t == "ControllerConnectionUp" else "True"),
                 "lastHeartbeatTime": stamp}
                for t in AGENT_CONDITIONS
            ]
            pods = sum(1 for n in self._pods.values() if n == node)
            subnets = self._subnets(node)
            key = _agent_key(node)
            full = key not in self._full_written
            node_obj = self._nodes[node]
        body: dict[str, Any] = {
            "agentConditions": conditions,
            "localPodNum": pods,
            "nodeSubnets": subnets,
            "networkPolicyControllerInfo": {"networkPolicyNum": 0, "addressGroupNum": 0, "appliedToGroupNum": 0},
        }
        if full:
            body.update(
                version=self.version,
                podRef={"kind": "Pod", "namespace": self.namespace, "name": f"antrea-agent-{node}"},
                nodeRef={"kind": "Node", "name": node},
                ovsInfo={"version": "3.1.0", "bridgeName": "br-int", "flowTable": {"0": 5}},
                apiPort=10350,
                nodePortLocalPortRange="61000-62000",
            )
            if self._agent_endpoint is not None:
                port, ca = self._agent_endpoint(node_obj)
                body.update(apiPort=port, apiCABundle=base64.b64encode(ca).decode())
        created = self._upsert(AGENT_PLURAL, node, "AntreaAgentInfo", body)
        with self._lock:
            self._full_written.add(key)
            self.agent_writes += 1
            gone = node not in self._nodes
        if created and gone:  # the Node was deleted while this write was in flight: no orphan
            self._custom.delete_cluster_custom_object(GROUP, VERSION, AGENT_PLURAL, node)

    def _subnets(self, node: str) -> list[str]:
        """The Node's pod CIDRs, or a /24 of 10.244.0.0/16 when the Node has none. Lock held."""
        spec = self._nodes[node].get("spec") or {}
        cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        if cidrs:
            return [str(c) for c in cidrs]
        index = self._subnet_index.get(node, 0) % 256
        return [f"{_POD_CIDR_BASE.network_address + 256 * index}/24"]

    # -- reads and writes ----------------------------------------------------------------------
    def _items(self, plural: str) -> list[dict[str, Any]]:
        listed = self._custom.list_cluster_custom_object(GROUP, VERSION, plural)
        return list(listed.get("items") or []) if isinstance(listed, dict) else []

    def _upsert(self, plural: str, name: str, kind: str, body: dict[str, Any]) -> bool:
        """Merge-patch the object (both writers update in place), creating it when absent; True
        when it had to be created."""
        try:
            self._custom.patch_cluster_custom_object(GROUP, VERSION, plural, name, body)
            return False
        except client.ApiException as err:
            if err.status != 404:
                raise
        created = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, **body}
        self._custom.create_cluster_custom_object(GROUP, VERSION, plural, created)
        return True
