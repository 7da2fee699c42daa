"""Statistics end to end: NSX policy -> CCP adapter -> ACNP -> Antrea stand-in's stats objects ->
statistics reporter -> adapter channel -> NSX's ``…/security-policies/{id}/statistics`` read API."""

from __future__ import annotations

import threading
import time
from typing import Any

from controllers.ccp.translate import cluster_path
from controllers.mp.stats_ledger import Ledger, Traffic
from controllers.mp.stats_rules import resolve
from tests.integration.mp_stats.mp_stats_world import CLUSTER, POLICIES, Adapter, World, wait_for

ACNP = ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy")
STATS = ("stats.antrea.io/v1alpha1", "AntreaClusterNetworkPolicyStats")


def rule(rid: str, direction: str, action: str = "ALLOW", seq: int = 1) -> dict[str, Any]:
    return {"resource_type": "Rule", "id": rid, "sequence_number": seq, "source_groups": ["ANY"],
            "destination_groups": ["ANY"], "services": ["ANY"], "action": action, "direction": direction}


def policy(*rules: dict[str, Any], seq: int = 10) -> dict[str, Any]:
    return {"resource_type": "SecurityPolicy", "category": "Application", "sequence_number": seq,
            "scope": [cluster_path(CLUSTER)], "rules": list(rules)}


def served(world: World, policy_id: str) -> None:
    """Wait until the CCP adapter wrote the ACNP and the stand-in serves its stats object."""
    wait_for(lambda: f"nsx-{policy_id}" in world.stats.policies(), what=f"ACNP nsx-{policy_id} known to Antrea")
    wait_for(lambda: world.kube.get(STATS, f"nsx-{policy_id}"), what="stats object served")


class Watcher:
    """Reads NSX's statistics of one rule continuously, to prove no reading ever went down."""

    def __init__(self, world: World, policy_id: str, rule_id: str) -> None:
        self.world, self.policy_id, self.rule_id = world, policy_id, rule_id
        self.seen: list[tuple[int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append(self.world.nsx_stats(self.policy_id).get(self.rule_id, (0, 0, 0)))
            time.sleep(0.03)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def assert_monotonic(self) -> None:
        assert len(self.seen) > 10
        for before, after in zip(self.seen, self.seen[1:], strict=False):
            assert all(a >= b for a, b in zip(after, before, strict=True)), f"went down: {before} -> {after}"


def test_resolve_strips_suffix_only_when_it_is_not_a_rule_id() -> None:
    ids = {"allow-web", "deny-in", "deny"}
    assert resolve("allow-web-in", ids) == "allow-web"
    assert resolve("allow-web-out", ids) == "allow-web"
    assert resolve("deny-in", ids) == "deny-in"  # an NSX rule id of its own, not half of "deny"
    assert resolve("deny", ids) == "deny"
    assert resolve("other-in", ids) is None


def test_rule_names_map_to_nsx_rule_ids_and_halves_are_summed(world: World) -> None:
    world.nsx_patch(f"{POLICIES}/web", policy(rule("allow-web", "IN_OUT"), rule("deny-in", "IN", "DROP", 2),
                                              rule("deny", "OUT", "DROP", 3)))
    with Adapter(world) as adapter:
        served(world, "web")
        names = {r["name"] for d in ("ingress", "egress") for r in world.kube.get(ACNP, "nsx-web")["spec"][d]}
        assert names == {"allow-web-in", "allow-web-out", "deny-in", "deny"}
        world.stats.set_counters("nsx-web", "allow-web-in", 10, 1000, 1)
        world.stats.set_counters("nsx-web", "allow-web-out", 5, 500, 2)
        world.stats.set_counters("nsx-web", "deny-in", 7, 700, 3)
        world.stats.set_counters("nsx-web", "deny", 3, 300, 4)
        expected = {"allow-web": (15, 1500, 3), "deny-in": (7, 700, 3), "deny": (3, 300, 4)}
        wait_for(lambda: world.nsx_stats("web") == expected, what="NSX shows per-rule totals")
        one = world.http.get(f"{world.nsx.url}{POLICIES}/web/rules/allow-web/statistics",
                             params={"container_cluster_path": cluster_path(CLUSTER)}, timeout=10).json()
        assert one["results"][0]["statistics"]["packet_count"] == 15
        assert one["results"][0]["statistics"]["hit_count"] == 3
        # Nothing changed: no new report (only changes are sent). NSX may show the totals a moment
        # before the reporter counts its acknowledged report: let the count settle first.
        wait_for(lambda: _settled(adapter), what="the reporter's count to settle")
        reports = adapter.reporter.reports
        time.sleep(0.7)
        assert adapter.reporter.reports == reports
        assert adapter.reporter.rule_ids.reads <= 2  # NSX rule ids read once per policy revision


def _settled(adapter: Adapter) -> bool:
    before = adapter.reporter.reports
    time.sleep(0.3)
    return adapter.reporter.reports == before and before > 0


def test_counter_resets_never_show_a_negative_delta(world: World) -> None:
    world.nsx_patch(f"{POLICIES}/db", policy(rule("allow-db", "IN_OUT"), seq=20))
    with Adapter(world) as adapter, Watcher(world, "db", "allow-db") as watcher:
        served(world, "db")
        world.stats.set_counters("nsx-db", "allow-db-in", 100, 10000, 10)
        wait_for(lambda: world.nsx_stats("db")["allow-db"] == (100, 10000, 10), what="first totals")
        world.stats.reset()  # antrea-controller restarts: new stats objects, counters from zero
        reports = adapter.reporter.reports
        time.sleep(0.6)  # the adapter samples the zeros
        world.stats.set_counters("nsx-db", "allow-db-in", 30, 3000, 3)
        wait_for(lambda: world.nsx_stats("db")["allow-db"] == (130, 13000, 13), what="totals continue after reset")
        # NSX shows the totals as soon as it answers; the reporter counts the report just after.
        wait_for(lambda: adapter.reporter.reports > reports, 5, "the report counted by the adapter")
        assert adapter.reporter.ledger.resets >= 1
        # A counter that goes down without a new object (agent-side reset) is handled the same way.
        world.stats.set_counters("nsx-db", "allow-db-in", 1, 100, 1)
        wait_for(lambda: world.nsx_stats("db")["allow-db"] == (131, 13100, 14), what="totals continue")
    watcher.assert_monotonic()
    # The adapter restarts while Antrea restarts too: NSX's total is the floor, growth adds on top.
    world.stats.reset()
    world.stats.set_counters("nsx-db", "allow-db-in", 5, 500, 1)
    with Adapter(world) as adapter, Watcher(world, "db", "allow-db") as watcher:
        wait_for(lambda: adapter.reporter.ledger.known("/infra/domains/default/security-policies/db")
                 and adapter.reporter.last_success, what="first sample after restart")
        time.sleep(0.5)
        assert world.nsx_stats("db")["allow-db"] == (131, 13100, 14)
        world.stats.set_counters("nsx-db", "allow-db-in", 9, 900, 2)
        wait_for(lambda: world.nsx_stats("db")["allow-db"] == (135, 13500, 15), what="growth after restart")
    watcher.assert_monotonic()


def test_growing_counters_keep_growing_in_nsx(world: World) -> None:
    world.nsx_patch(f"{POLICIES}/app", policy(rule("allow-app", "IN"), seq=30))
    with Adapter(world):
        served(world, "app")
        world.stats.interval = 0.1
        try:
            first = wait_for(lambda: world.nsx_stats("app")["allow-app"][0] > 0 and world.nsx_stats("app")["allow-app"],
                             what="counters reported")
            second = wait_for(lambda: world.nsx_stats("app")["allow-app"][0] > first[0]
                              and world.nsx_stats("app")["allow-app"], what="counters grew")
            assert second[1] > first[1] and second[2] > first[2]
        finally:
            world.stats.interval = None
    obj = world.kube.get(STATS, "nsx-app")
    assert obj["ruleTrafficStats"][0]["name"] == "allow-app" and obj["trafficStats"]["packets"] > 0


def test_ledger_keeps_totals_monotonic_across_vanishing_halves() -> None:
    ledger = Ledger()
    path = "/infra/domains/default/security-policies/p"
    got = ledger.observe(path, ("u1", "t1"), {"r-in": ("r", Traffic(5, 50, 1)), "r-out": ("r", Traffic(3, 30, 1))})
    assert got == {"r": Traffic(8, 80, 2)}
    # The rule stops being two halves (direction changed to IN): "r" now counts from 0 on its own.
    got = ledger.observe(path, ("u2", "t2"), {"r": ("r", Traffic(1, 10, 1))})
    assert got == {"r": Traffic(9, 90, 3)}
    ledger.seed("/infra/domains/default/security-policies/q", {"x": Traffic(100, 1000, 10)})
    got = ledger.observe("/infra/domains/default/security-policies/q", ("u", "t"), {"x": ("x", Traffic(2, 20, 1))})
    assert got == {"x": Traffic(100, 1000, 10)}
    got = ledger.observe("/infra/domains/default/security-policies/q", ("u", "t"), {"x": ("x", Traffic(5, 50, 2))})
    assert got == {"x": Traffic(103, 1030, 11)}


def test_stand_in_serves_antrea_shaped_stats_objects(world: World) -> None:
    acnp = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "user-acnp"},
            "spec": {"priority": 5, "appliedTo": [{"podSelector": {}}],
                     "ingress": [{"name": "a", "action": "Allow"}, {"name": "b", "action": "Drop"}]}}
    world.kube.create(ACNP, acnp)
    try:
        wait_for(lambda: world.kube.get(STATS, "user-acnp"), what="stats object created for every ACNP")
        world.stats.set_counters("user-acnp", "b", 4, 400, 0)
        obj = world.kube.get(STATS, "user-acnp")
        # Only rules with traffic are listed; zero counters are omitted (Go omitempty).
        assert obj["ruleTrafficStats"] == [{"name": "b", "trafficStats": {"packets": 4, "bytes": 400}}]
        assert obj["trafficStats"] == {"packets": 4, "bytes": 400}
        before = obj["metadata"]
        world.stats.reset()
        after = wait_for(lambda: world.kube.get(STATS, "user-acnp"), what="stats object recreated")
        assert after["metadata"]["uid"] != before["uid"] and after.get("ruleTrafficStats") == []
    finally:
        world.kube.delete(ACNP, "user-acnp")
    wait_for(lambda: not any(o["metadata"]["name"] == "user-acnp" for o in world.kube.list(STATS)["items"]),
             what="stats object removed with its ACNP")
