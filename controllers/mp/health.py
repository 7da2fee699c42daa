"""Cluster health heartbeats to NSX (mapping.md §8), a leader-only runnable of the MP adapter.

Every ``heartbeat_interval`` the reporter reads, from shared informer caches (no LIST per beat),
``AntreaControllerInfo/antrea-controller``, every ``AntreaAgentInfo`` and the CCP adapter's liveness
Lease; adds the MP adapter's own state (its probes, evaluated in-process: this *is* the MP
adapter); computes ``AntreaClusterInfo`` with :func:`~controllers.mp.health_status.compute_cluster_info`
and posts it on the adapter channel (docs/adapter-channel.md §2). NSX answers with its
``report_interval``; the next beat comes after the shorter of the two intervals, so an admin who
lowers NSX's interval is obeyed. A failed send is retried after ``retry_interval``; the first
success after a failure is followed at once by a fresh report, so ``MP_CONNECTED`` does not show a
recovered outage for a whole interval. When sends stop, NSX itself marks the cluster UNKNOWN after
3 × its report interval.

The MP adapter also publishes its own liveness Lease (:mod:`controllers.liveness`) for the CCP
adapter and for humans (``kubectl get lease -n vmware-system-antrea``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from loguru import logger
from pydantic import ValidationError

from controllers.config import DEFAULT_NAMESPACE
from controllers.liveness import (
    HEALTHY,
    NSX_CONNECTED,
    AdapterLiveness,
    LivenessPublisher,
    LivenessReader,
    LivenessSettings,
    Probe,
    evaluate,
    liveness_reader,
    manager_ready,
    setup_liveness,
)
from controllers.mp.health_status import AgentSample, HealthInputs, HealthRules, compute_cluster_info
from crds.models import AntreaAgentInfo, AntreaControllerInfo
from nsx.channel import AdapterChannel
from nsx.client import NsxClient
from nsx.models.clusters import AntreaClusterInfo
from reconciler.informer import SharedInformer
from reconciler.manager import Manager

ANTREA_API_VERSION = "crd.antrea.io/v1beta1"
CONTROLLER_INFO_NAME = "antrea-controller"
_Info = TypeVar("_Info", AntreaControllerInfo, AntreaAgentInfo)


@dataclass
class HealthSettings:
    """Settings of the health reporter, one field per flag where the CLI has one."""

    cluster_name: str
    """The cluster-control-plane id in NSX (the adapter channel's ``{cluster-id}``)."""

    heartbeat_interval: float = 30.0
    """Seconds between reports (``--heartbeat-interval``). Defaults to 30 s (mapping.md §8): half
    of NSX's default 60 s report interval, so one lost report never makes NSX doubt the cluster."""

    retry_interval: float = 5.0
    """Seconds before retrying a report NSX did not take (capped by ``heartbeat_interval``).
    Defaults to 5 s, to get a report through well before NSX's 3 × report interval runs out."""

    antrea_heartbeat_period: float = 60.0
    """Seconds between Antrea's own heartbeats (antrea.md §4.3: 60 s). Defaults to 60 s; a heartbeat
    older than ``missed_heartbeats`` times this is failed. Tests lower it."""

    missed_heartbeats: int = 3
    """Antrea heartbeats that may be missed before a component counts as failed. Defaults to 3."""

    namespace: str = DEFAULT_NAMESPACE
    """The adapter namespace, where both adapters' liveness Leases live. Defaults to
    ``vmware-system-antrea``."""

    publish_liveness: bool = True
    """Also publish the MP adapter's liveness Lease. Defaults to on."""

    liveness_renew_interval: float = 10.0
    """Seconds between renewals of the MP liveness Lease. Defaults to 10 s."""

    liveness_lease_duration: int = 30
    """Seconds the MP liveness stays valid after a renewal. Defaults to 30 s."""

    identity: str | None = None
    """``holderIdentity`` of the MP liveness Lease. Defaults to the manager's leader-election
    identity."""

    def __post_init__(self) -> None:
        if not self.cluster_name:
            raise ValueError("cluster_name is required")
        for name in ("heartbeat_interval", "retry_interval", "antrea_heartbeat_period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.missed_heartbeats < 1:
            raise ValueError("missed_heartbeats must be at least 1")

    @property
    def rules(self) -> HealthRules:
        return HealthRules(self.antrea_heartbeat_period, self.missed_heartbeats)


class HealthReporter:
    """Computes and sends ``AntreaClusterInfo``; :meth:`run` is the manager runnable."""

    def __init__(self, channel: AdapterChannel, controllers: SharedInformer, agents: SharedInformer,
                 liveness: LivenessReader, mp_probes: Mapping[str, Probe], settings: HealthSettings,
                 identity: str = "") -> None:
        self.channel = channel
        self.controllers = controllers
        self.agents = agents
        self.liveness = liveness
        self.mp_probes = dict(mp_probes)
        self.settings = settings
        self.identity = identity
        self.nsx_reachable = True
        """False after a report NSX did not take, until one gets through (the MP NsxConnected probe)."""
        self.last_report: AntreaClusterInfo | None = None
        """The last report NSX accepted."""
        self.last_error: str = ""
        self.sent = 0
        self.report_interval: float | None = None
        """NSX's ``report_interval`` from its last answer."""
        self._mp_conditions: dict[str, Any] = {}

    # -- inputs ---------------------------------------------------------------------------------
    def mp_liveness(self, now: datetime) -> AdapterLiveness:
        """The MP adapter as a reader would see it, evaluated here and now."""
        self._mp_conditions = evaluate(self.mp_probes, self._mp_conditions, now)
        return AdapterLiveness("mp", "running", self.identity, now, dict(self._mp_conditions))

    def inputs(self, now: datetime | None = None) -> HealthInputs:
        now = now or datetime.now(UTC)
        raw = self.controllers.store.get(CONTROLLER_INFO_NAME)
        controller = _read(AntreaControllerInfo, raw) if raw is not None else None
        agents = [_agent_sample(obj) for obj in self.agents.store.list()]
        return HealthInputs(now=now, controller=controller, agents=sorted(agents, key=lambda a: a.name),
                            mp=self.mp_liveness(now), ccp=self.liveness.read("ccp", now))

    def compute(self, now: datetime | None = None) -> AntreaClusterInfo:
        return compute_cluster_info(self.inputs(now), self.settings.rules)

    # -- loop -----------------------------------------------------------------------------------
    def send(self) -> bool:
        """Compute and send one report; True if NSX took it."""
        try:
            info = self.compute()
        except Exception:  # a bug here must not kill the runnable (and with it the process)
            logger.exception("computing the cluster health failed; nothing sent (NSX will show UNKNOWN)")
            return False
        try:
            self.report_interval = float(self.channel.heartbeat(info))
        except Exception as err:  # NSX away or refusing: NSX will show UNKNOWN if this lasts
            if self.nsx_reachable or str(err) != self.last_error:
                logger.warning("cluster health report to NSX failed: {}", err)
            self.nsx_reachable = False
            self.last_error = str(err)
            return False
        if not self.nsx_reachable:
            logger.info("cluster health reported to NSX again ({})", info.status)
        elif self.last_report is None or self.last_report.status != info.status:
            logger.info("cluster health reported to NSX: {}", info.status)
        self.nsx_reachable = True
        self.last_error = ""
        self.last_report = info
        self.sent += 1
        return True

    def run(self, stop: threading.Event) -> None:
        s = self.settings
        while not stop.is_set():
            was_reachable = self.nsx_reachable
            if not self.send():
                stop.wait(min(s.retry_interval, s.heartbeat_interval))
                continue
            if not was_reachable:
                continue  # the report just sent still said MP_CONNECTED unhealthy: correct it now
            interval = s.heartbeat_interval
            if self.report_interval:
                interval = min(interval, self.report_interval)
            stop.wait(interval)

    def nsx_connected_probe(self) -> None:
        """Probe for ``NsxConnected``: the last report got through (true before the first one)."""
        if not self.nsx_reachable:
            raise ConnectionError(self.last_error or "the last report to NSX failed")


@dataclass
class MpHealth:
    """Handles on the running health parts (for the CLI's probes, tests and the demo)."""

    settings: HealthSettings
    reporter: HealthReporter
    liveness: LivenessReader
    publisher: LivenessPublisher | None = None
    informers: dict[str, SharedInformer] = field(default_factory=dict)


def setup_mp_health(manager: Manager, nsx_client: NsxClient, settings: HealthSettings,
                    probes: Mapping[str, Probe] | None = None) -> MpHealth:
    """Register the health reporter (and the MP liveness publisher) on ``manager`` as leader-only
    runnables. ``probes`` add to or replace the MP adapter's conditions: ``Healthy`` defaults to
    the manager's readiness checks, ``NsxConnected`` to "the last health report got through"; the
    inventory controller may pass a better ``NsxConnected``."""
    identity = settings.identity or manager.options.leader_election_identity
    informers = {
        "AntreaControllerInfo": manager.informer((ANTREA_API_VERSION, "AntreaControllerInfo")),
        "AntreaAgentInfo": manager.informer((ANTREA_API_VERSION, "AntreaAgentInfo")),
    }
    reader = liveness_reader(manager, settings.namespace)
    reporter = HealthReporter(nsx_client.channel(settings.cluster_name), informers["AntreaControllerInfo"],
                              informers["AntreaAgentInfo"], reader, {}, settings, identity)
    reporter.mp_probes = {HEALTHY: manager_ready(manager), NSX_CONNECTED: reporter.nsx_connected_probe,
                          **(probes or {})}
    manager.add_runnable(reporter.run, needs_leader_election=True)
    health = MpHealth(settings, reporter, reader, informers=informers)
    if settings.publish_liveness:
        health.publisher = setup_liveness(manager, LivenessSettings(
            component="mp", namespace=settings.namespace, renew_interval=settings.liveness_renew_interval,
            lease_duration=settings.liveness_lease_duration, identity=identity), reporter.mp_probes)
    return health


def _agent_sample(obj: Mapping[str, Any]) -> AgentSample:
    meta = obj.get("metadata") or {}
    created = meta.get("creationTimestamp")
    when = datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None
    return AgentSample(str(meta.get("name", "")), _read(AntreaAgentInfo, obj), when)


def _read(model: type[_Info], obj: Mapping[str, Any]) -> _Info:
    """The object's data, or an empty one (= no heartbeat: failed) when it does not parse, which
    the API server's schema validation should make impossible; logged, since it means a bug."""
    try:
        return model.model_validate(_plain(obj))
    except ValidationError as err:
        name = (obj.get("metadata") or {}).get("name")
        logger.warning("{} {} is unreadable, counted as not reporting: {}", model.__name__, name, err)
        return model()


def _plain(value: Any) -> Any:
    """A plain dict/list copy of a cache view (pydantic validates plain containers)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
