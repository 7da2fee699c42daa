"""The adapter channel (docs/adapter-channel.md): what the adapter reports and what NSX asks of it.

Holds heartbeats, realization and statistics reports, and the queue of troubleshooting requests
(traceflow, support bundle, log collection) per cluster; the Policy read APIs (realized-state, statistics,
traceflow status, cluster status) are computed from it. It stands in for NSX-RPC, which is not public.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.nsx.errors import NsxError, bad_request, not_found
from sim.nsx.policy_kinds import CCP_COLLECTION
from sim.nsx.policy_store import PolicyStore, Tx, now_ms

MODULE = "AntreaAdapter"
COMPONENT_STATUS = ("HEALTHY", "DEGRADED", "FAILED", "UNKNOWN")
CONDITION_TYPES = ("CONTROLLER_HEALTHY", "MP_ADAPTER_HEALTHY", "MP_CONNECTED", "CCP_ADAPTER_HEALTHY",
                   "CCP_SESSION_STATE_UP")
REALIZATION_STATES = ("IN_PROGRESS", "REALIZED", "ERROR")
COMPONENT_TYPES = ("UNKNOWN", "ANTREA_SPOOFGUARD", "ANTREA_LB", "ANTREA_ROUTING", "ANTREA_DFW",
                   "ANTREA_FORWARDING")
OBSERVATION_TYPES = ("AntreaTraceflowObservationDelivered", "AntreaTraceflowObservationReceived",
                     "AntreaTraceflowObservationForwarded", "AntreaTraceflowObservationDropped")
REQUEST_TYPES = ("TRACEFLOW", "SUPPORT_BUNDLE", "LOG_COLLECTION")
MAX_ARCHIVE = 64 * 1024 * 1024
REQUEST_TTL_S = 2 * 3600
DEFAULT_REPORT_INTERVAL = 60
MAX_REPORTS = 1000


def channel_error(message: str) -> NsxError:
    return bad_request(message, 255, MODULE)


def _enum(value: Any, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise channel_error(f"invalid value {value!r} for {what}; allowed: {', '.join(allowed)}")


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise channel_error(f"{what} must be an integer >= 0")
    return value


def _only(body: dict[str, Any], allowed: set[str], what: str) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise channel_error(f"unknown field(s) {', '.join(extra)} in {what}")


def _item_path(op: str, item: Any) -> str | None:
    """The path a batch item names, if it names one (for its result, even when it is invalid)."""
    if op == "report":
        item = item.get("intent_path") if isinstance(item, dict) else None
    return item if isinstance(item, str) else None


def _checked_report(rep: Any, where: str) -> dict[str, Any]:
    """One realization report validated (400 naming ``where`` otherwise), as it is stored."""
    if not isinstance(rep, dict):
        raise channel_error(f"{where} must be an object")
    _only(rep, {"intent_path", "intent_revision", "state", "reasons"}, where)
    ipath = rep.get("intent_path")
    if not isinstance(ipath, str) or not ipath.startswith("/infra/"):
        raise channel_error(f"{where}.intent_path must be a policy path")
    _enum(rep.get("state"), REALIZATION_STATES, f"{where}.state")
    rev = rep.get("intent_revision")
    if rev is not None:
        _count(rev, f"{where}.intent_revision")
    reasons = rep.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > 100:
        raise channel_error(f"{where}.reasons must be a list of at most 100 entries")
    for r in reasons:
        if not isinstance(r, dict):
            raise channel_error(f"{where}.reasons entries must be objects")
        _only(r, {"message", "rule_id"}, f"{where}.reasons entry")
        if not isinstance(r.get("message"), str) or len(r["message"]) > 2048:
            raise channel_error(f"{where}.reasons[].message must be a string of at most 2048 characters")
        if "rule_id" in r and not isinstance(r["rule_id"], str):
            raise channel_error(f"{where}.reasons[].rule_id must be a string")
    return {"intent_path": ipath, "intent_revision": rev, "state": rep["state"],
            "reasons": [dict(r) for r in reasons], "last_update_time": now_ms()}


@dataclass
class AdapterRequest:
    """One troubleshooting request queued for a cluster."""

    id: str
    cluster_id: str
    type: str
    payload: dict[str, Any]
    created_time: int
    delivered: bool = False
    state: str = "PENDING"  # PENDING, DONE, CANCELLED
    result: dict[str, Any] | None = None
    archive: bytes | None = None
    archive_sha256: str | None = None
    traceflow_path: str | None = None

    def wire(self) -> dict[str, Any]:
        key = {"TRACEFLOW": "traceflow", "SUPPORT_BUNDLE": "support_bundle", "LOG_COLLECTION": "log_collection"}
        return {"id": self.id, "type": self.type, "created_time": self.created_time, key[self.type]: self.payload}


@dataclass
class ChannelState:
    """Everything the adapter channel knows; guarded by one condition variable."""

    store: PolicyStore
    cluster_aliases: Callable[[], dict[str, str]]  # inventory external_id → CCP id (by display_name)
    cond: threading.Condition = field(default_factory=threading.Condition)
    heartbeats: dict[str, tuple[dict[str, Any], float, int]] = field(default_factory=dict)
    report_interval: dict[str, int] = field(default_factory=dict)
    realization: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    realization_log: deque[tuple[str, str, str, int | None]] = field(
        default_factory=lambda: deque(maxlen=200_000))  # (cluster, path, state, revision) as stored
    item_faults: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # path → (times, status, code)
    statistics: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    requests: dict[str, AdapterRequest] = field(default_factory=dict)
    traceflow_request: dict[str, str] = field(default_factory=dict)  # traceflow path → request id
    traceflow_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # traceflow path → result
    stopping: bool = False

    # ---------------------------------------------------------------- clusters
    def cluster_path(self, cid: str) -> str:
        return f"{CCP_COLLECTION}/{cid}"

    def require_cluster(self, cid: str) -> dict[str, Any]:
        ccp = self.store.get_raw(self.cluster_path(cid))
        if ccp is None:
            raise not_found(self.cluster_path(cid))
        return ccp

    def resolve_cluster(self, container_cluster_id: str) -> str | None:
        """CCP id for a cluster reference: the id itself, a CCP ``node_id`` or an inventory cluster id."""
        ccps = self.store.collection(CCP_COLLECTION)
        for ccp in ccps:
            if container_cluster_id in (ccp["id"], ccp.get("node_id")):
                return str(ccp["id"])
        alias = self.cluster_aliases().get(container_cluster_id)
        if alias is not None and any(c["id"] == alias for c in ccps):
            return alias
        return None

    def on_commit(self, tx: Tx) -> None:
        """Forget the channel state of deleted clusters and cancel requests of deleted traceflows."""
        prefix = CCP_COLLECTION + "/"
        with self.cond:
            for path in tx.deleted:
                if path.startswith(prefix) and path.count("/") == prefix.count("/"):
                    cid = path[len(prefix):]
                    self.heartbeats.pop(cid, None)
                    self.realization.pop(cid, None)
                    self.statistics.pop(cid, None)
                    self.report_interval.pop(cid, None)
                if path.startswith("/infra/antrea/traceflows/"):
                    self._cancel_traceflow(path)
                    self.traceflow_results.pop(path, None)

    # ---------------------------------------------------------------- heartbeat (C1)
    def heartbeat(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.require_cluster(cid)
        _only(body, {"status", "controller_status", "agent_info", "mp_adapter_status", "ccp_adapter_status",
                     "resource_type", "display_name", "description"}, "AntreaClusterInfo")
        if body.get("resource_type") not in (None, "AntreaClusterInfo"):
            raise channel_error("resource_type must be AntreaClusterInfo")
        _enum(body.get("status"), COMPONENT_STATUS, "status")
        ctrl = body.get("controller_status")
        if ctrl is not None:
            if not isinstance(ctrl, dict):
                raise channel_error("controller_status must be an object")
            _only(ctrl, {"status", "connected_agent_num", "conditions"}, "controller_status")
            _enum(ctrl.get("status"), COMPONENT_STATUS, "controller_status.status")
            if "connected_agent_num" in ctrl:
                _count(ctrl["connected_agent_num"], "controller_status.connected_agent_num")
            self._conditions(ctrl.get("conditions"), "controller_status")
        agents = body.get("agent_info")
        if agents is not None:
            if not isinstance(agents, dict):
                raise channel_error("agent_info must be an object")
            _only(agents, {"healthy_agent_num", "degraded_agent_num", "failed_agent_num"}, "agent_info")
            for k, v in agents.items():
                _count(v, f"agent_info.{k}")
        for key in ("mp_adapter_status", "ccp_adapter_status"):
            ad = body.get(key)
            if ad is None:
                continue
            if not isinstance(ad, dict):
                raise channel_error(f"{key} must be an object")
            _only(ad, {"status", "conditions"}, key)
            _enum(ad.get("status"), COMPONENT_STATUS, f"{key}.status")
            self._conditions(ad.get("conditions"), key)
        with self.cond:
            self.heartbeats[cid] = (dict(body), time.monotonic(), now_ms())
        return {"report_interval": self.get_report_interval(cid)}

    @staticmethod
    def _conditions(conds: Any, what: str) -> None:
        if conds is None:
            return
        if not isinstance(conds, list):
            raise channel_error(f"{what}.conditions must be a list")
        for c in conds:
            if not isinstance(c, dict):
                raise channel_error(f"{what}.conditions entries must be objects")
            _only(c, {"condition_type", "status", "last_heartbeat_time", "reason", "message"}, f"{what} condition")
            _enum(c.get("condition_type"), CONDITION_TYPES, f"{what}.conditions.condition_type")
            _enum(c.get("status"), ("HEALTHY", "UNHEALTHY"), f"{what}.conditions.status")

    def get_report_interval(self, cid: str) -> int:
        with self.cond:
            return self.report_interval.get(cid, DEFAULT_REPORT_INTERVAL)

    def heartbeat_config(self, cid: str) -> dict[str, Any]:
        self.require_cluster(cid)
        path = self.cluster_path(cid) + "/heartbeat-config"
        return {"resource_type": "AntreaHeartbeatConfig", "id": "heartbeat-config", "path": path,
                "parent_path": self.cluster_path(cid), "relative_path": "heartbeat-config",
                "report_interval": self.get_report_interval(cid), "_revision": 0}

    def set_heartbeat_config(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.require_cluster(cid)
        ri = body.get("report_interval")
        if isinstance(ri, bool) or not isinstance(ri, int | float) or ri <= 0:
            raise bad_request("report_interval must be a positive number of seconds")
        with self.cond:
            self.report_interval[cid] = ri  # type: ignore[assignment]
        return self.heartbeat_config(cid)

    def cluster_status(self, cid: str) -> dict[str, Any]:
        self.require_cluster(cid)
        path = self.cluster_path(cid)
        with self.cond:
            hb = self.heartbeats.get(cid)
        interval = self.get_report_interval(cid)
        out: dict[str, Any] = {"resource_type": "AntreaClusterInfo", "id": "status", "display_name": cid,
                               "path": f"{path}/status", "parent_path": path, "relative_path": "status"}
        if hb is None:
            out.update(status="UNKNOWN", controller_status={"status": "UNKNOWN"},
                       agent_info={"healthy_agent_num": 0, "degraded_agent_num": 0, "failed_agent_num": 0},
                       mp_adapter_status={"status": "UNKNOWN"}, ccp_adapter_status={"status": "UNKNOWN"})
            return out
        info, mono, wall = hb
        out.update({k: v for k, v in info.items() if k not in ("resource_type",)})
        out["_last_modified_time"] = wall
        if time.monotonic() - mono > 3 * interval:
            out["status"] = "UNKNOWN"
            for key in ("controller_status", "mp_adapter_status", "ccp_adapter_status"):
                comp = dict(out.get(key) or {})
                comp["status"] = "UNKNOWN"
                out[key] = comp
        return out

    # ---------------------------------------------------------------- realization (C2-C4, C9)
    def report_realization(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        """C2: the whole request is applied atomically (one invalid report → 400, nothing stored)."""
        self.require_cluster(cid)
        _only(body, {"reports"}, "realization request")
        reports = body.get("reports")
        if not isinstance(reports, list):
            raise channel_error("reports must be a list")
        if len(reports) > MAX_REPORTS:
            raise channel_error(f"at most {MAX_REPORTS} reports per request")
        accepted: dict[str, dict[str, Any]] = {}
        ignored: list[str] = []
        for i, rep in enumerate(reports):
            stored = _checked_report(rep, f"reports[{i}]")
            if self.store.get_raw(stored["intent_path"]) is None:
                ignored.append(stored["intent_path"])
                continue
            accepted[stored["intent_path"]] = stored
        with self.cond:
            self._store_reports(cid, accepted, ())
        return {"accepted": len(accepted), "ignored": ignored}

    def report_realization_batch(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        """C9: every item is answered on its own, so one bad or unknown policy never holds back the
        others; the items that succeed are applied together."""
        self.require_cluster(cid)
        _only(body, {"reports", "withdrawals"}, "realization batch")
        reports = body.get("reports", [])
        withdrawals = body.get("withdrawals", [])
        if not isinstance(reports, list) or not isinstance(withdrawals, list):
            raise channel_error("reports and withdrawals must be lists")
        if len(reports) + len(withdrawals) > MAX_REPORTS:
            raise channel_error(f"at most {MAX_REPORTS} reports and withdrawals per request")
        items: list[tuple[str, str, Any]] = [("report", f"reports[{i}]", r) for i, r in enumerate(reports)]
        items += [("withdraw", f"withdrawals[{i}]", w) for i, w in enumerate(withdrawals)]
        results: list[dict[str, Any]] = []
        stored: dict[str, dict[str, Any]] = {}
        withdrawn: list[str] = []
        seen: set[str] = set()
        for op, where, item in items:
            result: dict[str, Any] = {"intent_path": _item_path(op, item), "op": op}
            try:
                if op == "report":
                    checked = _checked_report(item, where)
                    rep: dict[str, Any] | None = checked
                    path = checked["intent_path"]
                else:
                    rep = None
                    if not isinstance(item, str) or not item.startswith("/infra/"):
                        raise channel_error(f"{where} must be a policy path")
                    path = item
                if path in seen:
                    raise channel_error(f"{where}: {path} appears more than once in this request")
                seen.add(path)
                injected = self._take_item_fault(path)
                if injected is not None:
                    raise injected
                if rep is None:
                    withdrawn.append(path)
                elif self.store.get_raw(path) is None:
                    raise not_found(path)
                else:
                    stored[path] = rep
                result["status"] = 200
            except NsxError as err:
                result.update(status=err.status, error_code=err.error_code, error_message=err.message)
            results.append(result)
        with self.cond:
            self._store_reports(cid, stored, withdrawn)
        accepted = sum(1 for r in results if r["status"] == 200)
        return {"results": results, "accepted": accepted, "failed": len(results) - accepted}

    def _store_reports(self, cid: str, reports: dict[str, dict[str, Any]], withdrawn: Iterable[str]) -> None:
        """Caller holds ``cond``."""
        held = self.realization.setdefault(cid, {})
        held.update(reports)
        for path, rep in reports.items():
            self.realization_log.append((cid, path, rep["state"], rep["intent_revision"]))
        for path in withdrawn:
            held.pop(path, None)
            self.realization_log.append((cid, path, "WITHDRAWN", None))

    def fail_realization_items(self, intent_paths: Iterable[str], status: int = 503, times: int = 1,
                               error_code: int | None = None) -> None:
        """Test hook: answer the next ``times`` batch items (C9) of each path with ``status``."""
        with self.cond:
            for path in intent_paths:
                self.item_faults[path] = (times, status, error_code if error_code is not None else status)

    def _take_item_fault(self, path: str) -> NsxError | None:
        with self.cond:
            fault = self.item_faults.get(path)
            if fault is None:
                return None
            times, status, code = fault
            if times <= 1:
                del self.item_faults[path]
            else:
                self.item_faults[path] = (times - 1, status, code)
        return NsxError(status, code, f"injected failure for {path}", MODULE)

    def realization_history(self, cid: str) -> list[tuple[str, str, int | None]]:
        """(intent_path, state or ``WITHDRAWN``, intent_revision) of every report stored for ``cid``,
        oldest first: lets tests see that something arrived exactly once."""
        with self.cond:
            return [(p, s, r) for c, p, s, r in self.realization_log if c == cid]

    def list_realization(self, cid: str) -> dict[str, Any]:
        self.require_cluster(cid)
        with self.cond:
            results = [dict(r) for r in self.realization.get(cid, {}).values()]
        results.sort(key=lambda r: r["intent_path"])
        return {"results": results, "result_count": len(results)}

    def withdraw_realization(self, cid: str, intent_path: str | None) -> None:
        self.require_cluster(cid)
        if not intent_path:
            raise channel_error("intent_path is required")
        with self.cond:
            self.realization.get(cid, {}).pop(intent_path, None)

    def cluster_state(self, cid: str, policy_path: str) -> tuple[str, list[dict[str, Any]]]:
        """(``SUCCESS``/``IN_PROGRESS``/``ERROR``, reasons) of one policy in one cluster."""
        policy = self.store.get_raw(policy_path) or {}
        with self.cond:
            rep = self.realization.get(cid, {}).get(policy_path)
        if rep is None:
            return "IN_PROGRESS", []
        if rep["state"] == "ERROR":
            return "ERROR", rep["reasons"]
        if rep["state"] == "REALIZED":
            rev = rep.get("intent_revision")
            if rev is not None and rev < policy.get("_revision", 0):
                return "IN_PROGRESS", []
            return "SUCCESS", []
        return "IN_PROGRESS", rep["reasons"]

    def realized_status(self, intent_path: str) -> dict[str, Any]:
        obj = self.store.get_raw(intent_path)
        if obj is None:
            raise not_found(intent_path)
        per_ep: list[dict[str, Any]] = []
        states: list[str] = []
        policy_path = intent_path
        if obj.get("resource_type") == "Rule":
            policy_path = obj["parent_path"]
        spans = self.store.spanned_clusters(policy_path) if obj.get("resource_type") in (
            "SecurityPolicy", "Rule") else []
        for cpath in spans:
            cid = cpath.rsplit("/", 1)[1]
            state, _ = self.cluster_state(cid, policy_path)
            states.append(state)
            per_ep.append({"resource_type": "ConsolidatedStatusPerEnforcementPoint",
                           "enforcement_point_path": cpath, "enforcement_point_id": cid,
                           "site_path": "/infra/sites/default",
                           "consolidated_status": {"consolidated_status": state}})
        if "ERROR" in states:
            overall = "ERROR"
        elif "IN_PROGRESS" in states:
            overall = "IN_PROGRESS"
        else:
            overall = "SUCCESS"
        publish = {"SUCCESS": "REALIZED", "ERROR": "ERROR", "IN_PROGRESS": "UNREALIZED"}[overall]
        return {"intent_path": intent_path, "intent_version": str(obj.get("_revision", 0)),
                "consolidated_status": {"consolidated_status": overall},
                "consolidated_status_per_enforcement_point": per_ep, "publish_status": publish}

    def realized_entities(self, intent_path: str) -> dict[str, Any]:
        obj = self.store.get_raw(intent_path)
        if obj is None:
            raise not_found(intent_path)
        results = []
        for cpath in self.store.spanned_clusters(intent_path):
            cid = cpath.rsplit("/", 1)[1]
            state, reasons = self.cluster_state(cid, intent_path)
            results.append({
                "resource_type": "GenericPolicyRealizedResource", "entity_type": "RealizedAntreaClusterNetworkPolicy",
                "id": f"{cid}-{obj['id']}", "display_name": obj.get("display_name"), "intent_paths": [intent_path],
                "enforcement_point_path": cpath,
                "state": {"SUCCESS": "REALIZED", "ERROR": "ERROR", "IN_PROGRESS": "UNREALIZED"}[state],
                "runtime_status": "UP" if state == "SUCCESS" else "UNKNOWN",
                "alarms": [{"message": r["message"], "error_details": {"rule_id": r.get("rule_id")}}
                           for r in reasons],
            })
        return {"results": results, "result_count": len(results)}

    # ---------------------------------------------------------------- statistics (C5)
    def report_statistics(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.require_cluster(cid)
        _only(body, {"policies"}, "statistics request")
        policies = body.get("policies")
        if not isinstance(policies, list):
            raise channel_error("policies must be a list")
        staged: dict[str, dict[str, dict[str, int]]] = {}
        ignored: list[str] = []
        accepted = 0
        for i, pol in enumerate(policies):
            if not isinstance(pol, dict):
                raise channel_error(f"policies[{i}] must be an object")
            _only(pol, {"intent_path", "rules"}, f"policies[{i}]")
            ppath = pol.get("intent_path")
            rules = pol.get("rules")
            if not isinstance(ppath, str) or not isinstance(rules, list):
                raise channel_error(f"policies[{i}] needs intent_path (string) and rules (list)")
            known = self.store.get_raw(ppath) is not None
            if not known:
                ignored.append(ppath)
            for j, rule in enumerate(rules):
                if not isinstance(rule, dict):
                    raise channel_error(f"policies[{i}].rules[{j}] must be an object")
                _only(rule, {"rule_id", "packet_count", "byte_count", "session_count", "hit_count"},
                      f"policies[{i}].rules[{j}]")
                rid = rule.get("rule_id")
                if not isinstance(rid, str) or not rid:
                    raise channel_error(f"policies[{i}].rules[{j}].rule_id must be the NSX rule id (string)")
                counters = {k: _count(rule.get(k), f"policies[{i}].rules[{j}].{k}")
                            for k in ("packet_count", "byte_count", "session_count")}
                counters["hit_count"] = _count(rule.get("hit_count", counters["session_count"]),
                                               f"policies[{i}].rules[{j}].hit_count")
                if not known:
                    continue
                if self.store.get_raw(f"{ppath}/rules/{rid}") is None:
                    ignored.append(f"{ppath}/rules/{rid}")
                    continue
                staged.setdefault(ppath, {})[rid] = counters
                accepted += 1
        with self.cond:
            per = self.statistics.setdefault(cid, {})
            for ppath, rules in staged.items():
                per.setdefault(ppath, {}).update(rules)
        return {"accepted": accepted, "ignored": ignored}

    def rule_statistics(self, cid: str, rule: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            c = self.statistics.get(cid, {}).get(rule["parent_path"], {}).get(rule["id"], {})
        return {"rule": rule["path"], "internal_rule_id": str(rule.get("rule_id")),
                "hit_count": c.get("hit_count", 0), "packet_count": c.get("packet_count", 0),
                "byte_count": c.get("byte_count", 0), "session_count": c.get("session_count", 0),
                "popularity_index": 0, "max_popularity_index": 0, "max_session_count": 0,
                "total_session_count": c.get("session_count", 0)}

    # ---------------------------------------------------------------- requests (C6-C8)
    def enqueue(self, cid: str, rtype: str, payload: dict[str, Any], traceflow_path: str | None = None) -> str:
        _enum(rtype, REQUEST_TYPES, "type")
        req = AdapterRequest(str(uuid.uuid4()), cid, rtype, payload, now_ms(), traceflow_path=traceflow_path)
        with self.cond:
            self._expire_old()
            self.requests[req.id] = req
            if traceflow_path:
                self._cancel_traceflow(traceflow_path)
                self.traceflow_request[traceflow_path] = req.id
                self.traceflow_results.pop(traceflow_path, None)
            self.cond.notify_all()
        return req.id

    def _expire_old(self) -> None:
        cutoff = now_ms() - REQUEST_TTL_S * 1000
        for rid in [r.id for r in self.requests.values() if r.created_time < cutoff]:
            self.requests.pop(rid, None)

    def _cancel_traceflow(self, tf_path: str) -> None:
        rid = self.traceflow_request.pop(tf_path, None)
        if rid and rid in self.requests and self.requests[rid].state == "PENDING":
            self.requests[rid].state = "CANCELLED"

    def fail_traceflow(self, tf_path: str, reason: str) -> None:
        with self.cond:
            self._cancel_traceflow(tf_path)
            self.traceflow_results[tf_path] = {"phase": "FAILED", "reason": reason, "observations": []}

    def poll(self, cid: str, timeout: float, include_delivered: bool) -> list[dict[str, Any]]:
        self.require_cluster(cid)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                ready = [r for r in self.requests.values() if r.cluster_id == cid and r.state == "PENDING"
                         and (include_delivered or not r.delivered)]
                if ready or self.stopping:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 1.0))
            ready.sort(key=lambda r: r.created_time)
            for r in ready:
                r.delivered = True
            return [r.wire() for r in ready]

    def _request(self, cid: str, rid: str) -> AdapterRequest:
        """Caller holds ``cond`` and has checked the cluster (store lock is never taken under ``cond``)."""
        req = self.requests.get(rid)
        if req is None or req.cluster_id != cid or req.state == "CANCELLED":
            raise not_found(f"/api/v1/antrea-adapter/clusters/{cid}/requests/{rid}")
        return req

    def post_result(self, cid: str, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.require_cluster(cid)
        with self.cond:
            req = self._request(cid, rid)
            if req.state == "DONE":
                raise NsxError(409, 500110, f"request {rid} is already completed", MODULE)
            _enum(body.get("phase"), ("SUCCEEDED", "FAILED"), "phase")
            if body.get("reason") is not None and not isinstance(body["reason"], str):
                raise channel_error("reason must be a string")
            if req.type == "TRACEFLOW":
                _only(body, {"phase", "reason", "observations"}, "traceflow result")
                obs = body.get("observations", [])
                if not isinstance(obs, list):
                    raise channel_error("observations must be a list")
                for o in obs:
                    if not isinstance(o, dict):
                        raise channel_error("observations entries must be objects")
                    _enum(o.get("component_type"), COMPONENT_TYPES, "observations[].component_type")
                    _enum(o.get("observation_type"), OBSERVATION_TYPES, "observations[].observation_type")
                    if "timestamp" in o:
                        _count(o["timestamp"], "observations[].timestamp")
                result = {"phase": body["phase"], "reason": body.get("reason", ""), "observations": obs}
                if req.traceflow_path:
                    self.traceflow_results[req.traceflow_path] = result
            else:
                _only(body, {"phase", "reason", "success_nodes", "failed_nodes"}, "bundle result")
                for key in ("success_nodes", "failed_nodes"):
                    nodes = body.get(key, [])
                    if not isinstance(nodes, list) or not all(isinstance(n, dict) and isinstance(
                            n.get("node_id"), str) for n in nodes):
                        raise channel_error(f"{key} must be a list of objects with node_id")
                if body["phase"] == "SUCCEEDED" and req.archive is None:
                    raise channel_error("upload the archive (PUT …/archive) before reporting SUCCEEDED")
                result = {"phase": body["phase"], "reason": body.get("reason", ""),
                          "success_nodes": body.get("success_nodes", []),
                          "failed_nodes": body.get("failed_nodes", [])}
            req.result = result
            req.state = "DONE"
            self.cond.notify_all()
            return {"id": rid, "type": req.type, "state": "DONE"}

    def upload_archive(self, cid: str, rid: str, data: bytes) -> dict[str, Any]:
        if len(data) > MAX_ARCHIVE:
            raise NsxError(413, 413, "archive larger than 64 MiB", MODULE)
        self.require_cluster(cid)
        with self.cond:
            req = self._request(cid, rid)
            if req.type == "TRACEFLOW":
                raise channel_error("a traceflow request has no archive")
            if req.state == "DONE":
                raise NsxError(409, 500110, f"request {rid} is already completed", MODULE)
            req.archive = data
            req.archive_sha256 = hashlib.sha256(data).hexdigest()
            return {"size": len(data), "sha256": req.archive_sha256}

    def wait_done(self, rids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.stopping:
                if all(self.requests.get(r) is None or self.requests[r].state != "PENDING" for r in rids):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(min(left, 0.5))

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
