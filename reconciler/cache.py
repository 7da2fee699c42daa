"""The thread-safe indexed object store behind every informer (client-go ``tools/cache`` Store +
Indexer, spec §1.2–§1.3).

Objects are plain dicts, stored and returned **as-is**: readers get the cached object itself, not a
copy. Deep-copying a Pod-sized dict costs ~190 µs in CPython (spec §4.5), so copy-on-read would
make the cache the hottest code in the process. The price is a contract: **never mutate what the
store returns** — ``copy.deepcopy`` it first, exactly as controller-runtime asks of Go code that
opts out of copies. ``Store(frozen=True)`` (or ``RECONCILER_FROZEN_CACHE=1`` in the environment)
stores read-only views instead, so a test suite can catch a violation as a ``TypeError``.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "ALL_NAMESPACES",
    "NAMESPACE_INDEX",
    "IndexFunc",
    "KeyFunc",
    "Store",
    "deep_freeze",
    "field_index",
    "label_index",
    "meta_namespace_key",
    "namespace_index",
]

IndexFunc = Callable[[Mapping[str, Any]], list[str]]
"""Maps an object to the index values it is filed under (zero, one or many)."""

KeyFunc = Callable[[Mapping[str, Any]], str]

NAMESPACE_INDEX = "namespace"
"""Name of the index every informer registers (client-go ``NamespaceIndex``)."""

ALL_NAMESPACES = "__all_namespaces"
"""Prefix controller-runtime uses so a field index answers cluster-wide lookups too."""


def meta_namespace_key(obj: Mapping[str, Any]) -> str:
    """``"namespace/name"``, or ``"name"`` for a cluster-scoped object (``MetaNamespaceKeyFunc``)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def namespace_index(obj: Mapping[str, Any]) -> list[str]:
    """Files an object under its namespace (``MetaNamespaceIndexFunc``); cluster-scoped → ``""``."""
    return [(obj.get("metadata") or {}).get("namespace") or ""]


def label_index(label_key: str) -> IndexFunc:
    """An index on the value of one label; objects without the label are not filed."""

    def index(obj: Mapping[str, Any]) -> list[str]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        value = labels.get(label_key)
        return [] if value is None else [str(value)]

    return index


def field_index(extract: Callable[[Mapping[str, Any]], Iterable[str]]) -> IndexFunc:
    """controller-runtime's field index: each value ``v`` is filed twice, as ``"ns/v"`` and as
    ``"__all_namespaces/v"``, so both a namespaced and a cluster-wide lookup hit the index."""

    def index(obj: Mapping[str, Any]) -> list[str]:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        out: list[str] = []
        for value in extract(obj):
            out.append(f"{ALL_NAMESPACES}/{value}")
            if namespace:
                out.append(f"{namespace}/{value}")
        return out

    return index


def deep_freeze(value: Any) -> Any:
    """A read-only view of JSON-like data: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value


def _frozen_by_default() -> bool:
    return os.environ.get("RECONCILER_FROZEN_CACHE", "").lower() in {"1", "true", "yes"}


class Store:
    """Thread-safe key → object map with named secondary indexes.

    ``indexers`` maps an index name to its :data:`IndexFunc`; more can be added later with
    :meth:`add_indexers`, also after objects were stored. ``key_func`` defaults to
    :func:`meta_namespace_key`. ``frozen`` (default: the ``RECONCILER_FROZEN_CACHE`` environment
    variable, else off) stores read-only views, for tests that want to prove nobody mutates the
    cache; it costs a copy per write.
    """

    def __init__(
        self,
        indexers: Mapping[str, IndexFunc] | None = None,
        key_func: KeyFunc = meta_namespace_key,
        *,
        frozen: bool | None = None,
    ) -> None:
        self.key_func = key_func
        self.frozen = _frozen_by_default() if frozen is None else frozen
        self._lock = threading.RLock()
        self._items: dict[str, Mapping[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = {}
        # index name → value → keys filed under it
        self._indices: dict[str, dict[str, set[str]]] = {}
        # index name → key → values the object is filed under (to unfile it on update/delete)
        self._filed: dict[str, dict[str, list[str]]] = {}
        if indexers:
            self.add_indexers(indexers)

    # ------------------------------------------------------------------------------ indexers

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Register more indexes and file the objects already stored under them.

        Re-registering an existing name is an error (client-go refuses it too): two components that
        picked the same name for different functions would silently corrupt each other's lookups.
        """
        with self._lock:
            clash = set(indexers) & set(self._indexers)
            if clash:
                raise ValueError(f"indexer(s) already registered: {sorted(clash)}")
            for name, func in indexers.items():
                filed = {key: list(func(obj)) for key, obj in self._items.items()}
                self._indexers[name] = func
                self._filed[name] = {}
                self._indices[name] = {}
                for key, values in filed.items():
                    self._file_locked(name, key, values)

    def indexer_names(self) -> list[str]:
        with self._lock:
            return list(self._indexers)

    # -------------------------------------------------------------------------------- writes

    def upsert(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Store ``obj`` under its key; return the object it replaced (``None`` if new)."""
        key = self.key_func(obj)
        stored = deep_freeze(obj) if self.frozen else obj
        values = self._index_values(stored)  # outside the lock: index funcs are user code
        with self._lock:
            old = self._items.get(key)
            self._items[key] = stored
            self._refile_locked(key, values)
            return old

    def delete(self, key: str) -> Mapping[str, Any] | None:
        """Remove the object stored under ``key``; return it (``None`` if absent)."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                for name in self._indexers:
                    self._unfile_locked(name, key)
            return old

    def replace(self, objs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Make the store hold exactly ``objs`` (a fresh LIST); return the objects that vanished.

        The vanished objects are the last known state of deletions that were missed while the
        watch was down — the informer delivers them as ``DeletedFinalStateUnknown``.
        """
        items: dict[str, Mapping[str, Any]] = {}
        for obj in objs:
            items[self.key_func(obj)] = deep_freeze(obj) if self.frozen else obj
        with self._lock:
            indexers = dict(self._indexers)
        filed = {name: {key: list(func(obj)) for key, obj in items.items()} for name, func in indexers.items()}
        with self._lock:
            if indexers != self._indexers:  # an indexer was added meanwhile: recompute under lock
                filed = {
                    name: {key: list(func(obj)) for key, obj in items.items()}
                    for name, func in self._indexers.items()
                }
            vanished = [obj for key, obj in self._items.items() if key not in items]
            self._items = items
            for name in self._indexers:
                self._indices[name] = {}
                self._filed[name] = {}
                for key, values in filed[name].items():
                    self._file_locked(name, key, values)
            return vanished

    # --------------------------------------------------------------------------------- reads

    def get(self, key: str) -> Mapping[str, Any] | None:
        with self._lock:
            return self._items.get(key)

    def get_by_object(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return self.get(self.key_func(obj))

    def list(self) -> builtins.list[Mapping[str, Any]]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def by_index(self, index_name: str, value: str) -> builtins.list[Mapping[str, Any]]:
        """Objects filed under ``value`` in index ``index_name`` (``KeyError`` if no such index)."""
        with self._lock:
            keys = self._index_locked(index_name).get(value, ())
            return [self._items[key] for key in keys]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        with self._lock:
            return list(self._index_locked(index_name).get(value, ()))

    def list_index_values(self, index_name: str) -> builtins.list[str]:
        """Every value that currently has at least one object in ``index_name``."""
        with self._lock:
            return list(self._index_locked(index_name))

    # ------------------------------------------------------------------------------ internals

    def _index_locked(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"index {index_name!r} does not exist") from None

    def _index_values(self, obj: Mapping[str, Any]) -> dict[str, builtins.list[str]]:
        with self._lock:
            indexers = list(self._indexers.items())
        return {name: list(func(obj)) for name, func in indexers}

    def _refile_locked(self, key: str, values: dict[str, builtins.list[str]]) -> None:
        for name, func in self._indexers.items():
            self._unfile_locked(name, key)
            # An indexer added between computing values and taking the lock: compute it now.
            self._file_locked(name, key, values[name] if name in values else list(func(self._items[key])))

    def _file_locked(self, name: str, key: str, values: builtins.list[str]) -> None:
        if not values:
            return
        index = self._indices[name]
        for value in values:
            index.setdefault(value, set()).add(key)
        self._filed[name][key] = values

    def _unfile_locked(self, name: str, key: str) -> None:
        values = self._filed[name].pop(key, None)
        if not values:
            return
        index = self._indices[name]
        for value in values:
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]
