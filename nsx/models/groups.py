"""Group and its membership expressions, discriminated by ``resource_type``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from nsx.models.base import ManagedResource, NsxModel

MemberType = Literal[
    "IPSet", "VirtualMachine", "LogicalPort", "LogicalSwitch", "Segment", "SegmentPort", "Pod",
    "Service", "Namespace", "TransportNode", "Group", "DVPG", "DVPort", "IPAddress", "VpcSubnet",
    "KubernetesCluster", "KubernetesNamespace", "AntreaEgress", "AntreaIPPool", "KubernetesIngress",
    "KubernetesGateway", "KubernetesService", "KubernetesNode", "VpcSubnetPort", "BareMetalServer",
    "BareMetalServerInterface",
]
ConditionKey = Literal[
    "Tag", "Name", "OSName", "ComputerName", "NodeType", "GroupType", "ALL", "IPAddress", "PodCidr",
    "Scope", "ManagementInterface", "OSVersion",
]
ConditionOperator = Literal[
    "EQUALS", "CONTAINS", "STARTSWITH", "ENDSWITH", "NOTEQUALS", "NOTIN", "MATCHES", "IN",
]
ExternalIdMemberType = Literal[
    "VirtualMachine", "VirtualNetworkInterface", "CloudNativeServiceInstance", "PhysicalServer",
]
GroupType = Literal["IPAddress", "ANTREA", "BareMetalServer"]


class Condition(ManagedResource):
    resource_type: Literal["Condition"] = "Condition"
    member_type: MemberType
    key: ConditionKey
    operator: ConditionOperator | None = None
    scope_operator: Literal["EQUALS", "NOTEQUALS"] | None = None
    value: str
    exclude: dict[str, Any] | None = None


class ConjunctionOperator(ManagedResource):
    resource_type: Literal["ConjunctionOperator"] = "ConjunctionOperator"
    conjunction_operator: Literal["OR", "AND"]


NestedItem = Annotated[Condition | ConjunctionOperator, Field(discriminator="resource_type")]


class NestedExpression(ManagedResource):
    """One level of AND-ed conditions; NSX allows nothing deeper inside it."""

    resource_type: Literal["NestedExpression"] = "NestedExpression"
    expressions: list[NestedItem] = Field(default_factory=list)


class IPAddressExpression(ManagedResource):
    resource_type: Literal["IPAddressExpression"] = "IPAddressExpression"
    ip_addresses: list[str] = Field(default_factory=list)


class MACAddressExpression(ManagedResource):
    resource_type: Literal["MACAddressExpression"] = "MACAddressExpression"
    mac_addresses: list[str] = Field(default_factory=list)


class PathExpression(ManagedResource):
    resource_type: Literal["PathExpression"] = "PathExpression"
    paths: list[str] = Field(default_factory=list)


class ExternalIDExpression(ManagedResource):
    resource_type: Literal["ExternalIDExpression"] = "ExternalIDExpression"
    member_type: ExternalIdMemberType
    external_ids: list[str] = Field(default_factory=list)


class IdentityGroupInfo(NsxModel):
    distinguished_name: str | None = None
    domain_base_distinguished_name: str | None = None
    sid: str | None = None


class IdentityGroupExpression(ManagedResource):
    resource_type: Literal["IdentityGroupExpression"] = "IdentityGroupExpression"
    identity_groups: list[IdentityGroupInfo] = Field(default_factory=list)


Expression = Annotated[
    Condition
    | ConjunctionOperator
    | NestedExpression
    | IPAddressExpression
    | MACAddressExpression
    | PathExpression
    | ExternalIDExpression
    | IdentityGroupExpression,
    Field(discriminator="resource_type"),
]


class Group(ManagedResource):
    resource_type: Literal["Group"] = "Group"
    expression: list[Expression] | None = None
    extended_expression: list[Expression] | None = None
    group_type: list[GroupType] | None = None
    reference: bool | None = None
    state: Literal["IN_PROGRESS", "SUCCESS", "FAILURE"] | None = None
