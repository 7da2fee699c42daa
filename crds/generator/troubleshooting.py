"""Schemas of the troubleshooting CRDs Traceflow and SupportBundleCollection (antrea.md §5).

Cross-field rules (a non-live trace needs a source Pod; destination pod/service/ip are exclusive)
belong to Antrea's webhook, not to these schemas.
"""

from __future__ import annotations

from typing import Any

from crds.generator import blocks as b
from crds.generator.crd import AGE, column, custom_resource_definition

Schema = b.Schema

AUTH_TYPES = ["BearerToken", "APIKey", "BasicAuthentication"]


def _u8() -> Schema:
    return b.integer(minimum=0, maximum=255)


def _u16() -> Schema:
    return b.integer(minimum=0, maximum=65535)


def _packet(*, with_addresses: bool) -> Schema:
    """The packet to inject (spec) or the packet that was captured (status, live traffic)."""
    ports = {"srcPort": b.port_number(), "dstPort": b.port_number()}
    properties: dict[str, Schema] = {}
    if with_addresses:
        properties["srcIP"] = b.string()
        properties["dstIP"] = b.string()
        properties["length"] = _u16()
    properties["ipHeader"] = b.obj(
        {"protocol": _u8(), "ttl": _u8(), "flags": b.integer(minimum=0, maximum=7)}
    )
    properties["ipv6Header"] = b.obj({"nextHeader": _u16(), "hopLimit": _u16()})
    properties["transportHeader"] = b.obj(
        {
            "icmp": b.obj({"id": _u16(), "sequence": _u16()}),
            "udp": b.obj(dict(ports)),
            "tcp": b.obj({**ports, "flags": _u8()}),
        }
    )
    return b.obj(properties)


def _endpoint(fields: list[str], text: str) -> Schema:
    properties: dict[str, Schema] = {
        name: (b.ip_address() if name == "ip" else b.string()) for name in fields
    }
    return b.described(b.obj(properties), text)


def _observation() -> Schema:
    text_fields = ["component", "componentInfo", "action", "pod", "dstMAC", "networkPolicy",
                   "networkPolicyRule"]
    properties: dict[str, Schema] = {name: b.string() for name in text_fields}
    properties["ttl"] = _u8()
    for name in ("translatedSrcIP", "translatedDstIP", "tunnelDstIP", "egressIP", "egress", "egressNode",
                 "srcPodIP"):
        properties[name] = b.string()
    return b.obj(properties)


def traceflow() -> dict[str, Any]:
    """``Traceflow``: inject or capture one packet and report what each Node did with it."""
    spec = b.obj(
        {
            "source": _endpoint(["pod", "namespace", "ip"], "Where the packet starts (ip only for live traffic)."),
            "destination": _endpoint(
                ["pod", "service", "namespace", "ip"], "Where the packet goes: a Pod, a Service or an IP."
            ),
            "packet": b.described(_packet(with_addresses=False), "Header fields of the packet to trace."),
            "liveTraffic": b.described(b.boolean(), "Trace the first matching packet of a new connection."),
            "droppedOnly": b.described(b.boolean(), "With liveTraffic: only a packet a policy dropped."),
            "timeout": b.described(b.integer(minimum=1, maximum=300), "Seconds before the trace fails."),
        }
    )
    result = b.obj(
        {
            "node": b.string(),
            "role": b.string(),
            "timestamp": b.described(b.integer(), "Epoch seconds."),
            "observations": b.array(_observation()),
        }
    )
    status = b.obj(
        {
            "reason": b.string(),
            "dataplaneTag": b.integer(),
            "phase": b.described(b.string(), "Running, Succeeded or Failed."),
            "startTime": b.string(),
            "results": b.described(b.array(result), "One entry per Node that saw the packet."),
            "capturedPacket": _packet(with_addresses=True),
        }
    )
    text = "Timeout in seconds."
    return custom_resource_definition(
        kind="Traceflow",
        plural="traceflows",
        short_names=["tf"],
        namespaced=False,
        version="v1beta1",
        schema=b.obj({"spec": spec, "status": status}, required=["spec"]),
        description="An Antrea Traceflow: follows one packet through the data path.",
        status_subresource=True,
        printer_columns=[
            column("Phase", ".status.phase", "string", "The phase of the Traceflow."),
            column("Source-Pod", ".spec.source.pod", "string", "The source Pod.", priority=10),
            column("Destination-Pod", ".spec.destination.pod", "string", "The destination Pod.", priority=10),
            column("Destination-IP", ".spec.destination.ip", "string", "The destination IP.", priority=10),
            column("Live-Traffic", ".spec.liveTraffic", "boolean", "Whether live traffic is traced.", priority=10),
            column("Dropped-Only", ".spec.droppedOnly", "boolean", "Whether only drops are captured.",
                   priority=10),
            column("Timeout", ".spec.timeout", "integer", text, priority=10),
            AGE,
        ],
    )


def _node_set(*, external: bool) -> Schema:
    properties: dict[str, Schema] = {}
    if external:
        properties["namespace"] = b.string()
    properties["nodeNames"] = b.string_list()
    properties["nodeSelector"] = b.label_selector(typed_match_labels=False)
    text = "ExternalNodes of one Namespace." if external else "Nodes; both fields empty means every Node."
    return b.described(b.obj(properties, required=["namespace"] if external else None), text)


def support_bundle_collection() -> dict[str, Any]:
    """``SupportBundleCollection`` (v1alpha1): collect bundles from Nodes and upload them over SFTP."""
    spec = b.obj(
        {
            "nodes": _node_set(external=False),
            "externalNodes": _node_set(external=True),
            "expirationMinutes": b.described(
                b.integer(default=60), "Minutes before an unfinished collection is marked failed."
            ),
            "sinceTime": b.described(b.string(format="duration"), "How far back logs go, e.g. 2h."),
            "fileServer": b.obj(
                {
                    "url": b.described(b.string(), "scheme://host[:port][/path]; SFTP by default."),
                    "hostPublicKey": b.described(b.string(format="byte"), "Expected SSH host key."),
                }
            ),
            "authentication": b.obj(
                {
                    "authType": b.string(enum=list(AUTH_TYPES)),
                    "authSecret": b.described(b.name_namespace(), "Secret holding the credentials."),
                }
            ),
        },
        required=["fileServer", "authentication"],
        anyOf=[{"required": ["nodes"]}, {"required": ["externalNodes"]}],
    )
    status = b.obj(
        {"collectedNodes": b.integer(), "desiredNodes": b.integer(), "conditions": b.conditions()}
    )
    return custom_resource_definition(
        kind="SupportBundleCollection",
        plural="supportbundlecollections",
        short_names=["sbc"],
        namespaced=False,
        version="v1alpha1",
        schema=b.obj({"spec": spec, "status": status}),
        description="An Antrea SupportBundleCollection: gathers support bundles from many Nodes.",
        status_subresource=True,
    )
