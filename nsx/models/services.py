"""Service and its entries, discriminated by ``resource_type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nsx.models.base import ManagedResource

AlgType = Literal[
    "ORACLE_TNS", "FTP", "SUN_RPC_TCP", "SUN_RPC_UDP", "MS_RPC_TCP", "MS_RPC_UDP", "NBNS_BROADCAST",
    "NBDG_BROADCAST", "TFTP",
]


class L4PortSetServiceEntry(ManagedResource):
    resource_type: Literal["L4PortSetServiceEntry"] = "L4PortSetServiceEntry"
    l4_protocol: Literal["TCP", "UDP"]
    destination_ports: list[str] | None = None
    source_ports: list[str] | None = None


class ICMPTypeServiceEntry(ManagedResource):
    resource_type: Literal["ICMPTypeServiceEntry"] = "ICMPTypeServiceEntry"
    protocol: Literal["ICMPv4", "ICMPv6"]
    icmp_type: int | None = None
    icmp_code: int | None = None


class IGMPTypeServiceEntry(ManagedResource):
    resource_type: Literal["IGMPTypeServiceEntry"] = "IGMPTypeServiceEntry"


class IPProtocolServiceEntry(ManagedResource):
    resource_type: Literal["IPProtocolServiceEntry"] = "IPProtocolServiceEntry"
    protocol_number: int


class ALGTypeServiceEntry(ManagedResource):
    resource_type: Literal["ALGTypeServiceEntry"] = "ALGTypeServiceEntry"
    alg: AlgType
    destination_ports: list[str] | None = None
    source_ports: list[str] | None = None


class EtherTypeServiceEntry(ManagedResource):
    resource_type: Literal["EtherTypeServiceEntry"] = "EtherTypeServiceEntry"
    ether_type: int


class NestedServiceServiceEntry(ManagedResource):
    resource_type: Literal["NestedServiceServiceEntry"] = "NestedServiceServiceEntry"
    nested_service_path: str


ServiceEntry = Annotated[
    L4PortSetServiceEntry
    | ICMPTypeServiceEntry
    | IGMPTypeServiceEntry
    | IPProtocolServiceEntry
    | ALGTypeServiceEntry
    | EtherTypeServiceEntry
    | NestedServiceServiceEntry,
    Field(discriminator="resource_type"),
]


class Service(ManagedResource):
    resource_type: Literal["Service"] = "Service"
    service_entries: list[ServiceEntry] | None = None
    service_type: Literal["ETHER", "NON_ETHER"] | None = None
    is_default: bool | None = None
