"""Source digests: stable for the same input, changed by any input that could change the output,
and the start-up check's closure rules (the end-to-end behaviour is in
tests/integration/ccp/test_fast_restart.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from controllers.ccp import names
from controllers.ccp.intent import state
from controllers.ccp.source_digest import (
    Inputs,
    _figures,
    check,
    digest,
    figure_texts,
    record,
    search_lookup,
    settings_text,
    snapshot_lookup,
)

P = "/infra/domains/default/security-policies/p1"
G = "/infra/domains/default/groups/web"
S = "/infra/services/HTTP"
SETTINGS = settings_text("c1", 0)


def policy(rev: int = 1, rule_rev: int = 1) -> dict[str, Any]:
    return {"id": "p1", "path": P, "unique_id": "u-p1", "_revision": rev,
            "rules": [{"id": "r1", "unique_id": "u-r1", "_revision": rule_rev}]}


def group(rev: int = 3) -> dict[str, Any]:
    return {"id": "web", "path": G, "unique_id": "u-web", "_revision": rev}


INPUTS = Inputs(frozenset({P}), frozenset({G}), frozenset({S}))


def value(pol: dict[str, Any], grp: dict[str, Any], settings: str = SETTINGS) -> str:
    return digest(settings, INPUTS, snapshot_lookup({P: pol}, {G: grp}, {}))


def test_inputs_round_trip_and_reject_garbage() -> None:
    elsewhere = Inputs(groups=frozenset({"/infra/domains/other/groups/x", G + "2"}))
    for inputs in (INPUTS, Inputs(), Inputs(unmapped=True), Inputs(groups=frozenset({G, G + "2"})), elsewhere):
        assert Inputs.decode(inputs.encode()) == inputs
    assert INPUTS.encode() == '{"g":["web"],"p":["p1"],"s":["HTTP"]}'
    for text in ("", "[]", '{"x": []}', '{"g": "a"}', '{"u": 2}', "{", '{"g": [1]}', '{"g": ["a", null]}'):
        assert Inputs.decode(text) is None


def test_same_input_same_digest_and_every_input_counts() -> None:
    base = value(policy(), group())
    assert base == value(copy.deepcopy(policy()), copy.deepcopy(group()))
    assert len(base) == 32
    assert value(policy(rev=2), group()) != base
    assert value(policy(rule_rev=2), group()) != base  # a rule written on its own path
    assert value(policy(), group(rev=4)) != base
    assert value(policy(), group(), settings_text("c2", 0)) != base
    assert value(policy(), group(), settings_text("c1", 10)) != base
    unrelated = digest(SETTINGS, INPUTS, snapshot_lookup({P: policy(), P + "x": policy(rev=9)}, {G: group()}, {}))
    assert unrelated == base


def test_search_figures_give_the_same_digest_as_full_objects() -> None:
    pol, grp = policy(), group()
    revisions: dict[str, dict[str, Hashable]] = {
        "policies": {P: ("u-p1", 1, frozenset({("r1", "u-r1", 1)}))},
        "groups": {G: ("u-web", 3, frozenset())},
        "services": {},
    }
    assert revisions["policies"][P] == state(pol, "policies")
    predefined = {S: {"id": "HTTP", "path": S, "service_entries": []}}
    full = digest(SETTINGS, INPUTS, snapshot_lookup({P: pol}, {G: grp}, predefined))
    assert digest(SETTINGS, INPUTS, search_lookup(figure_texts(revisions), predefined)) == full


def _obj(kind: str, name: str, inputs: Inputs, lookup: Any, spec: dict[str, Any], unmapped: tuple[str, ...] = (),
         path: str | None = None) -> dict[str, Any]:
    annotations = {names.SOURCE_INPUTS_ANNOTATION: inputs.encode(),
                   names.SOURCE_DIGEST_ANNOTATION: digest(SETTINGS, inputs, lookup, unmapped)}
    if path is not None:
        annotations[names.NSX_PATH_ANNOTATION] = path
    return {"kind": kind, "metadata": {"name": name, "annotations": annotations}, "spec": spec}


def cluster(lookup: Any, unmapped: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    acnp_spec = {"tier": "t1", "ingress": [{"appliedTo": [{"group": "nsx-web"}], "from": [{"group": "nsx-web"}]}]}
    return [
        _obj("Tier", "t1", Inputs(unmapped=True), lookup, {}, unmapped),
        _obj("ClusterNetworkPolicy", "nsx-p1", INPUTS, lookup, acnp_spec, path=P),
        _obj("ClusterGroup", "nsx-web", Inputs(groups=frozenset({G})), lookup, {"childGroups": ["nsx-web-0"]}),
        _obj("ClusterGroup", "nsx-web-0", Inputs(groups=frozenset({G})), lookup, {"podSelector": {}}),
    ]


def test_check_accepts_exactly_the_closed_current_set() -> None:
    other = "/infra/domains/default/security-policies/default-layer3-section"
    lookup = snapshot_lookup({P: policy(), other: policy(rev=5)}, {G: group()}, {})
    objects = cluster(lookup, (other,))
    assert check(objects, SETTINGS, lookup, [P, other], ["t1"]).ok
    # an NSX change (here: to a policy of no ACNP, recorded on the Tier) is seen
    changed = snapshot_lookup({P: policy(), other: policy(rev=6)}, {G: group()}, {})
    assert not check(objects, SETTINGS, changed, [P, other], ["t1"]).ok
    # a new policy without an ACNP, a missing or an extra object, a tampered digest
    assert not check(objects, SETTINGS, lookup, [P, other, other + "2"], ["t1"]).ok
    assert not check(objects[:-1], SETTINGS, lookup, [P, other], ["t1"]).ok
    extra = _obj("ClusterGroup", "nsx-db", Inputs(groups=frozenset({G})), lookup, {"podSelector": {}})
    assert not check([*objects, extra], SETTINGS, lookup, [P, other], ["t1"]).ok
    assert not check(objects, SETTINGS, lookup, [P, other], ["t1", "t2"]).ok
    tampered = copy.deepcopy(objects)
    tampered[2]["metadata"]["annotations"][names.SOURCE_DIGEST_ANNOTATION] = "0" * 32
    verdict = check(tampered, SETTINGS, lookup, [P, other], ["t1"])
    assert not verdict.ok and "nsx-web" in verdict.reason


def test_the_cluster_half_of_the_check_needs_no_nsx_answer() -> None:
    """``record`` finds what the objects alone rule out (the start-up check then need not wait
    for its NSX search); ``check`` on a record gives the verdict ``check`` on the objects gives."""
    other = "/infra/domains/default/security-policies/default-layer3-section"
    lookup = snapshot_lookup({P: policy(), other: policy(rev=5)}, {G: group()}, {})
    objects = cluster(lookup, (other,))
    recorded = record(objects, ["t1"])
    assert recorded.problem is None and recorded.objects == 4 and recorded.mapped == {P}
    assert len(recorded.inputs) == 3  # the group family shares one inputs text: decoded once
    assert check(recorded, SETTINGS, lookup, [P, other], ()).ok
    changed = snapshot_lookup({P: policy(), other: policy(rev=6)}, {G: group()}, {})
    assert not check(recorded, SETTINGS, changed, [P, other], ()).ok  # NSX changed: only the search tells

    extra = _obj("ClusterGroup", "nsx-db", Inputs(groups=frozenset({G})), lookup, {"podSelector": {}})
    assert record([*objects, extra], ["t1"]).problem == "the ClusterGroups differ from those the policies reference"
    assert record(objects, ["t1", "t2"]).problem == "the managed Tiers differ from the translator's"
    unreadable = copy.deepcopy(objects)
    unreadable[1]["metadata"]["annotations"][names.SOURCE_INPUTS_ANNOTATION] = "{not json"
    assert record(unreadable, ["t1"]).problem == "ClusterNetworkPolicy nsx-p1 has no readable source inputs"
    for bad in ([*objects, extra], unreadable):
        assert not check(bad, SETTINGS, lookup, [P, other], ["t1"]).ok


# -- the digest text is a stored format ----------------------------------------------------------
# Digests are stamped on objects in clusters: the same NSX input must give the same bytes in every
# release (or TRANSLATOR_VERSION is bumped, and every cluster pays one full translation). These
# values were computed by the first implementation; the formatting has since been made faster.
P2 = '/infra/domains/default/security-policies/p-\u00fc"q'
G2, G3 = "/infra/domains/other/groups/x", "/infra/domains/default/groups/a\\b"
S2 = "/infra/services/missing"
GOLDEN_POLICIES = {
    P: {"unique_id": "u-p1", "_revision": 1, "rules": [{"id": "r1", "unique_id": "u-r1", "_revision": 1},
                                                      {"id": "r'2\"", "unique_id": None, "_revision": "7"}]},
    P2: {"unique_id": "\u00fc\u00f1\u00ed", "_revision": True, "rules": []},
}
GOLDEN_GROUPS = {G: {"unique_id": "u-web", "_revision": 3}, G2: {"unique_id": 5, "_revision": None},
                 G3: {"unique_id": 'a"b\\c\n', "_revision": 2}}
GOLDEN_SERVICES = {S: {"unique_id": "u-s", "_revision": 0,
                       "service_entries": [{"id": "e1", "unique_id": "u-e1", "_revision": 4}]}}
GOLDEN = [
    (Inputs(frozenset({P}), frozenset({G}), frozenset({S})), "dceae8a99aedc870021538cf1c1fec9f"),
    (Inputs(frozenset({P, P2}), frozenset({G, G2, G3}), frozenset({S, S2}), unmapped=True),
     "4b083285a3e621dc70a1ff009f763d18"),
    (Inputs(), "d09c9278d044ab64ccc1baf93f33cc65"),
    (Inputs(groups=frozenset({G3, G2})), "849920882a85bf591d9d9aa68e00e083"),
]


def test_digests_are_byte_stable_across_releases() -> None:
    full = snapshot_lookup(GOLDEN_POLICIES, GOLDEN_GROUPS, GOLDEN_SERVICES)
    kinds = (("policies", GOLDEN_POLICIES), ("groups", GOLDEN_GROUPS))
    states = {kind: {p: state(o, kind) for p, o in objs.items()} for kind, objs in kinds}
    searched = search_lookup(figure_texts(states), GOLDEN_SERVICES)
    unmapped = ["/infra/domains/default/security-policies/zz"]
    for inputs, expected in GOLDEN:
        assert digest(SETTINGS, inputs, full, [*unmapped, P2]) == expected
        assert digest(SETTINGS, inputs, searched, unmapped) == expected


def _reference_figures(value: Hashable | None) -> str:
    """The format's definition (what the first implementation computed, with no shortcut)."""
    if value is None:
        return "-"
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], frozenset):
        uid, rev, children = value
        return json.dumps([uid, rev, sorted([repr(x) for x in c] for c in children)], separators=(",", ":"))
    return json.dumps(repr(value))


# Mostly ids and revisions as NSX writes them, with the characters that JSON or repr() escape.
_TEXT = st.text(alphabet=st.sampled_from(list("ab09-_ '\"\\\n\u00fc")), max_size=6)
_INT = st.integers(-3, 10**12)
_REV = st.one_of(_INT, _INT, _INT, st.booleans(), st.none(), _TEXT)
_CHILD = st.one_of(st.tuples(_TEXT, _TEXT, _INT), st.tuples(_TEXT, st.one_of(_TEXT, st.none()), _REV), st.tuples(_TEXT))


@settings(max_examples=400)
@example(uid="u", rev=1, children=frozenset({("r'1", "u-r", 2)}))  # each character that repr or JSON
@example(uid="u", rev=1, children=frozenset({('r"1', "u-r", 2)}))  # would escape, in each figure
@example(uid="u", rev=1, children=frozenset({("r1", "u\\r", 2), ("r0", "u\u00fc", 3)}))
@example(uid='u"', rev=1, children=frozenset())
@example(uid="u\n", rev=1, children=frozenset())
@example(uid="u", rev=True, children=frozenset({("r1", "u-r", False)}))
@example(uid="u", rev=1, children=frozenset({("r1", None, 2), ("r2", "u-r", "3")}))
@given(uid=st.one_of(_TEXT, _TEXT, st.integers(), st.none()), rev=_REV, children=st.frozensets(_CHILD, max_size=4))
def test_figures_match_the_format_definition(uid: Any, rev: Any, children: frozenset[Any]) -> None:
    assert _figures((uid, rev, children)) == _reference_figures((uid, rev, children))
