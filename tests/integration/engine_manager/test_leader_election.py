"""Leader election between managers over real HTTP: one leader, handover on death and on graceful
stop, and a leader that cannot renew stops every writer."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reconciler.controller import Controller
from reconciler.errors import NotFound
from reconciler.handler import EnqueueRequestForObject
from reconciler.leaderelection import (
    JITTER_FACTOR,
    LEASES,
    LeaderElectionConfig,
    NotLeaderError,
)
from reconciler.manager import LeaderElectionLostError, Manager, ManagerOptions
from reconciler.reconcile import Request, Result
from reconciler.source import Channel

CM = ("v1", "ConfigMap")


def test_production_defaults() -> None:
    cfg = LeaderElectionConfig("lease", "ns", "me")
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15.0, 10.0, 2.0)
    assert cfg.release_on_cancel is True
    assert JITTER_FACTOR == 1.2
    opts = ManagerOptions()
    assert (opts.lease_duration, opts.renew_deadline, opts.retry_period) == (15.0, 10.0, 2.0)
    assert opts.leader_election is False
    assert opts.graceful_shutdown_timeout == 30.0
    assert opts.cache_sync_timeout == 120.0
    assert opts.health_probe_bind_address == "0" and opts.metrics_bind_address == "0"
    assert opts.leader_election_identity != ManagerOptions().leader_election_identity  # unique per replica


@pytest.mark.parametrize(
    ("lease", "renew", "retry"),
    [(10.0, 10.0, 2.0), (15.0, 2.4, 2.0), (15.0, 10.0, 0.0)],
)
def test_invalid_timings_are_rejected(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError):
        LeaderElectionConfig("lease", "ns", "me", lease, renew, retry).validate()


def lease_spec(client: Any, ns: str, name: str) -> dict[str, Any]:
    return dict(client.get(LEASES, name, ns).get("spec") or {})


def leader_mgr(new_client: Any, manager_options: Any, identity: str, **overrides: Any) -> tuple[Manager, list[str]]:
    """A manager with leader election and a leader-only runnable that logs while it runs."""
    mgr = Manager(new_client(), manager_options(leader_election=True, leader_election_identity=identity,
                                                **overrides))
    log: list[str] = []

    def leader_work(stop: threading.Event) -> None:
        log.append("started")
        stop.wait()
        log.append("stopped")

    mgr.add_runnable(leader_work)
    # A leader-only controller fed by a channel: it logs every reconcile it runs.
    ch = Channel()
    ch.send({"metadata": {"name": "work"}})
    ctrl = Controller(f"le-{identity}-{mgr.options.leader_election_id}", lambda r: log.append(f"reconciled {r}"))
    mgr.add(ctrl.watches(ch, EnqueueRequestForObject()))
    return mgr, log


@pytest.mark.conformance
def test_only_one_of_two_managers_leads(
    new_client: Any, kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
    wait_until: Any, sample: Any,
) -> None:
    lease = f"one-leader-{kube_namespace}"
    a, a_log = leader_mgr(new_client, manager_options, "replica-a", leader_election_id=lease)
    b, b_log = leader_mgr(new_client, manager_options, "replica-b", leader_election_id=lease)
    run_manager(a)
    run_manager(b)
    leader = wait_until(lambda: a if a.elected.is_set() else b if b.elected.is_set() else None)
    other, other_log = (b, b_log) if leader is a else (a, a_log)
    time.sleep(1.0)  # five retry periods: the other keeps trying and must keep failing
    assert leader.is_leader() and not other.is_leader()
    assert not other.elected.is_set() and other_log == []  # neither runnable nor controller ran
    assert sorted(a_log if leader is a else b_log) == ["reconciled work", "started"]
    spec = lease_spec(kube_client, kube_namespace, lease)
    assert spec["holderIdentity"] == leader.options.leader_election_identity
    assert spec["leaseDurationSeconds"] == 2 and spec["leaseTransitions"] == 0
    assert leader.elector is not None and other.elector is not None
    assert other.elector.get_leader() == spec["holderIdentity"]
    assert sample("leader_election_master_status", name=lease) in (0.0, 1.0)


@pytest.mark.conformance
def test_killed_leader_is_replaced_after_the_lease_expires(
    new_client: Any, kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
    wait_until: Any,
) -> None:
    lease = f"kill-{kube_namespace}"
    # "Killed": stops without releasing the Lease, as a crashed process would.
    a, _ = leader_mgr(new_client, manager_options, "doomed", leader_election_id=lease,
                      leader_election_release_on_cancel=False)
    b, b_log = leader_mgr(new_client, manager_options, "heir", leader_election_id=lease)
    run_a = run_manager(a)
    assert a.elected.wait(10)
    run_manager(b)
    time.sleep(0.5)
    assert not b.elected.is_set()
    t0 = time.monotonic()
    run_a.stop()
    assert b.elected.wait(10), lease_spec(kube_client, kube_namespace, lease)
    took = time.monotonic() - t0
    duration, retry = 2.0, 0.2
    # Not before the lease expired: counted from the doomed leader's last renewal, which happened
    # up to a renew interval (+ a slow request on a loaded machine) before the stop; a released
    # lease would have gone in well under duration / 2. And within the lease plus two jittered
    # tries (one to observe the last renewal, one to take over) plus slack for a loaded machine.
    assert duration / 2 <= took <= duration + 2 * retry * (1 + JITTER_FACTOR) + 1.0, took
    spec = lease_spec(kube_client, kube_namespace, lease)
    assert spec["holderIdentity"] == "heir" and spec["leaseTransitions"] == 1
    wait_until(lambda: sorted(b_log) == ["reconciled work", "started"], what="the heir's leader work")


@pytest.mark.conformance
def test_graceful_stop_releases_the_lease_for_an_immediate_takeover(
    new_client: Any, kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
) -> None:
    lease = f"release-{kube_namespace}"
    timings = {"lease_duration": 6.0, "renew_deadline": 3.0, "retry_period": 0.2}
    a, a_log = leader_mgr(new_client, manager_options, "leaving", leader_election_id=lease, **timings)
    b, _ = leader_mgr(new_client, manager_options, "taking-over", leader_election_id=lease, **timings)
    run_a = run_manager(a)
    assert a.elected.wait(10)
    run_manager(b)
    time.sleep(0.3)
    t0 = time.monotonic()
    run_a.stop()
    assert run_a.error is None
    assert a_log[-1] == "stopped"  # leader work stopped before the Lease was released
    assert b.elected.wait(6)
    took = time.monotonic() - t0
    assert took < 1.5, took  # far less than the 6 s lease duration
    assert lease_spec(kube_client, kube_namespace, lease)["holderIdentity"] == "taking-over"


@pytest.mark.parametrize("fault", ["errors", "latency"])
def test_leader_that_cannot_renew_stops_all_writers(
    fault: str, new_client: Any, kube_client: Any, kube_server: Any, kube_namespace: str, manager_options: Any,
    run_manager: Any, wait_until: Any, make_cm: Any, sample: Any,
) -> None:
    ns = kube_namespace
    lease = f"paused-{ns}"
    kube_client.create(CM, make_cm("counter", ns, {"n": "0"}))
    mgr = Manager(new_client(), manager_options(leader_election=True, leader_election_id=lease,
                                                leader_election_identity="paused"))
    writes = 0
    refused: list[BaseException] = []

    def reconcile(req: Request) -> Result:
        nonlocal writes
        writes += 1
        try:
            mgr.client.patch(CM, "counter", {"data": {"n": str(writes)}}, ns)
        except NotLeaderError as err:
            refused.append(err)
        return Result(requeue_after=0.02)

    ch = Channel()
    ctrl = Controller(f"writer-{ns}", reconcile)
    ctrl.watches(ch, EnqueueRequestForObject())
    mgr.add(ctrl)
    ch.send({"metadata": {"name": "counter", "namespace": ns}})
    run = run_manager(mgr)
    patches = rf"/namespaces/{ns}/configmaps/counter$"
    wait_until(lambda: kube_server.count_requests(method="PATCH", path=patches) >= 10, what="steady writes")
    assert sample("leader_election_master_status", name=lease) == 1

    if fault == "errors":  # every renewal is answered with a 500
        kube_server.faults.fail_next(100000, 500, method="PUT", path=rf"/leases/{lease}$")
    else:  # the leader is cut off: renewals hang far past the renew deadline
        kube_server.faults.add_latency(3.0, method="PUT", path=rf"/leases/{lease}$")
    t_fault = time.monotonic()
    wait_until(lambda: not mgr.may_write(), interval=0.005, what="the write fence to close")
    t_lost = time.monotonic()
    at_loss = kube_server.count_requests(method="PATCH", path=patches)
    assert run.returned.wait(10)
    assert isinstance(run.error, LeaderElectionLostError)
    # Renewals fail from t_fault on; the fence closes renew_deadline (1.2 s) after the start of the
    # last successful renewal, which began before t_fault (at most a retry period + one request
    # earlier): so after some retries, and never later than the deadline (+ polling slack).
    assert 0.3 <= t_lost - t_fault <= 1.2 + 0.3, t_lost - t_fault
    assert not mgr.may_write() and not mgr.is_leader()
    assert sample("leader_election_master_status", name=lease) == 0
    time.sleep(0.5)
    # At most one write was already on the wire when the fence closed; none after.
    assert kube_server.count_requests(method="PATCH", path=patches) <= at_loss + 1
    with pytest.raises(NotLeaderError):
        mgr.client.patch(CM, "counter", {"data": {"n": "late"}}, ns)
    assert mgr.client.get(CM, "counter", ns)["data"]["n"] != "late"  # reads still work
    kube_server.faults.clear()
    with pytest.raises(NotFound):
        mgr.client.get(CM, "never-created", ns)
