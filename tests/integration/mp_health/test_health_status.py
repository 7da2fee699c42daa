"""The pure health rules (controllers/mp/health_status.py): observations in, AntreaClusterInfo out.

No I/O here: these pin each rule of the module docstring, so the end-to-end tests beside this file
only have to show that real objects reach the rules and the report reaches NSX.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.liveness import HEALTHY, NSX_CONNECTED, AdapterLiveness, LivenessCondition, read_liveness
from controllers.mp.health_status import (
    AgentSample,
    HealthInputs,
    HealthRules,
    agent_health,
    compute_cluster_info,
)
from crds.models import AntreaAgentInfo, AntreaControllerInfo

NOW = datetime(2026, 11, 27, 4, 0, 0, tzinfo=UTC)
RULES = HealthRules(antrea_heartbeat_period=60.0, missed_heartbeats=3)  # stale after 180 s


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def controller(seconds_ago: float = 10, status: str = "True", connected: int = 3) -> AntreaControllerInfo:
    return AntreaControllerInfo.model_validate({
        "connectedAgentNum": connected,
        "controllerConditions": [{"type": "ControllerHealthy", "status": status,
                                  "lastHeartbeatTime": stamp(seconds_ago)}]})


def agent(name: str, seconds_ago: float | None = 10, created_ago: float = 3600,
          **conditions: str) -> AgentSample:
    body: dict[str, Any] = {}
    if seconds_ago is not None:
        body["agentConditions"] = [
            {"type": t, "status": conditions.get(t, "True"), "lastHeartbeatTime": stamp(seconds_ago)}
            for t in ("AgentHealthy", "ControllerConnectionUp", "OVSDBConnectionUp", "OpenflowConnectionUp")]
    return AgentSample(name, AntreaAgentInfo.model_validate(body), NOW - timedelta(seconds=created_ago))


def running(component: str, healthy: bool = True, connected: bool = True) -> AdapterLiveness:
    conds = {HEALTHY: LivenessCondition(HEALTHY, healthy, "" if healthy else "CachesNotSynced", ""),
             NSX_CONNECTED: LivenessCondition(NSX_CONNECTED, connected, "" if connected else "Unreachable", "x")}
    return AdapterLiveness(component, "running", "pod-1", NOW - timedelta(seconds=2), conds)


def inputs(**overrides: Any) -> HealthInputs:
    base: dict[str, Any] = dict(now=NOW, controller=controller(),
                                agents=[agent("n1"), agent("n2"), agent("n3")],
                                mp=running("mp"), ccp=running("ccp"))
    base.update(overrides)
    return HealthInputs(**base)


def conditions(status: Any) -> dict[str, str]:
    return {c.condition_type: c.status for c in status.conditions}


def test_everything_fine_is_healthy() -> None:
    info = compute_cluster_info(inputs(), RULES)
    assert info.status == "HEALTHY"
    assert info.controller_status is not None and info.controller_status.status == "HEALTHY"
    assert info.controller_status.connected_agent_num == 3
    ctrl_cond = info.controller_status.conditions[0] if info.controller_status.conditions else None
    assert ctrl_cond is not None and ctrl_cond.condition_type == "CONTROLLER_HEALTHY"
    assert ctrl_cond.last_heartbeat_time == int((NOW - timedelta(seconds=10)).timestamp() * 1000)
    assert info.agent_info is not None
    assert (info.agent_info.healthy_agent_num, info.agent_info.degraded_agent_num,
            info.agent_info.failed_agent_num) == (3, 0, 0)
    assert conditions(info.mp_adapter_status) == {"MP_ADAPTER_HEALTHY": "HEALTHY", "MP_CONNECTED": "HEALTHY"}
    assert conditions(info.ccp_adapter_status) == {"CCP_ADAPTER_HEALTHY": "HEALTHY",
                                                   "CCP_SESSION_STATE_UP": "HEALTHY"}
    wire = info.to_wire()
    assert wire["resource_type"] == "AntreaClusterInfo" and wire["status"] == "HEALTHY"


@pytest.mark.parametrize(("sample", "expected"), [
    (agent("a", seconds_ago=179), "HEALTHY"),
    (agent("a", seconds_ago=181), "FAILED"),                       # older than 3 x 60 s
    (agent("a", OVSDBConnectionUp="False"), "DEGRADED"),
    (agent("a", ControllerConnectionUp="False"), "DEGRADED"),
    (agent("a", OpenflowConnectionUp="Unknown"), "DEGRADED"),
    (agent("a", AgentHealthy="False"), "DEGRADED"),
    (agent("a", OVSDBConnectionUp="False", seconds_ago=500), "FAILED"),   # stale wins
    (agent("a", seconds_ago=None, created_ago=30), "DEGRADED"),    # empty object, agent starting
    (agent("a", seconds_ago=None, created_ago=600), "FAILED"),     # empty object, agent never came
])
def test_agent_rules(sample: AgentSample, expected: str) -> None:
    assert agent_health(sample, NOW, RULES) == expected


def test_heartbeat_period_is_configurable() -> None:
    fast = HealthRules(antrea_heartbeat_period=1.0)
    assert agent_health(agent("a", seconds_ago=4), NOW, fast) == "FAILED"
    assert agent_health(agent("a", seconds_ago=2), NOW, fast) == "HEALTHY"


def test_one_agent_down_is_degraded_with_counts() -> None:
    info = compute_cluster_info(inputs(agents=[agent("n1"), agent("n2", seconds_ago=400),
                                               agent("n3", OVSDBConnectionUp="False")]), RULES)
    assert info.status == "DEGRADED"
    assert info.agent_info is not None
    assert (info.agent_info.healthy_agent_num, info.agent_info.degraded_agent_num,
            info.agent_info.failed_agent_num) == (1, 1, 1)


def test_every_agent_failed_is_failed() -> None:
    info = compute_cluster_info(inputs(agents=[agent("n1", seconds_ago=400), agent("n2", seconds_ago=None)]), RULES)
    assert info.status == "FAILED"
    assert info.controller_status is not None and info.controller_status.status == "HEALTHY"


@pytest.mark.parametrize(("ctrl", "ctrl_status", "reason"), [
    (None, "FAILED", "NotFound"),
    (controller(seconds_ago=200), "FAILED", "HeartbeatExpired"),
    (controller(status="False"), "FAILED", "ControllerUnhealthy"),
    (AntreaControllerInfo.model_validate({"connectedAgentNum": 2}), "FAILED", "NoHeartbeat"),
])
def test_controller_down_is_failed(ctrl: AntreaControllerInfo | None, ctrl_status: str, reason: str) -> None:
    info = compute_cluster_info(inputs(controller=ctrl), RULES)
    assert info.status == "FAILED"
    cs = info.controller_status
    assert cs is not None and cs.status == ctrl_status and cs.connected_agent_num == 0
    assert cs.conditions and cs.conditions[0].status == "UNHEALTHY" and cs.conditions[0].reason == reason


def test_controller_status_unknown_is_degraded() -> None:
    info = compute_cluster_info(inputs(controller=controller(status="Unknown")), RULES)
    assert info.controller_status is not None and info.controller_status.status == "DEGRADED"
    assert info.status == "DEGRADED"


def test_no_agents_at_all_with_a_healthy_controller_is_healthy() -> None:
    assert compute_cluster_info(inputs(agents=[]), RULES).status == "HEALTHY"


def test_stale_ccp_liveness() -> None:
    lease = {"metadata": {"name": "antrea-nsx-adapter-ccp-liveness"},
             "spec": {"holderIdentity": "pod-1", "leaseDurationSeconds": 30,
                      "renewTime": (NOW - timedelta(seconds=31)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
    ccp = read_liveness("ccp", lease, NOW)
    assert ccp.state == "stale"
    info = compute_cluster_info(inputs(ccp=ccp), RULES)
    assert info.status == "DEGRADED"
    assert info.ccp_adapter_status is not None and info.ccp_adapter_status.status == "FAILED"
    assert conditions(info.ccp_adapter_status) == {"CCP_ADAPTER_HEALTHY": "UNHEALTHY",
                                                   "CCP_SESSION_STATE_UP": "UNHEALTHY"}
    assert info.ccp_adapter_status.conditions and info.ccp_adapter_status.conditions[0].reason == "LivenessExpired"


def test_liveness_lease_states() -> None:
    renewed = (NOW - timedelta(seconds=29)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fresh = {"spec": {"holderIdentity": "p", "leaseDurationSeconds": 30, "renewTime": renewed},
             "metadata": {"annotations": {"antrea-nsx-adapter.io/conditions":
                                          '[{"type":"Healthy","status":"True"},'
                                          '{"type":"NsxConnected","status":"False","reason":"Down"}]'}}}
    live = read_liveness("ccp", fresh, NOW)
    assert live.state == "running" and live.holds(HEALTHY) and not live.holds(NSX_CONNECTED)
    assert live.why_not(NSX_CONNECTED)[0] == "Down"
    assert read_liveness("ccp", None, NOW).state == "absent"
    released = {"spec": {"holderIdentity": "", "leaseDurationSeconds": 30, "renewTime": renewed}}
    assert read_liveness("ccp", released, NOW).state == "stopped"


def test_adapter_condition_false_is_degraded() -> None:
    info = compute_cluster_info(inputs(ccp=running("ccp", connected=False)), RULES)
    assert info.status == "DEGRADED"
    assert info.ccp_adapter_status is not None and info.ccp_adapter_status.status == "DEGRADED"
    assert conditions(info.ccp_adapter_status) == {"CCP_ADAPTER_HEALTHY": "HEALTHY",
                                                   "CCP_SESSION_STATE_UP": "UNHEALTHY"}
    info = compute_cluster_info(inputs(mp=running("mp", healthy=False)), RULES)
    assert info.mp_adapter_status is not None and info.mp_adapter_status.status == "DEGRADED"
    assert conditions(info.mp_adapter_status)["MP_ADAPTER_HEALTHY"] == "UNHEALTHY"


def test_adapter_never_published_is_unknown() -> None:
    info = compute_cluster_info(inputs(ccp=AdapterLiveness("ccp", "absent")), RULES)
    assert info.ccp_adapter_status is not None and info.ccp_adapter_status.status == "UNKNOWN"
    assert info.status == "DEGRADED"
    assert all(c.status == "UNHEALTHY" and c.reason == "NotPublished"
               for c in info.ccp_adapter_status.conditions or [])
    # No null on the wire: a condition without a time simply has none.
    wire = info.to_wire()
    assert "last_heartbeat_time" not in wire["ccp_adapter_status"]["conditions"][0]
