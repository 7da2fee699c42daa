"""Wiring of the CCP adapter onto a :class:`~reconciler.manager.Manager`.

Data path: an NSX poller (leader-only runnable) notices changed intent and wakes the policy
controller through a channel; the policy controller also wakes on any change to a managed object
(drift) and every ``reconcile_interval`` (global resync). Its outcomes wake the realization
controller, which also follows the ACNPs' status. Registration (the cluster-control-plane object in
NSX) runs once per leadership, before anything is reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from controllers.ccp import names
from controllers.ccp.intent import NsxIntent
from controllers.ccp.outcomes import Outcomes
from controllers.ccp.policy_controller import GLOBAL, PolicyReconciler
from controllers.ccp.realization import RealizationReconciler
from controllers.ccp.realization_queue import BatchOptions
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from nsx.client import NsxClient
from nsx.dry_run import dry_run_client
from nsx.models.clusters import ClusterControlPlane
from reconciler.controller import Controller, ControllerOptions
from reconciler.handler import EnqueueRequestsFromMapFunc
from reconciler.informer import SharedInformer
from reconciler.manager import Manager
from reconciler.predicate import (
    AnnotationChangedPredicate,
    GenerationChangedPredicate,
    LabelChangedPredicate,
    Predicate,
    new_predicate_funcs,
    or_,
)
from reconciler.reconcile import Request
from reconciler.source import Channel, Kind

MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}


@dataclass
class CcpAdapter:
    """Handles on the running parts, for health checks, tests and the demo."""

    settings: CcpSettings
    intent: NsxIntent
    outcomes: Outcomes
    policy: PolicyReconciler
    realization: RealizationReconciler
    informers: dict[str, SharedInformer]
    nsx_events: Channel
    registered: threading.Event = field(default_factory=threading.Event)

    def resync(self) -> None:
        """Ask for a global resync now (e.g. after NSX came back)."""
        self.nsx_events.send({"metadata": {"name": GLOBAL.name}})


def _policy_path(obj: Any) -> list[Request]:
    path = ((obj.get("metadata") or {}).get("annotations") or {}).get(names.NSX_PATH_ANNOTATION)
    return [Request(name=path)] if isinstance(path, str) else []


def realization_may_act(outcomes: Outcomes) -> Predicate:
    """ACNP events the realization controller has something to do with.

    Until the first policy run publishes its outcomes, a reconcile of an ACNP's policy finds no
    outcome and does nothing, and that publication enqueues every policy anyway. Such events are
    not queued: on a cold start each of the run's own creates would otherwise wake a realization
    worker for nothing, a thousand wake-ups competing with the writes for the interpreter."""

    def keep(acnp: Any) -> bool:
        return outcomes.published.is_set() or any(outcomes.get(r.name) is not None for r in _policy_path(acnp))

    return new_predicate_funcs(keep)


def setup_ccp(manager: Manager, nsx: NsxClient, settings: CcpSettings) -> CcpAdapter:
    """Register the CCP controllers and runnables on ``manager`` (before or after it started)."""
    if settings.dry_run:  # every NSX write (registration, realization reports) is logged, not sent
        nsx = dry_run_client(nsx)
    api_version = names.ANTREA_API_VERSION
    informers = {
        "ClusterNetworkPolicy": manager.informer((api_version, "ClusterNetworkPolicy"), label_selector=MANAGED),
        "ClusterGroup": manager.informer((api_version, "ClusterGroup"), label_selector=MANAGED),
        "Tier": manager.informer((api_version, "Tier")),
    }
    intent = NsxIntent(nsx.transport)
    outcomes = Outcomes()
    nsx_events = Channel()
    realization_events = Channel()

    def outcomes_changed(paths: set[str]) -> None:
        realization_events.send_all([{"metadata": {"name": p}} for p in sorted(paths)])

    policy = PolicyReconciler(
        client=manager.client,
        intent=intent,
        outcomes=outcomes,
        caches={kind: inf.store.list for kind, inf in informers.items()},
        settings=settings,
        on_outcomes=outcomes_changed,
        synced_versions={kind: _version_of(inf) for kind, inf in informers.items()},
    )
    to_global = EnqueueRequestsFromMapFunc(lambda _obj: [GLOBAL])
    spec_or_ownership = or_(GenerationChangedPredicate(), LabelChangedPredicate(), AnnotationChangedPredicate())
    policy_controller = Controller("ccp-policy", policy, ControllerOptions(max_concurrent_reconciles=1))
    for informer in informers.values():
        policy_controller.watches(Kind(informer), to_global, spec_or_ownership)
    policy_controller.watches(nsx_events, to_global)

    acnps = informers["ClusterNetworkPolicy"]
    realization = RealizationReconciler(
        outcomes=outcomes,
        get_acnp=acnps.store.get,
        channel=nsx.channel(settings.cluster_name),
        settings=settings,
        batching=BatchOptions(window=settings.realization_batch_period,
                              max_reports=settings.realization_batch_size),
    )
    realization_controller = Controller("ccp-realization", realization,
                                        ControllerOptions(max_concurrent_reconciles=settings.realization_workers))
    realization_controller.watches(Kind(acnps), EnqueueRequestsFromMapFunc(_policy_path), realization_may_act(outcomes))
    realization_controller.watches(
        realization_events,
        EnqueueRequestsFromMapFunc(lambda obj: [Request(name=obj["metadata"]["name"])]),
    )
    adapter = CcpAdapter(settings, intent, outcomes, policy, realization, informers, nsx_events)

    def register(stop: threading.Event) -> None:
        """Make sure NSX knows the cluster (created if absent; an existing one is left as it is)."""
        delay = 1.0
        while not stop.is_set():
            try:
                if nsx.registration.get_cluster_control_plane(settings.cluster_name) is None:
                    nsx.registration.put_cluster_control_plane(
                        ClusterControlPlane(id=settings.cluster_name, display_name=settings.cluster_name))
                    logger.info("registered cluster-control-plane {}", cluster_path(settings.cluster_name))
                adapter.registered.set()
                return
            except Exception as err:  # NSX unreachable or refusing: keep trying, say so
                logger.warning("cluster registration with NSX failed ({}); retrying in {:.0f} s", err, delay)
                stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def poll_nsx(stop: threading.Event) -> None:
        """Fetch intent every poll interval; wake the policy controller on change or recovery.

        The first run of the policy controller reads NSX itself (after its start-up digest check,
        which must not compete with a full read for the interpreter): this loop only wakes it at
        start and polls from one interval later. A poll due while a policy run is in progress
        waits for its end: what it finds could only be applied after that run, and at scale each
        poll is dozens of requests (a search page per 1,000 objects) competing with the run."""
        down = False
        adapter.resync()
        stop.wait(settings.nsx_poll_interval)
        while not stop.is_set():
            while not policy.idle.wait(0.5):
                if stop.is_set():
                    return
            started = time.monotonic()  # a fixed period: a slow read must not stretch the interval
            try:
                update = intent.fetch()
                if update.changed or down:
                    adapter.resync()
                if down:
                    logger.info("NSX reachable again: full resync")
                down = False
            except Exception as err:
                if not down:
                    logger.warning("reading NSX intent failed: {}; keeping the last applied state", err)
                down = True
            stop.wait(max(0.0, settings.nsx_poll_interval - (time.monotonic() - started)))

    manager.add_runnable(poll_nsx)
    # The start-up digest check's NSX search runs during the informers' initial lists. The full
    # NSX read does not: on a restart it would compete for the interpreter with those lists and
    # that search, and only the first reconcile needs it — after the check said "in sync" or not.
    policy.prefetch_revisions()
    manager.add(policy_controller)

    def after_start_check(stop: threading.Event) -> None:
        """Start the realization side once the policy controller's start-up check answered.

        Until the first policy run publishes its outcomes there is nothing to report, and the
        realization controller's predicate drops every ACNP event; started at once, it would only
        replay a thousand cached ACNPs, and the registration call would wait on NSX, while the
        check reads the cluster's thousands of objects in the same interpreter."""
        while not policy.start_answered.wait(0.2):
            if stop.is_set():
                return
        if stop.is_set():  # answered, but the manager is stopping: nothing more to start
            return
        manager.add_runnable(register)
        manager.add(realization_controller)
        manager.add_runnable(realization.reporter.runnable(fence=manager.may_write))  # batched reports to NSX

    manager.add_runnable(after_start_check)
    manager.add_readyz_check("nsx-intent", lambda: _check(intent.healthy, "NSX intent not readable"))
    return adapter


def _version_of(informer: SharedInformer) -> Callable[[], str]:
    return lambda: informer.last_sync_resource_version


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise RuntimeError(message)
