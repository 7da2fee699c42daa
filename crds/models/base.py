"""Base classes for the Antrea API models: camelCase on the wire, snake_case in Python.

Write models (what the adapter creates) forbid unknown fields, because the API server would
silently prune them and the adapter would never notice. Read models (status, monitoring data
written by Antrea) ignore unknown fields, so a newer Antrea adding a field does not break reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Wire names that are not the plain camelCase of the Python name (keywords, upper-case acronyms).
_WIRE_NAMES = {
    "from_": "from",
    "except_": "except",
    "api_ca_bundle": "apiCABundle",
    "transport_interface_mtu": "transportInterfaceMTU",
    "pod_mtu": "podMTU",
    "transport_interface_ips": "transportInterfaceIPs",
    "dst_mac": "dstMAC",
    "src_ip": "srcIP",
    "dst_ip": "dstIP",
    "translated_src_ip": "translatedSrcIP",
    "translated_dst_ip": "translatedDstIP",
    "tunnel_dst_ip": "tunnelDstIP",
    "egress_ip": "egressIP",
    "src_pod_ip": "srcPodIP",
    "url": "url",
}


def wire_name(field_name: str) -> str:
    """The JSON name Antrea uses for a Python field name."""
    return _WIRE_NAMES.get(field_name) or to_camel(field_name)


_COMMON = ConfigDict(
    alias_generator=wire_name,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
    frozen=True,
)


class ApiModel(BaseModel):
    """A part of an object the adapter writes: unknown fields are an error."""

    model_config = ConfigDict(**_COMMON, extra="forbid", strict=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with Antrea's field names and without unset (None) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ReadModel(ApiModel):
    """A part of an object Antrea writes (status, monitoring): unknown fields are ignored."""

    model_config = ConfigDict(**_COMMON, extra="ignore", strict=False)
