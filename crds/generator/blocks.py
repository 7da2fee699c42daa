"""Reusable OpenAPI v3 schema fragments for the Antrea CRDs.

Antrea's CRD files repeat the same shapes (label selectors, IP blocks, object references, rule
ports, ICMP/IGMP protocols, conditions) dozens of times. Building them from one definition keeps
the nine manifests consistent with each other, and with the facts in
``/work/shared/specs/antrea.md`` §2-§5, so a fix lands everywhere at once.

Every function returns a fresh dict: callers may add descriptions without aliasing.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Label values: empty, or alphanumeric at both ends with '-', '_' and '.' inside (antrea.md §2.3).
LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# Rule logLabel: the same alphabet, at most 63 characters (antrea.md §2.2).
LOG_LABEL_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"

SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"]
RULE_ACTIONS = ["Allow", "Drop", "Reject", "Pass"]
PORT_PROTOCOLS = ["TCP", "UDP", "SCTP"]
PEER_SCOPES = ["Cluster", "ClusterSet"]
HTTP_METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]
# IGMP message types a rule may match: a query (0x11) on ingress; v1/v2/v3 reports on egress.
INGRESS_IGMP_TYPES = [0x11]
EGRESS_IGMP_TYPES = [0x12, 0x16, 0x22]
CONDITION_STATUSES = ["True", "False", "Unknown"]


def described(schema: Schema, text: str) -> Schema:
    """Return ``schema`` with a description placed first, so the YAML reads top-down."""
    return {"description": text, **schema}


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def integer(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


def boolean() -> Schema:
    return {"type": "boolean"}


def obj(properties: dict[str, Schema], *, required: list[str] | None = None, **extra: Any) -> Schema:
    """An object node; ``required`` is emitted only when non-empty (as a structural schema wants)."""
    node: Schema = {"type": "object"}
    if required:
        node["required"] = list(required)
    node.update(extra)
    node["properties"] = properties
    return node


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", **extra, "items": items}


def string_list() -> Schema:
    return array(string())


def ip_address() -> Schema:
    """A single IPv4 or IPv6 address: Antrea expresses this as a ``oneOf`` over two formats."""
    return string(oneOf=[{"format": "ipv4"}, {"format": "ipv6"}])


def label_selector(*, checked_values: bool = True, typed_match_labels: bool = True) -> Schema:
    """A metav1.LabelSelector as Antrea's schemas spell it.

    Most Antrea CRDs check selector values against the label-value pattern and type
    ``matchLabels`` as a string map. ``Group`` checks neither (its ``matchLabels`` keeps unknown
    fields), and ``SupportBundleCollection`` checks expression values only; the flags reproduce
    those differences so the emulator accepts and rejects exactly what Antrea does.
    """
    value = string(pattern=LABEL_VALUE_PATTERN) if checked_values else string()
    expression = obj(
        {
            "key": string(),
            "operator": string(enum=list(SELECTOR_OPERATORS)),
            "values": array(value),
        }
    )
    match_labels: Schema
    if typed_match_labels:
        match_labels = {"type": "object", "additionalProperties": string(pattern=LABEL_VALUE_PATTERN)}
    else:
        match_labels = {"x-kubernetes-preserve-unknown-fields": True}
    return obj({"matchExpressions": array(expression), "matchLabels": match_labels})


def ip_block() -> Schema:
    """A CIDR with optional carve-outs (each a CIDR); subset checks are left to the webhook."""
    return obj({"cidr": string(format="cidr"), "except": array(string(format="cidr"))})


def name_namespace(*, required: list[str] | None = None) -> Schema:
    """A ``{name, namespace}`` reference (ServiceAccount, Service, Secret, ServiceReference)."""
    return obj({"name": string(), "namespace": string()}, required=required)


def object_reference() -> Schema:
    """A core ObjectReference, as the monitoring CRDs use for their Pod, Node and Service."""
    fields = ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"]
    return obj({field: string() for field in fields})


def rule_ports() -> Schema:
    """``ports[]`` of a policy rule. The schema sets no bounds on port numbers (antrea.md §2.2)."""
    return array(
        obj(
            {
                "protocol": string(enum=list(PORT_PROTOCOLS)),
                "port": {"x-kubernetes-int-or-string": True},
                "endPort": integer(),
                "sourcePort": integer(),
                "sourceEndPort": integer(),
            }
        )
    )


def rule_protocols(igmp_types: list[int]) -> Schema:
    """``protocols[]``: each item names exactly one of ``icmp`` or ``igmp``."""
    byte = integer(minimum=0, maximum=255)
    return array(
        obj(
            {
                "icmp": obj({"icmpType": dict(byte), "icmpCode": dict(byte)}),
                "igmp": obj({"igmpType": integer(enum=list(igmp_types)), "groupAddress": ip_address()}),
            },
            oneOf=[{"required": ["icmp"]}, {"required": ["igmp"]}],
        )
    )


def rule_l7_protocols() -> Schema:
    """``l7Protocols[]``: each item names exactly one of ``http`` or ``tls``."""
    return array(
        obj(
            {
                "http": obj(
                    {"host": string(), "method": string(enum=list(HTTP_METHODS)), "path": string()}
                ),
                "tls": obj({"sni": string()}),
            },
            oneOf=[{"required": ["http"]}, {"required": ["tls"]}],
        )
    )


def namespaces_match() -> Schema:
    """ACNP peer ``namespaces``: exactly one criterion, ``match: Self`` or ``sameLabels``."""
    return obj(
        {"match": string(enum=["Self"]), "sameLabels": string_list()},
        maxProperties=1,
        minProperties=1,
    )


def conditions(*, required: list[str] | None = None, **typed: Schema) -> Schema:
    """A list of status conditions; ``typed`` overrides the plain-string default of a field."""
    fields: dict[str, Schema] = {
        name: string() for name in ("type", "status", "lastTransitionTime", "reason", "message")
    }
    fields.update(typed)
    return array(obj(fields, required=required))


def policy_status() -> Schema:
    """Status of ACNP/ANNP, written by antrea-controller only (antrea.md §2.7)."""
    return obj(
        {
            "phase": string(),
            "observedGeneration": integer(),
            "currentNodesRealized": integer(),
            "desiredNodesRealized": integer(),
            "conditions": conditions(),
        }
    )


def int32(**extra: Any) -> Schema:
    return integer(format="int32", **extra)


def port_number() -> Schema:
    return integer(minimum=1, maximum=65535)
