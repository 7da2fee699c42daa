"""Every validation rule of nsx-api.md §9.4 is rejected with 400 and an ApiError naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from nsx_sim_helpers import CCP_PATH, DOMAIN, PASSWORD, POLICY, Api, antrea_group, register_cluster, rule

from sim.nsx import NsxSimulator

POL = f"{DOMAIN}/security-policies"


def _policy(category: str = "Application", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resource_type": "SecurityPolicy", "category": category}
    body.update(kw)
    return body


def _svc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resource_type": "Service", "service_entries": [dict(e, id=f"e{i}") for i, e in enumerate(entries)]}


def _l4(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                            "destination_ports": ["80"]}
    body.update(kw)
    return body


def _cond(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                            "value": "a|b"}
    body.update(kw)
    return body


OR = {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"}
AND = {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"}

CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # --- rules
    ("rule action enum", f"{POL}/p", _policy(rules=[rule("r", action="PERMIT")]), "action"),
    ("JUMP_TO_APPLICATION outside Environment", f"{POL}/p",
     _policy(rules=[rule("r", action="JUMP_TO_APPLICATION")]), "JUMP_TO_APPLICATION"),
    ("direction enum", f"{POL}/p", _policy(rules=[rule("r", direction="BOTH")]), "direction"),
    ("ip_protocol enum", f"{POL}/p", _policy(rules=[rule("r", ip_protocol="IPV5")]), "ip_protocol"),
    ("ip_protocol in Ethernet", f"{POL}/p",
     _policy("Ethernet", stateful=False, rules=[rule("r", ip_protocol="IPV4")]), "Ethernet"),
    ("ANY mixed in sources", f"{POL}/p",
     _policy(rules=[rule("r", source_groups=["ANY", "10.0.0.1"])]), "ANY"),
    ("any (lower case) mixed in destinations", f"{POL}/p",
     _policy(rules=[rule("r", destination_groups=["any", "10.0.0.1"])]), "ANY"),
    ("ANY mixed in services", f"{POL}/p",
     _policy(rules=[rule("r", services=["ANY", "/infra/services/HTTP"])]), "ANY"),
    ("ANY mixed in rule scope", f"{POL}/p",
     _policy(rules=[rule("r", scope=["ANY", "/infra/domains/default/groups/x"])]), "ANY"),
    ("more than 128 sources", f"{POL}/p",
     _policy(rules=[rule("r", source_groups=[f"10.0.{i // 250}.{i % 250 + 1}" for i in range(129)])]), "128"),
    ("garbage source entry", f"{POL}/p", _policy(rules=[rule("r", source_groups=["web"])]), "web"),
    # --- policies
    ("category enum", f"{POL}/p", _policy("Firewall"), "category"),
    ("sequence_number above 999999", f"{POL}/p", _policy(sequence_number=1000000), "sequence_number"),
    ("sequence_number negative", f"{POL}/p", _policy(sequence_number=-1), "sequence_number"),
    ("tcp_strict without stateful", f"{POL}/p", _policy(stateful=False, tcp_strict=True), "tcp_strict"),
    ("stateful Ethernet", f"{POL}/p", _policy("Ethernet", stateful=True), "stateless"),
    ("ANY mixed in policy scope", f"{POL}/p", _policy(scope=["ANY", "/infra/domains/default/groups/x"]), "ANY"),
    ("camelCase field", f"{POL}/p", _policy(sequenceNumber=3), "sequenceNumber"),
    # --- groups
    ("even expression length", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [_cond(), OR]}, "odd"),
    ("conjunction not alternating", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [_cond(), _cond(), OR]}, "alternate"),
    ("more than 5 criteria", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [_cond(), OR, _cond(), OR, _cond(), OR, _cond(), OR, _cond(), OR,
                                               _cond()]}, "5"),
    ("nested expression with a non-condition", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [{"resource_type": "NestedExpression", "expressions": [
         {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.1"]}]}]}, "resource_type"),
    ("nested expression with OR", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [{"resource_type": "NestedExpression", "expressions": [
         _cond(), OR, _cond()]}]}, "AND"),
    ("nested expression with 6 conditions", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [{"resource_type": "NestedExpression", "expressions": [
         _cond(), AND, _cond(), AND, _cond(), AND, _cond(), AND, _cond(), AND, _cond()]}]}, "5"),
    ("nested expression mixing member types", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [{"resource_type": "NestedExpression", "expressions": [
         _cond(), AND, _cond(member_type="Namespace")]}]}, "member_type"),
    ("member_type enum", f"{DOMAIN}/groups/g", {"resource_type": "Group", "expression": [_cond(member_type="Cow")]},
     "member_type"),
    ("key enum", f"{DOMAIN}/groups/g", {"resource_type": "Group", "expression": [_cond(key="Label")]}, "key"),
    ("operator enum", f"{DOMAIN}/groups/g", {"resource_type": "Group", "expression": [_cond(operator="LIKE")]},
     "operator"),
    ("scope_operator enum", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [_cond(scope_operator="CONTAINS")]}, "scope_operator"),
    ("conjunction_operator enum", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [_cond(), {"resource_type": "ConjunctionOperator",
                                                         "conjunction_operator": "XOR"}, _cond()]},
     "conjunction_operator"),
    ("group_type enum", f"{DOMAIN}/groups/g", {"resource_type": "Group", "group_type": ["K8S"]}, "group_type"),
    ("IPAddressExpression mixing v4 and v6", f"{DOMAIN}/groups/g",
     {"resource_type": "Group", "expression": [{"resource_type": "IPAddressExpression",
                                                "ip_addresses": ["10.0.0.1", "fd00::1"]}]}, "IPv6"),
    # --- services
    ("l4_protocol enum", "/policy/api/v1/infra/services/s", _svc(_l4(l4_protocol="SCTP")), "l4_protocol"),
    ("more than 15 ports", "/policy/api/v1/infra/services/s",
     _svc(_l4(destination_ports=[str(p) for p in range(1, 17)])), "15"),
    ("ranges count 2", "/policy/api/v1/infra/services/s",
     _svc(_l4(destination_ports=[f"{p}-{p + 1}" for p in range(100, 116, 2)])), "15"),
    ("port syntax", "/policy/api/v1/infra/services/s", _svc(_l4(destination_ports=["80:90"])), "port"),
    ("port zero", "/policy/api/v1/infra/services/s", _svc(_l4(destination_ports=["0"])), "range"),
    ("port above 65535", "/policy/api/v1/infra/services/s", _svc(_l4(source_ports=["65536"])), "range"),
    ("inverted range", "/policy/api/v1/infra/services/s", _svc(_l4(destination_ports=["90-80"])), "range"),
    ("ICMP protocol enum", "/policy/api/v1/infra/services/s",
     _svc({"resource_type": "ICMPTypeServiceEntry", "protocol": "ICMP"}), "protocol"),
    ("ALG needs exactly one destination port", "/policy/api/v1/infra/services/s",
     _svc({"resource_type": "ALGTypeServiceEntry", "alg": "FTP", "destination_ports": ["21", "2121"]}), "one"),
    ("inline rule service entry", f"{POL}/p",
     _policy(rules=[rule("r", service_entries=[dict(_l4(l4_protocol="ICMP"), id="x")])]), "l4_protocol"),
]


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[NsxSimulator]:
    """One simulator for all rejection cases: each case checks that nothing was written."""
    with NsxSimulator(password=PASSWORD, rate_limit_rps=0) as s:
        api = Api(s)
        register_cluster(api, "c1")
        yield s


@pytest.mark.parametrize(("path", "body", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_object_is_rejected(shared_sim: NsxSimulator, path: str, body: dict[str, Any],
                                    needle: str) -> None:
    sim = shared_sim
    api = Api(sim)
    before = sim.state.generation
    for verb in (api.patch, api.put):
        r = verb(path, json=body)
        assert r.status_code == 400, r.text
        err = r.json()
        assert err["httpStatus"] == "BAD_REQUEST"
        assert isinstance(err["error_code"], int) and err["module_name"]
        assert needle.lower() in err["error_message"].lower(), err["error_message"]
    assert sim.state.generation == before  # nothing was written
    assert api.get(path).status_code == 404


def test_valid_counterparts_are_accepted(api: Api) -> None:
    """The boundary values next to the rejected ones pass (so the rejections are not blanket)."""
    assert api.patch(f"{POL}/env", json=_policy("Environment", sequence_number=999999, rules=[
        rule("j", action="JUMP_TO_APPLICATION"), rule("any", source_groups=["any"])])).status_code == 200
    assert api.patch("/policy/api/v1/infra/services/s", json=_svc(
        _l4(destination_ports=[str(p) for p in range(1, 16)]),
        _l4(destination_ports=[f"{p}-{p + 1}" for p in range(100, 114, 2)] + ["65535"]),
        {"resource_type": "ALGTypeServiceEntry", "alg": "FTP", "destination_ports": ["21"]},
        {"resource_type": "ICMPTypeServiceEntry", "protocol": "ICMPv6", "icmp_type": 135})).status_code == 200
    assert api.patch(f"{DOMAIN}/groups/ok", json={"resource_type": "Group", "expression": [
        {"resource_type": "NestedExpression", "expressions": [_cond(), AND, _cond(), AND, _cond(), AND, _cond(),
                                                              AND, _cond()]},
        OR, {"resource_type": "IPAddressExpression", "ip_addresses": ["fd00::1", "fd00::/64"]}]}).status_code == 200
    got = api.get(f"{POL}/env").json()
    assert got["stateful"] is True and got["tcp_strict"] is True


def test_group_type_is_immutable(api: Api) -> None:
    assert api.patch(f"{DOMAIN}/groups/g", json=antrea_group("g")).status_code == 200
    r = api.patch(f"{DOMAIN}/groups/g", json={"group_type": []})
    assert r.status_code == 400 and "group_type" in r.json()["error_message"]


def test_antrea_policy_constraints(api: Api) -> None:
    register_cluster(api, "c1")
    cpath = f"{CCP_PATH}/c1"
    assert api.patch(f"{DOMAIN}/groups/ag", json=antrea_group("ag")).status_code == 200
    assert api.patch(f"{DOMAIN}/groups/generic", json={"resource_type": "Group"}).status_code == 200
    ok_body = _policy(scope=[cpath], rules=[rule("r", source_groups=["/infra/domains/default/groups/ag"],
                                                 services=["/infra/services/HTTP"])])
    assert api.patch(f"{POL}/ant", json=ok_body).status_code == 200
    bad_group = _policy(scope=[cpath], rules=[rule("r", destination_groups=["/infra/domains/default/groups/generic"])])
    r = api.patch(f"{POL}/ant2", json=bad_group)
    assert r.status_code == 400 and "Antrea group" in r.json()["error_message"]
    icmp = _policy(scope=[cpath], rules=[rule("r", services=["/infra/services/ICMP-ALL"])])
    assert api.patch(f"{POL}/ant3", json=icmp).status_code == 400
    eth = _policy("Ethernet", stateful=False, scope=[cpath])
    assert api.patch(f"{POL}/ant4", json=eth).status_code == 400
    # A rule-level cluster scope spans the policy just the same.
    rule_scope = _policy(rules=[rule("r", scope=[cpath], services=["/infra/services/ICMP-ALL"])])
    assert api.patch(f"{POL}/ant5", json=rule_scope).status_code == 400
    # Same policies without the cluster are fine.
    assert api.patch(f"{POL}/plain", json=_policy(rules=[rule("r", services=["/infra/services/ICMP-ALL"])])
                     ).status_code == 200
    assert api.get(f"{POLICY}/infra/domains/default/security-policies/ant2").status_code == 404
