"""What a fresh NSX Manager already holds (nsx-api.md §9.6), and loading a user seed file.

Ids, sequence numbers and rule ids of the default policies come from a real NSX-T 3.2 dump, so a
client that special-cases (or ignores) them sees the same objects as against a real manager.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sim.nsx.policy_store import PolicyStore

CCP_EP = "/infra/sites/default/enforcement-points/default"


def _l4(proto: str, *ports: str) -> dict[str, Any]:
    return {"resource_type": "L4PortSetServiceEntry", "l4_protocol": proto, "destination_ports": list(ports),
            "source_ports": []}


def _icmp(proto: str, icmp_type: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource_type": "ICMPTypeServiceEntry", "protocol": proto}
    if icmp_type is not None:
        entry["icmp_type"] = icmp_type
    return entry


PREDEFINED_SERVICES: dict[str, dict[str, Any]] = {
    "HTTP": _l4("TCP", "80"),
    "HTTPS": _l4("TCP", "443"),
    "SSH": _l4("TCP", "22"),
    "RDP": _l4("TCP", "3389"),
    "DNS": _l4("TCP", "53"),
    "DNS-UDP": _l4("UDP", "53"),
    "NTP_Time_Server": _l4("UDP", "123"),
    "CIM-HTTP": _l4("TCP", "5988"),
    "MySQL": _l4("TCP", "3306"),
    "DHCP-Server": _l4("UDP", "67"),
    "DHCP-Client": _l4("UDP", "68"),
    "ICMP-ALL": _icmp("ICMPv4"),
    "ICMP_Echo_Request": _icmp("ICMPv4", 8),
    "IPv6-ICMP_Neighbor_Solicitation": _icmp("ICMPv6", 135),
    "IPv6-ICMP_Neighbor_Advertisement": _icmp("ICMPv6", 136),
}


def seed_defaults(store: PolicyStore, default_layer3_id: str = "default-layer3-section") -> None:
    """Domain, site, enforcement point, predefined services and the two default DFW policies."""
    with store.transaction("system") as tx:
        store.upsert("/infra/domains/default", {"resource_type": "Domain"}, tx, replace=False, system=True)
        store.upsert("/infra/sites/default", {"resource_type": "Site"}, tx, replace=False, system=True)
        store.upsert(CCP_EP, {"resource_type": "EnforcementPoint"}, tx, replace=False, system=True)
        for sid, entry in PREDEFINED_SERVICES.items():
            body = {"resource_type": "Service", "display_name": sid,
                    "service_entries": [dict(entry, id=sid, display_name=sid)]}
            store.upsert(f"/infra/services/{sid}", body, tx, replace=False, system=True)
            store.force_fields(f"/infra/services/{sid}", {"is_default": True})
        l2 = "/infra/domains/default/security-policies/default-layer2-section"
        store.upsert(l2, {
            "resource_type": "SecurityPolicy", "display_name": "Default Layer2 Section", "category": "Ethernet",
            "sequence_number": 999999, "stateful": False,
            "rules": [{"resource_type": "Rule", "id": "default-layer2-rule", "display_name": "Default Layer2 Rule",
                       "action": "ALLOW", "source_groups": ["ANY"], "destination_groups": ["ANY"],
                       "services": ["ANY"], "sequence_number": 2147483647}],
        }, tx, replace=False, system=True)
        l3 = f"/infra/domains/default/security-policies/{default_layer3_id}"
        store.upsert(l3, {
            "resource_type": "SecurityPolicy", "display_name": "Default Layer3 Section", "category": "Application",
            "sequence_number": 999999, "stateful": True, "tcp_strict": False,
            "rules": [
                {"resource_type": "Rule", "id": "default_rule_NDP", "display_name": "Default Rule NDP",
                 "action": "ALLOW", "ip_protocol": "IPV6", "sequence_number": 25000,
                 "services": ["/infra/services/IPv6-ICMP_Neighbor_Solicitation",
                              "/infra/services/IPv6-ICMP_Neighbor_Advertisement"]},
                {"resource_type": "Rule", "id": "default_rule_DHCP", "display_name": "Default Rule DHCP",
                 "action": "ALLOW", "sequence_number": 50000,
                 "services": ["/infra/services/DHCP-Server", "/infra/services/DHCP-Client"]},
                {"resource_type": "Rule", "id": "default-layer3-rule", "display_name": "Default Layer3 Rule",
                 "action": "ALLOW", "sequence_number": 2147483647},
            ],
        }, tx, replace=False, system=True)
    # Real numbers (sequence numbers above the user range, fixed rule ids) are set after validation.
    store.force_fields(l2, {"is_default": True, "sequence_number": 1000000})
    store.force_fields(f"{l2}/rules/default-layer2-rule", {"is_default": True, "rule_id": 1})
    store.force_fields(l3, {"is_default": True, "sequence_number": 14000000})
    store.force_fields(f"{l3}/rules/default-layer3-rule", {"is_default": True, "rule_id": 2})
    store.force_fields(f"{l3}/rules/default_rule_NDP", {"rule_id": 3})
    store.force_fields(f"{l3}/rules/default_rule_DHCP", {"rule_id": 4})


def load_seed_document(seed: dict[str, Any] | str | Path) -> dict[str, Any]:
    """A seed is a dict, a path to a YAML/JSON file, or YAML/JSON text."""
    if isinstance(seed, dict):
        return seed
    text: str
    if isinstance(seed, Path) or (isinstance(seed, str) and "\n" not in seed and Path(seed).is_file()):
        text = Path(seed).read_text()
    else:
        text = str(seed)
    try:
        doc = json.loads(text)
    except ValueError:
        doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("a seed document must be a mapping with groups / services / policies")
    return doc


def apply_seed(store: PolicyStore, seed: dict[str, Any] | str | Path, user: str = "admin") -> None:
    """Create the seed's services, groups and policies in one transaction (same validation as the API).

    Accepted keys: ``services``, ``groups``, ``policies`` (or ``security_policies``); items are Policy API
    objects with ``id`` (rules embedded in their policy). Groups and policies go to domain ``default``
    unless they carry a ``path``.
    """
    doc = load_seed_document(seed)
    with store.transaction(user) as tx:
        for svc in doc.get("services") or []:
            store.upsert(svc.get("path") or f"/infra/services/{svc['id']}", _strip(svc), tx, replace=False)
        for grp in doc.get("groups") or []:
            store.upsert(grp.get("path") or f"/infra/domains/default/groups/{grp['id']}", _strip(grp), tx,
                         replace=False)
        for pol in (doc.get("policies") or []) + (doc.get("security_policies") or []):
            store.upsert(pol.get("path") or f"/infra/domains/default/security-policies/{pol['id']}",
                         _strip(pol), tx, replace=False)


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    drop = {"_revision", "path", "parent_path", "unique_id", "realization_id", "relative_path",
            "_create_time", "_create_user", "_last_modified_time", "_last_modified_user", "_system_owned",
            "_protection", "marked_for_delete", "overridden", "is_default", "rule_id", "internal_sequence_number",
            "rule_count", "state", "reference"}
    out = {k: v for k, v in obj.items() if k not in drop}
    for key in ("rules", "service_entries"):
        if isinstance(out.get(key), list):
            out[key] = [_strip(c) for c in out[key]]
    return out
