"""Restart with the source digests (mapping.md §3): in sync at once when nothing changed, and the
full translation that follows still catches everything the digests cannot see.

Each test restarts the adapter against the cluster the previous one left; while it is down, NSX or
the cluster is changed the way an operator would. NSX's full policy listing is slowed down during a
restart so that "before the full translation" is a fact of the test, not a race.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controllers.ccp import names
from controllers.ccp.source_digest import Inputs
from tests.integration.ccp.test_ccp_adapter import (
    ACNP,
    CG,
    GROUPS,
    POLICIES,
    Running,
    World,
    allow_rule,
    policy_body,
    tag_group,
    wait_for,
    world,  # noqa: F401  (the module fixture, shared here)
)

SLOW_LIST = r"/domains/default/security-policies$"


@pytest.fixture(scope="module")
def seeded(world: World) -> Iterator[World]:  # noqa: F811
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p1", policy_body(allow_rule("r1")))
    world.nsx_patch(f"{POLICIES}/p2", policy_body(allow_rule("r2", port="9090"), seq=20))
    with Running(world):
        wait_for(lambda: world.state("p1") == "SUCCESS" and world.state("p2") == "SUCCESS", what="realized")
    yield world


def restart(w: World) -> Running:
    """An adapter whose full NSX read takes a while (cleared once the start-up check answered)."""
    w.nsx.faults.add_latency(1.5, method="GET", path=SLOW_LIST)
    return Running(w)


def checked(w: World, running: Running) -> Any:
    policy = running.adapter.policy
    verdict = wait_for(lambda: policy.start_verdict, what="start-up digest check")
    w.nsx.faults.clear()
    return verdict


def ports(w: World, name: str) -> list[Any]:
    return list(w.kube.get(ACNP, name)["spec"]["ingress"][0]["ports"])


def test_objects_carry_their_source_digest(seeded: World) -> None:
    for res, name in ((ACNP, "nsx-p1"), (CG, "nsx-web"), (CG, "nsx-web-0")):
        annotations = seeded.kube.get(res, name)["metadata"]["annotations"]
        assert len(annotations[names.SOURCE_DIGEST_ANNOTATION]) == 32
        inputs = Inputs.decode(annotations[names.SOURCE_INPUTS_ANNOTATION])
        assert inputs is not None and "/infra/domains/default/groups/web" in inputs.groups
    acnp = seeded.kube.get(ACNP, "nsx-p1")["metadata"]["annotations"]
    inputs = Inputs.decode(acnp[names.SOURCE_INPUTS_ANNOTATION])
    assert inputs is not None and inputs.policies == {"/infra/domains/default/security-policies/p1"}
    assert (acnp[names.SOURCE_DIGEST_ANNOTATION]
            != seeded.kube.get(ACNP, "nsx-p2")["metadata"]["annotations"][names.SOURCE_DIGEST_ANNOTATION])


def test_nothing_changed_is_in_sync_before_the_full_translation_and_writes_nothing(seeded: World) -> None:
    before = seeded.antrea_writes()
    with restart(seeded) as again:
        verdict = checked(seeded, again)
        assert verdict.ok, verdict.reason
        assert verdict.objects >= 5 + 2 + 4  # Tiers, ACNPs, parent and child ClusterGroups
        assert again.adapter.policy.full_runs_at_start_verdict == 0
        wait_for(lambda: again.adapter.policy.last_plan is not None, what="full translation and compare")
        assert again.adapter.policy.last_plan is not None and again.adapter.policy.last_plan.empty()
    assert seeded.antrea_writes() == before


def test_an_nsx_change_while_down_is_applied(seeded: World) -> None:
    seeded.nsx_patch(f"{POLICIES}/p1", policy_body(allow_rule("r1", port="8081")))
    with restart(seeded) as again:
        verdict = checked(seeded, again)
        assert not verdict.ok
        assert "nsx-p1" in verdict.reason
        wait_for(lambda: ports(seeded, "nsx-p1")[0]["port"] == 8081, what="p1 updated")


def test_a_spec_edit_while_down_is_reverted_after_the_fast_start(seeded: World) -> None:
    original = seeded.kube.get(ACNP, "nsx-p2")["spec"]["priority"]
    seeded.kube.patch(ACNP, "nsx-p2", {"spec": {"priority": 42.0}})
    with restart(seeded) as again:
        verdict = checked(seeded, again)
        assert verdict.ok, verdict.reason  # the digests cannot see a spec edit...
        # ...the full compare that follows does
        wait_for(lambda: seeded.kube.get(ACNP, "nsx-p2")["spec"]["priority"] == original, what="drift reverted")


def test_a_tampered_digest_takes_the_normal_path_and_is_rewritten(seeded: World) -> None:
    good = seeded.kube.get(CG, "nsx-fe")["metadata"]["annotations"][names.SOURCE_DIGEST_ANNOTATION]
    seeded.kube.patch(CG, "nsx-fe", {"metadata": {"annotations": {names.SOURCE_DIGEST_ANNOTATION: "0" * 32}}})
    before = seeded.antrea_writes()
    with restart(seeded) as again:
        verdict = checked(seeded, again)
        assert not verdict.ok
        assert "nsx-fe" in verdict.reason
        wait_for(lambda: seeded.kube.get(CG, "nsx-fe")["metadata"]["annotations"][names.SOURCE_DIGEST_ANNOTATION]
                 == good, what="digest rewritten")
    assert seeded.antrea_writes() == before + 1


def test_a_managed_object_deleted_while_down_takes_the_normal_path(seeded: World) -> None:
    seeded.kube.delete(ACNP, "nsx-p2")
    with restart(seeded) as again:
        verdict = checked(seeded, again)
        assert not verdict.ok  # p2 now looks like a policy without an ACNP, which is not on record
        wait_for(lambda: seeded.kube.get(ACNP, "nsx-p2"), what="nsx-p2 recreated")
