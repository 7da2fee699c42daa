"""DFW security policies, their rules, Antrea span children and statistics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nsx.models.base import ManagedResource, NsxModel
from nsx.models.services import ServiceEntry

# Not a closed enum in NSX's schema (the field is shared with gateway policies); these are every
# value NSX documents for it, DFW first.
PolicyCategory = Literal[
    "Ethernet", "Emergency", "Infrastructure", "Environment", "Application",
    "SystemRules", "SharedPreRules", "LocalGatewayRules", "AutoServiceRules", "Default",
]
RuleAction = Literal["ALLOW", "DROP", "REJECT", "JUMP_TO_APPLICATION"]
RuleDirection = Literal["IN", "OUT", "IN_OUT"]
IpProtocol = Literal["IPV4", "IPV6", "IPV4_IPV6"]


class Rule(ManagedResource):
    resource_type: Literal["Rule"] = "Rule"
    action: RuleAction | None = None
    source_groups: list[str] | None = None
    destination_groups: list[str] | None = None
    sources_excluded: bool | None = None
    destinations_excluded: bool | None = None
    services: list[str] | None = None
    service_entries: list[ServiceEntry] | None = None
    scope: list[str] | None = None
    direction: RuleDirection | None = None
    ip_protocol: IpProtocol | None = None
    sequence_number: int | None = None
    disabled: bool | None = None
    logged: bool | None = None
    tag: str | None = None
    notes: str | None = None
    profiles: list[str] | None = None
    rule_id: int | None = None
    is_default: bool | None = None


class SecurityPolicy(ManagedResource):
    resource_type: Literal["SecurityPolicy"] = "SecurityPolicy"
    category: PolicyCategory | None = None
    sequence_number: int | None = None
    scope: list[str] | None = None
    stateful: bool | None = None
    tcp_strict: bool | None = None
    locked: bool | None = None
    comments: str | None = None
    scheduler_path: str | None = None
    connectivity_preference: Literal[
        "ALLOWLIST", "DENYLIST", "ALLOWLIST_ENABLE_LOGGING", "DENYLIST_ENABLE_LOGGING", "NONE",
    ] | None = None
    connectivity_strategy: Literal[
        "WHITELIST", "BLACKLIST", "WHITELIST_ENABLE_LOGGING", "BLACKLIST_ENABLE_LOGGING", "NONE",
    ] | None = None
    application_connectivity_strategy: list[dict[str, Any]] | None = None
    logging_enabled: bool | None = None
    rules: list[Rule] | None = None
    internal_sequence_number: int | None = None
    is_default: bool | None = None
    rule_count: int | None = None
    lock_modified_by: str | None = None
    lock_modified_time: int | None = None

    def applies_to(self, cluster_path: str) -> bool:
        """Whether ``cluster_path`` is named in the policy's or any rule's ``scope``."""
        if cluster_path in (self.scope or []):
            return True
        return any(cluster_path in (rule.scope or []) for rule in self.rules or [])


class SecurityPolicyContainerCluster(ManagedResource):
    resource_type: Literal["SecurityPolicyContainerCluster"] = "SecurityPolicyContainerCluster"
    container_cluster_path: str | None = None
    container_cluster_type: Literal["ANTREA"] | None = None


class RuleStatistics(NsxModel):
    rule: str | None = None
    internal_rule_id: str | None = None
    hit_count: int | None = None
    packet_count: int | None = None
    byte_count: int | None = None
    session_count: int | None = None
    popularity_index: int | None = None
    max_popularity_index: int | None = None
    max_session_count: int | None = None
    total_session_count: int | None = None
    l7_accept_count: int | None = None
    l7_reject_count: int | None = None
    l7_reject_with_response_count: int | None = None
    lr_path: str | None = None


class SecurityPolicyStatistics(NsxModel):
    internal_section_id: str | None = None
    lr_path: str | None = None
    result_count: int | None = None
    results: list[RuleStatistics] = Field(default_factory=list)


class SecurityPolicyStatisticsPerCluster(NsxModel):
    """One item of ``…/security-policies/{id}/statistics``: numbers of one enforcement point/cluster."""

    enforcement_point: str | None = None
    container_cluster_path: str | None = None
    statistics: SecurityPolicyStatistics | None = None


class RuleStatisticsPerCluster(NsxModel):
    enforcement_point: str | None = None
    container_cluster_path: str | None = None
    statistics: RuleStatistics | None = None
