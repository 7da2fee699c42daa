"""The NSX simulator's inventory listing pages: the cached listing answers exactly what filtering and
sorting the whole collection per page answered, and a write is seen by the next page."""

from __future__ import annotations

from typing import Any

from sim.nsx.inventory import Inventory
from sim.nsx.paging import paginate

A = "3f1c2b9e-0000-4000-8000-00000000000a"
B = "3f1c2b9e-0000-4000-8000-00000000000b"
INSTANCE = "ContainerApplicationInstance"


def _inventory(per_cluster: int) -> Inventory:
    inv = Inventory()
    for cid in (A, B):
        inv.create_cluster({"resource_type": "ContainerCluster", "external_id": cid, "cluster_type": "Kubernetes",
                            "infrastructure": {"infra_type": "vSphere"}})
        inv.apply_updates(cid, {"container_inventory_objects": [
            {"object_update_type": "CREATE", "container_object": {
                "resource_type": INSTANCE, "external_id": f"{cid}-{i:05d}", "display_name": f"pod-{(i * 7919) % 997}",
                "container_application_ids": [f"app-{i % 3}"]}}
            for i in range(per_cluster)]})
    return inv


def _walk(inv: Inventory, query: dict[str, str]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = inv.page(INSTANCE, {**query, **({"cursor": cursor} if cursor else {})})
        pages.append(page)
        cursor = page.get("cursor")
        if cursor is None:
            return pages


def _expected(inv: Inventory, query: dict[str, str]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        q = {**query, **({"cursor": cursor} if cursor else {})}
        page = paginate(inv.list(INSTANCE, q), q)
        pages.append(page)
        cursor = page.get("cursor")
        if cursor is None:
            return pages


def test_pages_equal_a_full_filter_and_sort_per_page() -> None:
    inv = _inventory(2500)
    for query in ({"container_cluster_id": A}, {"container_cluster_id": B, "page_size": "300"},
                  {"container_cluster_id": A, "sort_by": "external_id", "sort_ascending": "false"},
                  {"container_cluster_id": A, "container_application_id": "app-1", "included_fields": "external_id"},
                  {}):
        got = _walk(inv, query)
        assert got == _expected(inv, query)
        assert sum(len(p["results"]) for p in got) == got[0]["result_count"]


def test_a_write_between_pages_is_seen_by_the_next_page() -> None:
    inv = _inventory(1500)
    first = inv.page(INSTANCE, {"container_cluster_id": A})
    assert first["result_count"] == 1500
    inv.apply_updates(A, {"container_inventory_objects": [
        {"object_update_type": "DELETE", "container_object": {"resource_type": INSTANCE, "external_id": f"{A}-00001"}},
        {"object_update_type": "UPDATE", "container_object": {"resource_type": INSTANCE, "external_id": f"{A}-00002",
                                                               "display_name": "zzz-last"}}]})
    second = inv.page(INSTANCE, {"container_cluster_id": A, "cursor": first["cursor"]})
    assert second["result_count"] == 1499
    assert "cursor" not in second
    assert second["results"][-1]["display_name"] == "zzz-last"
    assert all(o["external_id"] != f"{A}-00001" for o in second["results"])


def test_a_deleted_cluster_empties_the_listing() -> None:
    inv = _inventory(10)
    assert inv.page(INSTANCE, {"container_cluster_id": B})["result_count"] == 10
    inv.delete_cluster(B)
    assert inv.page(INSTANCE, {"container_cluster_id": B})["result_count"] == 0
