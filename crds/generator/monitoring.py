"""Schemas of the monitoring CRDs AntreaControllerInfo and AntreaAgentInfo (antrea.md §4).

Their data sits at the top level of the object (no spec/status) and there is no status
subresource: Antrea's controller and agents rewrite the whole object every 60 s. Liveness is the
age of ``lastHeartbeatTime`` in the conditions, which is why that field is required.
"""

from __future__ import annotations

from typing import Any

from crds.generator import blocks as b
from crds.generator.crd import custom_resource_definition

Schema = b.Schema

CONTROLLER_CONDITION_TYPES = ["ControllerHealthy"]
AGENT_CONDITION_TYPES = ["AgentHealthy", "ControllerConnectionUp", "OVSDBConnectionUp", "OpenflowConnectionUp"]


def _health_conditions(types: list[str]) -> Schema:
    """Conditions of a component; the only timestamp is the heartbeat, and it is mandatory."""
    condition = b.obj(
        {
            "type": b.string(enum=list(types)),
            "status": b.string(enum=list(b.CONDITION_STATUSES)),
            "lastHeartbeatTime": b.string(format="date-time"),
            "reason": b.string(),
            "message": b.string(),
        },
        required=["type", "status", "lastHeartbeatTime"],
    )
    return b.array(condition)


def _policy_counters() -> Schema:
    return b.described(
        b.obj({name: b.int32() for name in ("networkPolicyNum", "addressGroupNum", "appliedToGroupNum")}),
        "Counts of the internal policy objects computed or received.",
    )


def _column(name: str, path: str, type_: str, text: str, priority: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {"description": text, "jsonPath": path, "name": name, "type": type_}
    if priority:
        entry["priority"] = priority
    return entry


def antrea_controller_info() -> dict[str, Any]:
    """``AntreaControllerInfo``: one object, ``antrea-controller``, refreshed every minute."""
    health = ".controllerConditions[?(@.type=='ControllerHealthy')]"
    schema = b.obj(
        {
            "version": b.described(b.string(), "Antrea version of the controller."),
            "podRef": b.object_reference(),
            "nodeRef": b.object_reference(),
            "serviceRef": b.object_reference(),
            "networkPolicyControllerInfo": _policy_counters(),
            "connectedAgentNum": b.described(b.int32(), "Agents currently watching the controller."),
            "controllerConditions": _health_conditions(CONTROLLER_CONDITION_TYPES),
            "apiPort": b.described(b.port_number(), "Port of the controller API."),
        }
    )
    return custom_resource_definition(
        kind="AntreaControllerInfo",
        plural="antreacontrollerinfos",
        short_names=["aci"],
        namespaced=False,
        version="v1beta1",
        schema=schema,
        description="Health and counters of antrea-controller, as it last reported them.",
        status_subresource=False,
        printer_columns=[
            _column("Healthy", f"{health}.status", "string", "Health status of the controller."),
            _column("Last Heartbeat", f"{health}.lastHeartbeatTime", "date", "When the controller last reported."),
            _column("Version", ".version", "string", "Antrea version of the controller.", 1),
            _column("Connected Agents", ".connectedAgentNum", "integer", "Agents connected to the controller.", 1),
            _column("Node", ".nodeRef.name", "string", "Node running the controller.", 1),
            _column("Num Network Policies", ".networkPolicyControllerInfo.networkPolicyNum", "integer",
                    "Network policies computed by the controller.", 2),
        ],
    )


def antrea_agent_info() -> dict[str, Any]:
    """``AntreaAgentInfo``: one object per Node, named after the Node."""
    health = ".agentConditions[?(@.type=='AgentHealthy')]"
    schema = b.obj(
        {
            "version": b.described(b.string(), "Antrea version of the agent."),
            "podRef": b.object_reference(),
            "nodeRef": b.object_reference(),
            "nodeSubnets": b.described(b.string_list(), "Pod CIDRs of the Node."),
            "ovsInfo": b.obj(
                {
                    "version": b.string(),
                    "bridgeName": b.string(),
                    "flowTable": b.described(
                        {"type": "object", "additionalProperties": b.int32()}, "Flow count per OVS table."
                    ),
                }
            ),
            "networkPolicyControllerInfo": _policy_counters(),
            "localPodNum": b.described(b.int32(), "Pods on this Node managed by the agent."),
            "agentConditions": _health_conditions(AGENT_CONDITION_TYPES),
            "apiPort": b.described(b.port_number(), "Port of the agent API."),
            "apiCABundle": b.described(b.string(format="byte"), "Base64 PEM CA of the agent API certificate."),
            "nodePortLocalPortRange": b.described(b.string(), "NodePortLocal range, e.g. 61000-62000."),
            "networkInfo": b.obj(
                {
                    "transportInterface": b.string(),
                    "transportInterfaceMTU": b.int32(minimum=0),
                    "podMTU": b.int32(minimum=0),
                    "transportInterfaceIPs": b.described(
                        b.array(b.string(), maxItems=2), "At most one address per IP family."
                    ),
                }
            ),
        }
    )
    return custom_resource_definition(
        kind="AntreaAgentInfo",
        plural="antreaagentinfos",
        short_names=["aai"],
        namespaced=False,
        version="v1beta1",
        schema=schema,
        description="Health and counters of one antrea-agent, as it last reported them.",
        status_subresource=False,
        printer_columns=[
            _column("Healthy", f"{health}.status", "string", "Health status of the agent."),
            _column("Last Heartbeat", f"{health}.lastHeartbeatTime", "date", "When the agent last reported."),
            _column("Version", ".version", "string", "Antrea version of the agent.", 1),
            _column("Node", ".nodeRef.name", "string", "Node the agent runs on.", 1),
            _column("Num Pods", ".localPodNum", "integer", "Local Pods managed by the agent.", 2),
            _column("Subnets", ".nodeSubnets", "string", "Pod subnets of the Node.", 2),
        ],
    )
