"""The inventory flusher: the one writer of inventory to NSX (a leader-only runnable).

Life cycle, and why:

1. *Sync*: make sure the ContainerCluster exists (POST if NSX does not know it), read everything
   NSX holds for the cluster (the ``GET /api/v1/fabric/container-*`` lists filtered by
   ``container_cluster_id``) into the outbox's acknowledged view, and run the global resync (every
   cached object recomputed; objects deleted while the adapter was away marked for delete). Only
   differences then go out: a restart with nothing changed sends nothing.
2. *Flush*, every batch period or as soon as a full batch is waiting: take the operations from the
   outbox and send them in requests of at most ``inventory_batch_size`` items, parents first. The
   acknowledged view moves only after NSX answered 200.
3. *Failure*: the outbox is untouched, so nothing is lost; wait with exponential back-off. A batch
   that failed in an unknown way (connection lost, 5xx, timeout: NSX may or may not have applied
   it) is never blindly resent as CREATEs: the next attempt starts again at step 1 and re-reads
   NSX's state, so every object is sent as the operation its real state needs. A 400 is about the
   content: the batch is split until the offending object is alone, which is dropped (logged,
   counted) so one bad object cannot block the inventory.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from loguru import logger

from controllers.mp import inventory_metrics as metrics
from controllers.mp.inventory_mapping import CLUSTER, RANK, NsxObj
from controllers.mp.inventory_outbox import Op, Outbox
from controllers.mp.inventory_settings import InventorySettings
from nsx.client import NsxClient
from nsx.errors import NsxApiError
from nsx.inventory_api import COLLECTIONS, FABRIC
from nsx.models.inventory import ContainerCluster

SentHook = Callable[[Sequence[Op], float], None]
"""Called after NSX acknowledged a batch, with its operations and ``time.time()`` of the answer."""


@dataclass
class FlushStats:
    """What the flusher did, for tests, benchmarks and health checks."""

    requests: int = 0
    """Batch requests NSX answered 200."""
    objects: dict[str, int] = field(default_factory=lambda: {"CREATE": 0, "UPDATE": 0, "DELETE": 0})
    """Operations acknowledged, per update type."""
    failures: int = 0
    """Batch requests (or syncs) that failed and were retried."""
    rejected: int = 0
    """Objects NSX refused with 400 on their own and that were dropped."""
    syncs: int = 0
    """Completed syncs (registration + seeding + resync): 1 after a clean start, more after outages."""
    last_error: str | None = None


class InventoryFlusher:
    """See the module docstring. ``run`` is the runnable; ``synced`` is set after each sync."""

    def __init__(self, nsx: NsxClient, outbox: Outbox, resync: Callable[[], int], cluster: NsxObj,
                 settings: InventorySettings, on_sent: SentHook | None = None) -> None:
        self._nsx = nsx
        self._outbox = outbox
        self._resync = resync
        self._cluster = cluster
        self._settings = settings
        self.on_sent = on_sent
        self.stats = FlushStats()
        self._url = f"/api/v1/inventory/container/{quote(settings.cluster_id, safe='')}"
        self.synced = threading.Event()
        """Set once the acknowledged view was seeded and the resync ran (cleared while NSX is down)."""

    # ------------------------------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> None:
        s = self._settings
        delay = s.retry_initial_delay
        need_sync = True
        next_sync = 0.0
        while not stop.is_set():
            try:
                if need_sync or time.monotonic() >= next_sync:
                    self.sync()
                    need_sync = False
                    next_sync = time.monotonic() + s.resync_interval
                self.flush(stop)
                delay = s.retry_initial_delay
            except Exception as err:  # NSX down or refusing: keep everything, back off, re-sync
                self.stats.failures += 1
                self.stats.last_error = str(err)
                metrics.REQUESTS.labels("error").inc()
                need_sync = True
                self.synced.clear()
                logger.warning("inventory sync with NSX failed ({}); retrying in {:.1f} s", err, delay)
                stop.wait(delay)
                delay = min(delay * 2, s.retry_max_delay)
                continue
            self._pause(stop, s.inventory_batch_period)

    def _pause(self, stop: threading.Event, period: float) -> None:
        """Until the period ends, a full batch waits, or the runnable is stopped (checked every
        quarter second, so a long period never delays a shutdown)."""
        deadline = time.monotonic() + period
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._outbox.wait(min(0.25, left)):
                return

    def sync(self) -> None:
        """Register the cluster if NSX does not know it, seed the acknowledged view, resync."""
        cid = self._settings.cluster_id
        current = self._nsx.registration.get_container_cluster(cid)
        if current is None:
            current = self._nsx.registration.create_container_cluster(ContainerCluster.model_validate(self._cluster))
            logger.info("registered container cluster {} in NSX", cid)
        seen: list[dict[str, Any]] = [current.to_wire()]
        for rtype in RANK:
            if rtype != CLUSTER:
                seen.extend(self._nsx.list(f"{FABRIC}/{COLLECTIONS[rtype][0]}", {"container_cluster_id": cid}))
        self._outbox.seed(seen)
        orphans = self._resync()
        self.stats.syncs += 1
        metrics.SYNCS.inc()
        self.synced.set()
        logger.info("inventory synced with NSX: it holds {} objects of the cluster, {} of them vanished from "
                    "Kubernetes", len(seen), orphans)

    def flush(self, stop: threading.Event | None = None) -> int:
        """Send everything that differs now; returns the number of requests NSX acknowledged.
        Stops between requests once ``stop`` is set (leadership lost: no write may follow)."""
        ops = self._outbox.take()
        size = self._settings.inventory_batch_size
        sent = 0
        for start in range(0, len(ops), size):
            if stop is not None and stop.is_set():
                break
            sent += self._send(ops[start:start + size])
        return sent

    # ---------------------------------------------------------------------------------- sending

    def _send(self, ops: Sequence[Op]) -> int:
        """One request for ``ops``; on a 400, split to find and drop the objects NSX refuses.

        The items go out as the plain dicts the mapping made, not through the client's pydantic
        models: validating 500 objects costs ~90 ms, most of a batch's time, and the mapping's
        output is checked against those models by the unit tests instead."""
        try:
            self._nsx.request("POST", self._url, params={"action": "updates"},
                              json={"container_inventory_objects": [op.wire() for op in ops]})
        except NsxApiError as err:
            if err.status != 400:
                raise
            if len(ops) == 1:
                self._outbox.reject(ops[0])
                self.stats.rejected += 1
                metrics.REJECTED.inc()
                logger.error("NSX refused inventory {} {} {}: {}", ops[0].update_type, ops[0].resource_type,
                             ops[0].external_id, err)
                return 0
            half = len(ops) // 2
            return self._send(ops[:half]) + self._send(ops[half:])
        answered = time.time()
        now = time.monotonic()
        self._outbox.acknowledge(ops)
        self.stats.requests += 1
        metrics.REQUESTS.labels("success").inc()
        counts = Counter(op.update_type for op in ops)  # one labelled inc per type, not per object
        for update_type, n in counts.items():
            self.stats.objects[update_type] += n
            metrics.OBJECTS.labels(update_type).inc(n)
        for op in ops:
            metrics.LATENCY.observe(now - op.dirty_since)
        if self.on_sent is not None:
            self.on_sent(ops, answered)
        return 1
