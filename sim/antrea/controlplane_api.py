"""``controlplane.antrea.io/v1beta2`` ``networkpolicies``: antrea-controller's internal NetworkPolicies
and their realization by the agents (antrea.md §2.7, §7).

antrea-controller turns every K8s NetworkPolicy, ACNP and ANNP into an internal ``NetworkPolicy``
(name = the source's UID) carrying ``sourceRef{type, namespace, name, uid}``, and agents report
per-node realization through ``networkpolicies/<name>/status`` (``NetworkPolicyStatus{nodes[]{nodeName,
generation, realizationFailure, message}}``), from which the controller computes phase and counters
(§2.7). The stand-in does the same: it follows the sources and Nodes through the API server, each
simulated agent reports the current generation ``realization_delay`` seconds after a change
(unless a test made it fail: :meth:`ControlPlane.fail_policy`), and any other realizer may POST a
status as nephe does.

Served: list and watch (resourceVersion, bookmarks, 410 for a resourceVersion older than the kept
history, ``timeoutSeconds``), get, and POST ``networkpolicies/<name>/status``.

Deviations, on purpose: every Node is in every policy's span (Antrea spans only the Nodes with
applied-to Pods); rules are a summary (direction and action per rule, no address/applied-to groups)
and ``tierPriority`` knows only Antrea's default Tiers (any other Tier reads as ``application``'s 250);
and — the one a reader must know — the status the controller computes (phase, ``observedGeneration``,
``currentNodesRealized``/``desiredNodesRealized``, conditions, per-node entries) is exposed on the
internal policy as ``status``. Real Antrea writes it only to ACNP/ANNP CRD status; K8s
NetworkPolicies have nowhere else to show it, and this ``status`` is the "controlplane view" of their
realization that mapping.md §6 reads.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from sim.antrea._watch import WatchLoop
from sim.antrea.apiserver import ApiFailure, ApiReply, ApiRequest, GroupVersion, ResourceSpec

GROUP = "controlplane.antrea.io"
VERSION = "v1beta2"
API_VERSION = f"{GROUP}/{VERSION}"
K8S_NP = "K8sNetworkPolicy"
ACNP = "AntreaClusterNetworkPolicy"
ANNP = "AntreaNetworkPolicy"
SOURCES = {
    K8S_NP: "/apis/networking.k8s.io/v1/networkpolicies",
    ACNP: "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies",
    ANNP: "/apis/crd.antrea.io/v1beta1/networkpolicies",
}
HISTORY = 1000
BOOKMARK_INTERVAL = 5.0
MAX_MESSAGE = 256


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rules(source_type: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for direction, key in (("In", "ingress"), ("Out", "egress")):
        for index, rule in enumerate(spec.get(key) or []):
            entry: dict[str, Any] = {"direction": direction, "priority": index}
            if source_type != K8S_NP:
                entry["action"] = (rule or {}).get("action") or "Allow"
                if (rule or {}).get("name"):
                    entry["name"] = rule["name"]
            out.append(entry)
    return out


class ControlPlane:
    """The internal NetworkPolicies and their per-node realization; see the module docstring."""

    def __init__(self, api: client.ApiClient, *, realization_delay: float = 0.5) -> None:
        self._api = api
        self.realization_delay = realization_delay
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rv = 0
        self._compacted = 0  # events at or below this resourceVersion are gone from the history
        self._history: collections.deque[tuple[int, str, dict[str, Any]]] = collections.deque(maxlen=HISTORY)
        self._policies: dict[str, dict[str, Any]] = {}  # internal name (source uid) -> object without status
        self._rvs: dict[str, int] = {}  # internal name -> resourceVersion of its last change
        self._node_status: dict[str, dict[str, dict[str, Any]]] = {}  # name -> node -> NodeStatus
        self._nodes: set[str] = set()
        self._faults: dict[tuple[str, str, str], dict[str, str]] = {}  # (type, ns, name) -> node -> message
        self._silent: set[str] = set()  # agents that report nothing (stopped)
        self._due: dict[tuple[str, str], float] = {}
        self._loops = [WatchLoop(api, path, self._source_handler(kind), self._stop) for kind, path in SOURCES.items()]
        self._loops.append(WatchLoop(api, "/api/v1/nodes", self._on_node, self._stop))
        self._thread = threading.Thread(target=self._run, name="antrea-sim-controlplane", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        for loop in self._loops:
            loop.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        self._loops[-1].synced.wait(max(0.0, deadline - time.monotonic()))  # the Nodes, always served
        self._loops[0].synced.wait(max(0.0, deadline - time.monotonic()))  # K8s NetworkPolicies

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(2.0)

    def serve(self, gv: GroupVersion) -> None:
        gv.add(ResourceSpec("networkpolicies", "NetworkPolicy", ("get", "list", "watch"), self.handle,
                            subresources=(("status", ("create",)),)))

    # -- test hooks ----------------------------------------------------------------------------
    def fail_policy(self, name: str, node: str, message: str = "injected realization failure",
                    namespace: str = "", source_type: str = K8S_NP) -> None:
        """The agent on ``node`` fails to realize the policy (its current and future generations)."""
        with self._lock:
            self._faults.setdefault((source_type, namespace, name), {})[node] = message
            for internal, obj in self._policies.items():
                if self._matches(obj, source_type, namespace, name):
                    self._due[(internal, node)] = 0.0
            self._changed.notify_all()

    def clear_fault(self, name: str, namespace: str = "", source_type: str = K8S_NP) -> None:
        with self._lock:
            self._faults.pop((source_type, namespace, name), None)
            for internal, obj in self._policies.items():
                if self._matches(obj, source_type, namespace, name):
                    for node in self._nodes:
                        self._due[(internal, node)] = 0.0
            self._changed.notify_all()

    def silence_agent(self, node: str, silent: bool = True) -> None:
        """A stopped agent realizes nothing (policies spanning it stay ``Realizing``)."""
        with self._lock:
            (self._silent.add if silent else self._silent.discard)(node)
            if not silent:
                for internal in self._policies:
                    self._due[(internal, node)] = 0.0
                self._changed.notify_all()

    def policies(self) -> list[dict[str, Any]]:
        """The internal policies as served (with their computed status)."""
        with self._lock:
            return [self._view(name) for name in sorted(self._policies)]

    @staticmethod
    def _matches(obj: dict[str, Any], source_type: str, namespace: str, name: str) -> bool:
        ref = obj["sourceRef"]
        return bool(ref["type"] == source_type and ref.get("namespace", "") == namespace and ref["name"] == name)

    # -- following the sources ----------------------------------------------------------------
    def _source_handler(self, source_type: str) -> Any:
        def handle(event: str, obj: dict[str, Any]) -> None:
            self._on_source(source_type, event, obj)
        return handle

    def _on_source(self, source_type: str, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        with self._lock:
            if event == "DELETED":
                if self._policies.pop(uid, None) is not None:
                    self._node_status.pop(uid, None)
                    self._rvs.pop(uid, None)
                    self._record("DELETED", uid, deleted=True)
                return
            generation = int(meta.get("generation") or 1)
            ref: dict[str, Any] = {"type": source_type, "name": meta.get("name"), "uid": uid}
            if meta.get("namespace"):
                ref["namespace"] = meta["namespace"]
            spec = obj.get("spec") or {}
            policy: dict[str, Any] = {
                "metadata": {"name": uid, "uid": uid, "generation": generation,
                             "creationTimestamp": meta.get("creationTimestamp") or _now()},
                "sourceRef": ref, "rules": _rules(source_type, spec),
                "appliedToGroups": [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/appliedTo"))],
            }
            if source_type != K8S_NP:
                policy["priority"] = spec.get("priority")
                policy["tierPriority"] = {"emergency": 50, "securityops": 100, "networkops": 150, "platform": 200,
                                          "application": 250, "baseline": 253}.get(str(spec.get("tier") or
                                                                                      "application").lower(), 250)
            old = self._policies.get(uid)
            if old is not None and old == policy:
                return
            self._policies[uid] = policy
            self._node_status.setdefault(uid, {})
            self._record("MODIFIED" if old is not None else "ADDED", uid)
            if old is None or old["metadata"]["generation"] != generation:
                for node in self._nodes:
                    self._due[(uid, node)] = time.monotonic() + self.realization_delay
                self._changed.notify_all()

    def _on_node(self, event: str, obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        with self._lock:
            if event == "DELETED":
                if name in self._nodes:
                    self._nodes.discard(name)
                    for uid, nodes in self._node_status.items():
                        if nodes.pop(name, None) is not None:
                            self._record("MODIFIED", uid)
                    for uid in self._policies:
                        self._record("MODIFIED", uid)
                return
            if name in self._nodes:
                return
            self._nodes.add(name)
            for uid in self._policies:
                self._due[(uid, name)] = time.monotonic() + self.realization_delay
                self._record("MODIFIED", uid)  # a new Node in the span: desired grows
            self._changed.notify_all()

    # -- the agents' reports --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                now = time.monotonic()
                ready = [k for k, due in self._due.items() if due <= now]
                if not ready:
                    wait = min(self._due.values(), default=now + 1.0) - now
                    self._changed.wait(max(0.01, min(wait, 1.0)))
                    continue
                for uid, node in ready:
                    del self._due[(uid, node)]
                    self._agent_report(uid, node)

    def _agent_report(self, uid: str, node: str) -> None:
        """Lock held."""
        policy = self._policies.get(uid)
        if policy is None or node not in self._nodes or node in self._silent:
            return
        ref = policy["sourceRef"]
        message = self._faults.get((ref["type"], ref.get("namespace", ""), ref["name"]), {}).get(node)
        self._set_node_status(uid, {"nodeName": node, "generation": policy["metadata"]["generation"],
                                    "realizationFailure": message is not None, "message": message or ""})

    def _set_node_status(self, uid: str, entry: dict[str, Any]) -> None:
        """Lock held."""
        nodes = self._node_status.setdefault(uid, {})
        if nodes.get(entry["nodeName"]) != entry:
            nodes[entry["nodeName"]] = entry
            self._record("MODIFIED", uid)

    # -- status (antrea.md §2.7) ----------------------------------------------------------------
    def _status(self, uid: str) -> dict[str, Any]:
        """Lock held."""
        policy = self._policies[uid]
        generation = policy["metadata"]["generation"]
        reports = self._node_status.get(uid, {})
        span = sorted(self._nodes)
        current = [n for n in span if reports.get(n, {}).get("generation") == generation
                   and not reports[n].get("realizationFailure")]
        failed = [n for n in span if reports.get(n, {}).get("generation") == generation
                  and reports[n].get("realizationFailure")]
        desired = len(span)
        phase = "Realized" if len(current) == desired else "Failed" if len(current) + len(failed) == desired \
            else "Realizing"
        conditions = [{"type": "Realizable", "status": "True", "lastTransitionTime": policy["metadata"][
            "creationTimestamp"], "reason": "", "message": ""}]
        if failed:
            text = f"Failed Nodes count {len(failed)}: " + ", ".join(
                f'"{n}":"{reports[n].get("message", "")}"' for n in failed)
            if len(text) > MAX_MESSAGE:
                text = text[:MAX_MESSAGE] + "..."
            conditions.append({"type": "RealizationFailure", "status": "True", "lastTransitionTime": _now(),
                               "reason": "NetworkPolicyRealizationFailedOnNode", "message": text})
        return {"phase": phase, "observedGeneration": generation, "currentNodesRealized": len(current),
                "desiredNodesRealized": desired, "conditions": conditions,
                "nodes": [reports[n] for n in sorted(reports)]}  # pseudo nodes of other realizers too

    def _view(self, uid: str) -> dict[str, Any]:
        """Lock held."""
        policy = self._policies[uid]
        meta = {**policy["metadata"], "resourceVersion": str(self._rvs.get(uid, self._rv))}
        body = {k: v for k, v in policy.items() if k != "metadata"}
        return {"kind": "NetworkPolicy", "apiVersion": API_VERSION, "metadata": meta, **body,
                "status": self._status(uid)}

    def _record(self, event: str, uid: str, deleted: bool = False) -> None:
        """Bump the resourceVersion and keep the event for watchers. Lock held."""
        self._rv += 1
        if deleted:
            obj = {"kind": "NetworkPolicy", "apiVersion": API_VERSION,
                   "metadata": {"name": uid, "uid": uid, "resourceVersion": str(self._rv)}}
        else:
            self._rvs[uid] = self._rv
            obj = self._view(uid)
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0][0]
        self._history.append((self._rv, event, obj))
        self._changed.notify_all()

    # -- the API --------------------------------------------------------------------------------
    def handle(self, req: ApiRequest) -> ApiReply:
        if req.subresource == "status":
            if req.method != "POST":
                raise ApiFailure(405, "MethodNotAllowed", "networkpolicies/status only accepts create")
            return self._post_status(req)
        if req.subresource or req.method != "GET":
            raise ApiFailure(405, "MethodNotAllowed", f"{req.method} is not supported")
        if req.name:
            with self._lock:
                if req.name not in self._policies:
                    raise ApiFailure(404, "NotFound", f'networkpolicies.{GROUP} "{req.name}" not found')
                return ApiReply.of(self._view(req.name))
        if req.watch:
            return ApiReply(200, stream=self._watch(req.query))
        with self._lock:
            items = [self._view(name) for name in sorted(self._policies)]
            rv = self._rv
        return ApiReply.of({"kind": "NetworkPolicyList", "apiVersion": API_VERSION,
                            "metadata": {"resourceVersion": str(rv)}, "items": items})

    def _post_status(self, req: ApiRequest) -> ApiReply:
        body = req.json()
        nodes = body.get("nodes")
        if not isinstance(nodes, list):
            raise ApiFailure(400, "BadRequest", "NetworkPolicyStatus.nodes must be a list")
        with self._lock:
            if req.name not in self._policies:
                raise ApiFailure(404, "NotFound", f'networkpolicies.{GROUP} "{req.name}" not found')
            for entry in nodes:
                if not isinstance(entry, dict) or not entry.get("nodeName"):
                    raise ApiFailure(400, "BadRequest", "every node status needs a nodeName")
                self._set_node_status(req.name, {
                    "nodeName": str(entry["nodeName"]), "generation": int(entry.get("generation") or 0),
                    "realizationFailure": bool(entry.get("realizationFailure")),
                    "message": str(entry.get("message") or "")})
        return ApiReply.of({"kind": "NetworkPolicyStatus", "apiVersion": API_VERSION,
                            "metadata": {"name": req.name}, "nodes": nodes}, 201)

    def _watch(self, query: dict[str, str]) -> Iterator[bytes]:
        since_raw = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 1800)
        end = time.monotonic() + timeout
        last_beat = time.monotonic()

        def line(event: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": event, "object": obj}).encode() + b"\n"

        with self._lock:
            if since_raw in ("", "0"):
                since = self._rv
                initial = [line("ADDED", self._view(name)) for name in sorted(self._policies)]
            else:
                since = int(since_raw)
                initial = []
                if since < self._compacted:
                    initial = [line("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "reason": "Expired", "code": 410,
                                              "message": f"too old resource version: {since} ({self._compacted})"})]
                    since = -1
        yield from initial
        if since < 0:
            return
        while not self._stop.is_set() and time.monotonic() < end:
            with self._changed:
                pending = [(rv, ev, obj) for rv, ev, obj in self._history if rv > since]
                if not pending:
                    self._changed.wait(1.0)
                    pending = [(rv, ev, obj) for rv, ev, obj in self._history if rv > since]
                current = self._rv
            for rv, event, obj in pending:
                since = rv
                yield line(event, obj)
            if bookmarks and time.monotonic() - last_beat >= BOOKMARK_INTERVAL:
                last_beat = time.monotonic()
                since = max(since, current)
                yield line("BOOKMARK", {"kind": "NetworkPolicy", "apiVersion": API_VERSION,
                                        "metadata": {"resourceVersion": str(since)}})
