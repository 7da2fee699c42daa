"""Antrea traceflow as NSX models it: the request, the verdict and the hop-by-hop observations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nsx.models.base import ManagedResource, NsxModel


class AntreaTraceflowIpHeader(NsxModel):
    src_ip: str | None = None
    dst_ip: str | None = None
    protocol: int | None = None
    ttl: int | None = None
    flags: int | None = None


class AntreaTraceflowIpv6Header(NsxModel):
    src_ip: str | None = None
    dst_ip: str | None = None
    next_header: int | None = None
    hop_limit: int | None = None


class AntreaTraceflowTcpHeader(NsxModel):
    src_port: int | None = None
    dst_port: int | None = None
    tcp_flags: int | None = None


class AntreaTraceflowUdpHeader(NsxModel):
    src_port: int | None = None
    dst_port: int | None = None


class AntreaTraceflowIcmpEchoRequestHeader(NsxModel):
    sequence: int | None = None


class AntreaTraceflowTransportHeader(NsxModel):
    tcp_header: AntreaTraceflowTcpHeader | None = None
    udp_header: AntreaTraceflowUdpHeader | None = None
    icmp_echo_request_header: AntreaTraceflowIcmpEchoRequestHeader | None = None


class AntreaTraceflowPacketData(NsxModel):
    resource_type: Literal["FIELDS_PACKET_DATA", "BINARY_PACKET_DATA"] | None = None
    frame_size: int | None = None
    payload: str | None = None
    transport_type: Literal["UNICAST", "MULTICAST", "BROADCAST", "UNKNOWN"] | None = None
    ip_header: AntreaTraceflowIpHeader | None = None
    ipv6_header: AntreaTraceflowIpv6Header | None = None
    transport_header: AntreaTraceflowTransportHeader | None = None


class AntreaTraceflowConfig(ManagedResource):
    resource_type: Literal["AntreaTraceflowConfig"] = "AntreaTraceflowConfig"
    container_cluster_id: str | None = None
    source_external_id: str | None = None
    destination_external_id: str | None = None
    is_transient: bool | None = None
    packet: AntreaTraceflowPacketData | None = None


class AntreaTraceflowStatus(NsxModel):
    phase: Literal["SUCCEEDED", "FAILED"] | None = None
    reason: str | None = None


ObservationComponent = Literal[
    "UNKNOWN", "ANTREA_SPOOFGUARD", "ANTREA_LB", "ANTREA_ROUTING", "ANTREA_DFW", "ANTREA_FORWARDING",
]
ObservationType = Literal[
    "AntreaTraceflowObservationDelivered",
    "AntreaTraceflowObservationReceived",
    "AntreaTraceflowObservationForwarded",
    "AntreaTraceflowObservationDropped",
]


class AntreaTraceflowObservation(NsxModel):
    """One hop; subtype-specific fields (action, rule path, …) ride along as extra fields."""

    component_type: ObservationComponent | None = None
    observation_type: ObservationType | None = None
    container_node_id: str | None = None
    timestamp: int | None = None


class AntreaTraceflowObservationList(NsxModel):
    results: list[AntreaTraceflowObservation] = Field(default_factory=list)
    result_count: int | None = None
    cursor: str | None = None
