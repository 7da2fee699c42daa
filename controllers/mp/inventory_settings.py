"""Settings of the MP inventory controller, one field per flag (defaults from the issue and mapping.md §7)."""

from __future__ import annotations

from dataclasses import dataclass

INFRA_TYPES = ("vSphere", "AWS", "Azure", "Google", "VMC", "KVM", "Baremetal")


@dataclass
class InventorySettings:
    cluster_id: str
    """The cluster's inventory identity: the ``external_id`` of its ContainerCluster and the
    ``{cluster-id}`` of the batch URL. The CLI reads it from the ``cluster-id`` ConfigMap."""

    cluster_name: str = ""
    """``display_name`` of the ContainerCluster. Defaults to "" = the cluster id."""

    infra_type: str = "vSphere"
    """``infrastructure.infra_type`` of the ContainerCluster (one of :data:`INFRA_TYPES`). Defaults
    to vSphere, where NSX-managed Antrea clusters usually run."""

    inventory_batch_size: int = 500
    """Most objects per ``?action=updates`` request (``--inventory-batch-size``). Defaults to 500,
    inside the 500–1000 nsx-api.md §7.3 recommends."""

    inventory_batch_period: float = 1.0
    """Seconds between flushes of the outbox (``--inventory-batch-period``): the longest a partial
    batch waits. A full batch is sent at once, and a backlog of several goes out back to back (a
    flush sends everything that differs), never one batch per period. Defaults to 1 s: a change
    reaches NSX within about a second, and a burst of changes to one object within the period costs
    one write."""

    resync_interval: float = 600.0
    """Seconds between full syncs (re-read NSX's inventory for the cluster, diff everything) even
    when nothing failed: repairs an NSX whose inventory changed behind the adapter's back (restored
    from backup, edited by an admin). Defaults to 10 min, as the CCP side's ``--reconcile-interval``."""

    retry_initial_delay: float = 1.0
    """Seconds before the first retry of a failed batch; doubled per failure. Defaults to 1 s."""

    retry_max_delay: float = 30.0
    """Longest wait between retries of a failed batch. Defaults to 30 s."""

    workers: int = 2
    """Reconcile workers per watched kind. Defaults to 2 (reconciles only read caches and record
    into the outbox; the writes are the flusher's)."""

    def __post_init__(self) -> None:
        if not self.cluster_id:
            raise ValueError("cluster_id is required")
        if self.infra_type not in INFRA_TYPES:
            raise ValueError(f"infra_type must be one of {', '.join(INFRA_TYPES)}")
        if self.inventory_batch_size < 1:
            raise ValueError("inventory_batch_size must be at least 1")
        for name in ("inventory_batch_period", "resync_interval", "retry_initial_delay", "retry_max_delay"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
