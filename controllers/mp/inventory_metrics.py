"""Prometheus metrics of the MP inventory, in the engine's registry (served on ``/metrics``).

Why these: an operator needs to see that the inventory keeps up (pending objects, change-to-NSX
latency), what it costs NSX (requests and objects per operation) and whether NSX refuses anything
(failed requests, rejected objects) without reading logs.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from controllers.mp.inventory_outbox import Outbox
from reconciler.metrics import REGISTRY, set_weak_gauge_function

REQUESTS = Counter(
    "antrea_nsx_adapter_inventory_requests_total",
    "Inventory batch requests NSX acknowledged (result=success) and failed attempts to sync or send (error)",
    ["result"],
    registry=REGISTRY,
)
OBJECTS = Counter(
    "antrea_nsx_adapter_inventory_objects_total",
    "Inventory objects NSX acknowledged, by operation (CREATE, UPDATE, DELETE)",
    ["operation"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "antrea_nsx_adapter_inventory_rejected_objects_total",
    "Inventory objects NSX refused on their own (HTTP 400) and that were dropped",
    registry=REGISTRY,
)
SYNCS = Counter(
    "antrea_nsx_adapter_inventory_syncs_total",
    "Full syncs with NSX (read NSX's inventory, diff everything): start-up, after failures, periodic",
    registry=REGISTRY,
)
LATENCY = Histogram(
    "antrea_nsx_adapter_inventory_latency_seconds",
    "Seconds from an object first differing from NSX's copy to NSX acknowledging the change",
    buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
PENDING = Gauge(
    "antrea_nsx_adapter_inventory_pending_objects",
    "Objects whose desired state may differ from what NSX acknowledged, per inventory cluster id",
    ["cluster"],
    registry=REGISTRY,
)


def watch_outbox(cluster_id: str, outbox: Outbox) -> None:
    """Serve the outbox's dirty count as the pending gauge (read at scrape time)."""
    set_weak_gauge_function(PENDING, cluster_id, outbox, lambda box: float(box.dirty_count()))
