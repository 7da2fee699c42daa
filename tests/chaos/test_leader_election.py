"""Leader election end to end: two replicas of ``antrea-nsx-adapter run --leader-elect`` as processes.

* only the leader writes — to the API server and to NSX — counted per replica from the simulators'
  request logs (each replica has its own API token and NSX principal);
* SIGKILL of the leader: the other replica takes over within the lease duration plus a retry, and
  converges applying only what changed meanwhile: no object created again, no unchanged NSX
  inventory object or realization report re-sent;
* a network partition between the leader and the API server (per-client fault in sim/kubeapi):
  the leader stops writing, to NSX as well, before its Lease can be taken; the other takes over
  only after the Lease expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.chaos._replica import ADAPTER_NAMESPACE, LEASE_DURATION, LEASE_NAME, RENEW_DEADLINE, RETRY_PERIOD, Slot
from tests.chaos._runner import Scenario
from tests.chaos._world import World, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(240)]

TAKEOVER_BOUND = LEASE_DURATION + 2.2 * RETRY_PERIOD + 6.0
"""A standby acquires at most lease duration + one jittered retry after the leader's last renewal
(plus slack for a loaded machine: request latency, a process paused by the scheduler)."""
ONE_RECONCILE = 20.0
"""Generous bound on one reconcile pass after the take-over (cold caches, NSX poll, the Antrea
stand-in's realization, the inventory flush)."""
LEASE_PUT = rf"/leases/{LEASE_NAME}$"


def _start_converged(world: World, seed: int) -> tuple[Scenario, float]:
    scenario = Scenario(world, seed)
    scenario.populate()
    world.ensure_replicas()
    return scenario, world.wait_converged(60)


def _other(world: World, slot: Slot) -> Slot:
    return next(s for s in world.slots if s is not slot)


def _writes(world: World, slot: Slot, since: float = 0.0, until: float | None = None) -> list[tuple[float, str]]:
    """Every write of ``slot`` but its leader-election Lease traffic: API server (other Leases
    included: the liveness Leases are leader-only too), NSX data and periodic reports."""
    kube = [(r.time, f"{r.method} {r.path}") for r in world.kube_writes(since, until, client=slot.kube_client)]
    kube += [(r.time, f"{r.method} {r.path}") for r in world.kube_writes(since, until, client=slot.kube_client,
                                                                        leases=True) if not r.path.endswith(LEASE_NAME)]
    nsx = [(r.time_ms / 1000.0, f"{r.method} {r.path}") for r in
           world.nsx_writes(since, until, principal=slot.nsx.principal)
           + world.nsx_writes(since, until, principal=slot.nsx.principal, periodic=True)]
    return sorted(kube + nsx)


def _renew_time(world: World) -> float:
    """``spec.renewTime`` of the election Lease (wall clock of the renewing replica, this machine's)."""
    lease = world.kube.get(("coordination.k8s.io/v1", "Lease"), LEASE_NAME, ADAPTER_NAMESPACE)
    stamp = datetime.strptime(lease["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return stamp.timestamp()


def _inventory_stamps(world: World) -> dict[str, Any]:
    stamps = {ext: o.get("_last_sync_time") for ext, o in world.nsx.state.inventory(world.flags.cluster_id).items()}
    stamps["cluster"] = (world.nsx.state.container_clusters.get(world.flags.cluster_id) or {}).get("_last_sync_time")
    return stamps


def test_sigkill_of_the_leader_hands_over_without_duplicate_writes(make_world: Callable[..., World]) -> None:
    world = make_world()
    scenario, _ = _start_converged(world, seed=102)
    leader = world.leader_slot()
    heir = _other(world, leader)
    # Only the leader wrote the whole initial sync, to the API server and to NSX.
    assert _writes(world, leader), "the leader wrote nothing"
    assert _writes(world, heir) == [], f"the standby wrote: {_writes(world, heir)[:10]}"
    stamps = _inventory_stamps(world)
    reports = world.nsx.state.realization("chaos-cluster")
    old_holder = world.holder()

    killed_at = time.time()
    assert leader.current is not None
    leader.current.kill()
    # What changes while nobody leads: one rule (one ACNP update) and one Pod label (one inventory update).
    pid = sorted(scenario.model.policies)[0]
    scenario.model.policies = {pid: scenario.model.policies[pid]}
    scenario.edit_rule()
    scenario.relabel_pod()
    relabelled = scenario.log[-1].split()[3].split("/")[1]  # "k8s: relabel pod ns/name app=…"

    wait_until(lambda: world.holder() not in (None, old_holder), TAKEOVER_BOUND + 2, "a new Lease holder")
    acquired = min(r.time for r in world.server.requests if r.client == heir.kube_client and r.method == "PUT"
                   and r.path.endswith(LEASE_NAME) and r.status == 200 and r.time >= killed_at)
    assert acquired - killed_at <= TAKEOVER_BOUND, f"take-over after {acquired - killed_at:.1f} s"
    converged = world.wait_converged(ONE_RECONCILE + 40)
    print(f"SIGKILL: Lease taken {acquired - killed_at:.1f} s after the kill (lease {LEASE_DURATION:.0f} s), "
          f"converged {converged - acquired:.1f} s later", flush=True)
    assert converged - acquired <= ONE_RECONCILE + 40
    world.assert_quiet(converged, 3.0)

    # Zero duplicate writes: the heir changed exactly the one ACNP, created nothing again, ...
    antrea = [r for r in world.kube_writes(killed_at, client=heir.kube_client) if "/crd.antrea.io/" in r.path]
    assert [r.method for r in antrea if r.method == "POST"] == [], [(r.method, r.path) for r in antrea]
    assert len(antrea) == 1 and antrea[0].path.endswith("/clusternetworkpolicies/nsx-" + pid), \
        [(r.method, r.path, r.status) for r in antrea]
    # ... re-sent no unchanged inventory object (only the relabelled Pod's was written) ...
    pods = world.nsx.state.inventory(world.flags.cluster_id, "ContainerApplicationInstance")
    changed = {ext for ext, stamp in _inventory_stamps(world).items() if stamps.get(ext) != stamp}
    assert changed == {ext for ext, o in pods.items() if o.get("display_name") == relabelled}, changed
    # ... and re-sent no unchanged realization (the edited policy's may go IN_PROGRESS and back).
    after = world.nsx.state.realization("chaos-cluster")
    resent = {p for p in after if reports.get(p, {}).get("last_update_time") != after[p].get("last_update_time")}
    assert resent <= {f"/infra/domains/default/security-policies/{pid}"}, resent
    assert _writes(world, leader, since=killed_at) == []


def test_partitioned_leader_stops_writing_before_its_lease_can_be_taken(make_world: Callable[..., World]) -> None:
    world = make_world()
    scenario, _ = _start_converged(world, seed=103)
    leader = world.leader_slot()
    other = _other(world, leader)
    assert _writes(world, other) == [], f"the standby wrote: {_writes(world, other)[:10]}"
    old_holder = world.holder()

    cut_at = time.time()
    world.server.faults.partition(leader.kube_client, hold=2.0)
    world.server.faults.drop_watches()
    time.sleep(0.2)  # a renewal already past the cut lands; none can follow
    last_renewal = _renew_time(world)
    # Intent keeps changing in NSX: the partitioned leader still reaches NSX, and must stop acting.
    scenario.new_policy()
    scenario.edit_rule()
    wait_until(lambda: world.holder() not in (None, old_holder), RENEW_DEADLINE + TAKEOVER_BOUND + 5,
               "the other replica holding the Lease")
    assert leader.current is not None
    wait_until(lambda: not leader.current.alive, 20, "the cut-off leader to exit")  # type: ignore[union-attr]
    assert "leader election lost" in leader.current.log_text()
    dropped = [r for r in world.server.requests if r.client == leader.kube_client and r.time >= cut_at]
    assert dropped and {r.status for r in dropped} == {0}, "the cut-off leader's requests must all be dropped"

    expiry = last_renewal + LEASE_DURATION
    last_leader_write = max(t for t, _ in _writes(world, leader))
    other_writes = wait_until(lambda: _writes(world, other), ONE_RECONCILE, "the new leader's first write")
    first_other_write = other_writes[0][0]
    taken = min(r.time for r in world.server.requests if r.client == other.kube_client and r.method == "PUT"
                and r.path.endswith(LEASE_NAME) and r.status == 200)
    timeline = (f"cut {cut_at:.2f}, last renewal {last_renewal:.2f}, leader's last write {last_leader_write:.2f} "
                f"({[w for w in _writes(world, leader) if w[0] >= cut_at][-3:]}), lease expiry {expiry:.2f}, "
                f"taken {taken:.2f}, new leader's first write {first_other_write:.2f} ({other_writes[0][1]})")
    print(f"partition: {timeline}", flush=True)
    assert last_leader_write < expiry, timeline
    assert last_leader_write < first_other_write, timeline
    assert taken >= expiry - 0.5, timeline  # nobody took the Lease early

    world.server.faults.heal()
    world.ensure_replicas()  # the cut-off replica comes back (as kubelet restarts it) and stands by
    converged = world.wait_converged(60)
    world.assert_quiet(converged, 3.0)
    assert world.leader_slot() is other
