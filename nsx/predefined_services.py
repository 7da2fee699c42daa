"""NSX's predefined services, as a real NSX Manager seeds them.

A translation preview (`antrea-nsx-adapter translate --nsx-export FILE`) must resolve rules that
reference ``/infra/services/HTTPS`` even when the export omits the built-in services, and the live
adapter must not list hundreds of system services on every poll. Ids are case-sensitive and kept as
NSX spells them; entries carry the same ``resource_type`` discriminators as the Policy API.
"""

from __future__ import annotations

import copy
from typing import Any


def _service(service_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource_type": "Service",
        "id": service_id,
        "display_name": service_id,
        "path": f"/infra/services/{service_id}",
        "is_default": True,
        "_system_owned": True,
        "service_type": "NON_ETHER",
        "service_entries": [{"id": service_id, **entry}],
    }


def _l4(service_id: str, protocol: str, *ports: str) -> dict[str, Any]:
    return _service(service_id, {"resource_type": "L4PortSetServiceEntry", "l4_protocol": protocol,
                                 "destination_ports": list(ports), "source_ports": []})


def _icmp(service_id: str, protocol: str, icmp_type: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource_type": "ICMPTypeServiceEntry", "protocol": protocol}
    if icmp_type is not None:
        entry["icmp_type"] = icmp_type
    return _service(service_id, entry)


def _alg(service_id: str, alg: str, port: str) -> dict[str, Any]:
    return _service(service_id, {"resource_type": "ALGTypeServiceEntry", "alg": alg, "destination_ports": [port]})


_PREDEFINED: tuple[dict[str, Any], ...] = (
    _l4("HTTP", "TCP", "80"),
    _l4("HTTPS", "TCP", "443"),
    _l4("SSH", "TCP", "22"),
    _l4("RDP", "TCP", "3389"),
    _l4("DNS", "TCP", "53"),
    _l4("DNS-UDP", "UDP", "53"),
    _l4("NTP_Time_Server", "UDP", "123"),
    _l4("DHCP-Server", "UDP", "67"),
    _l4("DHCP-Client", "UDP", "68"),
    _l4("CIM-HTTP", "TCP", "5988"),
    _l4("MySQL", "TCP", "3306"),
    _l4("LDAP", "TCP", "389"),
    _icmp("ICMP-ALL", "ICMPv4"),
    _icmp("ICMP_Echo_Request", "ICMPv4", 8),
    _icmp("ICMP_Echo_Reply", "ICMPv4", 0),
    _icmp("IPv6-ICMP_Neighbor_Solicitation", "ICMPv6", 135),
    _icmp("IPv6-ICMP_Neighbor_Advertisement", "ICMPv6", 136),
    _alg("FTP", "FTP", "21"),
)


def predefined_services() -> dict[str, dict[str, Any]]:
    """Fresh copies keyed by policy path, so callers may annotate them freely."""
    return {svc["path"]: copy.deepcopy(svc) for svc in _PREDEFINED}
