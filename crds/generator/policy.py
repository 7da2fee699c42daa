"""Schemas of the Antrea-native policy CRDs: ClusterNetworkPolicy, NetworkPolicy and Tier.

Facts from antrea.md §2.1-§2.3 and §2.9. The peer and appliedTo field sets differ by CRD, by
direction and by level (policy vs rule); the tables below spell out which selectors each place
accepts, because anything missing there is silently pruned by the API server.
"""

from __future__ import annotations

from typing import Any

from crds.generator import blocks as b
from crds.generator.crd import AGE, column, custom_resource_definition

Schema = b.Schema

_SELECTOR_TEXT = {
    "podSelector": "Selects Pods by label; in a cluster-scoped policy, in every Namespace.",
    "namespaceSelector": "Selects Namespaces by label; ANDed with podSelector in the same entry.",
    "nodeSelector": "Selects Nodes by label (Node policies).",
    "externalEntitySelector": "Selects ExternalEntities by label.",
}


def _selector(field: str) -> Schema:
    return b.described(b.label_selector(), _SELECTOR_TEXT[field])


def _entry(fields: list[str], text: str) -> Schema:
    """An appliedTo or peer entry made of the named fields, in the order given."""
    makers: dict[str, Any] = {
        "podSelector": lambda: _selector("podSelector"),
        "namespaceSelector": lambda: _selector("namespaceSelector"),
        "nodeSelector": lambda: _selector("nodeSelector"),
        "externalEntitySelector": lambda: _selector("externalEntitySelector"),
        "group": lambda: b.described(b.string(), "Name of a ClusterGroup (or Group) to use instead."),
        "serviceAccount": lambda: b.described(
            b.name_namespace(required=["name", "namespace"]), "Pods running as this ServiceAccount."
        ),
        "service": lambda: b.described(
            b.name_namespace(required=["name", "namespace"]), "A NodePort Service to protect."
        ),
        "namespaces": lambda: b.described(b.namespaces_match(), "Namespaces relative to the target's."),
        "ipBlock": lambda: b.described(b.ip_block(), "An IP range, usually outside the cluster."),
        "fqdn": lambda: b.described(b.string(), "A domain name; '*' wildcards allowed."),
        "scope": lambda: b.described(
            b.string(enum=list(b.PEER_SCOPES)), "Whether selectors span this cluster or the ClusterSet."
        ),
    }
    return b.described(b.obj({name: makers[name]() for name in fields}), text)


def _to_services(*, cluster_scoped: bool) -> Schema:
    """Egress ``toServices``: ACNP demands a namespace and checks ``scope``; ANNP does neither."""
    if cluster_scoped:
        item = b.obj(
            {"name": b.string(), "namespace": b.string(), "scope": b.string(enum=list(b.PEER_SCOPES))},
            required=["name", "namespace"],
        )
    else:
        item = b.obj(
            {"name": b.string(), "namespace": b.string(), "scope": b.string()}, required=["name"]
        )
    return b.described(b.array(item), "ClusterIP Services the workloads may reach (egress only).")


def _rule(*, direction: str, applied_to: list[str], peers: list[str], cluster_scoped: bool) -> Schema:
    ingress = direction == "ingress"
    peer_field = "from" if ingress else "to"
    properties: dict[str, Schema] = {
        "appliedTo": b.described(
            b.array(_entry(applied_to, "A workload the rule applies to.")),
            "Rule-level target; if any rule sets it, every rule must and spec.appliedTo must be empty.",
        ),
        "action": b.described(b.string(enum=list(b.RULE_ACTIONS)), "What happens to matching traffic."),
        "ports": b.described(b.rule_ports(), "Destination ports; all ports when both this and protocols are empty."),
        "protocols": b.described(
            b.rule_protocols(b.INGRESS_IGMP_TYPES if ingress else b.EGRESS_IGMP_TYPES),
            "ICMP or IGMP matches that ports cannot express.",
        ),
        "l7Protocols": b.described(b.rule_l7_protocols(), "HTTP or TLS matches (feature gate L7NetworkPolicy)."),
        peer_field: b.described(
            b.array(_entry(peers, "One peer; fields in one entry are ANDed.")),
            "Peers the rule matches; empty means any.",
        ),
    }
    if not ingress:
        properties["toServices"] = _to_services(cluster_scoped=cluster_scoped)
    properties["name"] = b.described(b.string(), "Unique rule name within the policy.")
    properties["enableLogging"] = b.described(b.boolean(), "Log the first packet of matching flows.")
    properties["logLabel"] = b.described(
        b.string(pattern=b.LOG_LABEL_PATTERN), "User label written into each log line (<= 63 chars)."
    )
    return b.described(b.obj(properties, required=["action"]), f"An {direction} rule; rules apply in order.")


def _policy_schema(
    *,
    cluster_scoped: bool,
    applied_to: list[str],
    ingress_applied_to: list[str],
    egress_applied_to: list[str],
    ingress_peers: list[str],
    egress_peers: list[str],
) -> Schema:
    spec = b.obj(
        {
            "tier": b.described(b.string(), "Name of the Tier; empty means the 'application' Tier."),
            "priority": b.described(
                {"type": "number", "format": "float", "minimum": 1.0, "maximum": 10000.0},
                "Order within the Tier; lower values are evaluated first.",
            ),
            "appliedTo": b.described(
                b.array(_entry(applied_to, "A workload the policy applies to.")),
                "Policy-level target; mutually exclusive with rule-level appliedTo.",
            ),
            "ingress": b.array(
                _rule(direction="ingress", applied_to=ingress_applied_to, peers=ingress_peers,
                      cluster_scoped=cluster_scoped)
            ),
            "egress": b.array(
                _rule(direction="egress", applied_to=egress_applied_to, peers=egress_peers,
                      cluster_scoped=cluster_scoped)
            ),
        },
        required=["priority"],
    )
    return b.obj({"spec": spec, "status": b.policy_status()})


def _policy_columns(what: str) -> list[dict[str, Any]]:
    return [
        column("Tier", ".spec.tier", "string", f"The Tier this {what} belongs to."),
        column("Priority", ".spec.priority", "number", f"The priority of this {what} within its Tier.",
               format="float"),
        column("Desired Nodes", ".status.desiredNodesRealized", "number",
               "Nodes that should realize the policy.", format="int32"),
        column("Current Nodes", ".status.currentNodesRealized", "number",
               "Nodes that have realized the policy.", format="int32"),
        AGE,
    ]


_ACNP_PEERS = ["podSelector", "namespaceSelector", "namespaces", "ipBlock", "group", "serviceAccount",
               "nodeSelector"]


def cluster_network_policy() -> dict[str, Any]:
    """``ClusterNetworkPolicy`` (ACNP): cluster-scoped, selects workloads in any Namespace."""
    schema = _policy_schema(
        cluster_scoped=True,
        applied_to=["podSelector", "namespaceSelector", "group", "serviceAccount", "service", "nodeSelector"],
        ingress_applied_to=["podSelector", "namespaceSelector", "group", "serviceAccount", "service"],
        egress_applied_to=["podSelector", "namespaceSelector", "group", "serviceAccount"],
        ingress_peers=[*_ACNP_PEERS, "scope"],
        egress_peers=[*_ACNP_PEERS[:5], "fqdn", *_ACNP_PEERS[5:]],
    )
    return custom_resource_definition(
        kind="ClusterNetworkPolicy",
        plural="clusternetworkpolicies",
        short_names=["acnp"],
        namespaced=False,
        version="v1beta1",
        schema=schema,
        description="An Antrea ClusterNetworkPolicy: tiered, prioritised rules across Namespaces.",
        status_subresource=True,
        printer_columns=_policy_columns("ClusterNetworkPolicy"),
    )


_ANNP_PEERS = ["podSelector", "namespaceSelector", "externalEntitySelector", "ipBlock", "nodeSelector"]


def network_policy() -> dict[str, Any]:
    """``NetworkPolicy`` (ANNP): the Namespace-scoped variant with a narrower set of selectors."""
    schema = _policy_schema(
        cluster_scoped=False,
        applied_to=["externalEntitySelector", "podSelector", "group"],
        ingress_applied_to=["podSelector", "group"],
        egress_applied_to=["podSelector", "group"],
        ingress_peers=[*_ANNP_PEERS, "group", "scope"],
        egress_peers=[*_ANNP_PEERS[:4], "fqdn", "nodeSelector", "group"],
    )
    return custom_resource_definition(
        kind="NetworkPolicy",
        plural="networkpolicies",
        short_names=["annp", "anp"],
        namespaced=True,
        version="v1beta1",
        schema=schema,
        description="An Antrea NetworkPolicy: tiered, prioritised rules within one Namespace.",
        status_subresource=True,
        printer_columns=_policy_columns("Antrea NetworkPolicy"),
    )


def tier() -> dict[str, Any]:
    """``Tier``: a named priority band that policies attach to (no status)."""
    spec = b.obj(
        {
            "priority": b.described(
                b.integer(minimum=0, maximum=255), "Order among Tiers; lower values are evaluated first."
            ),
            "description": b.described(b.string(), "Free text for people."),
        },
        required=["priority"],
    )
    return custom_resource_definition(
        kind="Tier",
        plural="tiers",
        short_names=["tr"],
        namespaced=False,
        version="v1beta1",
        schema=b.obj({"spec": spec}),
        description="An Antrea Tier: groups policies into an ordered band.",
        status_subresource=False,
        printer_columns=[
            column("Priority", ".spec.priority", "integer", "The priority of this Tier among Tiers."),
            AGE,
        ],
    )
