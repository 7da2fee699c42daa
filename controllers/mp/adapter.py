"""Wiring of the whole MP adapter onto a :class:`~reconciler.manager.Manager`.

The MP adapter is four independent parts (inventory, statistics, Traceflow, health) that share the
manager's informers and the NSX client; this module is the one entry point the CLI calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controllers.mp.bundles import BundleCollector, BundleSettings, register_bundle_handlers
from controllers.mp.health import HealthSettings, MpHealth, setup_mp_health
from controllers.mp.inventory_settings import InventorySettings
from controllers.mp.inventory_setup import MpInventory, setup_mp_inventory
from controllers.mp.stats import MpStatsSettings, StatsReporter, setup_mp_stats
from controllers.mp.traceflow import MpTraceflow, MpTraceflowSettings, setup_mp_traceflow
from nsx.client import NsxClient
from nsx.dry_run import dry_run_client
from reconciler.manager import Manager


@dataclass
class MpSettings:
    """What the MP adapter needs from configuration (one field per ``mp`` flag it uses)."""

    cluster_name: str
    """The cluster-control-plane id in NSX (the adapter channel's cluster)."""

    cluster_id: str
    """The ContainerCluster's ``external_id`` (the ``cluster-id`` ConfigMap)."""

    namespace: str
    """The adapter's namespace, where the liveness Leases live."""

    inventory_batch_size: int = 500
    """Objects per inventory update request. Defaults to 500."""

    inventory_batch_period: float = 1.0
    """Seconds between inventory flushes. Defaults to 1 s."""

    stats_interval: float = 60.0
    """Seconds between statistics reports. Defaults to 60 s."""

    heartbeat_interval: float = 30.0
    """Seconds between cluster health reports. Defaults to 30 s."""

    inventory_workers: int = 2
    """Workers of each inventory controller (``--inventory-workers``). Defaults to 2."""

    traceflow_workers: int = 4
    """Workers of the Traceflow controller (``--traceflow-workers``). Defaults to 4."""

    dry_run: bool = False
    """Plan and log, write nothing: NSX writes are logged instead of sent (:mod:`nsx.dry_run`) and
    the MP liveness Lease is not published."""

    secrets: list[str] = field(default_factory=list, repr=False)
    """Exact strings (the NSX password) blanked out of the adapter log lines put in support bundles."""


@dataclass
class MpAdapter:
    inventory: MpInventory
    stats: StatsReporter
    traceflow: MpTraceflow
    health: MpHealth
    bundles: BundleCollector


def setup_mp(manager: Manager, nsx: NsxClient, settings: MpSettings) -> MpAdapter:
    """Register every MP part on ``manager`` (before it starts)."""
    if settings.dry_run:  # inventory, statistics, health, results and uploads are logged, not sent
        nsx = dry_run_client(nsx)
    inventory = setup_mp_inventory(manager, nsx, InventorySettings(
        cluster_id=settings.cluster_id, cluster_name=settings.cluster_name,
        inventory_batch_size=settings.inventory_batch_size, inventory_batch_period=settings.inventory_batch_period,
        workers=settings.inventory_workers))
    stats = setup_mp_stats(manager, nsx, MpStatsSettings(cluster_name=settings.cluster_name,
                                                         stats_interval=settings.stats_interval))
    traceflow = setup_mp_traceflow(manager, nsx, MpTraceflowSettings(cluster_name=settings.cluster_name,
                                                                     workers=settings.traceflow_workers))
    # Support bundles and log collection share the Traceflow request poller: one long-poll per cluster.
    bundles = register_bundle_handlers(manager, traceflow.poller, BundleSettings(secrets=list(settings.secrets)))
    health = setup_mp_health(manager, nsx, HealthSettings(cluster_name=settings.cluster_name,
                                                          heartbeat_interval=settings.heartbeat_interval,
                                                          namespace=settings.namespace,
                                                          publish_liveness=not settings.dry_run))
    return MpAdapter(inventory, stats, traceflow, health, bundles)
