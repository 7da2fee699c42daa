"""The outbox: coalescing, acknowledgement, versions, seeding."""

from __future__ import annotations

from typing import Any

from controllers.mp.inventory_outbox import Outbox


def obj(ext: str, rtype: str = "ContainerProject", **fields: Any) -> dict[str, Any]:
    return {"resource_type": rtype, "external_id": ext, "display_name": ext, **fields}


def kinds(box: Outbox) -> list[tuple[str, str]]:
    return [(op.update_type, op.external_id) for op in box.take()]


def test_create_then_update_before_flush_is_one_create_with_the_latest_state() -> None:
    box = Outbox()
    box.put(obj("a", display_name="one"))
    box.put(obj("a", display_name="two"))
    ops = box.take()
    assert [(op.update_type, op.body["display_name"]) for op in ops] == [("CREATE", "two")]


def test_create_and_delete_before_flush_cancel_out() -> None:
    box = Outbox()
    box.put(obj("a"))
    box.remove("a")
    assert box.take() == []
    assert box.in_sync()


def test_acknowledged_update_is_sparse_and_delete_is_identity_only() -> None:
    box = Outbox()
    box.put(obj("a", tags=[]))
    box.acknowledge(box.take())
    assert box.take() == [] and box.in_sync()
    box.put(obj("a", tags=[{"scope": "dis:k8s:x", "tag": "1"}]))
    [update] = box.take()
    assert update.update_type == "UPDATE"
    assert update.body == {"resource_type": "ContainerProject", "external_id": "a",
                           "tags": [{"scope": "dis:k8s:x", "tag": "1"}]}
    box.acknowledge([update])
    box.remove("a")
    [delete] = box.take()
    assert (delete.update_type, delete.body) == ("DELETE", {"resource_type": "ContainerProject", "external_id": "a"})


def test_failed_send_keeps_everything() -> None:
    box = Outbox()
    box.put(obj("a"))
    first = box.take()
    # no acknowledge (the request failed): the same operation comes out again
    assert [(op.update_type, op.body) for op in box.take()] == [(op.update_type, op.body) for op in first]


def test_change_during_flight_is_sent_after_ack() -> None:
    box = Outbox()
    box.put(obj("a", display_name="one"))
    in_flight = box.take()
    box.put(obj("a", display_name="two"))
    box.acknowledge(in_flight)
    ops = box.take()
    assert [(op.update_type, op.body.get("display_name")) for op in ops] == [("UPDATE", "two")]


def test_seed_makes_equal_objects_clean_and_orphans_deletable() -> None:
    box = Outbox()
    box.put(obj("a", tags=[]))
    box.seed([dict(obj("a"), _last_sync_time=5), obj("gone", "ContainerApplicationInstance")])
    # "a" equals NSX's copy (a missing list is an empty one); nobody wants "gone": deleted
    assert kinds(box) == [("DELETE", "gone")]


def test_take_orders_parents_first() -> None:
    box = Outbox()
    box.put(obj("i", "ContainerApplicationInstance"))
    box.put(obj("s", "ContainerApplication"))
    box.put(obj("p", "ContainerProject"))
    box.put(obj("c", "ContainerCluster"))
    assert [ext for _, ext in kinds(box)] == ["c", "p", "s", "i"]


def test_rejected_op_is_not_resent_until_it_changes() -> None:
    box = Outbox()
    box.put(obj("bad"))
    [op] = box.take()
    box.reject(op)
    assert box.take() == []
    box.put(obj("bad", display_name="fixed"))
    assert kinds(box) == [("CREATE", "bad")]
