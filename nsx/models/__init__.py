"""Pydantic models of the NSX Policy and Manager objects the adapter reads and writes."""

from nsx.models.base import ManagedResource, NsxModel, Tag
from nsx.models.clusters import (
    AntreaAdapterStatus,
    AntreaAgentsInfo,
    AntreaClusterInfo,
    AntreaControllerStatus,
    AntreaHeartbeatConfig,
    ClusterControlPlane,
    ComponentConditionItem,
)
from nsx.models.errors import ApiError, RelatedApiError
from nsx.models.groups import (
    Condition,
    ConjunctionOperator,
    Expression,
    ExternalIDExpression,
    Group,
    IdentityGroupExpression,
    IPAddressExpression,
    MACAddressExpression,
    NestedExpression,
    PathExpression,
)
from nsx.models.inventory import (
    ContainerApplication,
    ContainerApplicationInstance,
    ContainerCluster,
    ContainerClusterNode,
    ContainerIngressPolicy,
    ContainerInventoryData,
    ContainerInventoryObject,
    ContainerNetworkPolicy,
    ContainerObject,
    ContainerProject,
)
from nsx.models.lists import ListResult
from nsx.models.policy import Rule, RuleStatistics, SecurityPolicy, SecurityPolicyContainerCluster
from nsx.models.realization import ConsolidatedRealizedStatus
from nsx.models.services import (
    ALGTypeServiceEntry,
    EtherTypeServiceEntry,
    ICMPTypeServiceEntry,
    IGMPTypeServiceEntry,
    IPProtocolServiceEntry,
    L4PortSetServiceEntry,
    NestedServiceServiceEntry,
    Service,
    ServiceEntry,
)
from nsx.models.traceflow import AntreaTraceflowConfig, AntreaTraceflowObservation, AntreaTraceflowStatus
from nsx.models.trust import PrincipalIdentity, PrincipalIdentityWithCertificate

__all__ = [
    "ALGTypeServiceEntry", "AntreaAdapterStatus", "AntreaAgentsInfo", "AntreaClusterInfo",
    "AntreaControllerStatus", "AntreaHeartbeatConfig", "AntreaTraceflowConfig",
    "AntreaTraceflowObservation", "AntreaTraceflowStatus", "ApiError", "ClusterControlPlane",
    "ComponentConditionItem", "Condition", "ConsolidatedRealizedStatus", "ConjunctionOperator", "ContainerApplication",
    "ContainerApplicationInstance", "ContainerCluster", "ContainerClusterNode", "ContainerIngressPolicy",
    "ContainerInventoryData", "ContainerInventoryObject", "ContainerNetworkPolicy", "ContainerObject",
    "ContainerProject", "EtherTypeServiceEntry", "Expression", "ExternalIDExpression", "Group",
    "ICMPTypeServiceEntry", "IGMPTypeServiceEntry", "IPAddressExpression", "IPProtocolServiceEntry",
    "IdentityGroupExpression", "L4PortSetServiceEntry", "ListResult", "MACAddressExpression",
    "ManagedResource", "NestedExpression", "NestedServiceServiceEntry", "NsxModel", "PathExpression",
    "PrincipalIdentity", "PrincipalIdentityWithCertificate", "RelatedApiError", "Rule", "RuleStatistics",
    "SecurityPolicy", "SecurityPolicyContainerCluster", "Service", "ServiceEntry", "Tag",
]
