"""The inventory outbox: the desired NSX inventory, what NSX acknowledged, and what differs.

Reconciles record the *desired* state of an object (or its absence); nothing is sent from there.
The flusher asks :meth:`Outbox.take` for the operations that turn the *acknowledged* view into the
desired one, sends them, and calls :meth:`Outbox.acknowledge` once NSX answered 200. So:

* coalescing is free: ten changes to one Pod within a batch period are one UPDATE, and a create
  followed by a delete before the flush sends nothing (the object was never acknowledged);
* UPDATEs are sparse: only the owned fields that differ from the acknowledged object;
* a failed batch changes nothing here, the same operations come out of the next ``take``;
* an object changed while its operation was in flight stays dirty (versions), so the newer state
  is sent next time.

The acknowledged view is seeded from NSX's own reads at start-up and after NSX was unreachable
(:meth:`Outbox.seed`), which is how a restart with nothing changed sends nothing.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controllers.mp.inventory_mapping import NsxObj, delete_body, owned_view, sort_key, sparse_update


@dataclass(frozen=True)
class Op:
    """One item of an ``?action=updates`` batch, with the outbox version it was computed from."""

    update_type: str
    """``CREATE`` (full object), ``UPDATE`` (sparse) or ``DELETE`` (identity only)."""
    body: NsxObj
    version: int
    dirty_since: float
    """``time.monotonic()`` when the object first differed from what NSX acknowledged."""

    @property
    def external_id(self) -> str:
        return str(self.body["external_id"])

    @property
    def resource_type(self) -> str:
        return str(self.body["resource_type"])

    def wire(self) -> dict[str, Any]:
        return {"object_update_type": self.update_type, "container_object": self.body}


@dataclass
class Outbox:
    """Thread-safe; ``lock`` is public so a reconcile can read the caches and record what it
    computed atomically (the last record is then always computed from the newest cache state)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    wake_at: int = 500
    """Dirty objects that wake the flusher before its period ends (a full batch)."""
    _desired: dict[str, NsxObj] = field(default_factory=dict)
    _acked: dict[str, NsxObj] = field(default_factory=dict)
    _dirty: dict[str, tuple[int, float]] = field(default_factory=dict)
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _wake: threading.Event = field(default_factory=threading.Event)

    # ------------------------------------------------------------------------------ recording

    def put(self, obj: NsxObj) -> None:
        """The object should exist in NSX as ``obj`` (a full desired object)."""
        ext = str(obj["external_id"])
        with self.lock:
            if self._desired.get(ext) == obj:
                return
            self._desired[ext] = obj
            self._mark(ext)

    def remove(self, external_id: str) -> None:
        """The object should not exist in NSX."""
        with self.lock:
            if self._desired.pop(external_id, None) is not None or external_id in self._acked:
                self._mark(external_id)

    def _mark(self, ext: str) -> None:
        previous = self._dirty.get(ext)
        self._dirty[ext] = (next(self._versions), previous[1] if previous else time.monotonic())
        if len(self._dirty) >= self.wake_at:
            self._wake.set()

    # ------------------------------------------------------------------------------- the view

    def seed(self, acknowledged: Iterable[Mapping[str, Any]]) -> None:
        """Replace the acknowledged view with what NSX holds; everything is re-compared."""
        with self.lock:
            self._acked = {str(o["external_id"]): owned_view(o) for o in acknowledged}
            for ext in set(self._acked) | set(self._desired):
                self._mark(ext)

    def desired_ids(self) -> set[str]:
        with self.lock:
            return set(self._desired)

    def acknowledged_ids(self) -> set[str]:
        with self.lock:
            return set(self._acked)

    def acknowledged(self, external_id: str) -> NsxObj | None:
        with self.lock:
            obj = self._acked.get(external_id)
            return dict(obj) if obj is not None else None

    def dirty_count(self) -> int:
        with self.lock:
            return len(self._dirty)

    def in_sync(self) -> bool:
        """Nothing left to send (every dirty object compares equal or was sent)."""
        with self.lock:
            return not self._dirty

    # ------------------------------------------------------------------------------- flushing

    def wait(self, timeout: float) -> bool:
        """Sleep until ``timeout`` or a full batch is waiting; True in the latter case."""
        woken = self._wake.wait(timeout)
        self._wake.clear()
        return woken

    def take(self) -> list[Op]:
        """Every operation needed now, in batch order (upserts parents-first, then deletes
        children-first). Objects that turn out equal to their acknowledged state are cleaned."""
        ops: list[Op] = []
        with self.lock:
            for ext, (version, since) in list(self._dirty.items()):
                want = self._desired.get(ext)
                have = self._acked.get(ext)
                if want is not None and have is None:
                    ops.append(Op("CREATE", want, version, since))
                elif want is not None and have is not None:
                    update = sparse_update(want, have)
                    if update is None:
                        del self._dirty[ext]
                    else:
                        ops.append(Op("UPDATE", update, version, since))
                elif have is not None:
                    ops.append(Op("DELETE", delete_body(have["resource_type"], ext), version, since))
                else:
                    del self._dirty[ext]
        ops.sort(key=lambda op: sort_key(op.update_type, op.resource_type))
        return ops

    def acknowledge(self, ops: Iterable[Op]) -> None:
        """NSX accepted ``ops``: fold them into the acknowledged view."""
        with self.lock:
            for op in ops:
                ext = op.external_id
                if op.update_type == "DELETE":
                    self._acked.pop(ext, None)
                elif op.update_type == "CREATE":
                    self._acked[ext] = owned_view(op.body)
                else:
                    self._acked[ext] = owned_view({**self._acked.get(ext, {}), **op.body})
                self._clean(ext, op.version)

    def reject(self, op: Op) -> None:
        """NSX refused ``op`` itself (HTTP 400 for that object alone): stop resending it until the
        object changes again; the acknowledged view keeps what NSX really has."""
        with self.lock:
            self._clean(op.external_id, op.version)

    def _clean(self, ext: str, version: int) -> None:
        current = self._dirty.get(ext)
        if current is not None and current[0] == version:
            del self._dirty[ext]
