"""Source digests: stable for the same input, changed by any input that could change the output,
and the start-up check's closure rules (the end-to-end behaviour is in
tests/integration/ccp/test_fast_restart.py)."""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Any

from controllers.ccp import names
from controllers.ccp.intent import state
from controllers.ccp.source_digest import (
    Inputs,
    check,
    digest,
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
    for text in ("", "[]", '{"x": []}', '{"g": "a"}', '{"u": 2}', "{"):
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
    assert digest(SETTINGS, INPUTS, search_lookup(revisions, predefined)) == full


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
