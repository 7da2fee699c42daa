"""Which ACNP events reach the realization controller's queue (``realization_may_act``)."""

from __future__ import annotations

from typing import Any

from controllers.ccp import names
from controllers.ccp.adapter import realization_may_act
from controllers.ccp.outcomes import Outcomes, PolicyOutcome
from reconciler.source import CreateEvent, DeleteEvent, UpdateEvent

P1 = "/infra/domains/default/security-policies/p1"
P2 = "/infra/domains/default/security-policies/p2"


def acnp(path: str | None) -> dict[str, Any]:
    annotations = {names.NSX_PATH_ANNOTATION: path} if path else {}
    return {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "x", "annotations": annotations}}


def test_before_the_first_publication_no_acnp_event_is_queued() -> None:
    pred = realization_may_act(Outcomes())
    assert not pred.create(CreateEvent(acnp(P1)))
    assert not pred.update(UpdateEvent(acnp(P1), acnp(P1)))
    assert not pred.delete(DeleteEvent(acnp(P1)))


def test_after_the_first_publication_every_acnp_event_is_queued() -> None:
    outcomes = Outcomes()
    pred = realization_may_act(outcomes)
    outcomes.publish({P1: PolicyOutcome("x", 3)})
    assert pred.create(CreateEvent(acnp(P1)))
    # a policy without an outcome still goes through: its report may have to be withdrawn
    assert pred.update(UpdateEvent(acnp(P2), acnp(P2)))
    assert pred.delete(DeleteEvent(acnp(P2)))
