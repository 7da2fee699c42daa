"""NSX intent polling against the NSX simulator over HTTPS: a poll reads only revisions (search API)
and then only the objects that changed, the snapshot stays equal to a full read, unchanged objects
stay the same dicts, and a refused search query falls back to full lists."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controllers.ccp.intent import LIGHT_FIELDS, SEARCH_QUERY, NsxIntent, SearchCancelled
from controllers.ccp.snapshot import NsxSnapshot
from nsx.client import NsxClient
from nsx.errors import BadRequest
from sim.nsx import NsxSimulator

API = "/policy/api/v1"
DOMAIN = "/infra/domains/default"


def content(snapshot: NsxSnapshot) -> dict[str, Any]:
    return {"policies": snapshot.policies, "groups": snapshot.groups, "services": snapshot.services}


def test_search_returns_requested_fields_of_the_requested_types_in_pages(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    _, client = nsx
    items = list(client.policy.search("resource_type:(Rule OR Group)", included_fields=("path", "_revision"),
                                      page_size=7))
    paths = [i["path"] for i in items]
    assert len([p for p in paths if "/security-policies/p0" in p and "/rules/" in p]) == 12 * 3
    assert len([p for p in paths if p.startswith(f"{DOMAIN}/groups/")]) == 10
    assert not [p for p in paths if "/rules/" not in p and "/groups/" not in p]
    assert all(set(i) == {"path", "_revision"} for i in items)
    assert len({i["path"] for i in items}) == len(items)
    policies = list(client.policy.search("resource_type:SecurityPolicy"))
    assert {p["path"] for p in policies} >= {f"{DOMAIN}/security-policies/p0000"}
    assert all("unique_id" in p for p in policies)
    with pytest.raises(BadRequest):
        list(client.policy.search("display_name:web"))


def test_a_poll_reads_revisions_and_only_the_changed_objects(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    intent = NsxIntent(client.transport)
    first = intent.fetch()
    assert first.changed and intent.full_fetches == 1
    again = intent.fetch()
    assert not again.changed and again.snapshot is first.snapshot
    assert (intent.full_fetches, intent.light_polls, intent.single_reads) == (1, 1, 0)

    # a rule written on its own path leaves its policy's _revision alone: still noticed
    before = sim.count_requests("GET")
    client.transport.request("PATCH", f"{API}{DOMAIN}/security-policies/p0003/rules/r1",
                             json={"resource_type": "Rule", "action": "DROP"})
    update = intent.fetch()
    assert update.changed and intent.single_reads == 1 and intent.full_fetches == 1
    assert sim.count_requests("GET") - before < 5  # search pages and one GET, no full listing
    changed = update.snapshot.policies[f"{DOMAIN}/security-policies/p0003"]
    assert [r["action"] for r in changed["rules"] if r["id"] == "r1"] == ["DROP"]
    for path, policy in first.snapshot.policies.items():
        if not path.endswith("/p0003"):
            assert update.snapshot.policies[path] is policy  # unchanged objects are kept as they were

    # a group edited, a policy deleted, a group created
    client.transport.request("PATCH", f"{API}{DOMAIN}/groups/g0009", json={"display_name": "renamed"})
    client.transport.request("DELETE", f"{API}{DOMAIN}/security-policies/p0011")
    client.transport.request("PATCH", f"{API}{DOMAIN}/groups/fresh",
                             json={"group_type": ["ANTREA"], "expression": []})
    update = intent.fetch()
    assert update.changed and intent.full_fetches == 1
    assert f"{DOMAIN}/security-policies/p0011" not in update.snapshot.policies
    assert update.snapshot.groups[f"{DOMAIN}/groups/g0009"]["display_name"] == "renamed"
    assert content(update.snapshot) == content(NsxIntent(client.transport).fetch().snapshot)


def test_a_cancelled_revision_search_stops_between_pages(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    intent = NsxIntent(client.transport, page_size=5)
    search = f"{API}/search/query"
    before = sim.count_requests("GET", search)
    revisions = intent.revisions()
    pages = sim.count_requests("GET", search) - before
    assert pages > 10 and len(revisions["policies"]) >= 12  # 36 rules, 10 groups, services: many pages

    cancel = threading.Event()
    cancel.set()
    before = sim.count_requests("GET", search)
    with pytest.raises(SearchCancelled):
        intent.revisions(cancel)
    assert sim.count_requests("GET", search) - before == 1  # the page in flight, none after it


def test_a_refused_search_falls_back_to_full_lists(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    intent = NsxIntent(client.transport)
    intent.fetch()
    sim.faults.fail_next(1, 400, method="GET", path=r"/search/query$")
    client.transport.request("PATCH", f"{API}{DOMAIN}/security-policies/p0001/rules/r0",
                             json={"resource_type": "Rule", "disabled": True})
    update = intent.fetch()
    assert update.changed and intent.full_fetches == 2
    assert content(update.snapshot) == content(NsxIntent(client.transport).fetch().snapshot)
    assert not intent.fetch().changed and intent.full_fetches == 3  # no more searches


def test_invalidate_makes_the_next_fetch_a_full_change(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    _, client = nsx
    intent = NsxIntent(client.transport)
    intent.fetch()
    intent.invalidate()
    update = intent.fetch()
    assert update.changed and intent.full_fetches == 2


def test_the_light_query_asks_for_revisions_of_everything_translation_reads() -> None:
    for kind in ("SecurityPolicy", "Rule", "Group", "Service", "L4PortSetServiceEntry", "NestedServiceServiceEntry"):
        assert kind in SEARCH_QUERY
    assert {"path", "_revision", "unique_id"} <= set(LIGHT_FIELDS)


def test_a_poll_failing_half_way_loses_nothing(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    intent = NsxIntent(client.transport)
    intent.fetch()
    client.transport.request("DELETE", f"{API}{DOMAIN}/security-policies/p0003")
    for pid in ("p0001", "p0002"):
        client.transport.request("PATCH", f"{API}{DOMAIN}/security-policies/{pid}/rules/r0",
                                 json={"resource_type": "Rule", "action": "DROP"})
    sim.faults.fail_next(1, 400, method="GET", path=r"/security-policies/p0002$")
    with pytest.raises(BadRequest):
        intent.fetch()
    assert not intent.healthy
    update = intent.fetch()
    assert update.changed and intent.healthy and intent.full_fetches == 1
    assert content(update.snapshot) == content(NsxIntent(client.transport).fetch().snapshot)
