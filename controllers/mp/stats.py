"""Rule statistics: Antrea ``stats.antrea.io`` → NSX per policy and rule (issue 6, mapping.md §1).

Every ``stats_interval`` the reporter lists ``antreaclusternetworkpolicystats`` (an aggregated,
list/get-only API: there is nothing to watch), keeps the objects of ACNPs the CCP adapter manages
(stats objects carry no labels, so the ACNP informer is the filter and the source of the NSX path),
maps each Antrea rule name to its NSX rule id (:mod:`controllers.mp.stats_rules`), folds the raw
counters into monotonic totals (:mod:`controllers.mp.stats_ledger`) and sends the policies whose
totals changed through the adapter channel. NSX's statistics read API then shows them.

Only what NSX acknowledged is remembered as sent, so a failed report is simply retried with the
next sample. Before the first report of a policy after start, NSX's current totals are read once
so an adapter restart cannot make NSX see counters go backwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from controllers.ccp import names
from controllers.mp.stats_ledger import Ledger, Traffic
from controllers.mp.stats_rules import RuleIds, resolve, split_policy_path
from nsx.channel import AdapterChannel
from nsx.client import NsxClient
from nsx.errors import NotFound
from nsx.models.channel import PolicyStatisticsReport, RuleCounters
from reconciler.client import KubeClient
from reconciler.errors import NotFound as KubeNotFound
from reconciler.informer import SharedInformer
from reconciler.manager import Manager

STATS_RESOURCE = ("stats.antrea.io/v1alpha1", "AntreaClusterNetworkPolicyStats")
MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
CLUSTER_PATH = "/infra/sites/default/enforcement-points/default/cluster-control-planes/{}"


@dataclass
class MpStatsSettings:
    """Settings of the statistics reporter (flags of the ``mp`` command)."""

    cluster_name: str
    """The cluster-control-plane id in NSX: the channel to report on and the
    ``container_cluster_path`` NSX files the numbers under."""

    stats_interval: float = 60.0
    """Seconds between two samples (``--stats-interval``). Defaults to 60 s: Antrea's agents push
    their deltas every 60 s and NSX computes rule statistics every minute, so sampling faster only
    repeats the same numbers."""

    max_policies_per_report: int = 500
    """Policies per channel request; larger sets are split. Defaults to 500 (bounded bodies)."""

    def __post_init__(self) -> None:
        if not self.cluster_name:
            raise ValueError("cluster_name is required")
        if self.stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        if self.max_policies_per_report < 1:
            raise ValueError("max_policies_per_report must be at least 1")


@dataclass
class _Managed:
    path: str
    revision: str


@dataclass
class StatsReporter:
    """One sampling loop; ``collect_once`` is the unit the tests and the loop call."""

    kube: KubeClient
    acnps: SharedInformer
    channel: AdapterChannel
    rule_ids: RuleIds
    nsx: NsxClient
    settings: MpStatsSettings
    ledger: Ledger = field(default_factory=Ledger)
    sent: dict[str, dict[str, Traffic]] = field(default_factory=dict)
    """What NSX acknowledged, per policy path and NSX rule id."""
    reports: int = 0
    """Channel requests that succeeded."""
    last_success: float | None = None
    """``time.time()`` of the last complete sample (for health reporting)."""
    _warned: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------------------ sampling
    def collect_once(self) -> int:
        """Sample, report what changed; returns the number of rules sent (0 = nothing new)."""
        managed = self._managed()
        try:
            listed = self.kube.list(STATS_RESOURCE)
        except KubeNotFound:  # NoKindMatch (not served) is a NotFound too
            self._warn_once("api", "stats.antrea.io/v1alpha1 is not served (NetworkPolicyStats feature gate off, "
                                   "or antrea-controller down); no statistics reported")
            return 0
        self._warned.discard("api")
        for path in set(self.ledger.policies()) - {m.path for m in managed.values()}:
            self.ledger.forget(path)
            self.sent.pop(path, None)
        changed: list[PolicyStatisticsReport] = []
        for obj in listed.get("items") or []:
            meta = obj.get("metadata") or {}
            entry = managed.get(str(meta.get("name")))
            if entry is None:
                continue  # not an ACNP the adapter manages
            totals = self._fold(entry, obj)
            if totals is None:
                continue
            if totals != self.sent.get(entry.path):
                changed.append(PolicyStatisticsReport(intent_path=entry.path, rules=[
                    RuleCounters(rule_id=rule, packet_count=t.packets, byte_count=t.bytes, session_count=t.sessions)
                    for rule, t in sorted(totals.items())]))
        sent = self._send(changed)
        self.last_success = time.time()
        return sent

    def _managed(self) -> dict[str, _Managed]:
        out: dict[str, _Managed] = {}
        for acnp in self.acnps.store.list():
            meta = acnp.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            path = annotations.get(names.NSX_PATH_ANNOTATION)
            if isinstance(path, str) and split_policy_path(path):
                out[str(meta.get("name"))] = _Managed(path, str(annotations.get(names.NSX_REVISION_ANNOTATION, "")))
        return out

    def _fold(self, entry: _Managed, obj: Mapping[str, Any]) -> dict[str, Traffic] | None:
        """Map the object's rules to NSX rule ids and fold them into the ledger."""
        raw = {str(r.get("name")): Traffic.from_wire(r.get("trafficStats"))
               for r in obj.get("ruleTrafficStats") or [] if r.get("name")}
        ids = self.rule_ids.ids(entry.path, entry.revision)
        if ids is not None and any(resolve(n, ids) is None for n in raw):
            ids = self.rule_ids.ids(entry.path, entry.revision, refresh=True)
        if ids is None:
            self.ledger.forget(entry.path)  # the NSX policy is gone; the CCP adapter will purge the ACNP
            return None
        samples: dict[str, tuple[str, Traffic]] = {}
        for name, traffic in raw.items():
            rule = resolve(name, ids)
            if rule is None:
                logger.debug("stats: rule {} of {} matches no NSX rule id; skipped", name, entry.path)
                continue
            samples[name] = (rule, traffic)
        if not self.ledger.known(entry.path) and not self._seed(entry.path):
            return None
        meta = obj.get("metadata") or {}
        identity = (str(meta.get("uid", "")), str(meta.get("creationTimestamp", "")))
        resets = self.ledger.resets
        totals = self.ledger.observe(entry.path, identity, samples)
        if self.ledger.resets != resets:
            logger.info("stats: counters of {} were reset in Antrea; NSX totals continue from the last report",
                        entry.path)
        return totals

    def _seed(self, path: str) -> bool:
        """Read NSX's current totals of the policy once, so a restart never reports less."""
        parts = split_policy_path(path)
        if parts is None:
            return False
        domain, policy_id = parts
        try:
            per_cluster = self.nsx.policy.policy_statistics(
                policy_id, domain=domain, container_cluster_path=CLUSTER_PATH.format(self.settings.cluster_name))
        except NotFound:
            return False
        except Exception as err:
            logger.warning("stats: reading NSX statistics of {} failed ({}); retrying next interval", path, err)
            return False
        totals: dict[str, Traffic] = {}
        for item in per_cluster:
            for rule in (item.statistics.results if item.statistics else []):
                if rule.rule:
                    totals[rule.rule.rsplit("/", 1)[-1]] = Traffic(
                        rule.packet_count or 0, rule.byte_count or 0, rule.session_count or 0)
        self.ledger.seed(path, totals)
        return True

    def _send(self, reports: list[PolicyStatisticsReport]) -> int:
        count = 0
        step = self.settings.max_policies_per_report
        for start in range(0, len(reports), step):
            chunk = reports[start:start + step]
            ack = self.channel.report_statistics(chunk)
            self.reports += 1
            ignored = set(ack.ignored)
            for report in chunk:
                if report.intent_path in ignored:
                    self.ledger.forget(report.intent_path)  # unknown to NSX (deleted meanwhile)
                    self.sent.pop(report.intent_path, None)
                    continue
                self.sent[report.intent_path] = {
                    r.rule_id: Traffic(r.packet_count, r.byte_count, r.session_count) for r in report.rules}
                count += len(report.rules)
            if ignored:
                logger.debug("stats: NSX ignored {}", sorted(ignored))
        return count

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    # ---------------------------------------------------------------------------------- loop
    def run(self, stop: threading.Event) -> None:
        """Sample now, then every ``stats_interval`` until ``stop``; failures are logged and retried."""
        while not stop.is_set():
            try:
                self.collect_once()
                self._warned.discard("failure")
            except Exception as err:
                self._warn_once("failure", f"stats: sampling or reporting failed ({err}); retrying every interval")
            stop.wait(self.settings.stats_interval)


def setup_mp_stats(manager: Manager, nsx_client: NsxClient, settings: MpStatsSettings) -> StatsReporter:
    """Register the statistics loop on ``manager`` (a leader-only runnable: one reporter per cluster)."""
    acnps = manager.informer((names.ANTREA_API_VERSION, "ClusterNetworkPolicy"), label_selector=MANAGED)
    reporter = StatsReporter(
        kube=manager.raw_client,
        acnps=acnps,
        channel=nsx_client.channel(settings.cluster_name),
        rule_ids=RuleIds(nsx_client.policy),
        nsx=nsx_client,
        settings=settings,
    )
    manager.add_runnable(reporter.run)
    return reporter
