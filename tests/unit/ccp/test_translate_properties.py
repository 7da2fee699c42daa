"""Properties of translation: determinism, totality, and that Antrea enforces what NSX would.

The semantic check is an oracle written here from NSX's documented model (mapping.md §4): a packet
between two Pods passes when the first matching rule at the source vNIC (direction OUT) and the
first matching rule at the destination vNIC (direction IN) both allow it, rules ordered by
category, policy sequence and rule sequence. Its Antrea counterpart evaluates the generated
objects: egress rules at the source Pod, ingress rules at the destination Pod, by tier, priority
and rule order. For generated worlds the two verdicts must agree on every Pod pair and port.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from controllers.ccp.snapshot import NsxSnapshot, load_export
from controllers.ccp.translate import CATEGORIES, cluster_path, translate
from nsx.predefined_services import predefined_services

CLUSTER = "c1"
P = cluster_path(CLUSTER)
G = "/infra/domains/default/groups/"

# -- the world ------------------------------------------------------------------------------------
LABEL_KEYS = ("app", "tier")
LABEL_VALUES = ("a", "b", "c")
NAMESPACES = {"prod": {"env": "prod"}, "dev": {"env": "dev"}, "ops": {}}


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ip: str

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


pods_strategy = st.lists(
    st.tuples(
        st.sampled_from(sorted(NAMESPACES)),
        st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=2),
    ),
    min_size=2,
    max_size=5,
).map(lambda items: [Pod(f"p{i}", ns, tuple(sorted(lbl.items())), f"10.0.0.{i + 1}")
                     for i, (ns, lbl) in enumerate(items)])

# (protocol, port) probes; services below are built from the same vocabulary.
PROBES = (("TCP", 80), ("TCP", 443), ("UDP", 53), ("TCP", 8080))
SERVICES = {"/infra/services/HTTP": [("TCP", 80, 80)], "/infra/services/HTTPS": [("TCP", 443, 443)],
            "/infra/services/DNS-UDP": [("UDP", 53, 53)]}


World = tuple[list[Pod], list[dict[str, Any]], list[dict[str, Any]]]


# -- NSX groups -----------------------------------------------------------------------------------
def condition_strategy() -> st.SearchStrategy[dict[str, Any]]:
    pod_tag = st.builds(lambda k, v, op: {"resource_type": "Condition", "member_type": "Pod", "key": "Tag",
                                          "operator": op, "value": f"dis:k8s:{k}|{v}"},
                        st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES),
                        st.sampled_from(["EQUALS", "EQUALS", "NOTEQUALS"]))
    ns_name = st.builds(lambda n: {"resource_type": "Condition", "member_type": "Namespace", "key": "Name",
                                   "operator": "EQUALS", "value": n}, st.sampled_from(sorted(NAMESPACES)))
    ns_tag = st.builds(lambda v: {"resource_type": "Condition", "member_type": "Namespace", "key": "Tag",
                                  "operator": "EQUALS", "value": f"env|{v}"}, st.sampled_from(["prod", "dev"]))
    return st.one_of(pod_tag, pod_tag, ns_name, ns_tag)


def criterion_strategy(earlier: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """One OR-ed criterion: AND-ed conditions (nested), or a reference to an earlier group."""
    nested = st.lists(condition_strategy(), min_size=1, max_size=3).map(
        lambda cs: [cs[0]] if len(cs) == 1 else [{"resource_type": "NestedExpression", "expressions": _join(cs, "AND")}]
    )
    if not earlier:
        return nested
    ref = st.sampled_from(earlier).map(lambda gid: [{"resource_type": "PathExpression", "paths": [G + gid]}])
    return st.one_of(nested, nested, ref)


def _join(items: list[dict[str, Any]], op: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if i:
            out.append({"resource_type": "ConjunctionOperator", "conjunction_operator": op})
        out.append(item)
    return out


@st.composite
def groups_strategy(draw: st.DrawFn) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 4))):
        earlier = [g["id"] for g in groups]
        criteria = [draw(criterion_strategy(earlier)) for _ in range(draw(st.integers(1, 2)))]
        expression = _join([crit[0] for crit in criteria], "OR")
        groups.append({"id": f"g{i}", "group_type": ["ANTREA"], "expression": expression})
    return groups


# -- NSX policies ---------------------------------------------------------------------------------
@st.composite
def world_strategy(draw: st.DrawFn) -> World:
    pods = draw(pods_strategy)
    groups = draw(groups_strategy())
    group_refs = st.sampled_from([G + g["id"] for g in groups])
    peers = st.one_of(st.just(["ANY"]), st.lists(group_refs, min_size=1, max_size=2, unique=True))
    sequences = draw(st.lists(st.integers(0, 999999), min_size=1, max_size=3, unique=True))
    policies = []
    for pi, seq in enumerate(sequences):
        rules = []
        for ri in range(draw(st.integers(1, 4))):
            rules.append({
                "id": f"r{pi}{ri}",
                "sequence_number": draw(st.integers(0, 20)),
                "source_groups": draw(peers),
                "destination_groups": draw(peers),
                "services": draw(st.one_of(st.just(["ANY"]), st.lists(st.sampled_from(sorted(SERVICES)),
                                                                        min_size=1, max_size=2, unique=True))),
                "action": draw(st.sampled_from(["ALLOW", "DROP", "REJECT"])),
                "direction": draw(st.sampled_from(["IN", "OUT", "IN_OUT"])),
                "scope": draw(st.one_of(st.just(["ANY"]), st.lists(group_refs, min_size=1, max_size=1))),
            })
        scope = [P] + draw(st.one_of(st.just([]), st.lists(group_refs, min_size=1, max_size=1)))
        policies.append({"id": f"pol{pi}", "category": draw(st.sampled_from(CATEGORIES[1:])),
                         "sequence_number": seq, "scope": scope, "rules": rules})
    return pods, groups, policies


# -- the NSX oracle -------------------------------------------------------------------------------
def nsx_member(pod: Pod, group_path: str, groups: dict[str, dict[str, Any]]) -> bool:
    expression = groups[group_path]["expression"]
    segments: list[list[dict[str, Any]]] = [[]]
    for i, item in enumerate(expression):
        if i % 2:
            if item["conjunction_operator"] == "OR":
                segments.append([])
        else:
            segments[-1].append(item)
    return any(all(_nsx_item(pod, item, groups) for item in seg) for seg in segments if seg)


def _nsx_item(pod: Pod, item: dict[str, Any], groups: dict[str, dict[str, Any]]) -> bool:
    kind = item["resource_type"]
    if kind == "PathExpression":
        return any(nsx_member(pod, p, groups) for p in item["paths"])
    if kind == "NestedExpression":
        return all(_nsx_item(pod, c, groups) for c in item["expressions"] if c["resource_type"] == "Condition")
    if kind == "IPAddressExpression":
        return any(ipaddress.ip_address(pod.ip) in ipaddress.ip_network(a, strict=False) for a in item["ip_addresses"])
    member, key, value, op = item["member_type"], item["key"], item["value"], item["operator"]
    if member == "Namespace" and key == "Name":
        hit = pod.namespace == value
    else:
        scope, tag = value.split("|", 1)
        scope = scope.removeprefix("dis:k8s:")
        labels = pod.label_map() if member == "Pod" else NAMESPACES[pod.namespace]
        hit = labels.get(scope) == tag
    return hit if op == "EQUALS" else not hit


def _in_list(pod: Pod, entries: list[str], groups: dict[str, dict[str, Any]]) -> bool:
    return entries == ["ANY"] or any(nsx_member(pod, e, groups) for e in entries)


def _service_hit(services: list[str], probe: tuple[str, int]) -> bool:
    if services == ["ANY"]:
        return True
    return any(proto == probe[0] and lo <= probe[1] <= hi for s in services for proto, lo, hi in SERVICES[s])


def nsx_verdict(src: Pod, dst: Pod, probe: tuple[str, int], policies: list[dict[str, Any]],
                groups: dict[str, dict[str, Any]]) -> bool:
    order = sorted(policies, key=lambda p: (CATEGORIES.index(p["category"]), p["sequence_number"]))

    def decide(at_pod: Pod, direction: str) -> bool:
        for pol in order:
            for r in sorted(pol["rules"], key=lambda r: (r["sequence_number"], r["id"])):
                if r["direction"] not in (direction, "IN_OUT"):
                    continue
                policy_groups = [s for s in pol["scope"] if s != P]
                applied = policy_groups or (r["scope"] if r["scope"] != ["ANY"] else [])
                if applied and not _in_list(at_pod, applied, groups):
                    continue
                if not (_in_list(src, r["source_groups"], groups) and _in_list(dst, r["destination_groups"], groups)):
                    continue
                if not _service_hit(r["services"], probe):
                    continue
                return r["action"] == "ALLOW"
        return True

    return decide(src, "OUT") and decide(dst, "IN")


# -- the Antrea evaluator -------------------------------------------------------------------------
def _selector_hit(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = labels.get(expr["key"])
        if expr["operator"] == "In" and present not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present in expr["values"]:
            return False
    return True


def antrea_member(pod: Pod, name: str, cgs: dict[str, dict[str, Any]], *, as_applied_to: bool) -> bool:
    spec = cgs[name]["spec"]
    if "childGroups" in spec:
        return any(antrea_member(pod, c, cgs, as_applied_to=as_applied_to) for c in spec["childGroups"])
    if "ipBlocks" in spec:  # Antrea ignores ipBlocks in appliedTo
        return not as_applied_to and any(
            ipaddress.ip_address(pod.ip) in ipaddress.ip_network(b["cidr"]) for b in spec["ipBlocks"])
    ns_labels = {**NAMESPACES[pod.namespace], "kubernetes.io/metadata.name": pod.namespace}
    ok = True
    if "podSelector" in spec:
        ok &= _selector_hit(spec["podSelector"], pod.label_map())
    if "namespaceSelector" in spec:
        ok &= _selector_hit(spec["namespaceSelector"], ns_labels)
    return ok


def _peer_hit(pod: Pod, peer: dict[str, Any], cgs: dict[str, dict[str, Any]], *, as_applied_to: bool) -> bool:
    if "group" in peer:
        return antrea_member(pod, peer["group"], cgs, as_applied_to=as_applied_to)
    if "podSelector" in peer and len(peer) == 1:
        return _selector_hit(peer["podSelector"], pod.label_map())
    if "ipBlock" in peer:
        return ipaddress.ip_address(pod.ip) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
    raise AssertionError(f"unexpected peer {peer}")


def _ports_hit(rule: dict[str, Any], probe: tuple[str, int]) -> bool:
    ports = rule.get("ports")
    if not ports and not rule.get("protocols"):
        return True
    return any(p["protocol"] == probe[0] and p["port"] <= probe[1] <= p.get("endPort", p["port"]) for p in ports or [])


def antrea_verdict(src: Pod, dst: Pod, probe: tuple[str, int], objects: list[dict[str, Any]]) -> bool:
    tiers = {o["metadata"]["name"]: o["spec"]["priority"] for o in objects if o["kind"] == "Tier"}
    cgs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterGroup"}
    acnps = sorted((o for o in objects if o["kind"] == "ClusterNetworkPolicy"),
                   key=lambda o: (tiers[o["spec"]["tier"]], o["spec"]["priority"]))

    def decide(at_pod: Pod, other: Pod, key: str, peer_key: str) -> bool:
        for acnp in acnps:
            for r in acnp["spec"][key]:
                if not any(_peer_hit(at_pod, a, cgs, as_applied_to=True) for a in r["appliedTo"]):
                    continue
                if peer_key in r and not any(_peer_hit(other, p, cgs, as_applied_to=False) for p in r[peer_key]):
                    continue
                if not _ports_hit(r, probe):
                    continue
                return r["action"] == "Allow"
        return True

    return decide(src, dst, "egress", "to") and decide(dst, src, "ingress", "from")


# -- properties -----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(world_strategy())
def test_antrea_objects_enforce_what_nsx_would(world: World) -> None:
    pods, groups, policies = world
    result = translate(NsxSnapshot.from_lists(copy.deepcopy(policies), copy.deepcopy(groups)), CLUSTER)
    assume(not result.errors)
    by_path = {G + g["id"]: g for g in groups}
    objects = result.objects()
    for src in pods:
        for dst in pods:
            if src == dst:
                continue
            for probe in PROBES:
                expected = nsx_verdict(src, dst, probe, policies, by_path)
                assert antrea_verdict(src, dst, probe, objects) == expected, (src, dst, probe)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_strategy())
def test_translation_is_deterministic_and_input_order_free(
    world: World,
) -> None:
    _, groups, policies = world
    first = translate(NsxSnapshot.from_lists(copy.deepcopy(policies), copy.deepcopy(groups)), CLUSTER)
    second = translate(NsxSnapshot.from_lists(list(reversed(copy.deepcopy(policies))),
                                              list(reversed(copy.deepcopy(groups)))), CLUSTER)
    assert json.dumps(first.objects()) == json.dumps(second.objects())
    assert first.errors == second.errors


# -- totality: malformed payloads yield errors, never exceptions -------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) |
    st.text(max_size=8) | st.sampled_from(["ANY", "any", P, G + "g0", "/infra/services/HTTP", "10.0.0.1/33",
                                            "1-2", "Application", "Ethernet", "ALLOW", "IN", "Condition",
                                            "L4PortSetServiceEntry", "PathExpression", "x" * 300, "ünï|çødé"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


def _mutate(obj: Any, data: st.DataObject) -> Any:
    """Replace one random leaf or field of a valid object by arbitrary JSON."""
    if isinstance(obj, dict) and obj and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(obj)))
        return {**obj, key: _mutate(obj[key], data)}
    if isinstance(obj, list) and obj and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(obj) - 1))
        return [*obj[:i], _mutate(obj[i], data), *obj[i + 1:]]
    return data.draw(json_values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_strategy(), st.data())
def test_malformed_objects_become_errors_never_exceptions(
    world: World, data: st.DataObject,
) -> None:
    _, groups, policies = world
    target = data.draw(st.sampled_from(["policy", "group"]))
    if target == "policy":
        i = data.draw(st.integers(0, len(policies) - 1))
        policies[i] = _mutate(policies[i], data)
    else:
        i = data.draw(st.integers(0, len(groups) - 1))
        groups[i] = _mutate(groups[i], data)
    result = translate(NsxSnapshot.from_lists(policies, groups), CLUSTER)
    # Every object produced is well-formed, and a failed policy is held, never half-written.
    for name in result.held:
        assert name not in result.policies
    for obj in result.objects():
        json.dumps(obj)
        assert obj["metadata"]["name"]


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_exports_are_rejected_or_translated(data: Any) -> None:
    from controllers.ccp.snapshot import ExportError

    try:
        snapshot = load_export(data)
    except ExportError:
        return
    translate(snapshot, CLUSTER)


@pytest.mark.parametrize(("depth", "ok"), [(40, True), (300, False)])
def test_group_reference_depth_and_huge_names_are_bounded(depth: int, ok: bool) -> None:
    groups = [{"id": "g0", "group_type": ["ANTREA"], "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "app|a"}]}]
    for i in range(1, depth):
        groups.append({"id": f"g{i}", "group_type": ["ANTREA"],
                       "expression": [{"resource_type": "PathExpression", "paths": [f"{G}g{i - 1}"]}]})
    long_id = "Ω" * 5000
    policies: list[dict[str, Any]] = [
        {"id": long_id, "category": "Application", "scope": [P], "display_name": "d" * 10_000,
         "rules": [{"id": "r", "source_groups": [f"{G}g299"], "destination_groups": ["ANY"],
                    "services": ["ANY"], "action": "ALLOW"}]}]
    policies[0]["rules"][0]["source_groups"] = [f"{G}g{depth - 1}"]
    result = translate(NsxSnapshot.from_lists(policies, groups), CLUSTER)
    if not ok:
        assert "deeper than" in " ".join(r for rs in result.errors.values() for r in rs)
        return
    assert not result.errors
    (acnp,) = result.policies.values()
    assert len(acnp["metadata"]["name"]) <= 63
    assert len(acnp["metadata"]["annotations"]["antrea-nsx-adapter.io/display-name"]) <= 256


def test_predefined_services_resolve_without_being_in_the_export() -> None:
    assert "/infra/services/HTTPS" in predefined_services()
    policies = [{"id": "p", "category": "Application", "scope": [P], "rules": [
        {"id": "r", "source_groups": ["ANY"], "destination_groups": ["ANY"], "services": ["/infra/services/HTTPS"],
         "action": "ALLOW", "direction": "IN"}]}]
    result = translate(load_export({"security_policies": policies}), CLUSTER)
    assert result.policies["nsx-p"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]
