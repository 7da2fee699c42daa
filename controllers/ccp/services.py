"""NSX services and inline service entries -> Antrea rule ``ports`` / ``protocols`` (mapping.md §4).

Services of one rule are OR-ed, and so are Antrea's ``ports`` and ``protocols`` lists, so the
translation is a union. Kinds Antrea cannot match (IP protocol numbers, ALGs, EtherTypes) are
errors rather than dropped: dropping a service entry would widen an ALLOW or narrow a DROP.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controllers.ccp._fields import Invalid, as_list, as_str, as_strings, short

_MAX_PORT = 65535
_PORT = re.compile(r"^\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?$", re.ASCII)
# IGMP message types Antrea's schema accepts per direction: a query is received, reports are sent.
_IGMP_INGRESS = (17,)
_IGMP_EGRESS = (18, 22, 34)


@dataclass
class Matches:
    """What a rule's services select; ``any`` when the rule has no service restriction."""

    any: bool = True
    ports: list[dict[str, Any]] = field(default_factory=list)
    protocols: list[dict[str, Any]] = field(default_factory=list)
    igmp: bool = False

    def add_port(self, port: dict[str, Any]) -> None:
        if port not in self.ports:
            self.ports.append(port)

    def add_protocol(self, proto: dict[str, Any]) -> None:
        if proto not in self.protocols:
            self.protocols.append(proto)

    def for_direction(self, ingress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        protocols = [{kind: dict(body) for kind, body in proto.items()} for proto in self.protocols]
        if self.igmp:
            for igmp_type in _IGMP_INGRESS if ingress else _IGMP_EGRESS:
                protocols.append({"igmp": {"igmpType": igmp_type}})
        return [dict(port) for port in self.ports], protocols


ServiceResolver = Callable[[str], dict[str, Any] | None]


def rule_matches(rule: dict[str, Any], resolve: ServiceResolver, *, what: str) -> Matches:
    services = as_strings(rule, "services", what=what)
    entries = as_list(rule, "service_entries", what=what)
    if any(s.upper() == "ANY" for s in services):
        if len(services) > 1:
            raise Invalid(f"{what}: 'ANY' must be the only entry of services")
        services = []
    out = Matches(any=not services and not entries)
    for svc_path in services:
        _add_service(out, svc_path, resolve, stack=[], what=what)
    for index, entry in enumerate(entries):
        _add_entry(out, entry, resolve, stack=[], what=f"{what}: service_entries[{index}]")
    if not out.any and not out.ports and not out.protocols and not out.igmp:
        raise Invalid(f"{what}: its services match no traffic (no service entries)")
    if out.igmp and (out.ports or out.protocols):
        raise Invalid(f"{what}: IGMP cannot be combined with ports or ICMP in one Antrea rule")
    return out


def _add_service(out: Matches, svc_path: str, resolve: ServiceResolver, *, stack: list[str], what: str) -> None:
    if svc_path in stack:
        raise Invalid(f"{what}: nested service cycle: {' -> '.join([*stack, svc_path])}")
    service = resolve(svc_path)
    if service is None:
        raise Invalid(f"{what}: unknown service {svc_path}")
    if not isinstance(service, dict):
        raise Invalid(f"{what}: service {svc_path} is not an object")
    for index, entry in enumerate(as_list(service, "service_entries", what=f"service {svc_path}")):
        _add_entry(out, entry, resolve, stack=[*stack, svc_path], what=f"service {svc_path} entry [{index}]")


def _add_entry(out: Matches, entry: Any, resolve: ServiceResolver, *, stack: list[str], what: str) -> None:
    if not isinstance(entry, dict):
        raise Invalid(f"{what}: not an object")
    kind = entry.get("resource_type")
    if kind == "L4PortSetServiceEntry":
        protocol = entry.get("l4_protocol")
        if protocol not in ("TCP", "UDP"):
            raise Invalid(f"{what}: l4_protocol {short(protocol)} is not TCP or UDP")
        dports: list[tuple[int, int] | None] = [
            _port_range(p, what) for p in as_strings(entry, "destination_ports", what=what)
        ] or [None]
        sports: list[tuple[int, int] | None] = [
            _port_range(p, what) for p in as_strings(entry, "source_ports", what=what)
        ] or [None]
        for dport in dports:
            for sport in sports:
                port: dict[str, Any] = {"protocol": protocol}
                if dport is not None:
                    port["port"] = dport[0]
                    if dport[1] != dport[0]:
                        port["endPort"] = dport[1]
                if sport is not None:
                    port["sourcePort"] = sport[0]
                    if sport[1] != sport[0]:
                        port["sourceEndPort"] = sport[1]
                out.add_port(port)
    elif kind == "ICMPTypeServiceEntry":
        protocol = entry.get("protocol")
        if protocol not in ("ICMPv4", "ICMPv6"):
            raise Invalid(f"{what}: ICMP protocol {short(protocol)} is not ICMPv4 or ICMPv6")
        icmp: dict[str, Any] = {}
        for src, dst in (("icmp_type", "icmpType"), ("icmp_code", "icmpCode")):
            value = entry.get(src)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                raise Invalid(f"{what}: {src} {short(value)} must be an integer 0..255")
            icmp[dst] = value
        out.add_protocol({"icmp": icmp})
    elif kind == "IGMPTypeServiceEntry":
        out.igmp = True
    elif kind == "NestedServiceServiceEntry":
        _add_service(out, as_str(entry, "nested_service_path", what=what), resolve, stack=stack, what=what)
    elif kind in ("IPProtocolServiceEntry", "ALGTypeServiceEntry", "EtherTypeServiceEntry"):
        raise Invalid(f"{what}: {kind} cannot be expressed in an Antrea policy (only TCP/UDP ports, ICMP, IGMP)")
    else:
        raise Invalid(f"{what}: unknown service entry type {short(kind)}")
    out.any = False


def _port_range(text: str, what: str) -> tuple[int, int]:
    match = _PORT.match(text)
    if not match:
        raise Invalid(f"{what}: port {short(text)} is not N or N-M")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= _MAX_PORT:
        raise Invalid(f"{what}: port {short(text)} is outside 1..65535 or reversed")
    return low, high
