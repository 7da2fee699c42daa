"""Antrea cluster registration (ClusterControlPlane) and the health it reports (AntreaClusterInfo)."""

from __future__ import annotations

from typing import Literal

from nsx.models.base import ManagedResource, NsxModel

ComponentStatus = Literal["HEALTHY", "DEGRADED", "FAILED", "UNKNOWN"]
ConditionType = Literal[
    "CONTROLLER_HEALTHY", "MP_ADAPTER_HEALTHY", "MP_CONNECTED", "CCP_ADAPTER_HEALTHY",
    "CCP_SESSION_STATE_UP",
]


class ClusterControlPlane(ManagedResource):
    """The cluster as NSX's policy side knows it; ``node_id`` is assigned by NSX on create.

    NSX has been seen to accept and echo both resource types; nothing may depend on which.
    """

    resource_type: Literal["ClusterControlPlane", "AntreaClusterControlPlane"] = "ClusterControlPlane"
    node_id: str | None = None
    certificate: str | None = None
    vhc_path: str | None = None


class ComponentConditionItem(NsxModel):
    condition_type: ConditionType | None = None
    status: Literal["HEALTHY", "UNHEALTHY"] | None = None
    last_heartbeat_time: int | None = None
    reason: str | None = None
    message: str | None = None


class AntreaControllerStatus(NsxModel):
    status: ComponentStatus | None = None
    connected_agent_num: int | None = None
    conditions: list[ComponentConditionItem] | None = None


class AntreaAgentsInfo(NsxModel):
    healthy_agent_num: int | None = None
    degraded_agent_num: int | None = None
    failed_agent_num: int | None = None


class AntreaAdapterStatus(NsxModel):
    status: ComponentStatus | None = None
    conditions: list[ComponentConditionItem] | None = None


class AntreaClusterInfo(ManagedResource):
    resource_type: Literal["AntreaClusterInfo"] = "AntreaClusterInfo"
    status: ComponentStatus | None = None
    controller_status: AntreaControllerStatus | None = None
    agent_info: AntreaAgentsInfo | None = None
    mp_adapter_status: AntreaAdapterStatus | None = None
    ccp_adapter_status: AntreaAdapterStatus | None = None


class AntreaHeartbeatConfig(ManagedResource):
    resource_type: Literal["AntreaHeartbeatConfig"] = "AntreaHeartbeatConfig"
    report_interval: int | None = None
