"""ClusterNetworkPolicy spec and status, and Tier spec (antrea.md §2.1-§2.3, §2.7, §2.9).

Each place a peer or target can appear has its own class, with exactly the fields Antrea's schema
keeps there: a field the schema lacks would be pruned by the API server without an error, so here
it is a validation error instead. Cross-field webhook rules (appliedTo placement, exclusive peer
fields, port ranges) are not checked: these models are honest to the schema, no more.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from crds.models.base import ApiModel, ReadModel
from crds.models.formats import ByteValue, IPAddress
from crds.models.selectors import IPBlock, LabelSelector, NamespacedName

Action = Literal["Allow", "Drop", "Reject", "Pass"]
PortProtocol = Literal["TCP", "UDP", "SCTP"]
PeerScope = Literal["Cluster", "ClusterSet"]
HTTPMethod = Literal["GET", "POST", "PUT", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]
LogLabel = Annotated[str, StringConstraints(pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")]
INGRESS_IGMP_TYPES = frozenset({0x11})
EGRESS_IGMP_TYPES = frozenset({0x12, 0x16, 0x22})


class NetworkPolicyPort(ApiModel):
    """A destination port or range; ``port`` is a number or a named port. No bounds in the schema."""

    protocol: PortProtocol | None = None
    port: int | str | None = None
    end_port: int | None = None
    source_port: int | None = None
    source_end_port: int | None = None


class ICMPProtocol(ApiModel):
    icmp_type: ByteValue | None = None
    icmp_code: ByteValue | None = None


class IGMPProtocol(ApiModel):
    """IGMP match; which ``igmp_type`` values are allowed depends on the rule direction."""

    igmp_type: int | None = None
    group_address: IPAddress | None = None


class NetworkPolicyProtocol(ApiModel):
    """Exactly one of ``icmp`` or ``igmp`` (the schema's ``oneOf``)."""

    icmp: ICMPProtocol | None = None
    igmp: IGMPProtocol | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.icmp is None) == (self.igmp is None):
            raise ValueError("a protocol sets exactly one of icmp or igmp")
        return self


class HTTPProtocol(ApiModel):
    host: str | None = None
    method: HTTPMethod | None = None
    path: str | None = None


class TLSProtocol(ApiModel):
    sni: str | None = None


class L7Protocol(ApiModel):
    """Exactly one of ``http`` or ``tls`` (the schema's ``oneOf``)."""

    http: HTTPProtocol | None = None
    tls: TLSProtocol | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.http is None) == (self.tls is None):
            raise ValueError("an l7Protocols item sets exactly one of http or tls")
        return self


class PeerNamespaces(ApiModel):
    """``match: Self`` or ``sameLabels``: exactly one (min/maxProperties 1 in the schema)."""

    match: Literal["Self"] | None = None
    same_labels: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.match is None) == (self.same_labels is None):
            raise ValueError("namespaces sets exactly one of match or sameLabels")
        return self


class RuleAppliedTo(ApiModel):
    """A rule-level target of an egress rule (the narrowest set)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    group: str | None = None
    service_account: NamespacedName | None = None


class IngressRuleAppliedTo(RuleAppliedTo):
    """A rule-level target of an ingress rule: may also name a NodePort Service."""

    service: NamespacedName | None = None


class PolicyAppliedTo(IngressRuleAppliedTo):
    """A policy-level target: may also select Nodes."""

    node_selector: LabelSelector | None = None


class _Peer(ApiModel):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: PeerNamespaces | None = None
    ip_block: IPBlock | None = None
    group: str | None = None
    service_account: NamespacedName | None = None
    node_selector: LabelSelector | None = None


class IngressPeer(_Peer):
    """An ingress ``from`` entry; ``scope`` widens selectors to the ClusterSet."""

    scope: PeerScope | None = None


class EgressPeer(_Peer):
    """An egress ``to`` entry; may name an FQDN."""

    fqdn: str | None = None


class PeerService(ApiModel):
    """An egress ``toServices`` entry of an ACNP (namespace required)."""

    name: str
    namespace: str
    scope: PeerScope | None = None


class _Rule(ApiModel):
    name: str | None = None
    action: Action
    ports: list[NetworkPolicyPort] | None = None
    protocols: list[NetworkPolicyProtocol] | None = None
    l7_protocols: list[L7Protocol] | None = None
    # Go has no omitempty here, so Antrea always stores it; dumping False keeps desired == observed.
    enable_logging: bool = False
    log_label: LogLabel | None = None

    def _check_igmp_types(self, allowed: frozenset[int], direction: str) -> None:
        for protocol in self.protocols or []:
            if protocol.igmp and protocol.igmp.igmp_type is not None and protocol.igmp.igmp_type not in allowed:
                raise ValueError(f"igmpType {protocol.igmp.igmp_type} is not allowed in {direction} rules "
                                 f"(allowed: {sorted(allowed)})")


class IngressRule(_Rule):
    applied_to: list[IngressRuleAppliedTo] | None = None
    from_: list[IngressPeer] | None = None

    @model_validator(mode="after")
    def _igmp(self) -> Self:
        self._check_igmp_types(INGRESS_IGMP_TYPES, "ingress")
        return self


class EgressRule(_Rule):
    applied_to: list[RuleAppliedTo] | None = None
    to: list[EgressPeer] | None = None
    to_services: list[PeerService] | None = None

    @model_validator(mode="after")
    def _igmp(self) -> Self:
        self._check_igmp_types(EGRESS_IGMP_TYPES, "egress")
        return self


class ClusterNetworkPolicySpec(ApiModel):
    """``spec`` of a ClusterNetworkPolicy: lower ``priority`` first within the ``tier``."""

    tier: str | None = None
    priority: float = Field(ge=1.0, le=10000.0)
    applied_to: list[PolicyAppliedTo] | None = None
    ingress: list[IngressRule] | None = None
    egress: list[EgressRule] | None = None


class PolicyCondition(ReadModel):
    type: str | None = None
    status: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class NetworkPolicyStatus(ReadModel):
    """Realisation status written by antrea-controller (antrea.md §2.7)."""

    phase: str | None = None
    observed_generation: int | None = None
    current_nodes_realized: int | None = None
    desired_nodes_realized: int | None = None
    conditions: list[PolicyCondition] | None = None

    def realized_for(self, generation: int) -> bool:
        """Antrea's own e2e check: this generation is observed and the phase is Realized."""
        return self.observed_generation == generation and self.phase == "Realized"


class TierSpec(ApiModel):
    """``spec`` of a Tier: lower ``priority`` first among Tiers."""

    priority: int = Field(ge=0, le=255)
    description: str | None = None
