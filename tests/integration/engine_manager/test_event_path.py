"""Source → predicate → handler → queue, without a server: what each event enqueues, at which
priority, and what each predicate lets through."""

from __future__ import annotations

from typing import Any

from reconciler.handler import (
    EnqueueRequestForObject,
    EnqueueRequestForOwner,
    EnqueueRequestsFromLabel,
    EnqueueRequestsFromMapFunc,
)
from reconciler.informer import DeletedFinalStateUnknown
from reconciler.predicate import (
    AnnotationChangedPredicate,
    Funcs,
    GenerationChangedPredicate,
    LabelChangedPredicate,
    ResourceVersionChangedPredicate,
    and_,
    new_predicate_funcs,
    not_,
    or_,
)
from reconciler.reconcile import Request
from reconciler.source import (
    Channel,
    CreateEvent,
    DeleteEvent,
    GenericEvent,
    UpdateEvent,
    dispatch,
    unwrap_tombstone,
)
from reconciler.workqueue import LOW_PRIORITY, WorkQueue


def obj(name: str, ns: str = "ns", rv: str = "1", gen: int | None = None, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv}
    if gen is not None:
        meta["generation"] = gen
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def drain(q: WorkQueue[Request]) -> list[Request]:
    out: list[Request] = []
    while True:
        item = q.get(timeout=0)
        if item is None:
            return out
        out.append(item)
        q.done(item)


def new_queue() -> WorkQueue[Request]:
    return WorkQueue("")


# ------------------------------------------------------------------------------------ handlers


def test_initial_list_and_resync_go_behind_live_events() -> None:
    q = new_queue()
    h = EnqueueRequestForObject()
    h.create(CreateEvent(obj("backlog-1"), is_in_initial_list=True), q)
    h.create(CreateEvent(obj("backlog-2"), is_in_initial_list=True), q)
    same = obj("resync", rv="7")
    h.update(UpdateEvent(same, same), q)  # resync re-delivery: old rv == new rv
    h.create(CreateEvent(obj("live-create")), q)
    h.update(UpdateEvent(obj("live-update", rv="1"), obj("live-update", rv="2")), q)
    h.delete(DeleteEvent(obj("live-delete")), q)
    order = [r.name for r in drain(q)]
    assert LOW_PRIORITY == -100
    assert order[:3] == ["live-create", "live-update", "live-delete"]
    assert sorted(order[3:]) == ["backlog-1", "backlog-2", "resync"]


def test_live_event_promotes_a_key_waiting_in_the_backlog() -> None:
    q = new_queue()
    h = EnqueueRequestForObject()
    for i in range(5):
        h.create(CreateEvent(obj(f"cm-{i}"), is_in_initial_list=True), q)
    h.update(UpdateEvent(obj("cm-3", rv="1"), obj("cm-3", rv="2")), q)
    assert [r.name for r in drain(q)] == ["cm-3", "cm-0", "cm-1", "cm-2", "cm-4"]


def test_enqueue_for_object_uses_name_and_namespace() -> None:
    q = new_queue()
    EnqueueRequestForObject().create(CreateEvent(obj("a", ns="x")), q)
    EnqueueRequestForObject().create(CreateEvent(obj("node", ns="")), q)
    assert drain(q) == [Request("a", "x"), Request("node")]


def test_owner_handler_follows_only_the_controller_reference_of_the_kind() -> None:
    owners: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "not-controller", "uid": "1"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "other-kind", "uid": "2", "controller": True},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "the-owner", "uid": "3", "controller": True},
    ]
    q = new_queue()
    EnqueueRequestForOwner("ConfigMap", "v1").create(CreateEvent(obj("child", owners=owners)), q)
    assert drain(q) == [Request("the-owner", "ns")]
    EnqueueRequestForOwner("ConfigMap", only_controller=False).create(CreateEvent(obj("child", owners=owners)), q)
    assert sorted(r.name for r in drain(q)) == ["not-controller", "the-owner"]
    EnqueueRequestForOwner("Deployment", "apps/v1beta1").create(CreateEvent(obj("child", owners=owners)), q)
    assert drain(q) == [Request("other-kind", "ns")]  # group matches whatever the version
    EnqueueRequestForOwner("ConfigMap", "v1", cluster_scoped_owner=True).delete(
        DeleteEvent(obj("child", owners=owners)), q)
    assert drain(q) == [Request("the-owner", "")]


def test_update_enqueues_previous_and_new_referent() -> None:
    q = new_queue()
    h = EnqueueRequestsFromLabel("example.com/owner")
    h.update(UpdateEvent(obj("c", rv="1", labels={"example.com/owner": "old"}),
                         obj("c", rv="2", labels={"example.com/owner": "new"})), q)
    assert sorted(r.name for r in drain(q)) == ["new", "old"]
    h.create(CreateEvent(obj("unlabelled")), q)
    assert drain(q) == []
    EnqueueRequestsFromLabel("k", owner_namespace="").create(CreateEvent(obj("c", labels={"k": "o"})), q)
    assert drain(q) == [Request("o", "")]


def test_map_func_runs_on_old_and_new() -> None:
    q = new_queue()
    seen: list[str] = []

    def fn(o: dict[str, Any]) -> list[Request]:
        seen.append(o["metadata"]["resourceVersion"])
        return [Request(o["metadata"]["annotations"]["target"], "t")]

    h = EnqueueRequestsFromMapFunc(fn)
    h.update(UpdateEvent(obj("c", rv="1", annotations={"target": "a"}),
                         obj("c", rv="2", annotations={"target": "b"})), q)
    assert seen == ["1", "2"]
    assert drain(q) == [Request("a", "t"), Request("b", "t")]
    h.update(UpdateEvent(obj("c", rv="2", annotations={"target": "b"}),
                         obj("c", rv="3", annotations={"target": "b"})), q)
    assert drain(q) == [Request("b", "t")]


def test_tombstones_are_unwrapped_and_flagged() -> None:
    last = obj("gone")
    assert unwrap_tombstone(DeletedFinalStateUnknown("ns/gone", last)) == (last, True)
    assert unwrap_tombstone({"key": "ns/gone", "obj": last}) == (last, True)
    assert unwrap_tombstone(last) == (last, False)


def test_channel_buffers_until_started_and_goes_through_predicates() -> None:
    q = new_queue()
    ch = Channel()
    ch.send(obj("early"))
    ch.send(obj("dropped"))
    ch.start(EnqueueRequestForObject(), q, [Funcs(generic=lambda e: e.obj["metadata"]["name"] != "dropped")])
    ch.send_all([obj("late")])
    assert [r.name for r in drain(q)] == ["early", "late"]
    assert ch.wait_for_sync(0)


# ---------------------------------------------------------------------------------- predicates


def test_builtin_predicates_judge_updates_only() -> None:
    base = obj("a", rv="1", gen=1, labels={"l": "1"}, annotations={"a": "1"})
    rv_only = obj("a", rv="2", gen=1, labels={"l": "1"}, annotations={"a": "1"})
    gen = obj("a", rv="3", gen=2, labels={"l": "1"}, annotations={"a": "1"})
    label = obj("a", rv="4", gen=1, labels={"l": "2"}, annotations={"a": "1"})
    ann = obj("a", rv="5", gen=1, labels={"l": "1"}, annotations={"a": "2"})
    cases = {
        ResourceVersionChangedPredicate(): [False, True, True, True, True],
        GenerationChangedPredicate(): [False, False, True, False, False],
        LabelChangedPredicate(): [False, False, False, True, False],
        AnnotationChangedPredicate(): [False, False, False, False, True],
    }
    for pred, expected in cases.items():
        got = [pred.update(UpdateEvent(base, new)) for new in (base, rv_only, gen, label, ann)]
        assert got == expected, type(pred).__name__
        assert pred.create(CreateEvent(base)) and pred.delete(DeleteEvent(base)) and pred.generic(GenericEvent(base))


def test_combinators_and_funcs() -> None:
    base = obj("a", rv="1", gen=1, labels={"l": "1"})
    label = obj("a", rv="2", gen=1, labels={"l": "2"})
    gen = obj("a", rv="3", gen=2, labels={"l": "1"})
    either = or_(GenerationChangedPredicate(), LabelChangedPredicate())
    assert either.update(UpdateEvent(base, label)) and either.update(UpdateEvent(base, gen))
    assert not either.update(UpdateEvent(base, obj("a", rv="9", gen=1, labels={"l": "1"})))
    both = and_(GenerationChangedPredicate(), LabelChangedPredicate())
    assert not both.update(UpdateEvent(base, label))
    assert both.update(UpdateEvent(base, obj("a", rv="4", gen=2, labels={"l": "3"})))
    assert not not_(LabelChangedPredicate()).update(UpdateEvent(base, label))
    assert and_().create(CreateEvent(base)) and not or_().create(CreateEvent(base))

    only_a = new_predicate_funcs(lambda o: o["metadata"]["name"].startswith("a"))
    assert only_a.create(CreateEvent(base)) and not only_a.delete(DeleteEvent(obj("b")))
    assert only_a.update(UpdateEvent(obj("b"), base)) and not only_a.generic(GenericEvent(obj("b")))
    no_deletes = Funcs(delete=lambda e: False)
    assert no_deletes.create(CreateEvent(base)) and not no_deletes.delete(DeleteEvent(base))


def test_dispatch_requires_every_predicate() -> None:
    q = new_queue()
    h = EnqueueRequestForObject()
    preds = [Funcs(create=lambda e: "x" in e.obj["metadata"]["name"]),
             Funcs(create=lambda e: "y" in e.obj["metadata"]["name"])]
    for name in ("x", "y", "xy"):
        dispatch(CreateEvent(obj(name)), h, q, preds)
    dispatch(DeleteEvent(obj("z")), h, q, preds)  # these predicates only filter creates
    assert [r.name for r in drain(q)] == ["xy", "z"]
