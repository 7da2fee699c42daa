"""The translation cache re-translates only what changed, and its output is byte-identical to a
full translation after any sequence of NSX edits (policies, rules, groups, services, spans, name
clashes, reference cycles, deletions; objects kept, re-read with the same revisions, or edited)."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controllers.ccp._fields import Invalid
from controllers.ccp.groups import GroupTranslator
from controllers.ccp.snapshot import NsxSnapshot
from controllers.ccp.translate import Translation, cluster_path, translate
from controllers.ccp.translation_cache import TranslationCache, version

CLUSTER = "c1"
P = cluster_path(CLUSTER)
OTHER = cluster_path("c2")
DOMAINS = ("/infra/domains/default", "/infra/domains/other")
GROUP_IDS = ("web", "db", "app", "Web")
POLICY_IDS = ("p1", "p2", "p3", "p4")
SERVICE_IDS = ("svc-a", "svc-b")
_uids = itertools.count()


def canonical(t: Translation) -> str:
    """Everything a translation says, order included (dict order is part of "byte-identical")."""
    return json.dumps({"objects": t.objects(), "errors": list(t.errors.items()),
                       "policy_names": list(t.policy_names.items()), "held": sorted(t.held),
                       "groups": list(t.cluster_groups), "policies": list(t.policies)})


def group_path(domain: int, gid: str) -> str:
    return f"{DOMAINS[domain]}/groups/{gid}"


def policy_path(domain: int, pid: str) -> str:
    return f"{DOMAINS[domain]}/security-policies/{pid}"


group_paths = st.builds(group_path, st.sampled_from([0, 0, 0, 1]), st.sampled_from(GROUP_IDS))
peers = st.one_of(st.just(["ANY"]), st.lists(group_paths, min_size=1, max_size=2, unique=True),
                  st.just(["10.1.0.0/16"]), st.just(["not-an-address-or-path"]))


def condition(key: str, value: str, op: str = "EQUALS") -> dict[str, Any]:
    return {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": op,
            "value": f"{key}|{value}"}


expressions = st.one_of(
    st.builds(lambda k, v, op: [condition(k, v, op)], st.sampled_from(["app", "tier"]),
              st.sampled_from(["a", "b"]), st.sampled_from(["EQUALS", "NOTEQUALS", "CONTAINS"])),
    st.builds(lambda p: [{"resource_type": "PathExpression", "paths": [p]}], group_paths),
    st.builds(lambda a, p: [condition("app", a), {"resource_type": "ConjunctionOperator",
                                                  "conjunction_operator": "OR"},
                            {"resource_type": "PathExpression", "paths": [p]}],
              st.sampled_from(["a", "b"]), group_paths),
    st.just([{"resource_type": "IPAddressExpression", "ip_addresses": ["10.2.0.0/24"]}]),
)


@st.composite
def group_objects(draw: st.DrawFn, path: str) -> dict[str, Any]:
    return {"id": path.rsplit("/", 1)[1], "path": path, "display_name": draw(st.sampled_from(["G", "H"])),
            "group_type": ["ANTREA"], "expression": draw(expressions)}


@st.composite
def rules(draw: st.DrawFn, rid: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid, "sequence_number": draw(st.integers(0, 3)),
        "source_groups": draw(peers), "destination_groups": draw(peers),
        "action": draw(st.sampled_from(["ALLOW", "DROP", "JUMP_TO_APPLICATION"])),
        "direction": draw(st.sampled_from(["IN", "OUT", "IN_OUT"])),
        "services": draw(st.sampled_from([["ANY"], ["/infra/services/svc-a"], ["/infra/services/svc-b"],
                                          ["/infra/services/HTTP"], ["/infra/services/missing"]])),
    }
    if draw(st.booleans()):
        body["scope"] = draw(st.sampled_from([[P], [OTHER], [group_path(0, "web")]]))
    return body


@st.composite
def policy_objects(draw: st.DrawFn, path: str) -> dict[str, Any]:
    count = draw(st.integers(0, 3))
    return {"id": path.rsplit("/", 1)[1], "path": path, "category": draw(st.sampled_from(["Application", "Emergency"])),
            "sequence_number": draw(st.integers(0, 5)),
            "scope": draw(st.sampled_from([[P], [P, group_path(0, "app")], [OTHER], ["ANY"]])),
            "rules": [draw(rules(f"r{i}")) for i in range(count)]}


@st.composite
def service_objects(draw: st.DrawFn, path: str) -> dict[str, Any]:
    entry = draw(st.one_of(
        st.builds(lambda port: {"id": "e", "resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                                "destination_ports": [port]}, st.sampled_from(["80", "443", "70000"])),
        st.builds(lambda other: {"id": "e", "resource_type": "NestedServiceServiceEntry",
                                 "nested_service_path": other},
                  st.sampled_from(["/infra/services/svc-a", "/infra/services/svc-b", "/infra/services/HTTPS"])),
    ))
    return {"id": path.rsplit("/", 1)[1], "path": path, "service_entries": [entry]}


def stamp(obj: dict[str, Any], versioned: bool, old: dict[str, Any] | None) -> dict[str, Any]:
    """Give an edited object NSX's ``unique_id``/``_revision`` (same uid, revision + 1 on edit)."""
    if not versioned:
        return obj
    obj["unique_id"] = old["unique_id"] if old is not None and "unique_id" in old else f"u{next(_uids)}"
    obj["_revision"] = old["_revision"] + 1 if old is not None and "_revision" in old else 0
    for child in obj.get("rules", []) + obj.get("service_entries", []):
        child["unique_id"] = f"u{next(_uids)}"
        child["_revision"] = 0
    return obj


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_incremental_translation_equals_a_full_one_after_random_edits(data: st.DataObject, versioned: bool) -> None:
    world: dict[str, dict[str, dict[str, Any]]] = {"policies": {}, "groups": {}, "services": {}}
    spans: dict[str, list[str]] = {}
    cache = TranslationCache(CLUSTER)
    for _ in range(data.draw(st.integers(1, 12), label="edits")):
        kind = data.draw(st.sampled_from(["policies", "policies", "groups", "services", "spans", "refetch"]))
        if kind == "refetch":  # read again from NSX: equal objects, new identities
            world = {k: {p: copy.deepcopy(o) for p, o in objs.items()} for k, objs in world.items()}
        elif kind == "spans":
            path = policy_path(0, data.draw(st.sampled_from(POLICY_IDS)))
            spans = {} if spans else {path: [P]}
        else:
            if kind == "policies":
                path = policy_path(data.draw(st.sampled_from([0, 0, 0, 1])), data.draw(st.sampled_from(POLICY_IDS)))
                new = data.draw(policy_objects(path))
            elif kind == "groups":
                path = data.draw(group_paths)
                new = data.draw(group_objects(path))
            else:
                path = "/infra/services/" + data.draw(st.sampled_from(SERVICE_IDS))
                new = data.draw(service_objects(path))
            old = world[kind].get(path)
            if old is not None and data.draw(st.booleans()):
                del world[kind][path]
            else:
                world[kind][path] = stamp(new, versioned, old)
        snapshot = NsxSnapshot.from_lists(world["policies"].values(), world["groups"].values(),
                                          world["services"].values(), spans=spans)
        assert canonical(cache.translate(snapshot)) == canonical(translate(snapshot, CLUSTER))


def _world(policies: int) -> dict[str, list[dict[str, Any]]]:
    groups = [{"id": f"g{i}", "path": group_path(0, f"g{i}"), "group_type": ["ANTREA"], "unique_id": f"ug{i}",
               "_revision": 0, "expression": [condition("app", f"v{i}")]} for i in range(policies + 1)]
    pols = [{"id": f"p{i}", "path": policy_path(0, f"p{i}"), "scope": [P], "unique_id": f"up{i}", "_revision": 0,
             "rules": [{"id": "r1", "unique_id": f"ur{i}", "_revision": 0, "action": "ALLOW",
                        "source_groups": [group_path(0, f"g{i}")], "destination_groups": [group_path(0, f"g{i + 1}")],
                        "services": ["ANY"]}]} for i in range(policies)]
    return {"policies": pols, "groups": groups}


def test_a_rule_change_retranslates_only_its_policy() -> None:
    world = _world(20)
    cache = TranslationCache(CLUSTER)
    cache.translate(NsxSnapshot.from_lists(world["policies"], world["groups"]))
    assert cache.last_translated == 20
    # the same NSX state read again (new objects, same revisions) translates nothing
    again = copy.deepcopy(world)
    cache.translate(NsxSnapshot.from_lists(again["policies"], again["groups"]))
    assert cache.last_translated == 0
    edited = copy.deepcopy(again["policies"][7])
    edited["rules"][0].update(action="DROP", _revision=1)
    again["policies"][7] = edited
    snapshot = NsxSnapshot.from_lists(again["policies"], again["groups"])
    result = cache.translate(snapshot)
    assert cache.last_translated == 1
    assert result.policies["nsx-p7"]["spec"]["ingress"][0]["action"] == "Drop"
    assert canonical(result) == canonical(translate(snapshot, CLUSTER))


def test_a_group_change_retranslates_the_policies_that_read_it() -> None:
    world = _world(20)
    cache = TranslationCache(CLUSTER)
    cache.translate(NsxSnapshot.from_lists(world["policies"], world["groups"]))
    group = dict(world["groups"][5], _revision=1, expression=[condition("app", "changed")])
    world["groups"][5] = group
    snapshot = NsxSnapshot.from_lists(world["policies"], world["groups"])
    result = cache.translate(snapshot)
    assert cache.last_translated == 2  # p4 (g4 -> g5) and p5 (g5 -> g6)
    assert canonical(result) == canonical(translate(snapshot, CLUSTER))


def test_a_recreated_object_is_not_taken_for_the_old_one() -> None:
    """Delete then create: ``_revision`` starts again at 0, ``unique_id`` differs."""
    world = _world(3)
    cache = TranslationCache(CLUSTER)
    cache.translate(NsxSnapshot.from_lists(world["policies"], world["groups"]))
    recreated = copy.deepcopy(world["policies"][1])
    recreated["unique_id"] = "another"
    recreated["rules"][0]["action"] = "DROP"
    world["policies"][1] = recreated
    snapshot = NsxSnapshot.from_lists(world["policies"], world["groups"])
    assert cache.translate(snapshot).policies["nsx-p1"]["spec"]["ingress"][0]["action"] == "Drop"


def test_version_needs_ids_and_revisions_everywhere() -> None:
    assert version({"unique_id": "u", "_revision": 2, "rules": [{"unique_id": "r", "_revision": 0}]}) is not None
    assert version({"unique_id": "u", "_revision": 2, "rules": [{"id": "r"}]}) is None
    assert version({"id": "x"}) is None
    assert version({"unique_id": "u", "_revision": True}) is None


def test_a_group_translates_the_same_whatever_was_translated_before() -> None:
    """Cycle errors name the chain from where the walk started: they must not leak into the next walk."""
    a, b = group_path(0, "web"), group_path(0, "db")
    groups = {a: {"group_type": ["ANTREA"], "expression": [{"resource_type": "PathExpression", "paths": [b]}]},
              b: {"group_type": ["ANTREA"], "expression": [{"resource_type": "PathExpression", "paths": [a]}]}}

    def error_of(translator: GroupTranslator, path: str) -> str:
        with pytest.raises(Invalid) as caught:
            translator.criteria(path)
        return str(caught.value)

    first_b = GroupTranslator(groups.get)
    error_of(first_b, b)
    expected = f"group reference cycle: {a} -> {b} -> {a}"
    assert error_of(first_b, a) == error_of(GroupTranslator(groups.get), a) == expected
    assert first_b.reads(a) == {a, b}
