"""AntreaControllerInfo and AntreaAgentInfo data (antrea.md §4), read by the health controller.

These objects keep their data at the top level (no spec/status). The models describe that data;
``metadata`` is ignored. Health is decided from the age of ``last_heartbeat_time``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from crds.models.base import ReadModel
from crds.models.formats import Base64, PortNumber

ConditionStatus = Literal["True", "False", "Unknown"]


class ObjectReference(ReadModel):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class NetworkPolicyControllerInfo(ReadModel):
    network_policy_num: int | None = None
    address_group_num: int | None = None
    applied_to_group_num: int | None = None


class ControllerCondition(ReadModel):
    type: Literal["ControllerHealthy"]
    status: ConditionStatus
    last_heartbeat_time: datetime
    reason: str | None = None
    message: str | None = None


class AgentCondition(ReadModel):
    type: Literal["AgentHealthy", "ControllerConnectionUp", "OVSDBConnectionUp", "OpenflowConnectionUp"]
    status: ConditionStatus
    last_heartbeat_time: datetime
    reason: str | None = None
    message: str | None = None


class _ComponentInfo(ReadModel):
    version: str | None = None
    pod_ref: ObjectReference | None = None
    node_ref: ObjectReference | None = None
    network_policy_controller_info: NetworkPolicyControllerInfo | None = None
    api_port: PortNumber | None = None


class AntreaControllerInfo(_ComponentInfo):
    """The single ``antrea-controller`` object."""

    service_ref: ObjectReference | None = None
    connected_agent_num: int | None = None
    controller_conditions: list[ControllerCondition] | None = None

    def heartbeat(self) -> datetime | None:
        """``lastHeartbeatTime`` of ``ControllerHealthy``, or None if never reported."""
        return next((c.last_heartbeat_time for c in self.controller_conditions or []
                     if c.type == "ControllerHealthy"), None)


class OVSInfo(ReadModel):
    version: str | None = None
    bridge_name: str | None = None
    flow_table: dict[str, int] | None = None


class NetworkInfo(ReadModel):
    transport_interface: str | None = None
    transport_interface_mtu: int | None = Field(default=None, ge=0)
    pod_mtu: int | None = Field(default=None, ge=0)
    transport_interface_ips: list[str] | None = Field(default=None, max_length=2)


class AntreaAgentInfo(_ComponentInfo):
    """One per Node, named after the Node; antrea-controller creates it empty."""

    node_subnets: list[str] | None = None
    ovs_info: OVSInfo | None = None
    local_pod_num: int | None = None
    agent_conditions: list[AgentCondition] | None = None
    api_ca_bundle: Base64 | None = None
    node_port_local_port_range: str | None = None
    network_info: NetworkInfo | None = None

    def condition(self, type_: str) -> AgentCondition | None:
        return next((c for c in self.agent_conditions or [] if c.type == type_), None)

    def heartbeat(self) -> datetime | None:
        """``lastHeartbeatTime`` of ``AgentHealthy``, or None if the agent never reported."""
        healthy = self.condition("AgentHealthy")
        return healthy.last_heartbeat_time if healthy else None
