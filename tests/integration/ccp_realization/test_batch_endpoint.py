"""C9 ``POST …/realization/batch`` of the simulator (docs/adapter-channel.md §3.1), through the
product's client over HTTPS, and C2 unchanged next to it."""

from __future__ import annotations

import pytest
import requests
from ccp_realization_helpers import CLUSTER, MakeClient, policy_path

from nsx.errors import NsxApiError
from nsx.models.channel import RealizationReason, RealizationReport
from sim.nsx import NsxSimulator
from tests import worlds

BATCH = f"/api/v1/antrea-adapter/clusters/{CLUSTER}/realization/batch"


def realized(n: int, revision: int = 0) -> RealizationReport:
    return RealizationReport(intent_path=policy_path(n), state="REALIZED", intent_revision=revision)


def raw(nsx: NsxSimulator, body: object) -> requests.Response:
    with worlds.nsx_admin(nsx) as http:
        return http.post(nsx.url + BATCH, json=body, timeout=10)


def test_every_item_is_answered_and_good_items_are_stored(nsx: NsxSimulator, make_client: MakeClient) -> None:
    channel = make_client().channel(CLUSTER)
    gone = "/infra/domains/default/security-policies/gone"
    ack = channel.report_realization_batch(
        [realized(0), RealizationReport(intent_path=gone, state="REALIZED"),
         RealizationReport(intent_path=policy_path(1), state="ERROR",
                           reasons=[RealizationReason(rule_id="r0", message="tier clash")])],
        withdrawals=[policy_path(2)])
    assert [(r.intent_path, r.op, r.status) for r in ack.results] == [
        (policy_path(0), "report", 200), (gone, "report", 404), (policy_path(1), "report", 200),
        (policy_path(2), "withdraw", 200)]
    assert ack.accepted == 3 and ack.failed == 1
    assert ack.results[1].error_code == 600 and gone in (ack.results[1].error_message or "")
    held = nsx.state.realization(CLUSTER)
    assert set(held) == {policy_path(0), policy_path(1)}
    assert held[policy_path(1)]["reasons"] == [{"rule_id": "r0", "message": "tier clash"}]
    # The read API reflects it like a C2 report.
    assert {r.intent_path for r in channel.realization_reports()} == {policy_path(0), policy_path(1)}
    # A withdrawal removes a held report; an absent one is fine.
    ack = channel.report_realization_batch([], withdrawals=[policy_path(0), policy_path(7)])
    assert [r.status for r in ack.results] == [200, 200]
    assert set(nsx.state.realization(CLUSTER)) == {policy_path(1)}
    assert nsx.channel.realization_history(CLUSTER) == [
        (policy_path(0), "REALIZED", 0), (policy_path(1), "ERROR", None), (policy_path(2), "WITHDRAWN", None),
        (policy_path(0), "WITHDRAWN", None), (policy_path(7), "WITHDRAWN", None)]


def test_invalid_items_are_refused_one_by_one(nsx: NsxSimulator) -> None:
    resp = raw(nsx, {"reports": [
        {"intent_path": policy_path(0), "state": "DONE"},
        {"intent_path": policy_path(1), "state": "REALIZED", "extra": 1},
        {"intent_path": policy_path(2), "state": "IN_PROGRESS"},
        {"intent_path": policy_path(2), "state": "REALIZED"},
        "not an object",
        {"intent_path": policy_path(3), "state": "ERROR", "reasons": [{"message": "x" * 2049}]},
    ], "withdrawals": ["relative/path", policy_path(4)]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [r["status"] for r in body["results"]] == [400, 400, 200, 400, 400, 400, 400, 200]
    assert all(r["error_code"] == 255 for r in body["results"] if r["status"] == 400)
    assert "more than once" in body["results"][3]["error_message"]
    assert body["results"][4]["intent_path"] is None, "an item without a usable path"
    assert [r["op"] for r in body["results"]] == ["report"] * 6 + ["withdraw"] * 2
    assert body["accepted"] == 2 and body["failed"] == 6
    assert nsx.state.realization(CLUSTER)[policy_path(2)]["state"] == "IN_PROGRESS", "the first one counts"


@pytest.mark.parametrize("body", [
    {"reports": {}}, {"withdrawals": "x"}, {"reports": [], "other": 1},
    {"reports": [{"intent_path": policy_path(0), "state": "REALIZED"}] * 1001},
])
def test_a_malformed_request_is_refused_whole(nsx: NsxSimulator, body: object) -> None:
    resp = raw(nsx, body)
    assert resp.status_code == 400 and resp.json()["module_name"] == "AntreaAdapter"
    assert nsx.state.realization(CLUSTER) == {}


def test_client_refuses_more_than_the_cap(make_client: MakeClient) -> None:
    with pytest.raises(ValueError):
        make_client().channel(CLUSTER).report_realization_batch([realized(0)] * 1001)


def test_unregistered_cluster_is_404(make_client: MakeClient) -> None:
    with pytest.raises(NsxApiError) as err:
        make_client().channel("ghost").report_realization_batch([realized(0)])
    assert err.value.status == 404


def test_injected_item_failures(nsx: NsxSimulator, make_client: MakeClient) -> None:
    channel = make_client().channel(CLUSTER)
    nsx.channel.fail_realization_items([policy_path(1)], status=503, times=2)
    for attempt in range(3):
        ack = channel.report_realization_batch([realized(0), realized(1)])
        assert [r.status for r in ack.results] == [200, 503 if attempt < 2 else 200]
    assert [p for p, _, _ in nsx.channel.realization_history(CLUSTER)] == [
        policy_path(0), policy_path(0), policy_path(0), policy_path(1)]


def test_the_single_report_endpoint_still_works(nsx: NsxSimulator, make_client: MakeClient) -> None:
    channel = make_client().channel(CLUSTER)
    ack = channel.report_realization([realized(0), RealizationReport(
        intent_path="/infra/domains/default/security-policies/gone", state="REALIZED")])
    assert ack.accepted == 1 and ack.ignored == ["/infra/domains/default/security-policies/gone"]
    channel.withdraw_realization(policy_path(0))
    assert nsx.state.realization(CLUSTER) == {}
