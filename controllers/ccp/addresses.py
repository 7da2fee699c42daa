"""NSX address literals (IP, CIDR, ``a-b`` range) as the minimal CIDR lists Antrea's ipBlocks take."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from controllers.ccp._fields import Invalid, short

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> list[IPNetwork]:
    """One NSX address entry -> CIDRs. Host bits of a CIDR are cleared, as NSX does on save."""
    try:
        if "-" in text:
            first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            if first.version != last.version or int(last) < int(first):
                raise ValueError("bad range")
            return list(ipaddress.summarize_address_range(first, last))
        return [ipaddress.ip_network(text.strip(), strict=False)]
    except ValueError:
        raise Invalid(f"{short(text)} is not an IP address, CIDR or address range") from None


def looks_like_address(text: str) -> bool:
    """Rule source/destination lists mix group paths with literal addresses."""
    return bool(text) and not text.startswith("/") and text.upper() != "ANY"


def parse_addresses(entries: Iterable[str], *, single_family: bool) -> list[IPNetwork]:
    networks: list[IPNetwork] = []
    for entry in entries:
        networks.extend(parse_address(entry))
    if single_family and len({net.version for net in networks}) > 1:
        raise Invalid("an IPAddressExpression must hold only IPv4 or only IPv6 addresses")
    return _dedup(networks)


def _dedup(networks: list[IPNetwork]) -> list[IPNetwork]:
    seen: set[IPNetwork] = set()
    out: list[IPNetwork] = []
    for net in networks:
        if net not in seen:
            seen.add(net)
            out.append(net)
    return out


def keep_family(networks: Iterable[IPNetwork], ip_protocol: str) -> list[IPNetwork]:
    """``ip_protocol`` IPV4 / IPV6 narrows literal address peers to one family (mapping.md §4)."""
    if ip_protocol == "IPV4":
        return [n for n in networks if n.version == 4]
    if ip_protocol == "IPV6":
        return [n for n in networks if n.version == 6]
    return list(networks)
