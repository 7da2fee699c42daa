"""The cluster health NSX is told (mapping.md §8): pure rules from observations to ``AntreaClusterInfo``.

NSX does not publish how it maps Antrea's monitoring objects to its four states (antrea.md §4.3), so
these are the project's rules, one function each, every one covered by a unit test:

Antrea's components (liveness = age of ``lastHeartbeatTime``; "stale" = older than
``missed_heartbeats`` × ``antrea_heartbeat_period``, 3 × 60 s by default):

- controller: no ``antrea-controller`` object, no ``ControllerHealthy`` condition, a stale
  heartbeat, or ``ControllerHealthy=False`` → FAILED (``connected_agent_num`` 0: a dead controller
  serves nobody); ``ControllerHealthy=Unknown`` → DEGRADED; otherwise HEALTHY with the reported
  ``connectedAgentNum``.
- agent: stale heartbeat → failed; never reported → failed, unless its object is younger than the
  stale limit (a Node whose agent is still starting) → degraded; fresh but any condition not
  ``True`` (``AgentHealthy``, ``ControllerConnectionUp``, ``OVSDBConnectionUp``,
  ``OpenflowConnectionUp``) → degraded; otherwise healthy.

The adapters (their liveness Leases, :mod:`controllers.liveness`):

- never published → UNKNOWN; stale or stopped → FAILED; running with a condition false → DEGRADED;
  otherwise HEALTHY. Conditions map ``Healthy`` → ``MP_ADAPTER_HEALTHY`` / ``CCP_ADAPTER_HEALTHY``
  and ``NsxConnected`` → ``MP_CONNECTED`` / ``CCP_SESSION_STATE_UP``.

Roll-up: FAILED when the controller is FAILED (nothing new can be enforced) or every agent is
failed (none enforces anything); HEALTHY when the controller, every agent and both adapters are
HEALTHY; DEGRADED otherwise. UNKNOWN is never sent: it is what NSX shows when reports stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from controllers.liveness import HEALTHY, NSX_CONNECTED, AdapterLiveness
from crds.models import AntreaAgentInfo, AntreaControllerInfo
from nsx.models.clusters import (
    AntreaAdapterStatus,
    AntreaAgentsInfo,
    AntreaClusterInfo,
    AntreaControllerStatus,
    ComponentConditionItem,
    ComponentStatus,
    ConditionType,
)

AgentHealth = Literal["HEALTHY", "DEGRADED", "FAILED"]


@dataclass(frozen=True)
class HealthRules:
    """When a heartbeat counts as stale."""

    antrea_heartbeat_period: float = 60.0
    """Seconds between Antrea's heartbeats (60 s in antrea-controller and antrea-agent). Tests use
    less, with the stand-in heartbeating faster."""

    missed_heartbeats: int = 3
    """Heartbeats that may be missed before a component is failed. Defaults to 3 (mapping.md §8)."""

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.antrea_heartbeat_period * self.missed_heartbeats)


@dataclass(frozen=True)
class AgentSample:
    """One ``AntreaAgentInfo`` as read, with its object's creation time (for the start-up grace)."""

    name: str
    info: AntreaAgentInfo
    created: datetime | None = None


@dataclass(frozen=True)
class HealthInputs:
    """Everything the report is computed from, observed at ``now``."""

    now: datetime
    controller: AntreaControllerInfo | None
    agents: Sequence[AgentSample]
    mp: AdapterLiveness
    ccp: AdapterLiveness


def _ms(t: datetime | None) -> int | None:
    return int(t.timestamp() * 1000) if t is not None else None


def _condition(ctype: ConditionType, ok: bool, when: datetime | None, reason: str = "",
               message: str = "") -> ComponentConditionItem:
    item = ComponentConditionItem(condition_type=ctype, status="HEALTHY" if ok else "UNHEALTHY",
                                  reason=reason, message=message)
    if when is not None:  # absent rather than null: NSX documents no null for it
        item.last_heartbeat_time = _ms(when)
    return item


def controller_status(controller: AntreaControllerInfo | None, now: datetime,
                      rules: HealthRules) -> AntreaControllerStatus:
    """antrea-controller's status (rules in the module docstring)."""
    if controller is None:
        return AntreaControllerStatus(status="FAILED", connected_agent_num=0, conditions=[
            _condition("CONTROLLER_HEALTHY", False, None, "NotFound",
                       "AntreaControllerInfo antrea-controller does not exist")])
    cond = next((c for c in controller.controller_conditions or [] if c.type == "ControllerHealthy"), None)
    if cond is None:
        return AntreaControllerStatus(status="FAILED", connected_agent_num=0, conditions=[
            _condition("CONTROLLER_HEALTHY", False, None, "NoHeartbeat", "antrea-controller never reported")])
    age = now - cond.last_heartbeat_time
    if age > rules.stale_after:
        return AntreaControllerStatus(status="FAILED", connected_agent_num=0, conditions=[
            _condition("CONTROLLER_HEALTHY", False, cond.last_heartbeat_time, "HeartbeatExpired",
                       f"last heartbeat {int(age.total_seconds())} s ago")])
    if cond.status == "False":
        return AntreaControllerStatus(status="FAILED", connected_agent_num=0, conditions=[
            _condition("CONTROLLER_HEALTHY", False, cond.last_heartbeat_time, cond.reason or "ControllerUnhealthy",
                       cond.message or "")])
    ok = cond.status == "True"
    return AntreaControllerStatus(
        status="HEALTHY" if ok else "DEGRADED",
        connected_agent_num=controller.connected_agent_num or 0,
        conditions=[_condition("CONTROLLER_HEALTHY", ok, cond.last_heartbeat_time,
                               "" if ok else cond.reason or "StatusUnknown", cond.message or "")],
    )


def agent_health(sample: AgentSample, now: datetime, rules: HealthRules) -> AgentHealth:
    """One agent's state (rules in the module docstring)."""
    beat = sample.info.heartbeat()
    if beat is None:
        young = sample.created is not None and now - sample.created <= rules.stale_after
        return "DEGRADED" if young else "FAILED"
    if now - beat > rules.stale_after:
        return "FAILED"
    if any(c.status != "True" for c in sample.info.agent_conditions or []):
        return "DEGRADED"
    return "HEALTHY"


def agents_info(agents: Sequence[AgentSample], now: datetime, rules: HealthRules) -> AntreaAgentsInfo:
    states = [agent_health(a, now, rules) for a in agents]
    return AntreaAgentsInfo(healthy_agent_num=states.count("HEALTHY"), degraded_agent_num=states.count("DEGRADED"),
                            failed_agent_num=states.count("FAILED"))


def adapter_status(liveness: AdapterLiveness, healthy_type: ConditionType,
                   connected_type: ConditionType) -> AntreaAdapterStatus:
    """One adapter's status from its liveness (rules in the module docstring)."""
    conditions = []
    for ctype, source in ((healthy_type, HEALTHY), (connected_type, NSX_CONNECTED)):
        ok = liveness.holds(source)
        reason, message = liveness.why_not(source)
        conditions.append(_condition(ctype, ok, liveness.renew_time, reason, message))
    status: ComponentStatus
    if liveness.state == "absent":
        status = "UNKNOWN"
    elif liveness.state != "running":
        status = "FAILED"
    elif all(c.status == "HEALTHY" for c in conditions):
        status = "HEALTHY"
    else:
        status = "DEGRADED"
    return AntreaAdapterStatus(status=status, conditions=conditions)


def roll_up(controller: AntreaControllerStatus, agents: AntreaAgentsInfo,
            adapters: Sequence[AntreaAdapterStatus]) -> ComponentStatus:
    healthy = agents.healthy_agent_num or 0
    degraded = agents.degraded_agent_num or 0
    failed = agents.failed_agent_num or 0
    if controller.status == "FAILED" or (failed and not healthy and not degraded):
        return "FAILED"
    if controller.status == "HEALTHY" and not degraded and not failed and all(
            a.status == "HEALTHY" for a in adapters):
        return "HEALTHY"
    return "DEGRADED"


def compute_cluster_info(inputs: HealthInputs, rules: HealthRules | None = None) -> AntreaClusterInfo:
    """The report for NSX's ``cluster-control-planes/{id}/status`` (mapping.md §8)."""
    rules = rules or HealthRules()
    controller = controller_status(inputs.controller, inputs.now, rules)
    agents = agents_info(inputs.agents, inputs.now, rules)
    mp = adapter_status(inputs.mp, "MP_ADAPTER_HEALTHY", "MP_CONNECTED")
    ccp = adapter_status(inputs.ccp, "CCP_ADAPTER_HEALTHY", "CCP_SESSION_STATE_UP")
    return AntreaClusterInfo(status=roll_up(controller, agents, (mp, ccp)), controller_status=controller,
                             agent_info=agents, mp_adapter_status=mp, ccp_adapter_status=ccp)
