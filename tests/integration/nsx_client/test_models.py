"""Models against what NSX (the simulator) really sends: lossless round trips, discriminated unions
picking the right class, unknown fields kept, bad enum values refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from nsx import NsxClient
from nsx.models import (
    ALGTypeServiceEntry,
    Condition,
    ConjunctionOperator,
    EtherTypeServiceEntry,
    Expression,
    ExternalIDExpression,
    Group,
    ICMPTypeServiceEntry,
    IdentityGroupExpression,
    IGMPTypeServiceEntry,
    IPAddressExpression,
    IPProtocolServiceEntry,
    L4PortSetServiceEntry,
    MACAddressExpression,
    NestedExpression,
    NestedServiceServiceEntry,
    PathExpression,
    Rule,
    SecurityPolicy,
    Service,
)
from nsx.models.base import NsxModel
from nsx.models.lists import ListResult

DOMAIN = "/policy/api/v1/infra/domains/default"
SERVICES = "/policy/api/v1/infra/services"


def _or() -> ConjunctionOperator:
    return ConjunctionOperator(conjunction_operator="OR")


@pytest.fixture(scope="module")
def seeded(sim: Any) -> dict[str, Any]:
    """Objects using every expression and service-entry type, written through the client."""
    from nsx import BasicAuth, TlsSettings

    with NsxClient([sim.url], BasicAuth(sim.username, sim.password),
                   tls=TlsSettings(ca_file=str(sim.ca_file))) as client:
        client.policy.patch_group(Group(id="rt-target", group_type=["ANTREA"], expression=[
            Condition(member_type="Namespace", key="Name", operator="EQUALS", value="prod")]))
        client.policy.patch_group(Group(id="rt-all-kinds", display_name="every expression", expression=[
            Condition(member_type="VirtualMachine", key="Tag", operator="EQUALS", scope_operator="EQUALS",
                      value="env|prod"),
            _or(),
            NestedExpression(expressions=[
                Condition(member_type="VirtualMachine", key="Name", operator="STARTSWITH", value="web"),
                ConjunctionOperator(conjunction_operator="AND"),
                Condition(member_type="VirtualMachine", key="OSName", operator="CONTAINS", value="linux"),
            ]),
            _or(),
            IPAddressExpression(ip_addresses=["10.0.0.0/24", "10.1.0.1-10.1.0.9"]),
            _or(),
            MACAddressExpression(mac_addresses=["00:50:56:00:00:01"]),
            _or(),
            PathExpression(paths=["/infra/domains/default/groups/rt-target"]),
            _or(),
            ExternalIDExpression(member_type="VirtualMachine", external_ids=["vm-1"]),
        ]))
        client.policy.patch_service(Service(id="rt-svc", service_entries=[
            L4PortSetServiceEntry(id="tcp", l4_protocol="TCP", destination_ports=["80", "8000-8080"],
                                  source_ports=["1024-65535"]),
            ICMPTypeServiceEntry(id="ping", protocol="ICMPv4", icmp_type=8, icmp_code=0),
            IGMPTypeServiceEntry(id="igmp"),
            IPProtocolServiceEntry(id="gre", protocol_number=47),
            ALGTypeServiceEntry(id="ftp", alg="FTP", destination_ports=["21"]),
            NestedServiceServiceEntry(id="nested", nested_service_path="/infra/services/HTTP"),
        ]))
        client.policy.patch_service(Service(id="rt-ether", service_entries=[
            EtherTypeServiceEntry(id="ipv4", ether_type=2048)]))
        client.policy.patch_security_policy(SecurityPolicy(
            id="rt-policy", category="Application", sequence_number=10, rules=[
                Rule(id="r1", sequence_number=1, action="ALLOW", direction="IN_OUT",
                     ip_protocol="IPV4_IPV6", source_groups=["ANY"],
                     destination_groups=["/infra/domains/default/groups/rt-target"],
                     services=["/infra/services/rt-svc"],
                     service_entries=[L4PortSetServiceEntry(id="inline", l4_protocol="UDP",
                                                            destination_ports=["53"])]),
                Rule(id="r2", sequence_number=2, action="DROP", source_groups=["ANY"],
                     destination_groups=["ANY"], services=["ANY"]),
            ]))
        return {
            "group": client.get(f"{DOMAIN}/groups/rt-all-kinds"),
            "service": client.get(f"{SERVICES}/rt-svc"),
            "ether": client.get(f"{SERVICES}/rt-ether"),
            "policy": client.get(f"{DOMAIN}/security-policies/rt-policy"),
            "groups_page": client.get(f"{DOMAIN}/groups", {"page_size": 5}),
            "services_page": client.get(SERVICES),
            "policies_page": client.get(f"{DOMAIN}/security-policies"),
        }


@pytest.mark.parametrize(("key", "model"), [
    ("group", Group), ("service", Service), ("ether", Service), ("policy", SecurityPolicy)])
def test_round_trip_is_lossless(seeded: dict[str, Any], key: str, model: type[Group]) -> None:
    raw = seeded[key]
    assert raw.get("_revision") is not None and raw.get("path")  # server-filled fields are present
    assert model.model_validate(raw).to_wire() == raw


@pytest.mark.parametrize(("key", "item"), [
    ("groups_page", Group), ("services_page", Service), ("policies_page", SecurityPolicy)])
def test_list_results_round_trip(seeded: dict[str, Any], key: str, item: type[Group]) -> None:
    raw = seeded[key]
    page = ListResult[item].model_validate(raw)  # type: ignore[valid-type]
    assert page.results and all(isinstance(obj, item) for obj in page.results)
    assert page.to_wire() == raw


def test_expressions_pick_their_class(seeded: dict[str, Any]) -> None:
    group = Group.model_validate(seeded["group"])
    kinds = [type(expression) for expression in group.expression or []]
    assert kinds == [Condition, ConjunctionOperator, NestedExpression, ConjunctionOperator,
                     IPAddressExpression, ConjunctionOperator, MACAddressExpression, ConjunctionOperator,
                     PathExpression, ConjunctionOperator, ExternalIDExpression]
    nested = group.expression[2] if group.expression else None
    assert isinstance(nested, NestedExpression)
    assert [type(e) for e in nested.expressions] == [Condition, ConjunctionOperator, Condition]


def test_service_entries_pick_their_class(seeded: dict[str, Any]) -> None:
    service = Service.model_validate(seeded["service"])
    by_id = {entry.id: type(entry) for entry in service.service_entries or []}
    assert by_id == {"tcp": L4PortSetServiceEntry, "ping": ICMPTypeServiceEntry, "igmp": IGMPTypeServiceEntry,
                     "gre": IPProtocolServiceEntry, "ftp": ALGTypeServiceEntry,
                     "nested": NestedServiceServiceEntry}
    ether = Service.model_validate(seeded["ether"])
    assert [type(e) for e in ether.service_entries or []] == [EtherTypeServiceEntry]
    policy = SecurityPolicy.model_validate(seeded["policy"])
    rule = next(r for r in policy.rules or [] if r.id == "r1")
    assert [type(e) for e in rule.service_entries or []] == [L4PortSetServiceEntry]


def test_identity_group_expression_is_discriminated() -> None:
    parsed = TypeAdapter(Expression).validate_python(
        {"resource_type": "IdentityGroupExpression", "identity_groups": [{"distinguished_name": "CN=x"}]})
    assert isinstance(parsed, IdentityGroupExpression)


def test_unknown_fields_are_kept(seeded: dict[str, Any]) -> None:
    raw = copy.deepcopy(seeded["policy"])
    raw["future_top_level"] = {"anything": [1, 2]}
    raw["rules"][0]["future_rule_field"] = "x"
    raw["rules"][0]["service_entries"][0]["future_entry_field"] = 7
    policy = SecurityPolicy.model_validate(raw)
    assert policy.to_wire() == raw


@pytest.mark.parametrize(("key", "mutate"), [
    ("policy", lambda raw: raw["rules"][0].__setitem__("action", "PERMIT")),
    ("policy", lambda raw: raw["rules"][0].__setitem__("direction", "BOTH")),
    ("policy", lambda raw: raw.__setitem__("category", "Firewall")),
    ("group", lambda raw: raw["expression"][0].__setitem__("member_type", "Toaster")),
    ("group", lambda raw: raw["expression"][1].__setitem__("conjunction_operator", "XOR")),
    ("group", lambda raw: raw["expression"][4].__setitem__("resource_type", "FancyExpression")),
    ("service", lambda raw: next(e for e in raw["service_entries"] if e["id"] == "tcp").__setitem__(
        "l4_protocol", "SCTP")),
])
def test_bad_enum_values_are_rejected(seeded: dict[str, Any], key: str, mutate: Any) -> None:
    raw = copy.deepcopy(seeded[key])
    mutate(raw)
    models: dict[str, type[NsxModel]] = {"policy": SecurityPolicy, "group": Group, "service": Service}
    model = models[key]
    with pytest.raises(ValidationError):
        model.model_validate(raw)


def test_constructed_models_send_their_discriminator() -> None:
    wire = Group(id="g", expression=[IPAddressExpression(ip_addresses=["1.2.3.4"])]).to_wire()
    assert wire == {"id": "g", "resource_type": "Group",
                    "expression": [{"resource_type": "IPAddressExpression", "ip_addresses": ["1.2.3.4"]}]}
