"""Cursor paging over more than 1,000 objects."""

from __future__ import annotations

from nsx import NsxClient
from nsx.models import Condition, Group
from sim.nsx import NsxSimulator

GROUPS = "/policy/api/v1/infra/domains/default/groups"
COUNT = 2_345


def _seed_groups(client: NsxClient, prefix: str, count: int) -> set[str]:
    ids = {f"{prefix}-{n:05d}" for n in range(count)}
    children = [
        {"resource_type": "ChildGroup", "Group": Group(
            id=group_id, group_type=["ANTREA"],
            expression=[Condition(member_type="Pod", key="Tag", operator="EQUALS", value=f"app|{group_id}")],
        ).to_wire()}
        for group_id in sorted(ids)
    ]
    client.policy.patch_infra({"resource_type": "Infra", "children": [
        {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
         "children": children}]})
    return ids


def test_lists_every_page(client: NsxClient, sim: NsxSimulator) -> None:
    ids = _seed_groups(client, "paged", COUNT)
    before = sim.count_requests("GET", GROUPS)
    listed = [group.id for group in client.policy.list_groups()]
    pages = sim.count_requests("GET", GROUPS) - before
    assert ids <= set(listed)
    assert len(listed) == len(set(listed))  # no duplicates across page boundaries
    assert pages == -(-len(listed) // 1000)  # the server's default page of 1,000


def test_small_pages(client: NsxClient, sim: NsxSimulator) -> None:
    ids = _seed_groups(client, "small", 250)
    before = sim.count_requests("GET", GROUPS)
    listed = {group.id for group in client.policy.list_groups(page_size=400)}
    pages = sim.count_requests("GET", GROUPS) - before
    assert ids <= listed
    assert pages == -(-len(listed) // 400)


def test_paging_is_lazy(client: NsxClient, sim: NsxSimulator) -> None:
    _seed_groups(client, "lazy", 1_200)
    before = sim.count_requests("GET", GROUPS)
    groups = client.policy.list_groups(page_size=500)
    first = next(groups)
    assert first.id
    assert sim.count_requests("GET", GROUPS) == before + 1
