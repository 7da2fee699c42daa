"""NSX traceflow request → Antrea ``Traceflow`` spec, and Antrea results → NSX observations
(mapping.md §9, antrea.md §5.1, nsx-api.md §6.7). Pure functions over lookups, so every mapping
rule is visible in one place and testable without a cluster.

NSX names endpoints by inventory external ids (a Pod's or Service's UID: mapping.md §7), Antrea by
namespace/name; a destination IP in the packet wins over ``destination_external_id``, as in NSX.
NSX's observation enums are coarser than Antrea's: ``Rejected`` becomes ``Dropped`` and the
``Forwarded*`` variants become ``Forwarded``; Antrea's own words ride along in extra fields
(``action``, ``component_info``) so nothing is lost to an operator reading the observations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from crds.models.traceflow import (
    Destination,
    ICMPEchoHeader,
    IPHeader,
    IPv6Header,
    Packet,
    Source,
    TCPHeader,
    TraceflowSpec,
    TransportHeader,
    UDPHeader,
)
from nsx.models.traceflow import AntreaTraceflowConfig, AntreaTraceflowObservation, AntreaTraceflowPacketData

COMPONENTS = {
    "SpoofGuard": "ANTREA_SPOOFGUARD",
    "LB": "ANTREA_LB",
    "Routing": "ANTREA_ROUTING",
    "NetworkPolicy": "ANTREA_DFW",
    "Forwarding": "ANTREA_FORWARDING",
}
ACTIONS = {
    "Delivered": "AntreaTraceflowObservationDelivered",
    "Received": "AntreaTraceflowObservationReceived",
    "Forwarded": "AntreaTraceflowObservationForwarded",
    "ForwardedOutOfNetwork": "AntreaTraceflowObservationForwarded",
    "MarkedForSNAT": "AntreaTraceflowObservationForwarded",
    "ForwardedToEgressNode": "AntreaTraceflowObservationForwarded",
    "Dropped": "AntreaTraceflowObservationDropped",
    "Rejected": "AntreaTraceflowObservationDropped",
}
_EXTRA = {  # Antrea observation field -> extra NSX field kept as sent
    "action": "action",
    "componentInfo": "component_info",
    "pod": "pod",
    "translatedSrcIP": "translated_src_ip",
    "translatedDstIP": "translated_dst_ip",
    "tunnelDstIP": "tunnel_dst_ip",
    "egressIP": "egress_ip",
    "egress": "egress",
    "egressNode": "egress_node",
}
ACNP_PREFIX = "AntreaClusterNetworkPolicy:"

Obj = Mapping[str, Any]


class RequestError(ValueError):
    """The request cannot become a Traceflow; the message is the FAILED reason NSX shows."""


@dataclass(frozen=True)
class Endpoints:
    """Lookups of inventory external ids (UIDs) in the adapter's caches."""

    pod_by_uid: Callable[[str], Obj | None]
    service_by_uid: Callable[[str], Obj | None]


def traceflow_spec(config: AntreaTraceflowConfig, endpoints: Endpoints, timeout: int) -> dict[str, Any]:
    """The ``spec`` of the Traceflow CR for one NSX request; raises :class:`RequestError`."""
    if not config.source_external_id:
        raise RequestError("the traceflow has no source (source_external_id)")
    src = endpoints.pod_by_uid(config.source_external_id)
    if src is None:
        raise RequestError(f"source Pod with external id {config.source_external_id} does not exist in the cluster")
    meta = src.get("metadata") or {}
    if (src.get("spec") or {}).get("hostNetwork"):
        raise RequestError(f"source Pod {meta.get('namespace')}/{meta.get('name')} uses the host network")
    packet = config.packet or AntreaTraceflowPacketData()
    try:
        spec = TraceflowSpec(
            source=Source(namespace=meta.get("namespace"), pod=meta.get("name")),
            destination=_destination(config, packet, endpoints),
            packet=_packet(packet),
            timeout=timeout,
        )
    except ValidationError as err:
        raise RequestError(f"invalid traceflow packet: {err.errors()[0]['msg']}") from err
    return spec.to_dict()


def _destination(config: AntreaTraceflowConfig, packet: AntreaTraceflowPacketData, endpoints: Endpoints) -> Destination:
    dst_ip = (packet.ip_header.dst_ip if packet.ip_header else None) or (
        packet.ipv6_header.dst_ip if packet.ipv6_header else None)
    if dst_ip:
        return Destination(ip=dst_ip)
    external = config.destination_external_id
    if not external:
        raise RequestError("the traceflow has no destination (destination_external_id or packet dst_ip)")
    pod = endpoints.pod_by_uid(external)
    if pod is not None:
        meta = pod.get("metadata") or {}
        return Destination(namespace=meta.get("namespace"), pod=meta.get("name"))
    svc = endpoints.service_by_uid(external)
    if svc is not None:
        meta = svc.get("metadata") or {}
        return Destination(namespace=meta.get("namespace"), service=meta.get("name"))
    raise RequestError(f"destination with external id {external} is neither a Pod nor a Service of the cluster")


def _packet(packet: AntreaTraceflowPacketData) -> Packet | None:
    th = packet.transport_header
    transport: TransportHeader | None = None
    protocol: int | None = packet.ip_header.protocol if packet.ip_header else None
    if th and th.tcp_header:
        h = th.tcp_header
        transport = TransportHeader(tcp=TCPHeader(src_port=h.src_port, dst_port=h.dst_port,
                                                  flags=h.tcp_flags if h.tcp_flags is not None else 2))
        protocol = protocol or 6
    elif th and th.udp_header:
        transport = TransportHeader(udp=UDPHeader(src_port=th.udp_header.src_port, dst_port=th.udp_header.dst_port))
        protocol = protocol or 17
    elif th and th.icmp_echo_request_header:
        transport = TransportHeader(icmp=ICMPEchoHeader(sequence=th.icmp_echo_request_header.sequence))
        protocol = protocol or 1
    ip_header: IPHeader | None = None
    ipv6_header: IPv6Header | None = None
    if packet.ipv6_header is not None:
        v6 = packet.ipv6_header
        ipv6_header = IPv6Header(next_header=v6.next_header or protocol, hop_limit=v6.hop_limit)
    elif protocol is not None or packet.ip_header is not None:
        ip = packet.ip_header
        ip_header = IPHeader(protocol=protocol, ttl=ip.ttl if ip else None, flags=ip.flags if ip else None)
    if ip_header is None and ipv6_header is None and transport is None:
        return None
    return Packet(ip_header=ip_header, ipv6_header=ipv6_header, transport_header=transport)


@dataclass(frozen=True)
class ResultContext:
    """Lookups used to describe observations in NSX terms."""

    node_uid: Callable[[str], str | None]
    """Node name -> its UID (the ``ContainerClusterNode`` external id NSX knows)."""
    rule_path: Callable[[str, str], str | None]
    """(ACNP name, Antrea rule name) -> NSX rule path, for ACNPs the adapter manages."""


def observations(status: Obj, ctx: ResultContext) -> list[AntreaTraceflowObservation]:
    """Every observation of every Node result, sender first, in NSX's model."""
    results = sorted(status.get("results") or [], key=lambda r: 0 if r.get("role") == "Sender" else 1)
    out: list[AntreaTraceflowObservation] = []
    for result in results:
        node = str(result.get("node") or "")
        node_id = ctx.node_uid(node) or node
        stamp = int(result.get("timestamp") or 0) * 1000
        for obs in result.get("observations") or []:
            out.append(_observation(obs, node_id, stamp, ctx))
    return out


def _observation(obs: Obj, node_id: str, stamp: int, ctx: ResultContext) -> AntreaTraceflowObservation:
    extra: dict[str, Any] = {nsx: str(obs[antrea]) for antrea, nsx in _EXTRA.items() if obs.get(antrea)}
    policy = str(obs.get("networkPolicy") or "")
    rule = str(obs.get("networkPolicyRule") or "")
    if policy:
        extra["network_policy"] = policy
    if rule:
        extra["network_policy_rule"] = rule
    if policy.startswith(ACNP_PREFIX) and rule:
        path = ctx.rule_path(policy[len(ACNP_PREFIX):], rule)
        if path:
            extra["rule_path"] = path
    return AntreaTraceflowObservation(
        component_type=COMPONENTS.get(str(obs.get("component")), "UNKNOWN"),  # type: ignore[arg-type]
        observation_type=ACTIONS.get(str(obs.get("action")), "AntreaTraceflowObservationForwarded"),  # type: ignore[arg-type]
        container_node_id=node_id,
        timestamp=stamp,
        **extra,
    )
