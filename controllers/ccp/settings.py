"""Settings of the CCP adapter, one field per flag (defaults from mapping.md and antrea.md §8)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CcpSettings:
    cluster_name: str
    """The cluster-control-plane name in NSX; policies whose scope names it are this cluster's."""

    nsx_poll_interval: float = 5.0
    """Seconds between NSX polls for changed policies, groups and services. Defaults to 5 s: NSX
    has no change feed the adapter may use, and a poll is one paged search for revisions (only
    changed objects are read again). A poll due during a policy run waits for its end."""

    reconcile_interval: float = 600.0
    """Seconds between global resyncs (re-plan everything, purge stale objects) even when nothing
    was noticed. Defaults to 10 min."""

    realization_timeout: float = 60.0
    """Seconds a policy may stay Pending/Realizing before NSX is told ERROR (timeout). Defaults to
    60 s, as VMware's ccp-adapter (``RealizeTimeoutSeconds``)."""

    error_resend_interval: float = 600.0
    """Seconds between re-sends of an unchanged ERROR report. Defaults to 10 min
    (``RealizeErrorSyncIntervalSeconds``)."""

    tier_priority_base: int = 0
    """Priority of the first NSX category Tier; the five take base..base+4. Defaults to 0."""

    max_concurrent_writes: int = 8
    """Writes in flight at once while applying a plan. Defaults to 8."""

    realization_workers: int = 4
    """Workers of the realization controller (``--realization-workers``). Defaults to 4."""

    realization_batch_period: float = 0.5
    """Seconds a realization report may wait to share a POST (``--realization-batch-period``).
    Defaults to 0.5 s; see :class:`controllers.ccp.realization_queue.BatchOptions`."""

    realization_batch_size: int = 500
    """Most realization reports per POST (``--realization-batch-size``). Defaults to 500."""

    dry_run: bool = False
    """Plan and log, write nothing: no Kubernetes write (the planner skips them) and no NSX write
    (``setup_ccp`` wraps the client in :class:`nsx.dry_run.DryRunNsxClient`)."""

    def __post_init__(self) -> None:
        if not self.cluster_name:
            raise ValueError("cluster_name is required")
        for name in ("nsx_poll_interval", "reconcile_interval", "realization_timeout", "error_resend_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_concurrent_writes < 1:
            raise ValueError("max_concurrent_writes must be at least 1")
        if self.realization_batch_period < 0:
            raise ValueError("realization_batch_period must be >= 0")
        if not 1 <= self.realization_batch_size <= 1000:
            raise ValueError("realization_batch_size must be 1..1000")
        if self.realization_workers < 1:
            raise ValueError("realization_workers must be at least 1")
