"""Planner: minimal writes that converge, ownership respected, ordered apply, dry-run.

Property tests run the plan against an in-memory API server (fake_apiserver) that assigns
resourceVersions, applies merge patches and rejects stale preconditions.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cache import Store, meta_namespace_key
from reconciler.errors import AlreadyExists, Conflict, NotFound, ServerError
from reconciler.planner import (
    Plan,
    apply,
    desired_fields_only,
    merge_patch,
    owned_fields,
    plan,
)

# ------------------------------------------------------------------- in-memory API server
# Strict where the planner relies on it: assigns uid/resourceVersion/generation, applies RFC 7386
# merge patches, refuses a patch whose metadata.resourceVersion precondition is stale (409),
# answers AlreadyExists/NotFound, and — like the real server — does not bump the resourceVersion
# for a patch that changes nothing.
ObjKey = tuple[str, str, str]

SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


def obj_key(obj: Mapping[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), meta.get("namespace") or "", str(meta.get("name")))


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = apply_merge_patch(result.get(k), v)
    return result


class FakeApiServer:
    def __init__(self) -> None:
        self.objects: dict[ObjKey, dict[str, Any]] = {}
        self.writes: list[tuple[str, ObjKey]] = []
        self._rv = itertools.count(1)
        self._lock = threading.Lock()

    # -- test helpers
    def seed(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as if someone else had created it (not counted as a write)."""
        with self._lock:
            stored = self._stamp(copy.deepcopy(dict(obj)))
            self.objects[obj_key(stored)] = stored
            return copy.deepcopy(stored)

    def snapshot(self) -> dict[ObjKey, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.objects)

    def _stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(next(self._rv))
        meta["generation"] = 1
        meta["creationTimestamp"] = "2026-01-01T00:00:00Z"
        meta["managedFields"] = [{"manager": "fake", "operation": "Update"}]
        obj.pop("status", None)  # status subresource: ignored on create
        obj["status"] = {"observedGeneration": 1}
        return obj

    # -- the Writer protocol
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = obj_key(obj)
        with self._lock:
            if key in self.objects:
                raise AlreadyExists(409, "AlreadyExists", f"{key} already exists")
            stored = copy.deepcopy(obj)
            for f in SERVER_FIELDS:
                stored.get("metadata", {}).pop(f, None)
            stored = self._stamp(stored)
            self.objects[key] = stored
            self.writes.append(("create", key))
            return copy.deepcopy(stored)

    def patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        key = obj_key(obj)
        with self._lock:
            current = self.objects.get(key)
            if current is None:
                raise NotFound(404, "NotFound", f"{key} not found")
            self.writes.append(("patch", key))
            patch = copy.deepcopy(patch)
            meta_patch = patch.get("metadata") or {}
            precondition = meta_patch.pop("resourceVersion", None)
            if precondition is not None and precondition != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "the object has been modified; please apply your changes")
            for f in SERVER_FIELDS:
                meta_patch.pop(f, None)
            patch.pop("status", None)
            updated = apply_merge_patch(current, patch)
            if updated != current:
                updated["metadata"]["resourceVersion"] = str(next(self._rv))
                if {k: v for k, v in updated.items() if k not in ("metadata", "status")} != {
                    k: v for k, v in current.items() if k not in ("metadata", "status")
                }:
                    updated["metadata"]["generation"] = current["metadata"]["generation"] + 1
                self.objects[key] = updated
            return copy.deepcopy(self.objects[key])

    def delete(self, obj: dict[str, Any]) -> None:
        key = obj_key(obj)
        with self._lock:
            if key not in self.objects:
                raise NotFound(404, "NotFound", f"{key} not found")
            del self.objects[key]
            self.writes.append(("delete", key))


MANAGED = "app.kubernetes.io/managed-by"
RANKS = {"Tier": 0, "ClusterGroup": 1, "ClusterNetworkPolicy": 2}


def owned(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED) == "adapter"


def rank(obj: dict[str, Any]) -> int:
    return RANKS[obj["kind"]]


def observed_of(server: FakeApiServer) -> dict[ObjKey, dict[str, Any]]:
    return server.snapshot()


# ------------------------------------------------------------------------------ strategies

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="abc", max_size=3),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    max_leaves=6,
)
names = st.sampled_from(["a", "b", "c", "d"])
kinds = st.sampled_from(list(RANKS))
label_values = st.dictionaries(st.sampled_from(["team", "tier"]), st.sampled_from(["x", "y"]), max_size=2)


@st.composite
def objects(draw: st.DrawFn, *, is_owned: bool) -> dict[str, Any]:
    labels = draw(label_values)
    if is_owned:
        labels[MANAGED] = "adapter"
    meta: dict[str, Any] = {"name": draw(names), "labels": labels}
    if draw(st.booleans()):
        meta["annotations"] = draw(st.dictionaries(st.sampled_from(["note", "path"]), st.text("pq", max_size=2)))
    obj: dict[str, Any] = {"apiVersion": "crd.antrea.io/v1beta1", "kind": draw(kinds), "metadata": meta}
    obj["spec"] = draw(st.dictionaries(st.sampled_from(["priority", "rules", "selector"]), json_values, max_size=3))
    if draw(st.booleans()):
        obj["extra"] = draw(json_values)
    return obj


def keyed(objs: list[dict[str, Any]]) -> dict[ObjKey, dict[str, Any]]:
    return {obj_key(o): o for o in objs}


world = st.tuples(
    st.lists(objects(is_owned=True), max_size=6),  # desired
    st.lists(objects(is_owned=True), max_size=6),  # observed, ours (some stale, some drifted)
    st.lists(objects(is_owned=False), max_size=3),  # observed, somebody else's
)


def seed_server(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> FakeApiServer:
    server = FakeApiServer()
    for obj in keyed(ours).values():
        server.seed(obj)
    for obj in keyed(theirs).values():
        server.seed(obj)  # same key as one of ours: theirs wins
    return server


# ------------------------------------------------------------------------------ properties


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world, st.integers(1, 4))
def test_apply_converges_and_second_plan_is_empty(w: Any, concurrency: int) -> None:
    desired_list, ours, theirs = w
    desired = keyed(desired_list)
    server = seed_server(ours, theirs)
    before = server.snapshot()
    not_owned_keys = {k for k, o in before.items() if not owned(o)}

    first = plan(desired, observed_of(server), owned=owned)
    outcomes = apply(first, server, concurrency=concurrency, rank=rank)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert len(outcomes) == len(first) == len(server.writes)

    after = observed_of(server)
    # Somebody else's objects were never written, and collisions with them are reported.
    assert not any(key in not_owned_keys for _, key in server.writes)
    assert all(after[k] == before[k] for k in not_owned_keys)
    assert {c.key for c in first.conflicts} == set(desired) & not_owned_keys
    # Every desired object we may own exists and matches on the owned fields.
    for key, want in desired.items():
        if key in not_owned_keys:
            continue
        want_view, have_view = owned_fields(want, after[key])
        assert merge_patch(have_view, want_view) == {}
    # Every stale object of ours is gone; nothing else is.
    assert {k for k, o in after.items() if owned(o)} == set(desired) - not_owned_keys

    second = plan(desired, after, owned=owned)
    assert second.empty() and len(second) == 0
    writes_before = len(server.writes)
    assert apply(second, server) == []
    assert len(server.writes) == writes_before


@settings(max_examples=25, deadline=None)
@given(world)
def test_dry_run_writes_nothing_and_reports_every_write(w: Any) -> None:
    desired_list, ours, theirs = w
    server = seed_server(ours, theirs)
    before = server.snapshot()
    p = plan(keyed(desired_list), observed_of(server), owned=owned)
    outcomes = apply(p, server, rank=rank, dry_run=True)
    assert server.writes == [] and server.snapshot() == before
    assert len(outcomes) == len(p)
    assert all(o.ok and o.dry_run for o in outcomes)
    assert sorted(o.action for o in outcomes) == sorted(
        ["create"] * len(p.create) + ["update"] * len(p.update) + ["delete"] * len(p.delete)
    )


class RecordingWriter:
    """Records when each write started and ended on one global sequence."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.events: list[tuple[int, int, str, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.fail = fail or set()

    def _write(self, action: str, obj: dict[str, Any]) -> dict[str, Any]:
        start = next(self._seq)
        time.sleep(0.0005)  # let a broken barrier show up as overlap
        end = next(self._seq)
        with self._lock:
            self.events.append((start, end, action, obj))
        if obj["metadata"]["name"] in self.fail:
            raise ServerError(500, "InternalError", "boom")
        return obj

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._write("create", obj)

    def patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        return self._write("update", obj)

    def delete(self, obj: dict[str, Any]) -> None:
        self._write("delete", obj)


@settings(max_examples=25, deadline=None)
@given(world, st.integers(1, 8))
def test_ranks_are_barriers_forward_then_reverse(w: Any, concurrency: int) -> None:
    desired_list, ours, _ = w
    p = plan(keyed(desired_list), keyed(ours), owned=owned)
    writer = RecordingWriter()
    apply(p, writer, concurrency=concurrency, rank=rank)

    def phase(ev: tuple[int, int, str, dict[str, Any]]) -> tuple[int, int]:
        # creates/updates first by ascending rank, then deletes by descending rank
        return (1, -rank(ev[3])) if ev[2] == "delete" else (0, rank(ev[3]))

    for a, b in itertools.permutations(writer.events, 2):
        if phase(a) < phase(b):
            assert a[1] < b[0], "a later rank started before an earlier one finished"


def test_one_failure_does_not_stop_others_nor_later_ranks() -> None:
    desired = keyed(
        [
            {"kind": "Tier", "metadata": {"name": "t1", "labels": {MANAGED: "adapter"}}},
            {"kind": "Tier", "metadata": {"name": "t2", "labels": {MANAGED: "adapter"}}},
            {"kind": "ClusterNetworkPolicy", "metadata": {"name": "p1", "labels": {MANAGED: "adapter"}}},
        ]
    )
    writer = RecordingWriter(fail={"t1"})
    outcomes = apply(plan(desired, {}), writer, concurrency=4, rank=rank)
    by_name = {o.key[2]: o for o in outcomes}  # type: ignore[index]
    assert not by_name["t1"].ok and isinstance(by_name["t1"].error, ServerError)
    assert by_name["t2"].ok and by_name["p1"].ok  # the dependent still ran: documented


# ------------------------------------------------------------------------------ examples


def cm(data: dict[str, Any], rv: str = "7", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "resourceVersion": rv, **meta},
        "data": data,
    }


def test_update_is_minimal_merge_patch_with_rv_precondition() -> None:
    observed = cm({"a": "1", "b": "2", "stray": "x"}, labels={"k": "v", "other-tool": "keep"}, uid="u-1")
    observed["status"] = {"whatever": True}
    desired = cm({"a": "1", "b": "3"}, rv="", labels={"k": "v", "new": "n"})
    del desired["metadata"]["resourceVersion"]
    p = plan({"c": desired}, {"c": observed})
    assert p.create == [] and p.delete == [] and len(p.update) == 1
    assert p.update[0].patch == {
        "data": {"b": "3", "stray": None},
        "metadata": {"labels": {"new": "n"}, "resourceVersion": "7"},
    }
    assert "values_changed" in p.update[0].diff  # deepdiff explains the drift


def test_server_populated_metadata_and_status_are_ignored() -> None:
    desired = cm({"a": "1"})
    observed = copy.deepcopy(desired)
    observed["metadata"].update(
        uid="x", generation=3, creationTimestamp="t", managedFields=[{}], finalizers=["f"],
        ownerReferences=[{"uid": "o"}], annotations={"kubectl": "x"},
    )
    observed["status"] = {"phase": "Realized"}
    assert plan({"k": desired}, {"k": observed}).empty()


def test_owner_references_compared_when_desired_sets_them() -> None:
    desired = cm({}, ownerReferences=[{"uid": "mine", "controller": True}])
    observed = cm({}, ownerReferences=[{"uid": "theirs"}])
    p = plan({"k": desired}, {"k": observed})
    assert p.update[0].patch["metadata"]["ownerReferences"] == [{"uid": "mine", "controller": True}]


def test_json_types_bool_is_not_int_but_int_equals_float() -> None:
    assert merge_patch({"x": 1}, {"x": True}) == {"x": True}
    assert merge_patch({"x": 0}, {"x": False}) == {"x": False}
    assert merge_patch({"x": 1}, {"x": 1.0}) == {}
    assert merge_patch({"x": [1, {"y": True}]}, {"x": [1, {"y": 1}]}) == {"x": [1, {"y": 1}]}


def test_none_means_absent_and_removes_label() -> None:
    desired = cm({"a": None}, labels={"gone": None})
    observed = cm({"a": "1"}, labels={"gone": "x"})
    patch = plan({"k": desired}, {"k": observed}).update[0].patch
    assert patch == {"data": {"a": None}, "metadata": {"labels": {"gone": None}, "resourceVersion": "7"}}
    assert plan({"k": desired}, {"k": apply_merge_patch(observed, patch)}).empty()


def test_terminating_objects_are_not_deleted_again_and_prune_can_be_off() -> None:
    terminating = cm({}, deletionTimestamp="2026-01-01T00:00:00Z")
    stale = cm({})
    assert plan({}, {"t": terminating}).empty()
    assert len(plan({}, {"s": stale}).delete) == 1
    assert plan({}, {"s": stale}, prune=False).empty()


def test_desired_object_being_deleted_is_pending_not_patched() -> None:
    desired = cm({"a": "2"})
    observed = cm({"a": "1"}, deletionTimestamp="2026-01-01T00:00:00Z")
    p = plan({"k": desired}, {"k": observed})
    assert p.empty() and p.pending == ["k"]


def test_create_drops_server_populated_metadata() -> None:
    desired = cm({"a": "1"}, uid="stale", managedFields=[{}])
    [created] = plan({"k": desired}, {}).create
    assert "resourceVersion" not in created["metadata"] and "uid" not in created["metadata"]
    assert created["metadata"]["name"] == "c" and created["data"] == {"a": "1"}
    assert desired["metadata"]["uid"] == "stale"  # the caller's object is not modified
    clean = {"kind": "X", "metadata": {"name": "x"}}
    assert plan({"x": clean}, {}).create[0] is clean


def test_desired_fields_only_tolerates_server_defaults() -> None:
    desired: dict[str, Any] = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    observed = copy.deepcopy(desired)
    observed["spec"]["clusterIP"] = "10.0.0.1"
    assert len(plan({"s": desired}, {"s": observed}).update) == 1  # default: strict
    assert plan({"s": desired}, {"s": observed}, compare=desired_fields_only).empty()


def test_stale_resource_version_is_a_conflict_outcome() -> None:
    server = FakeApiServer()
    seeded = server.seed(cm({"a": "1"}, labels={MANAGED: "adapter"}))
    desired = cm({"a": "2"}, labels={MANAGED: "adapter"})
    p = plan({obj_key(desired): desired}, {obj_key(seeded): seeded})
    # Someone writes between our observation and our patch.
    server.patch(seeded, {"data": {"a": "other"}})
    [outcome] = apply(p, server)
    assert not outcome.ok and isinstance(outcome.error, Conflict)
    assert server.snapshot()[obj_key(seeded)]["data"] == {"a": "other"}  # not overwritten


def test_delete_of_vanished_object_counts_as_done() -> None:
    server = FakeApiServer()
    seeded = server.seed(cm({}, labels={MANAGED: "adapter"}))
    p = plan({}, {obj_key(seeded): seeded})
    server.delete(seeded)
    [outcome] = apply(p, server)
    assert outcome.ok and outcome.action == "delete"


def test_plan_reads_frozen_cache_objects() -> None:
    """Observed objects straight from a Store(frozen=True): read-only mappings, lists as tuples."""
    store = Store(frozen=True)
    store.upsert(cm({"a": "1"}, labels={"k": "v"}) | {"spec": {"rules": [{"port": 80}]}})
    store.upsert({**cm({}), "metadata": {"name": "stale", "namespace": "n"}})
    observed = {meta_namespace_key(o): o for o in store.list()}
    desired = cm({"a": "1"}, labels={"k": "v"}) | {"spec": {"rules": [{"port": 80}]}}
    p = plan({"n/c": desired}, observed)  # type: ignore[arg-type]
    assert p.update == [] and p.create == [] and p.delete_keys == ["n/stale"]
    desired["spec"]["rules"][0]["port"] = 443
    [update] = plan({"n/c": desired}, observed).update  # type: ignore[arg-type]
    assert update.patch == {"spec": {"rules": [{"port": 443}]}, "metadata": {"resourceVersion": "7"}}


def test_plan_len_and_summary() -> None:
    p = Plan(create=[{"kind": "X", "metadata": {"name": "a"}}])
    assert len(p) == 1 and not p.empty()
    assert p.summary() == {"create": 1, "update": 0, "delete": 0, "conflict": 0, "pending": 0}
    assert [k for k, _ in p.creates()] == [("X", "", "a")]


@pytest.mark.parametrize("concurrency", [1, 8])
def test_apply_runs_writes_in_parallel_up_to_concurrency(concurrency: int) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    class SlowWriter(RecordingWriter):
        def create(self, obj: dict[str, Any]) -> dict[str, Any]:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.01)
            with lock:
                active -= 1
            return obj

    desired: dict[ObjKey, dict[str, Any]] = {
        ("X", "", str(i)): {"kind": "X", "metadata": {"name": str(i)}} for i in range(32)
    }
    apply(plan(desired, {}), SlowWriter(), concurrency=concurrency)
    assert peak == concurrency


def test_parallel_apply_reports_outcomes_in_plan_order_each_write_once() -> None:
    """Worker threads pick writes in any order; the outcome list still follows the plan, and no
    write is issued twice or skipped."""
    seen: list[str] = []
    lock = threading.Lock()

    class JitterWriter(RecordingWriter):
        def create(self, obj: dict[str, Any]) -> dict[str, Any]:
            name = obj["metadata"]["name"]
            time.sleep(0.001 * (int(name) % 3))  # finish out of order
            with lock:
                seen.append(name)
            return obj

    desired: dict[ObjKey, dict[str, Any]] = {
        ("X", "", str(i)): {"kind": "X", "metadata": {"name": str(i)}} for i in range(100)
    }
    p = plan(desired, {})
    outcomes = apply(p, JitterWriter(), concurrency=8)
    assert [o.key for o in outcomes] == p.create_keys
    assert sorted(seen, key=int) == [str(i) for i in range(100)]
    assert all(o.ok and o.result is not None for o in outcomes)


def test_apply_passes_on_what_is_not_an_ordinary_failure() -> None:
    """An Exception becomes a failed outcome; a BaseException raised in a worker thread (an
    interrupt, SystemExit) is not swallowed by the thread but re-raised to the caller."""

    class Interrupting(RecordingWriter):
        def create(self, obj: dict[str, Any]) -> dict[str, Any]:
            if obj["metadata"]["name"] == "5":
                raise KeyboardInterrupt
            return obj

    desired: dict[ObjKey, dict[str, Any]] = {
        ("X", "", str(i)): {"kind": "X", "metadata": {"name": str(i)}} for i in range(10)
    }
    with pytest.raises(KeyboardInterrupt):
        apply(plan(desired, {}), Interrupting(), concurrency=4)
