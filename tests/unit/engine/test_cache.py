"""The indexed store: keys, indexes kept consistent through updates, replace() reporting
vanished objects, and the read-only debug mode."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reconciler.cache import (
    NAMESPACE_INDEX,
    Store,
    field_index,
    label_index,
    meta_namespace_key,
    namespace_index,
)


def cm(name: str, ns: str | None = "default", labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns is not None:
        meta["namespace"] = ns
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def test_meta_namespace_key() -> None:
    assert meta_namespace_key(cm("a", "ns1")) == "ns1/a"
    assert meta_namespace_key(cm("node-1", None)) == "node-1"
    assert meta_namespace_key(cm("x", "")) == "x"


def test_upsert_get_delete_return_previous() -> None:
    store = Store()
    first = cm("a", x="1")
    assert store.upsert(first) is None
    second = cm("a", x="2")
    assert store.upsert(second) is first
    assert store.get("default/a") is second  # as-is, no copy
    assert len(store) == 1 and "default/a" in store
    assert store.delete("default/a") is second
    assert store.delete("default/a") is None
    assert store.get("default/a") is None


def test_indexes_follow_updates_and_deletes() -> None:
    store = Store({NAMESPACE_INDEX: namespace_index, "app": label_index("app")})
    store.upsert(cm("a", "ns1", {"app": "web"}))
    store.upsert(cm("b", "ns1", {"app": "db"}))
    store.upsert(cm("c", "ns2", {"app": "web"}))
    store.upsert(cm("d", None))
    assert sorted(store.index_keys(NAMESPACE_INDEX, "ns1")) == ["ns1/a", "ns1/b"]
    assert store.index_keys(NAMESPACE_INDEX, "") == ["d"]
    assert sorted(store.index_keys("app", "web")) == ["ns1/a", "ns2/c"]
    # Relabel: moves between index values, no stale entry left behind.
    store.upsert(cm("a", "ns1", {"app": "db"}))
    assert store.index_keys("app", "web") == ["ns2/c"]
    assert sorted(store.index_keys("app", "db")) == ["ns1/a", "ns1/b"]
    store.delete("ns2/c")
    assert store.by_index("app", "web") == []
    assert "web" not in store.list_index_values("app")
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_multi_valued_field_index_and_late_indexer() -> None:
    store = Store()
    store.upsert({"metadata": {"name": "p1", "namespace": "a"}, "spec": {"refs": ["x", "y"]}})
    store.upsert({"metadata": {"name": "p2", "namespace": "b"}, "spec": {"refs": ["x"]}})
    store.add_indexers({"field:refs": field_index(lambda o: o["spec"]["refs"])})  # after items exist
    assert sorted(store.index_keys("field:refs", "__all_namespaces/x")) == ["a/p1", "b/p2"]
    assert store.index_keys("field:refs", "a/y") == ["a/p1"]
    assert store.index_keys("field:refs", "b/y") == []
    with pytest.raises(ValueError):
        store.add_indexers({"field:refs": field_index(lambda o: [])})


def test_replace_returns_vanished_and_reindexes() -> None:
    store = Store({"app": label_index("app")})
    a, b, c = cm("a", labels={"app": "web"}), cm("b", labels={"app": "web"}), cm("c")
    for obj in (a, b, c):
        store.upsert(obj)
    b2 = cm("b", labels={"app": "db"})
    d = cm("d", labels={"app": "web"})
    vanished = store.replace([b2, d])
    assert sorted(meta_namespace_key(o) for o in vanished) == ["default/a", "default/c"]
    assert vanished[0] is a or vanished[1] is a  # the last known state, for DeletedFinalStateUnknown
    assert sorted(store.keys()) == ["default/b", "default/d"]
    assert store.index_keys("app", "web") == ["default/d"]
    assert store.index_keys("app", "db") == ["default/b"]
    assert store.replace([]) and len(store) == 0


def test_frozen_mode_rejects_mutation() -> None:
    store = Store(frozen=True)
    store.upsert(cm("a", labels={"k": "v"}, x="1"))
    obj = store.get("default/a")
    assert obj is not None
    with pytest.raises(TypeError):
        obj["data"]["x"] = "2"
    with pytest.raises(TypeError):
        obj["metadata"]["labels"]["k"] = "w"
    assert obj["data"]["x"] == "1"


def test_concurrent_writers_keep_index_consistent() -> None:
    store = Store({"app": label_index("app")})

    def writer(seed: int) -> None:
        for i in range(300):
            name = f"o{i % 30}"
            if (i + seed) % 7 == 0:
                store.delete(f"default/{name}")
            else:
                store.upsert(cm(name, labels={"app": f"v{(i + seed) % 3}"}))

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every stored object is filed exactly under its current label, and nothing else is filed.
    filed = {v: set(store.index_keys("app", v)) for v in store.list_index_values("app")}
    for obj in store.list():
        key = meta_namespace_key(obj)
        value = obj["metadata"]["labels"]["app"]
        assert key in filed[value]
        assert all(key not in keys for v, keys in filed.items() if v != value)
    assert set().union(*filed.values()) == set(store.keys())
