"""Container inventory objects (MP API): identity is ``external_id``; no ``id``, no ``_revision``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from nsx.models.base import NsxModel, Tag, TypedNsxModel, wire_name

ClusterType = Literal[
    "PAS", "PKS", "Kubernetes", "Openshift", "WCP", "WCP_Guest", "AKS", "EKS", "TKGm", "TKGi", "GKE",
    "Gardener", "Rancher", "TAS", "SupervisorCluster", "WorkloadCluster", "Other",
]
InfraType = Literal["vSphere", "AWS", "Azure", "Google", "VMC", "KVM", "Baremetal"]
NetworkStatus = Literal["HEALTHY", "UNHEALTHY"]
WorkloadStatus = Literal["UNKNOWN", "HEALTHY", "UP", "DOWN", "DEGRADED"]
ObjectUpdateType = Literal["CREATE", "UPDATE", "DELETE"]


class KeyValuePair(NsxModel):
    key: str
    value: str | None = None


class NetworkError(NsxModel):
    error_code: str | None = None
    error_message: str | None = None
    spec: str | None = None


class DiscoveredResourceScope(NsxModel):
    scope_id: str | None = None
    scope_type: Literal["CONTAINER_CLUSTER", "VPC"] | None = None


class ContainerInfrastructureInfo(NsxModel):
    infra_type: InfraType


class DiscoveredResource(TypedNsxModel):
    links: list[dict[str, Any]] | None = wire_name("_links")
    schema_: str | None = wire_name("_schema")
    self_: dict[str, Any] | None = wire_name("_self")
    last_sync_time: int | None = wire_name("_last_sync_time")
    description: str | None = None
    display_name: str | None = None
    scope: list[DiscoveredResourceScope] | None = None
    tags: list[Tag] | None = None
    external_id: str
    network_status: NetworkStatus | None = None
    network_errors: list[NetworkError] | None = None
    origin_properties: list[KeyValuePair] | None = None


class ContainerCluster(DiscoveredResource):
    resource_type: Literal["ContainerCluster"] = "ContainerCluster"
    cluster_type: ClusterType | None = None
    cni_type: Literal["NCP", "Antrea", "Other"] | None = None
    infrastructure: ContainerInfrastructureInfo | None = None
    cluster_ip_ranges: list[str] | None = None
    node_port_range: list[str] | None = None
    node_port_local_range: list[str] | None = None
    supervisor_project_id: str | None = None


class ContainerProject(DiscoveredResource):
    resource_type: Literal["ContainerProject"] = "ContainerProject"
    container_cluster_id: str | None = None


class ContainerServicePort(NsxModel):
    name: str | None = None
    port: int | None = None
    node_port: int | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    target_port: str | None = None


class LoadBalancerIngress(NsxModel):
    ip: str | None = None
    hostname: str | None = None
    ports: list[dict[str, Any]] | None = None


class NodePortLocalEndpoint(NsxModel):
    node_ip: str | None = None
    node_port: int | None = None
    protocol: str | None = None


class ContainerApplication(DiscoveredResource):
    resource_type: Literal["ContainerApplication"] = "ContainerApplication"
    container_cluster_id: str | None = None
    container_project_id: str | None = None
    status: WorkloadStatus | None = None
    type: Literal["CLUSTER_IP", "NODE_PORT", "LOAD_BALANCER", "EXTERNAL_NAME"] | None = None
    cluster_ips: list[str] | None = None
    service_ports: list[ContainerServicePort] | None = None
    load_balancer_ingress: list[LoadBalancerIngress] | None = None
    node_port_local_endpoints: list[NodePortLocalEndpoint] | None = None


class ContainerApplicationInstance(DiscoveredResource):
    resource_type: Literal["ContainerApplicationInstance"] = "ContainerApplicationInstance"
    container_cluster_id: str | None = None
    container_project_id: str | None = None
    cluster_node_id: str | None = None
    container_application_ids: list[str] | None = None
    status: WorkloadStatus | None = None


class ContainerClusterNode(DiscoveredResource):
    resource_type: Literal["ContainerClusterNode"] = "ContainerClusterNode"
    container_cluster_id: str | None = None
    ip_addresses: list[str] | None = None
    external_ip_addresses: list[str] | None = None
    pod_cidrs: list[str] | None = None
    provider_id: str | None = None
    cni_agent_status: Literal["HEALTHY", "UNHEALTHY"] | None = None


class ContainerNetworkPolicy(DiscoveredResource):
    resource_type: Literal["ContainerNetworkPolicy"] = "ContainerNetworkPolicy"
    container_cluster_id: str | None = None
    container_project_id: str | None = None
    policy_type: Literal["NETWORK_POLICY", "ASG", "ACNP", "ANP"] | None = None
    spec: str | None = None


class ContainerIngressPolicy(DiscoveredResource):
    resource_type: Literal["ContainerIngressPolicy"] = "ContainerIngressPolicy"
    container_cluster_id: str | None = None
    container_project_id: str | None = None
    container_application_ids: list[str] | None = None
    spec: str | None = None
    load_balance_ingress: list[LoadBalancerIngress] | None = None


class ContainerEgress(DiscoveredResource):
    resource_type: Literal["ContainerEgress"] = "ContainerEgress"
    container_cluster_id: str | None = None
    egress_ip: str | None = None
    spec: str | None = None


class ContainerIpPool(DiscoveredResource):
    resource_type: Literal["ContainerIpPool"] = "ContainerIpPool"
    container_cluster_id: str | None = None
    ip_ranges: list[dict[str, Any]] | None = None
    ip_version: int | None = None
    spec: str | None = None


class ContainerGateway(DiscoveredResource):
    resource_type: Literal["ContainerGateway"] = "ContainerGateway"
    container_cluster_id: str | None = None
    container_project_id: str | None = None
    addresses: list[dict[str, Any]] | None = None
    listeners: list[dict[str, Any]] | None = None
    spec: str | None = None


ContainerObject = Annotated[
    ContainerCluster
    | ContainerProject
    | ContainerApplication
    | ContainerApplicationInstance
    | ContainerClusterNode
    | ContainerNetworkPolicy
    | ContainerIngressPolicy
    | ContainerEgress
    | ContainerIpPool
    | ContainerGateway,
    Field(discriminator="resource_type"),
]


class ContainerInventoryObject(NsxModel):
    """One item of an ``?action=updates`` batch.

    UPDATE objects are sparse (only changed fields + identity) and DELETE objects carry only
    ``resource_type`` + ``external_id``: build them with only those fields set.
    """

    object_update_type: ObjectUpdateType
    container_object: ContainerObject


class ContainerInventoryData(NsxModel):
    container_inventory_objects: list[ContainerInventoryObject] = Field(default_factory=list)
