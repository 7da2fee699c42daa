"""Objects, the global resourceVersion counter and the bounded event history (the "etcd" part).

Stored objects are never mutated after they are committed: writers build a new dict, and the
store serializes it once (``body``, JSON without apiVersion/kind) so that GET, LIST and every
watcher reuse the same bytes; apiVersion/kind are spliced in at read time, which is also how
CRD versions with ``conversion: None`` are served from one stored copy.

The history is one global window (etcd keeps one revision log too). Watches resume from any
resourceVersion inside the window; older ones get 410 Expired, like a compacted etcd.
"""

from __future__ import annotations

import bisect
import collections
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

StorageKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


_TYPE_KEYS = frozenset(("apiVersion", "kind"))


def encode_body(obj: dict[str, Any]) -> bytes:
    return _dumps({k: v for k, v in obj.items() if k not in _TYPE_KEYS}).encode()


def full_json(api_version: str, kind: str, body: bytes) -> bytes:
    """The object's JSON with apiVersion/kind in front (how real responses are ordered)."""
    head = b'{"kind":"' + kind.encode() + b'","apiVersion":"' + api_version.encode() + b'"'
    if body == b"{}":
        return head + b"}"
    return head + b"," + body[1:]


@dataclass(slots=True)
class Stored:
    obj: dict[str, Any]
    body: bytes

    @property
    def rv(self) -> int:
        return int(self.obj["metadata"]["resourceVersion"])


@dataclass(slots=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: StorageKey
    namespace: str
    name: str
    new: Stored  # for DELETED: the last state, stamped with the deletion's resourceVersion
    old: Stored | None


class Subscriber(Protocol):
    def push(self, event: Event) -> None: ...

    def close(self, dropped: bool = True) -> None: ...


def _owner_uids(obj: dict[str, Any]) -> set[str]:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {r["uid"] for r in refs if isinstance(r, dict) and r.get("uid")}


class Store:
    """Thread-safe object store. Callers hold :attr:`lock` across read-check-write sequences."""

    def __init__(self, history_size: int = 20000) -> None:
        self.lock = threading.RLock()
        self.rv = 1
        self.compacted_rv = 0
        self._objects: dict[StorageKey, dict[ObjKey, Stored]] = collections.defaultdict(dict)
        self._sorted: dict[StorageKey, list[ObjKey]] = {}
        self._history: collections.deque[Event] = collections.deque()
        self._history_size = history_size
        self._watchers: dict[StorageKey, set[Subscriber]] = collections.defaultdict(set)
        self._listeners: list[Callable[[Event], None]] = []
        self.uids: dict[str, tuple[StorageKey, str, str]] = {}
        self.dependents: dict[str, set[tuple[StorageKey, str, str]]] = collections.defaultdict(set)

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: StorageKey, namespace: str, name: str) -> Stored | None:
        return self._objects[key].get((namespace, name))

    def items(self, key: StorageKey, namespace: str | None = None, start_after: ObjKey | None = None,
              limit: int = 0) -> list[Stored]:
        """Objects of one resource sorted by (namespace, name), as etcd's key order lists them;
        with ``start_after`` only those after that key (a ``continue`` page), with ``limit`` at most
        that many. The bounds are found by bisection in the sorted keys: a paged LIST of N objects
        used to filter all N for every page, O(N²) (a 30,000-Pod informer LIST spent seconds here)."""
        with self.lock:
            objs = self._objects[key]
            lo, hi = self._window(key, namespace, start_after)
            if limit:
                hi = min(hi, lo + limit)
            return [objs[k] for k in self._sorted[key][lo:hi]]

    def count(self, key: StorageKey, namespace: str | None = None, start_after: ObjKey | None = None) -> int:
        """How many :meth:`items` would return without a limit (without building the list)."""
        with self.lock:
            if namespace is None and start_after is None:
                return len(self._objects[key])
            lo, hi = self._window(key, namespace, start_after)
            return max(0, hi - lo)

    def _window(self, key: StorageKey, namespace: str | None, start_after: ObjKey | None) -> tuple[int, int]:
        order = self._sorted.get(key)
        if order is None:
            order = self._sorted[key] = sorted(self._objects[key])
        lo = bisect.bisect_right(order, start_after) if start_after is not None else 0
        hi = len(order)
        if namespace is not None:
            lo = max(lo, bisect.bisect_left(order, (namespace, "")))
            hi = bisect.bisect_left(order, (namespace + "\0", ""), lo)
        return lo, hi

    def keys(self) -> list[StorageKey]:
        with self.lock:
            return [k for k, v in self._objects.items() if v]

    # -- writes ------------------------------------------------------------------------------
    def next_rv(self) -> int:
        return self.rv + 1

    def commit(self, key: StorageKey, obj: dict[str, Any], event_type: str) -> Stored:
        """Store ``obj`` (ADDED or MODIFIED) with the next resourceVersion and tell watchers."""
        with self.lock:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            stored = Stored(obj, encode_body(obj))
            md = obj["metadata"]
            okey = (md.get("namespace", ""), md["name"])
            objs = self._objects[key]
            old = objs.get(okey)
            if old is None:
                self._sorted.pop(key, None)
            objs[okey] = stored
            self._index(key, okey, old.obj if old else None, obj)
            self._record(Event(self.rv, event_type, key, okey[0], okey[1], stored, old))
            return stored

    def remove(self, key: StorageKey, namespace: str, name: str) -> Stored | None:
        """Delete for good; the DELETED event carries the deletion's resourceVersion."""
        with self.lock:
            old = self._objects[key].pop((namespace, name), None)
            if old is None:
                return None
            self._sorted.pop(key, None)
            self.rv += 1
            last = dict(old.obj)
            last["metadata"] = dict(last["metadata"], resourceVersion=str(self.rv))
            stored = Stored(last, encode_body(last))
            self._index(key, (namespace, name), old.obj, None)
            self._record(Event(self.rv, "DELETED", key, namespace, name, stored, old))
            return stored

    def _index(self, key: StorageKey, okey: ObjKey, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        ref = (key, okey[0], okey[1])
        old_owners = _owner_uids(old) if old else set()
        new_owners = _owner_uids(new) if new else set()
        for uid in old_owners - new_owners:
            deps = self.dependents.get(uid)
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self.dependents[uid]
        for uid in new_owners - old_owners:
            self.dependents[uid].add(ref)
        if old is not None and new is None:
            self.uids.pop(old["metadata"].get("uid", ""), None)
        elif new is not None:
            self.uids[new["metadata"]["uid"]] = ref

    def _record(self, event: Event) -> None:
        self._history.append(event)
        if len(self._history) > self._history_size:
            self.compacted_rv = self._history.popleft().rv
        for watcher in self._watchers.get(event.key, ()):
            watcher.push(event)
        for listener in self._listeners:
            listener(event)

    # -- history and watchers ----------------------------------------------------------------
    def compact(self) -> int:
        """Forget all history: a watch or continue token from before now gets 410 Expired."""
        with self.lock:
            self._history.clear()
            self.compacted_rv = self.rv
            return self.rv

    def too_old(self, rv: int) -> bool:
        return rv < self.compacted_rv

    def subscribe(self, key: StorageKey, watcher: Subscriber, since: int | None) -> list[Event] | None:
        """Register ``watcher`` and return the history after ``since`` (None when too old).

        Done under the lock so that no event falls between the replay and the live stream.
        ``since=None`` replays nothing (the caller sends synthetic ADDED events itself)."""
        with self.lock:
            replay: list[Event] = []
            if since is not None:
                if self.too_old(since):
                    return None
                if since < self.rv:
                    replay = [e for e in self._history if e.rv > since and e.key == key]
            self._watchers[key].add(watcher)
            return replay

    def unsubscribe(self, key: StorageKey, watcher: Subscriber) -> None:
        with self.lock:
            self._watchers[key].discard(watcher)

    def all_watchers(self) -> list[Subscriber]:
        with self.lock:
            return [w for ws in self._watchers.values() for w in ws]

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Controllers hear every event (synchronously, under the lock: they must only enqueue)."""
        self._listeners.append(listener)

    def drop_resource(self, key: StorageKey) -> None:
        """Forget a resource type whose CRD is gone (its objects were deleted one by one before);
        its open watches end, as they do when a real server stops serving the resource."""
        with self.lock:
            self._objects.pop(key, None)
            self._sorted.pop(key, None)
            for watcher in self._watchers.pop(key, set()):
                watcher.close(dropped=False)

    def find_uid(self, uid: str) -> tuple[StorageKey, str, str] | None:
        return self.uids.get(uid)

    def dependents_of(self, uids: Iterable[str]) -> set[tuple[StorageKey, str, str]]:
        with self.lock:
            out: set[tuple[StorageKey, str, str]] = set()
            for uid in uids:
                out |= self.dependents.get(uid, set())
            return out
