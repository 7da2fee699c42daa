"""Writes policy and group status the way antrea-controller does (antrea.md §2.7, §3.3).

Real Antrea moves a policy through ``Pending`` (span not computed) -> ``Realizing`` (some Nodes
acknowledged) -> ``Realized`` (all Nodes at the policy's generation), or ``Failed`` when Nodes
report errors. The CCP adapter's realization reporting is judged against exactly that, so the
stand-in reproduces the transitions with a configurable delay, and lets tests inject a failure or a
stall (a policy stuck in ``Realizing``, like Antrea bugs #3075/#5097) per policy.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from sim.antrea._watch import WatchLoop

GROUP = "crd.antrea.io"
VERSION = "v1beta1"
POLICY_KINDS = {"clusternetworkpolicies": False, "networkpolicies": True}  # plural -> namespaced
_MESSAGE_LIMIT = 256


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PolicyFault:
    """What a test asked for one policy: fail on some Nodes, or never finish realizing."""

    kind: str  # "fail" | "stall"
    message: str = ""
    nodes: tuple[str, ...] = ()


class Realizer:
    """Watches Antrea policies, ClusterGroups and Nodes; writes their ``status`` subresource."""

    def __init__(self, api: client.ApiClient, *, realization_delay: float = 0.5) -> None:
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self.realization_delay = realization_delay
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._timers: list[tuple[float, int, tuple[str, str, str], int, str]] = []
        self._seq = itertools.count()
        self._policies: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        self._nodes: set[str] = set()
        self._faults: dict[tuple[str, str], PolicyFault] = {}
        self._loops: list[WatchLoop] = []
        self._scheduler = threading.Thread(target=self._run_timers, name="antrea-sim-realizer", daemon=True)
        self.status_writes = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        paths = {
            "/api/v1/nodes": self._on_node,
            f"/apis/{GROUP}/{VERSION}/clustergroups": self._on_group,
            f"/apis/{GROUP}/{VERSION}/clusternetworkpolicies": self._policy_handler("clusternetworkpolicies"),
            f"/apis/{GROUP}/{VERSION}/networkpolicies": self._policy_handler("networkpolicies"),
        }
        self._loops = [WatchLoop(self._api, path, handler, self._stop) for path, handler in paths.items()]
        self._scheduler.start()
        for loop in self._loops:
            loop.start()
        deadline = time.monotonic() + timeout
        for loop in self._loops:
            loop.synced.wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        # Watch threads may sit in a blocking read until the next event or bookmark; they are daemons
        # and exit at their next wake-up, so stopping does not wait for them.
        deadline = time.monotonic() + 0.5
        for loop in self._loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        self._scheduler.join(1.0)

    # -- test hooks ----------------------------------------------------------------------------
    def fail_policy(self, name: str, message: str = "injected realization failure",
                    nodes: list[str] | None = None, namespace: str = "") -> None:
        self._set_fault(name, namespace, PolicyFault("fail", message, tuple(nodes or ())))

    def stall_policy(self, name: str, namespace: str = "") -> None:
        self._set_fault(name, namespace, PolicyFault("stall"))

    def clear_fault(self, name: str, namespace: str = "") -> None:
        with self._lock:
            self._faults.pop((namespace, name), None)
        self._rerealize(name, namespace)

    def _set_fault(self, name: str, namespace: str, fault: PolicyFault) -> None:
        with self._lock:
            self._faults[(namespace, name)] = fault
        self._rerealize(name, namespace)

    def _rerealize(self, name: str, namespace: str) -> None:
        with self._lock:
            for key, obj in self._policies.items():
                if key[1:] == (namespace, name):
                    self._schedule(key, obj["metadata"].get("generation", 1), "pending", 0.0)

    # -- events --------------------------------------------------------------------------------
    def _on_node(self, event: str, obj: dict[str, Any]) -> None:
        with self._lock:
            name = obj["metadata"]["name"]
            if event == "DELETED":
                self._nodes.discard(name)
            else:
                self._nodes.add(name)

    def _policy_handler(self, plural: str) -> Any:
        def handle(event: str, obj: dict[str, Any]) -> None:
            meta = obj["metadata"]
            key = (plural, meta.get("namespace", ""), meta["name"])
            with self._lock:
                if event == "DELETED":
                    self._policies.pop(key, None)
                    return
                first_sight = key not in self._policies
                self._policies[key] = obj
                generation = meta.get("generation", 1)
                status = obj.get("status") or {}
                # A Pending/Realizing status seen first (at start-up) was left by a controller that
                # stopped mid-realization: realize it again, as a restarted antrea-controller does.
                unfinished = first_sight and status.get("phase") not in ("Realized", "Failed")
                if status.get("observedGeneration") == generation and status.get("phase") and not unfinished:
                    return  # our own write, or already handled for this generation
                self._schedule(key, generation, "pending", 0.0)

        return handle

    def _on_group(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        with self._lock:
            if event == "DELETED":
                self._groups.pop(name, None)
            else:
                self._groups[name] = obj
            affected = {name} | {p for p, g in self._groups.items() if name in _children(g)}
            for group in affected:
                self._schedule(("clustergroups", "", group), 0, "group", self.realization_delay)

    # -- timers --------------------------------------------------------------------------------
    def _schedule(self, key: tuple[str, str, str], generation: int, step: str, delay: float) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), key, generation, step))
        self._wake.notify_all()

    def _run_timers(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while not self._stop.is_set() and (not self._timers or self._timers[0][0] > time.monotonic()):
                    wait = self._timers[0][0] - time.monotonic() if self._timers else 1.0
                    self._wake.wait(max(0.001, min(wait, 1.0)))
                if self._stop.is_set():
                    return
                _, _, key, generation, step = heapq.heappop(self._timers)
                work = self._plan(key, generation, step)
            if work is not None:
                self._write(key, work)

    def _plan(self, key: tuple[str, str, str], generation: int, step: str) -> dict[str, Any] | None:
        """Decide the next status (under the lock); the write happens outside it."""
        if step == "group":
            return self._group_status(key[2])
        obj = self._policies.get(key)
        if obj is None or obj["metadata"].get("generation", 1) != generation:
            return None  # deleted, or superseded by a newer generation with its own timers
        fault = self._faults.get((key[1], key[2]))
        desired = len(self._nodes)
        if step == "pending":
            self._schedule(key, generation, "realizing", self.realization_delay / 2)
            return _policy_status("Pending", generation, 0, 0, [])
        if step == "realizing":
            if fault is None or fault.kind != "stall":
                self._schedule(key, generation, "done", self.realization_delay / 2)
            return _policy_status("Realizing", generation, desired // 2 if desired > 1 else 0, desired,
                                  [_condition("Realizable", "True")])
        if fault is not None and fault.kind == "fail":
            failed = list(fault.nodes) or sorted(self._nodes)[:1] or ["node"]
            detail = ", ".join(f'"{n}":"{fault.message}"' for n in failed)
            message = f"Failed Nodes count {len(failed)}: {detail}"
            if len(message) > _MESSAGE_LIMIT:
                message = message[:_MESSAGE_LIMIT] + "..."
            current = max(0, desired - len(failed))
            return _policy_status("Failed", generation, current, max(desired, len(failed)), [
                _condition("Realizable", "True"),
                _condition("RealizationFailure", "True", "NetworkPolicyRealizationFailedOnNode", message),
            ])
        return _policy_status("Realized", generation, desired, desired, [_condition("Realizable", "True")])

    def _group_status(self, name: str) -> dict[str, Any] | None:
        group = self._groups.get(name)
        if group is None:
            return None
        children = _children(group)
        condition: dict[str, Any] | None
        if any(_children(self._groups.get(c, {})) for c in children):
            condition = _condition("GroupMembersComputed", "False", "ChildGroupsNestingExceeded",
                                   "only one level of ClusterGroup nesting is supported")
        elif all(_computed(self._groups.get(c)) for c in children):
            condition = _condition("GroupMembersComputed", "True")
        else:
            condition = None  # children still missing: no condition at all, as Antrea does
        current = (group.get("status") or {}).get("conditions") or []
        wanted = [condition] if condition else []
        if [(c.get("type"), c.get("status"), c.get("reason")) for c in current] == [
            (c["type"], c["status"], c.get("reason")) for c in wanted
        ]:
            return None
        return {"conditions": wanted}

    def _write(self, key: tuple[str, str, str], status: dict[str, Any]) -> None:
        plural, namespace, name = key
        body = {"status": status}
        try:
            if namespace:
                self._custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body)
            else:
                self._custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body)
            self.status_writes += 1
        except client.ApiException as err:
            if err.status != 404:  # deleted meanwhile: nothing to report; otherwise start over shortly
                with self._lock:
                    if plural == "clustergroups":
                        self._schedule(key, 0, "group", 0.5)
                    else:
                        self._schedule(key, self._generation(key), "pending", 0.5)

    def _generation(self, key: tuple[str, str, str]) -> int:
        obj = self._policies.get(key)
        return int(obj["metadata"].get("generation", 1)) if obj else -1


def _children(group: dict[str, Any]) -> list[str]:
    return list((group.get("spec") or {}).get("childGroups") or [])


def _computed(group: dict[str, Any] | None) -> bool:
    if group is None:
        return False
    conditions = (group.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "GroupMembersComputed" and c.get("status") == "True" for c in conditions)


def _condition(ctype: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": _now()}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _policy_status(phase: str, generation: int, current: int, desired: int,
                   conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"phase": phase, "observedGeneration": generation, "currentNodesRealized": current,
            "desiredNodesRealized": desired, "conditions": conditions}
