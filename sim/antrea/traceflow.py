"""Traceflow execution the way antrea-controller and the agents answer it (antrea.md §5.1).

The stand-in watches ``Traceflow`` CRs and writes their status: ``Running`` with a data-plane tag
(7..59 in steps of 4, so at most 14 at once; one more fails with Antrea's "upper limit" reason),
then ``Succeeded`` with per-Node ``results[].observations``, or ``Failed`` (source Pod missing,
``Traceflow timeout`` once ``startTime + timeout`` passed). The observations are computed from the
cluster's objects, simply: the Antrea-native policies (ACNPs) are evaluated in tier, priority and
rule order, egress at the source Pod and ingress at the destination Pod, by matching their
appliedTo and peers against Pod and Namespace labels and the ClusterGroups' selectors. The first
matching rule decides; a Drop/Reject yields a ``Dropped``/``Rejected`` observation from component
``NetworkPolicy`` naming the policy and the rule, otherwise the packet is forwarded and delivered.
Kubernetes NetworkPolicies, named ports and Pass actions are not evaluated (a Pass ends the search).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from sim.antrea._watch import WatchLoop

GROUP = "crd.antrea.io"
VERSION = "v1beta1"
TAGS = tuple(range(7, 60, 4))  # Antrea's data-plane tags: 14 concurrent Traceflows
UPPER_LIMIT = "number of on-going Traceflow operations already reached the upper limit"
DEFAULT_TIMEOUT = 20
# Antrea's default tiers; the adapter's own Tiers are read from the cluster.
DEFAULT_TIER_PRIORITY = {"emergency": 50, "securityops": 100, "networkops": 150, "platform": 200,
                         "application": 250, "baseline": 253}
_PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}

Obj = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Run:
    tag: int
    started: float
    timeout: float
    spec: Obj
    done: bool = False


@dataclass
class _Cluster:
    """What the stand-in knows of the cluster (filled by the watches)."""

    pods: dict[tuple[str, str], Obj] = field(default_factory=dict)
    services: dict[tuple[str, str], Obj] = field(default_factory=dict)
    namespaces: dict[str, Obj] = field(default_factory=dict)
    policies: dict[str, Obj] = field(default_factory=dict)
    groups: dict[str, Obj] = field(default_factory=dict)
    tiers: dict[str, Obj] = field(default_factory=dict)


class TraceflowRunner:
    """Answers Traceflow CRs; see the module docstring. Test hooks: ``hold``, ``max_present``."""

    def __init__(self, api: client.ApiClient, *, run_time: float = 0.3) -> None:
        """``run_time``: seconds a trace stays Running before its result is written."""
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self.run_time = run_time
        self.held = False
        """While True, traces stay Running (until their timeout): for concurrency and timeout tests."""
        self.unresponsive = False
        """While True, new Traceflows get no status at all (antrea-controller down)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cluster = _Cluster()
        self._runs: dict[str, _Run] = {}
        self._present: set[str] = set()
        self.max_present = 0
        """The most Traceflow CRs that existed at the same time (the adapter's cap is judged by it)."""
        self.rejected_over_limit = 0
        self._loops: list[WatchLoop] = []
        self._ticker = threading.Thread(target=self._tick_loop, name="antrea-sim-traceflow", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> TraceflowRunner:
        apis = f"/apis/{GROUP}/{VERSION}"
        paths = {
            "/api/v1/pods": self._keep("pods", namespaced=True),
            "/api/v1/services": self._keep("services", namespaced=True),
            "/api/v1/namespaces": self._keep("namespaces"),
            f"{apis}/clusternetworkpolicies": self._keep("policies"),
            f"{apis}/clustergroups": self._keep("groups"),
            f"{apis}/tiers": self._keep("tiers"),
        }
        self._loops = [WatchLoop(self._api, p, h, self._stop) for p, h in paths.items()]
        for loop in self._loops:
            loop.start()
        deadline = time.monotonic() + timeout
        for loop in self._loops:
            loop.synced.wait(max(0.0, deadline - time.monotonic()))
        traceflows = WatchLoop(self._api, f"{apis}/traceflows", self._on_traceflow, self._stop)
        self._loops.append(traceflows)
        traceflows.start()
        traceflows.synced.wait(max(0.0, deadline - time.monotonic()))
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 0.5
        for loop in self._loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        if self._ticker.is_alive():
            self._ticker.join(1.0)

    def known(self, kind: str) -> list[str]:
        """Names the stand-in has seen of ``kind`` (pods, services, namespaces, policies, groups,
        tiers): tests wait on it instead of sleeping for the watches."""
        with self._lock:
            return [k[1] if isinstance(k, tuple) else k for k in getattr(self._cluster, kind)]

    def running(self) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if not r.done)

    # -- watches -------------------------------------------------------------------------------
    def _keep(self, kind: str, namespaced: bool = False) -> Any:
        def handle(event: str, obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            key: Any = (meta.get("namespace", ""), meta["name"]) if namespaced else meta["name"]
            with self._lock:
                store = getattr(self._cluster, kind)
                if event == "DELETED":
                    store.pop(key, None)
                else:
                    store[key] = obj

        return handle

    def _on_traceflow(self, event: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        status: dict[str, Any] | None = None
        with self._lock:
            if event == "DELETED":
                self._present.discard(name)
                self._runs.pop(name, None)
                return
            self._present.add(name)
            self.max_present = max(self.max_present, len(self._present))
            if name in self._runs or (obj.get("status") or {}).get("phase") or self.unresponsive:
                return  # ours already, finished, or nobody home
            spec = obj.get("spec") or {}
            source = spec.get("source") or {}
            src_key = (source.get("namespace", ""), source.get("pod", ""))
            if not spec.get("liveTraffic") and src_key not in self._cluster.pods:
                status = {"phase": "Failed", "reason": f"requested source Pod {src_key[0]}/{src_key[1]} not found"}
            else:
                used = {r.tag for r in self._runs.values() if not r.done}
                free = [t for t in TAGS if t not in used]
                if not free:
                    self.rejected_over_limit += 1
                    status = {"phase": "Failed", "reason": UPPER_LIMIT}
                else:
                    timeout = float(spec.get("timeout") or DEFAULT_TIMEOUT)
                    self._runs[name] = _Run(free[0], time.monotonic(), timeout, spec)
                    status = {"phase": "Running", "startTime": _now(), "dataplaneTag": free[0]}
        self._write(name, status)

    # -- execution -----------------------------------------------------------------------------
    def _tick_loop(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            due: list[tuple[str, dict[str, Any]]] = []
            with self._lock:
                for name, run in self._runs.items():
                    if run.done:
                        continue
                    if now >= run.started + run.timeout:
                        run.done = True
                        due.append((name, {"phase": "Failed", "reason": "Traceflow timeout"}))
                    elif not self.held and now >= run.started + self.run_time:
                        run.done = True
                        due.append((name, self._trace(run.spec)))
            for name, status in due:
                self._write(name, status)

    def _trace(self, spec: Obj) -> dict[str, Any]:
        """The final status of one trace (caller holds the lock)."""
        try:
            results = _Tracer(self._cluster, spec).run()
        except _TraceError as err:
            return {"phase": "Failed", "reason": str(err)}
        return {"phase": "Succeeded", "results": results}

    def _write(self, name: str, status: dict[str, Any] | None) -> None:
        if status is None:
            return
        try:
            self._custom.patch_cluster_custom_object_status(GROUP, VERSION, "traceflows", name, {"status": status})
        except client.ApiException:
            pass  # deleted meanwhile


class _TraceError(Exception):
    """The trace cannot run (its message becomes the Failed reason)."""


class _Tracer:
    """Walks one packet from the source Pod to its destination through the ACNPs."""

    def __init__(self, cluster: _Cluster, spec: Obj) -> None:
        self.c = cluster
        self.spec = spec
        self.stamp = int(time.time())

    def run(self) -> list[Obj]:
        source = self.spec.get("source") or {}
        src = self.c.pods.get((source.get("namespace", ""), source.get("pod", "")))
        if src is None:
            raise _TraceError(f"requested source Pod {source.get('namespace')}/{source.get('pod')} not found")
        dest = self.spec.get("destination") or {}
        sender: list[Obj] = [{"component": "SpoofGuard", "action": "Forwarded"}]
        dst: Obj | None = None
        dst_ip = dest.get("ip")
        if dest.get("pod"):
            dst = self.c.pods.get((dest.get("namespace", ""), dest["pod"]))
            if dst is None:
                raise _TraceError(f"destination Pod {dest.get('namespace')}/{dest['pod']} not found")
        elif dest.get("service"):
            svc = self.c.services.get((dest.get("namespace", ""), dest["service"]))
            if svc is None:
                raise _TraceError(f"destination Service {dest.get('namespace')}/{dest['service']} not found")
            dst = self._backend(svc)
            if dst is None:
                sender.append({"component": "LB", "action": "Dropped"})
                return [self._result(src, "Sender", sender)]
            sender.append({"component": "LB", "action": "Forwarded", "translatedDstIP": _pod_ip(dst)})
        elif dst_ip:
            dst = next((p for p in self.c.pods.values() if _pod_ip(p) == dst_ip), None)
        else:
            raise _TraceError("destination must be a Pod, a Service or an IP")
        verdict = self._evaluate("egress", src, dst, dst_ip)
        if verdict is not None:
            sender.append(verdict)
            if verdict["action"] != "Forwarded":
                return [self._result(src, "Sender", sender)]
        if dst is None:
            sender.append({"component": "Forwarding", "componentInfo": "Output", "action": "ForwardedOutOfNetwork"})
            return [self._result(src, "Sender", sender)]
        same_node = _node(src) == _node(dst)
        receiver: list[Obj] = sender if same_node else [
            {"component": "Forwarding", "componentInfo": "Classification", "action": "Received"}]
        if not same_node:
            sender.append({"component": "Forwarding", "componentInfo": "Output", "action": "Forwarded",
                           "tunnelDstIP": (dst.get("status") or {}).get("hostIP", "")})
        verdict = self._evaluate("ingress", dst, src, None)
        if verdict is not None:
            receiver.append(verdict)
        if verdict is None or verdict["action"] == "Forwarded":
            receiver.append({"component": "Forwarding", "componentInfo": "Output", "action": "Delivered"})
        results = [self._result(src, "Sender", sender)]
        if not same_node:
            results.append(self._result(dst, "Receiver", receiver))
        return results

    def _result(self, pod: Obj, role: str, observations: list[Obj]) -> Obj:
        return {"node": _node(pod), "role": role, "timestamp": self.stamp, "observations": observations}

    def _backend(self, svc: Obj) -> Obj | None:
        selector = (svc.get("spec") or {}).get("selector") or {}
        ns = svc["metadata"].get("namespace", "")
        if not selector:
            return None
        pods = sorted((p for (pns, _), p in self.c.pods.items()
                       if pns == ns and _labels_match({"matchLabels": selector}, _labels(p))),
                      key=lambda p: p["metadata"]["name"])
        return pods[0] if pods else None

    # -- policy evaluation ---------------------------------------------------------------------
    def _evaluate(self, direction: str, at: Obj, peer: Obj | None, peer_ip: str | None) -> Obj | None:
        """First matching rule of ``direction`` applied to ``at`` whose peers include the other end."""
        for policy, index, rule in self._ordered(direction):
            applied = rule.get("appliedTo") or (policy.get("spec") or {}).get("appliedTo") or []
            if not any(self._selects(entry, at) for entry in applied):
                continue
            peers = rule.get("to" if direction == "egress" else "from")
            if peers and not any(self._peer_matches(p, peer, peer_ip) for p in peers):
                continue
            if not self._ports_match(rule):
                continue
            action = rule.get("action", "Allow")
            if action == "Pass":
                return None
            outcome = {"Allow": "Forwarded", "Drop": "Dropped", "Reject": "Rejected"}.get(action, "Forwarded")
            return {"component": "NetworkPolicy", "componentInfo": "EgressRule" if direction == "egress"
                    else "IngressRule", "action": outcome,
                    "networkPolicy": f"AntreaClusterNetworkPolicy:{policy['metadata']['name']}",
                    "networkPolicyRule": rule.get("name") or f"{direction}-{index}"}
        return None

    def _ordered(self, direction: str) -> list[tuple[Obj, int, Obj]]:
        def tier_priority(policy: Obj) -> int:
            tier = str((policy.get("spec") or {}).get("tier") or "application")
            obj = self.c.tiers.get(tier)
            if obj is not None:
                return int((obj.get("spec") or {}).get("priority", 250))
            return DEFAULT_TIER_PRIORITY.get(tier.lower(), 250)

        policies = sorted(self.c.policies.values(), key=lambda p: (
            tier_priority(p), float((p.get("spec") or {}).get("priority") or 0), p["metadata"]["name"]))
        return [(p, i, r) for p in policies for i, r in enumerate((p.get("spec") or {}).get(direction) or [])]

    def _selects(self, entry: Obj, pod: Obj) -> bool:
        """An appliedTo entry or a peer against a Pod (Pod and Namespace selectors, ClusterGroup)."""
        if "group" in entry:
            return self._group_selects(entry["group"], pod, None, set())
        return self._selector_pair(entry, pod)

    def _selector_pair(self, entry: Obj, pod: Obj) -> bool:
        pod_sel, ns_sel = entry.get("podSelector"), entry.get("namespaceSelector")
        if pod_sel is None and ns_sel is None:
            return False
        if pod_sel is not None and not _labels_match(pod_sel, _labels(pod)):
            return False
        return ns_sel is None or _labels_match(ns_sel, self._ns_labels(pod))

    def _ns_labels(self, pod: Obj) -> dict[str, str]:
        ns = pod["metadata"].get("namespace", "")
        labels = dict((self.c.namespaces.get(ns) or {}).get("metadata", {}).get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", ns)
        return labels

    def _peer_matches(self, peer: Obj, pod: Obj | None, ip: str | None) -> bool:
        address = _pod_ip(pod) if pod is not None else ip
        if "ipBlock" in peer:
            return _in_block(peer["ipBlock"], address)
        if "group" in peer:
            return self._group_selects(peer["group"], pod, address, set())
        return pod is not None and self._selector_pair(peer, pod)

    def _group_selects(self, name: str, pod: Obj | None, ip: str | None, seen: set[str]) -> bool:
        group = self.c.groups.get(name)
        if group is None or name in seen:
            return False
        seen.add(name)
        spec = group.get("spec") or {}
        address = ip or (_pod_ip(pod) if pod is not None else None)
        if any(self._group_selects(child, pod, ip, seen) for child in spec.get("childGroups") or []):
            return True
        if any(_in_block(block, address) for block in spec.get("ipBlocks") or []):
            return True
        if pod is None:
            return False
        ref = spec.get("serviceReference")
        if ref:
            svc = self.c.services.get((ref.get("namespace", ""), ref.get("name", "")))
            selector = (svc or {}).get("spec", {}).get("selector") or {}
            return bool(selector) and pod["metadata"].get("namespace") == ref.get("namespace") and _labels_match(
                {"matchLabels": selector}, _labels(pod))
        return self._selector_pair(spec, pod)

    def _ports_match(self, rule: Obj) -> bool:
        ports, protocols = rule.get("ports"), rule.get("protocols")
        if not ports and not protocols:
            return True
        packet = self.spec.get("packet") or {}
        proto = int((packet.get("ipHeader") or {}).get("protocol") or 1)
        transport = packet.get("transportHeader") or {}
        dport = (transport.get("tcp") or transport.get("udp") or {}).get("dstPort")
        for entry in ports or []:
            if _PROTOCOLS.get(str(entry.get("protocol") or "TCP").upper()) != proto:
                continue
            port = entry.get("port")
            if port is None:
                return True
            if isinstance(port, int) and dport is not None and port <= int(dport) <= int(entry.get("endPort") or port):
                return True
        return any("icmp" in p and proto == 1 for p in protocols or [])


def _labels(pod: Obj) -> dict[str, str]:
    return dict((pod.get("metadata") or {}).get("labels") or {})


def _labels_match(selector: Obj, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (an empty selector selects everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (op == "In" and (not present or labels[key] not in values)) or (
                op == "NotIn" and present and labels[key] in values) or (
                op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _in_block(block: Obj, address: str | None) -> bool:
    if not address or not block.get("cidr"):
        return False
    try:
        ip = ipaddress.ip_address(address)
        if ip not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(ip in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def _pod_ip(pod: Obj | None) -> str:
    return str(((pod or {}).get("status") or {}).get("podIP") or "")


def _node(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")
