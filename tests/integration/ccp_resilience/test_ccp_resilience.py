"""The CCP adapter under faults: NSX outages, Kubernetes watch drops / 410 / 409 / 429 mid-sync, and
SIGKILL of the adapter process mid-sync. The adapter runs as a subprocess
(``hack/bench/_ccp_runner.py``) against the emulated API server and the NSX simulator over HTTP(S);
the end state is checked exactly against ``translate(NSX snapshot)`` (no missing objects, no
leftovers, no drifted spec), and write counts come from the API server's request log.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from controllers.ccp import names
from hack.bench._ccp_common import (
    DOMAIN,
    exact_diff,
    make_intent,
    managed_objects,
    nsx_desired,
    wait_until,
)
from hack.bench._ccp_rig import CLUSTER, Rig
from sim.nsx.seed import apply_seed

pytestmark = pytest.mark.chaos

ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")
CG = (names.ANTREA_API_VERSION, "ClusterGroup")
POLICIES = f"{DOMAIN}/security-policies"
REALIZATION_REPORTS = r"/antrea-adapter/.*/realization"

MakeRig = Callable[[dict[str, Any]], Rig]


def nsx_patch_policy(rig: Rig, body: dict[str, Any]) -> None:
    """Write to NSX in-process (works while NSX is unreachable), validated like the API."""
    apply_seed(rig.nsx.store, {"policies": [body]})


def nsx_delete(rig: Rig, *paths: str) -> None:
    with rig.nsx.store.transaction("admin") as tx:
        for path in paths:
            assert rig.nsx.store.delete(path, tx)


def with_port(intent: dict[str, Any], pid: str, rule_index: int, port: int) -> dict[str, Any]:
    """The generated policy ``pid`` with one rule's destination port changed."""
    policy = copy.deepcopy(next(p for p in intent["policies"] if p["id"] == pid))
    policy["rules"][rule_index]["service_entries"][0]["destination_ports"] = [str(port)]
    return policy


# ------------------------------------------------------------------------------ NSX outage
def test_nsx_outage_keeps_state_then_recovery_resyncs(make_rig: MakeRig) -> None:
    intent = make_intent(policies=8, rules=2, groups=32, cluster=CLUSTER)
    rig = make_rig(intent)
    runner = rig.runner()
    rig.wait_exact(30)
    runner.wait_in_sync(15)

    # Outage: every connection to NSX is reset (new ones before a request is read, open keep-alive
    # ones on their next request); meanwhile NSX changes. (``NsxSimulator.stop()`` is not used: with
    # TLS it leaves open keep-alive connections serving, see the report.)
    rig.nsx.faults.set_unreachable(True)
    rig.nsx.faults.drop_connections(None)
    outage_started = time.time()
    nsx_delete(rig, f"{POLICIES}/p0001")
    nsx_patch_policy(rig, with_port(intent, "p0002", 0, 7777))
    time.sleep(1.0)  # > 3 poll intervals of failed reads
    # A reconcile runs during the outage (drift wakes it): it must work from the last snapshot.
    rig.kube.patch(ACNP, "nsx-p0003", {"spec": {"priority": 42.0}})
    wait_until(lambda: rig.kube.get(ACNP, "nsx-p0003")["spec"]["priority"] != 42.0, 10,
               "drift reverted during the NSX outage")
    time.sleep(0.5)
    during = rig.k.writes(outage_started)
    assert [r for r in during if r.method == "DELETE"] == [], "nothing may be deleted while NSX is unreachable"
    assert rig.kube.get(ACNP, "nsx-p0001")  # still enforced: NSX could not be read
    port = rig.kube.get(ACNP, "nsx-p0002")["spec"]["ingress"][0]["ports"][0]["port"]
    assert port == 1000, "changes made in NSX cannot land before NSX is reachable"
    assert runner.proc.poll() is None

    # Recovery: the changes made during the outage land, exactly.
    rig.nsx.faults.clear()
    recovered = time.time()
    rig.wait_exact(15, "state after NSX recovery == translate(NSX)")
    assert rig.kube.get(ACNP, "nsx-p0002")["spec"]["ingress"][0]["ports"][0]["port"] == 7777
    after = rig.k.writes(recovered)
    acnp_deletes = [r.path for r in after if r.method == "DELETE" and "clusternetworkpolicies" in r.path]
    assert acnp_deletes == ["/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/nsx-p0001"]
    assert not [r for r in after if r.method == "POST"], "nothing needed creating after the outage"


# ------------------------------------------------------------------- K8s faults mid-sync
def _inject(rig: Rig, fault: str) -> int:
    """Inject ``fault``; returns how many injected error responses to expect in the log."""
    faults = rig.k.server.faults
    antrea = r"^/apis/crd\.antrea\.io/v1beta1/"
    if fault == "watch-drop":
        assert faults.drop_watches() > 0
        return 0
    if fault == "410-compact-drop":
        faults.compact()  # the adapter's watches resume from a resourceVersion that is now too old
        assert faults.drop_watches() > 0
        return 0
    if fault == "409-conflict":
        faults.fail_next(6, 409, method="POST", path=antrea)
        return 6
    if fault == "429-throttled":
        faults.fail_next(6, 429, method="POST", path=antrea, retry_after=1)
        return 6
    raise AssertionError(fault)


def _first_managed_child_group(rig: Rig) -> str:
    return sorted(n for k, n in managed_objects(rig.kube) if k == "ClusterGroup" and n.endswith("-0"))[0]


@pytest.mark.parametrize("fault", ["watch-drop", "410-compact-drop", "409-conflict", "429-throttled"])
def test_k8s_faults_mid_sync_converge_exactly(make_rig: MakeRig, fault: str) -> None:
    rig = make_rig(make_intent(policies=30, rules=2, groups=40, cluster=CLUSTER))
    started = time.time()
    runner = rig.runner(kube_qps=40.0)
    # Mid-sync: some groups are written, no policy yet.
    wait_until(lambda: rig.antrea_posts("clustergroups") >= 20, 30, "sync under way")
    injected_at = time.time()
    expected_injected = _inject(rig, fault)
    drifted = ""
    if fault in ("watch-drop", "410-compact-drop"):
        # While the watches are down or expired someone edits a managed object: only the resumed
        # watch or the relist (after 410) can tell the adapter.
        drifted = _first_managed_child_group(rig)
        rig.kube.patch(CG, drifted, {"spec": {"podSelector": {"matchLabels": {"intruder": "yes"}}}})
    rig.wait_exact(30)
    runner.wait_in_sync(15)
    assert runner.proc.poll() is None
    if drifted:
        assert "intruder" not in rig.kube.get(CG, drifted)["spec"]["podSelector"]["matchLabels"]
        cg_reads = [r for r in rig.k.server.requests if r.method == "GET" and r.time >= injected_at
                    and r.path == "/apis/crd.antrea.io/v1beta1/clustergroups"]
        watches = [r for r in cg_reads if "watch=" in r.query]
        relists = [r for r in cg_reads if "watch=" not in r.query]
        assert watches, "the dropped watch was re-opened"
        if fault == "410-compact-drop":
            assert relists, "the expired resourceVersion (410 Gone) forced a relist"
    posts = [r for r in rig.k.writes(started) if r.method == "POST"]
    injected = [r for r in posts if r.status in (409, 429)]
    detail = [(r.path, r.status, r.client, round(r.time - injected_at, 3)) for r in injected]
    if fault != "429-throttled":
        # a 409 beyond the injected ones would be a create of an object that already exists
        assert len(injected) == expected_injected, detail
    else:
        # every injected 429 was served and retried (the 201 count below proves each create landed
        # once); the log once showed one 429 more than injected under CI load (not yet explained,
        # see the issue note), which says nothing about duplicates, so only the lower bound holds
        assert len(injected) >= expected_injected, detail
        assert not [r for r in posts if r.status == 409], detail
    # No duplicates: no create of an existing object (no 409 beyond the injected ones, above), and
    # exactly one successful create per desired object (POST paths carry no name: count them).
    created = [r for r in posts if r.status == 201]
    assert len(created) == len(nsx_desired(rig.nsx_client, CLUSTER).objects())
    # Converged means quiet: no write follows.
    quiet_from = time.time()
    time.sleep(1.0)
    assert rig.k.writes(quiet_from) == []


def test_managed_object_deleted_mid_sync_is_recreated(make_rig: MakeRig) -> None:
    rig = make_rig(make_intent(policies=15, rules=2, groups=40, cluster=CLUSTER))
    rig.runner(kube_qps=40.0)
    wait_until(lambda: rig.antrea_posts("clustergroups") >= 20, 30, "sync under way")
    victim = _first_managed_child_group(rig)
    rig.kube.delete(CG, victim)  # kubectl delete of a managed object, seconds after it was created
    rig.wait_exact(6)  # the delete event wakes the controller at once; the rest of the sync takes ~1 s


# --------------------------------------------------------------------- SIGKILL mid-sync
def test_sigkill_mid_sync_then_restart_converges_exactly(make_rig: MakeRig) -> None:
    # One group per rule end: deleting a policy leaves its groups stale (leftovers to purge).
    intent = make_intent(policies=20, rules=2, groups=80, cluster=CLUSTER)
    rig = make_rig(intent)
    first = rig.runner(kube_qps=60.0)
    wait_until(lambda: rig.antrea_posts("clusternetworkpolicies") >= 5, 30, "policies being written")
    first.kill()
    partial = managed_objects(rig.kube)
    acnps = sorted(n for k, n in partial if k == "ClusterNetworkPolicy")
    assert 5 <= len(acnps) < 20, "killed mid-sync"

    # While the adapter is down NSX changes: two applied policies go away, one applied one changes.
    gone, changed = acnps[0].removeprefix("nsx-"), acnps[1].removeprefix("nsx-")
    nsx_delete(rig, f"{POLICIES}/{gone}")
    nsx_patch_policy(rig, with_port(intent, changed, 1, 4242))
    desired = nsx_desired(rig.nsx_client, CLUSTER)
    before = exact_diff(desired, partial)
    missing = sum(1 for p in before if p.startswith("missing"))
    leftover = sum(1 for p in before if p.startswith("leftover"))
    differing = sum(1 for p in before if p.startswith("spec differs"))
    assert missing and leftover >= 3 and differing == 1, before  # the policy + its stale groups

    restarted = time.time()
    second = rig.runner(kube_qps=200.0)
    rig.wait_exact(30, "converged after restart")
    second.wait_in_sync(15)
    writes = rig.k.writes(restarted)
    by_verb = {v: sum(1 for r in writes if r.method == v) for v in ("POST", "PATCH", "PUT", "DELETE")}
    # Exactly the difference: every missing object created once, every leftover deleted once,
    # the changed policy patched once — no duplicate create (no 409), no other write.
    assert by_verb == {"POST": missing, "PATCH": differing, "PUT": 0, "DELETE": leftover}, (by_verb, before)
    assert all(r.status in (200, 201) for r in writes), [(r.method, r.path, r.status) for r in writes]


def test_subprocess_restart_with_nothing_changed_writes_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(make_intent(policies=6, rules=2, groups=12, cluster=CLUSTER))
    first = rig.runner()
    rig.wait_exact(30)
    # Let realization settle: every policy reported SUCCESS to NSX.
    paths = [f"/infra/domains/default/security-policies/p{n:04d}" for n in range(6)]

    def all_realized() -> bool:
        states = rig.nsx.state.realization(CLUSTER)
        return all((states.get(p) or {}).get("state") == "REALIZED" for p in paths)

    wait_until(all_realized, 20, "every policy REALIZED in NSX", interval=0.1)
    first.kill()
    reports = rig.nsx.count_requests(method="POST", path=REALIZATION_REPORTS)
    restarted = time.time()
    second = rig.runner()
    second.wait_in_sync(20)
    time.sleep(1.5)  # several poll intervals, and the realization controller's first pass
    assert rig.k.writes(restarted) == []
    assert rig.nsx.count_requests(method="POST", path=REALIZATION_REPORTS) == reports
    assert not rig.diff()


def test_restart_while_nsx_is_down_writes_nothing_until_it_is_back(make_rig: MakeRig) -> None:
    intent = make_intent(policies=6, rules=2, groups=24, cluster=CLUSTER)
    rig = make_rig(intent)
    first = rig.runner()
    rig.wait_exact(30)
    first.kill()
    rig.nsx.faults.set_unreachable(True)
    rig.nsx.faults.drop_connections(None)
    nsx_delete(rig, f"{POLICIES}/p0004")  # changed in NSX while both are down
    restarted = time.time()
    second = rig.runner()
    second.wait_event(lambda e: e.get("event") == "ready", 20, "runner ready")
    time.sleep(2.0)  # caches synced, the policy run woken by them is retrying its NSX reads
    assert second.proc.poll() is None
    assert rig.k.writes(restarted) == [], "no NSX intent: nothing may be created, patched or deleted"
    assert rig.kube.get(ACNP, "nsx-p0004")

    rig.nsx.faults.clear()
    recovered = time.time()
    rig.wait_exact(20, "converged once NSX is back")
    second.wait_in_sync(15)
    writes = rig.k.writes(recovered)
    assert {r.method for r in writes} == {"DELETE"}, [(r.method, r.path) for r in writes]
    assert "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/nsx-p0004" in {r.path for r in writes}


def test_a_managed_tier_priority_is_never_patched(make_rig: MakeRig) -> None:
    rig = make_rig(make_intent(policies=2, rules=1, groups=4, cluster=CLUSTER))
    runner = rig.runner()
    rig.wait_exact(30)
    runner.wait_in_sync(15)
    tier = "nsx-category-application"
    edited = time.time()
    rig.kube.patch((names.ANTREA_API_VERSION, "Tier"), tier, {"spec": {"priority": 40}})
    time.sleep(1.5)
    tier_writes = [r for r in rig.k.writes(edited) if "/tiers/" in r.path]
    assert [r.method for r in tier_writes] == ["PATCH"]  # ours only: the adapter wrote nothing


# ------------------------------------------------------------- realization during an NSX outage
def _history(rig: Rig, since: int = 0) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, state, _ in rig.nsx.channel.realization_history(CLUSTER)[since:]:
        out.setdefault(path, []).append(state)
    return out


def test_realization_changes_during_an_nsx_outage_arrive_once_it_is_back(make_rig: MakeRig) -> None:
    intent = make_intent(policies=10, rules=1, groups=20, cluster=CLUSTER)
    rig = make_rig(intent)
    paths = [f"{DOMAIN}/security-policies/p{n:04d}" for n in range(10)]
    failing, changed = paths[3], paths[4]
    runner = rig.runner()
    rig.wait_exact(30)

    def states() -> dict[str, str]:
        return {p: r["state"] for p, r in rig.nsx.state.realization(CLUSTER).items()}

    wait_until(lambda: states() == dict.fromkeys(paths, "REALIZED"), 20, "every policy REALIZED", interval=0.1)
    runner.wait_in_sync(15)
    mark = len(rig.nsx.channel.realization_history(CLUSTER))
    posts_before = rig.nsx.state.count_requests(method="POST", path=REALIZATION_REPORTS, status=200)
    try:
        rig.nsx.faults.set_unreachable(True)
        rig.nsx.faults.drop_connections(None)
        # Antrea fails p0003 from its next generation on; a drift edit makes that generation now
        # (the adapter reverts it: another generation, failed too). NSX changes p0004 meanwhile.
        rig.k.antrea.fail_policy("nsx-p0003", message="ovs is down")
        rig.kube.patch(ACNP, "nsx-p0003", {"spec": {"priority": 42.0}})
        nsx_patch_policy(rig, with_port(intent, "p0004", 0, 7777))
        wait_until(lambda: (rig.kube.get(ACNP, "nsx-p0003").get("status") or {}).get("phase") == "Failed",
                   15, "Antrea reports the failure while NSX is unreachable", interval=0.1)
        time.sleep(1.0)  # several batch windows: the reports are queued, none can leave
        assert _history(rig, mark) == {}
        rig.nsx.faults.clear()
        revision = rig.nsx.state.policies[changed]["_revision"]

        def recovered() -> bool:
            held = rig.nsx.state.realization(CLUSTER)
            return held[failing]["state"] == "ERROR" and held[changed]["state"] == "REALIZED" and \
                held[changed]["intent_revision"] == revision
        wait_until(recovered, 45, "the queued changes reached NSX", interval=0.1)
        time.sleep(1.0)
    finally:
        rig.k.antrea.clear_fault("nsx-p0003")
    assert "ovs is down" in str(rig.nsx.state.realization(CLUSTER)[failing]["reasons"])
    after = _history(rig, mark)
    assert set(after) <= {failing, changed}, "nothing else changed: nothing else re-sent"
    assert after[failing][-1] == "ERROR" and after[changed][-1] == "REALIZED"
    assert all(a != b for seq in after.values() for a, b in zip(seq, seq[1:], strict=False)), after
    posts = rig.nsx.state.count_requests(method="POST", path=REALIZATION_REPORTS, status=200) - posts_before
    assert posts <= 6, f"{posts} successful report POSTs for {sum(map(len, after.values()))} reports"
