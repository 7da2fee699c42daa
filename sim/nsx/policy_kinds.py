"""The Policy object kinds the simulator knows: where they live in the path tree and which fields they take.

A policy path is a chain of ``<collection>/<id>`` pairs under ``/infra``; :func:`parse_path` walks it
through :data:`KINDS` so every handler (REST, H-API) agrees on what an object is and who its parent is.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_FIELDS = frozenset(
    {
        "_links", "_schema", "_self", "_revision", "_create_time", "_create_user", "_last_modified_time",
        "_last_modified_user", "_protection", "_system_owned", "description", "display_name", "id",
        "resource_type", "tags", "origin_site_id", "owner_id", "parent_path", "path", "realization_id",
        "relative_path", "remote_path", "unique_id", "children", "marked_for_delete", "overridden",
    }
)
# Read-only fields a client may send back unchanged; the server ignores them on input.
READ_ONLY = frozenset(
    {
        "_links", "_schema", "_self", "_create_time", "_create_user", "_last_modified_time",
        "_last_modified_user", "_protection", "_system_owned", "origin_site_id", "owner_id", "parent_path",
        "path", "realization_id", "relative_path", "remote_path", "unique_id", "marked_for_delete",
        "overridden",
    }
)


@dataclass(frozen=True)
class Kind:
    """One Policy object type."""

    resource_type: str
    collection: str  # URL segment of its collection under the parent
    parent: str  # resource_type of the parent ("Infra" for top level)
    fields: frozenset[str]  # fields besides BASE_FIELDS
    read_only: frozenset[str] = frozenset()
    embedded_field: str | None = None  # e.g. "rules" inside SecurityPolicy
    embedded_collection: str | None = None  # e.g. "rules"
    aliases: frozenset[str] = frozenset()  # other resource_type values accepted on input
    singleton: bool = False


SERVICE_ENTRY_TYPES = frozenset(
    {
        "IPProtocolServiceEntry", "IGMPTypeServiceEntry", "ICMPTypeServiceEntry", "ALGTypeServiceEntry",
        "L4PortSetServiceEntry", "EtherTypeServiceEntry", "NestedServiceServiceEntry",
    }
)
SERVICE_ENTRY_FIELDS = frozenset(
    {
        "l4_protocol", "destination_ports", "source_ports", "protocol", "icmp_type", "icmp_code",
        "protocol_number", "alg", "ether_type", "nested_service_path",
    }
)

RULE_FIELDS = frozenset(
    {
        "action", "source_groups", "destination_groups", "sources_excluded", "destinations_excluded",
        "services", "service_entries", "scope", "direction", "ip_protocol", "sequence_number", "disabled",
        "logged", "tag", "notes", "profiles", "rule_id", "is_default",
    }
)

_KIND_LIST = [
    Kind("Domain", "domains", "Infra", frozenset()),
    Kind(
        "Group", "groups", "Domain",
        frozenset({"expression", "extended_expression", "group_type", "reference", "state"}),
        read_only=frozenset({"reference", "state"}),
    ),
    Kind(
        "SecurityPolicy", "security-policies", "Domain",
        frozenset(
            {
                "category", "sequence_number", "scope", "stateful", "tcp_strict", "locked", "comments",
                "scheduler_path", "connectivity_preference", "connectivity_strategy",
                "application_connectivity_strategy", "logging_enabled", "rules", "internal_sequence_number",
                "is_default", "rule_count", "lock_modified_by", "lock_modified_time", "default_rule_id",
            }
        ),
        read_only=frozenset(
            {"internal_sequence_number", "is_default", "rule_count", "lock_modified_by",
             "lock_modified_time", "default_rule_id"}
        ),
        embedded_field="rules",
        embedded_collection="rules",
    ),
    Kind("Rule", "rules", "SecurityPolicy", RULE_FIELDS, read_only=frozenset({"rule_id", "is_default"})),
    Kind(
        "SecurityPolicyContainerCluster", "container-cluster-span", "SecurityPolicy",
        frozenset({"container_cluster_path", "container_cluster_type"}),
    ),
    Kind(
        "Service", "services", "Infra", frozenset({"service_entries", "service_type", "is_default"}),
        read_only=frozenset({"is_default"}),
        embedded_field="service_entries",
        embedded_collection="service-entries",
    ),
    Kind("ServiceEntry", "service-entries", "Service", SERVICE_ENTRY_FIELDS, aliases=SERVICE_ENTRY_TYPES),
    Kind("Site", "sites", "Infra", frozenset()),
    Kind("EnforcementPoint", "enforcement-points", "Site", frozenset({"connection_info", "auto_enforce"})),
    Kind(
        "ClusterControlPlane", "cluster-control-planes", "EnforcementPoint",
        frozenset({"node_id", "certificate", "vhc_path"}),
        aliases=frozenset({"AntreaClusterControlPlane"}),
    ),
    Kind(
        "AntreaTraceflowConfig", "antrea/traceflows", "Infra",
        frozenset({"container_cluster_id", "source_external_id", "destination_external_id", "is_transient",
                   "packet"}),
    ),
]

KINDS: dict[tuple[str, str], Kind] = {(k.parent, k.collection): k for k in _KIND_LIST}
BY_TYPE: dict[str, Kind] = {k.resource_type: k for k in _KIND_LIST}
for _k in _KIND_LIST:
    for _alias in _k.aliases:
        BY_TYPE.setdefault(_alias, _k)

# H-API wrapper resource_type → (kind, key of the wrapped object).
CHILD_WRAPPERS: dict[str, tuple[Kind, str]] = {
    "ChildDomain": (BY_TYPE["Domain"], "Domain"),
    "ChildGroup": (BY_TYPE["Group"], "Group"),
    "ChildSecurityPolicy": (BY_TYPE["SecurityPolicy"], "SecurityPolicy"),
    "ChildRule": (BY_TYPE["Rule"], "Rule"),
    "ChildSecurityPolicyContainerCluster": (
        BY_TYPE["SecurityPolicyContainerCluster"], "SecurityPolicyContainerCluster"),
    "ChildService": (BY_TYPE["Service"], "Service"),
    "ChildServiceEntry": (BY_TYPE["ServiceEntry"], "ServiceEntry"),
    "ChildSite": (BY_TYPE["Site"], "Site"),
    "ChildEnforcementPoint": (BY_TYPE["EnforcementPoint"], "EnforcementPoint"),
    "ChildAntreaTraceflowConfig": (BY_TYPE["AntreaTraceflowConfig"], "AntreaTraceflowConfig"),
}

CCP_COLLECTION = "/infra/sites/default/enforcement-points/default/cluster-control-planes"


@dataclass(frozen=True)
class ParsedPath:
    """``/infra/.../<collection>/<id>`` resolved: the kind and the chain of ancestor paths."""

    path: str
    kind: Kind
    collection_path: str
    id: str
    parent_path: str


def split_segments(path: str) -> list[str]:
    segs = [s for s in path.split("/") if s]
    # "antrea/traceflows" is a two-segment collection name directly under /infra.
    out: list[str] = []
    i = 0
    while i < len(segs):
        if segs[i] == "antrea" and i + 1 < len(segs) and segs[i + 1] == "traceflows":
            out.append("antrea/traceflows")
            i += 2
        else:
            out.append(segs[i])
            i += 1
    return out


def parse_path(path: str) -> ParsedPath | None:
    """Resolve an object path; ``None`` when it is not a known object path."""
    segs = split_segments(path)
    if len(segs) < 3 or segs[0] != "infra" or len(segs) % 2 == 0:
        return None
    parent_type = "Infra"
    parent_path = "/infra"
    kind: Kind | None = None
    for i in range(1, len(segs), 2):
        kind = KINDS.get((parent_type, segs[i]))
        if kind is None:
            return None
        if i + 2 >= len(segs):
            coll = f"{parent_path}/{segs[i]}"
            return ParsedPath(f"{coll}/{segs[i + 1]}", kind, coll, segs[i + 1], parent_path)
        parent_path = f"{parent_path}/{segs[i]}/{segs[i + 1]}"
        parent_type = kind.resource_type
    return None


def parse_collection(path: str) -> tuple[Kind, str] | None:
    """Resolve a collection path (``…/groups``) to (kind, parent path)."""
    segs = split_segments(path)
    if not segs or segs[0] != "infra" or len(segs) % 2 != 0:
        return None
    if len(segs) == 2:
        kind = KINDS.get(("Infra", segs[1]))
        return (kind, "/infra") if kind else None
    parent = parse_path("/" + "/".join(segs[:-1]))
    if parent is None:
        return None
    kind = KINDS.get((parent.kind.resource_type, segs[-1]))
    return (kind, parent.path) if kind else None


def kind_of(parent_type: str, collection: str) -> Kind | None:
    return KINDS.get((parent_type, collection))
