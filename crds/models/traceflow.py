"""Traceflow spec and status (antrea.md §5.1), written and read by the troubleshooting controller.

Which endpoint combinations make sense (a source Pod unless live traffic; one destination kind)
is the webhook's business; these models follow the schema.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from crds.models.base import ApiModel, ReadModel
from crds.models.formats import ByteValue, IPAddress, PortNumber, Uint16

TraceflowPhase = Literal["Running", "Succeeded", "Failed"]


class Source(ApiModel):
    namespace: str | None = None
    pod: str | None = None
    ip: IPAddress | None = None


class Destination(ApiModel):
    namespace: str | None = None
    pod: str | None = None
    service: str | None = None
    ip: IPAddress | None = None


class IPHeader(ApiModel):
    protocol: ByteValue | None = None
    ttl: ByteValue | None = None
    flags: Annotated[int, Field(ge=0, le=7)] | None = None


class IPv6Header(ApiModel):
    next_header: Uint16 | None = None
    hop_limit: Uint16 | None = None


class ICMPEchoHeader(ApiModel):
    id: Uint16 | None = None
    sequence: Uint16 | None = None


class UDPHeader(ApiModel):
    src_port: PortNumber | None = None
    dst_port: PortNumber | None = None


class TCPHeader(UDPHeader):
    flags: ByteValue | None = None


class TransportHeader(ApiModel):
    icmp: ICMPEchoHeader | None = None
    udp: UDPHeader | None = None
    tcp: TCPHeader | None = None


class Packet(ApiModel):
    """The packet to inject. (The spec schema has no addresses or length: those are derived.)"""

    ip_header: IPHeader | None = None
    ipv6_header: IPv6Header | None = None
    transport_header: TransportHeader | None = None


class TraceflowSpec(ApiModel):
    source: Source | None = None
    destination: Destination | None = None
    packet: Packet | None = None
    live_traffic: bool | None = None
    dropped_only: bool | None = None
    timeout: Annotated[int, Field(ge=1, le=300)] | None = None


class CapturedPacket(ReadModel):
    """The packet a live trace captured, as Antrea reports it."""

    src_ip: str | None = None
    dst_ip: str | None = None
    length: int | None = None
    ip_header: IPHeader | None = None
    ipv6_header: IPv6Header | None = None
    transport_header: TransportHeader | None = None


class Observation(ReadModel):
    component: str | None = None
    component_info: str | None = None
    action: str | None = None
    pod: str | None = None
    dst_mac: str | None = None
    network_policy: str | None = None
    network_policy_rule: str | None = None
    ttl: int | None = None
    translated_src_ip: str | None = None
    translated_dst_ip: str | None = None
    tunnel_dst_ip: str | None = None
    egress_ip: str | None = None
    egress: str | None = None
    egress_node: str | None = None
    src_pod_ip: str | None = None


class NodeResult(ReadModel):
    node: str | None = None
    role: str | None = None
    timestamp: int | None = None
    observations: list[Observation] | None = None


class TraceflowStatus(ReadModel):
    phase: TraceflowPhase | None = None
    reason: str | None = None
    start_time: str | None = None
    dataplane_tag: int | None = None
    results: list[NodeResult] | None = None
    captured_packet: CapturedPacket | None = None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")
