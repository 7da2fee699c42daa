"""Stopping: in-flight reconciles drain, the graceful timeout bounds the wait and fences stragglers,
SIGTERM stops a manager, runnables follow leadership, a fatal reconcile error stops the manager."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from reconciler.controller import Controller, ControllerOptions
from reconciler.errors import NotFound
from reconciler.handler import EnqueueRequestForObject
from reconciler.leaderelection import LEASES, NotLeaderError
from reconciler.manager import Manager
from reconciler.reconcile import Request
from reconciler.source import Channel

CM = ("v1", "ConfigMap")


def slow_writer(mgr: Manager, ns: str, seconds: float) -> tuple[Controller, Channel, dict[str, Any]]:
    """A controller whose reconcile sleeps, then creates ConfigMap ``<key>-out`` through the
    manager's fenced client."""
    state: dict[str, Any] = {"started": threading.Event(), "finished": 0, "refused": []}

    def reconcile(req: Request) -> None:
        state["started"].set()
        time.sleep(seconds)
        try:
            mgr.client.create(CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": f"{req.name}-out", "namespace": ns}})
        except NotLeaderError as err:
            state["refused"].append(err)
        state["finished"] += 1

    ch = Channel()
    ctrl = Controller(f"slow-{ns}-{seconds}", reconcile)
    ctrl.watches(ch, EnqueueRequestForObject())
    mgr.add(ctrl)
    return ctrl, ch, state


@pytest.mark.conformance
def test_graceful_stop_drains_in_flight_then_releases(
    kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
) -> None:
    ns = kube_namespace
    lease = f"drain-{ns}"
    mgr = Manager(kube_client, manager_options(leader_election=True, leader_election_id=lease))
    _, ch, state = slow_writer(mgr, ns, 0.6)
    run = run_manager(mgr)
    ch.send({"metadata": {"name": "job", "namespace": ns}})
    assert state["started"].wait(10)
    t0 = time.monotonic()
    run.stop()
    assert run.error is None
    assert time.monotonic() - t0 >= 0.3  # it waited for the reconcile instead of abandoning it
    assert state["finished"] == 1 and state["refused"] == []
    assert kube_client.get(CM, "job-out", ns)["metadata"]["name"] == "job-out"
    spec = kube_client.get(LEASES, lease, ns)["spec"]
    assert not spec.get("holderIdentity")  # released only after the write landed


def test_graceful_timeout_bounds_the_wait_and_fences_stragglers(
    kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any, wait_until: Any,
) -> None:
    ns = kube_namespace
    mgr = Manager(kube_client, manager_options(graceful_shutdown_timeout=0.3))
    _, ch, state = slow_writer(mgr, ns, 2.5)
    run = run_manager(mgr)
    ch.send({"metadata": {"name": "straggler", "namespace": ns}})
    assert state["started"].wait(10)
    t0 = time.monotonic()
    run.stop()
    assert time.monotonic() - t0 < 1.8  # did not wait the 2.5 s reconcile out
    wait_until(lambda: state["finished"] == 1, what="the abandoned reconcile to end")
    assert len(state["refused"]) == 1  # its late write was refused
    try:
        kube_client.get(CM, "straggler-out", ns)
        raise AssertionError("a write after the graceful timeout reached the server")
    except NotFound:
        pass


@pytest.mark.conformance
def test_sigterm_stops_the_manager(kube_client: Any, kube_namespace: str, manager_options: Any) -> None:
    lease = f"sigterm-{kube_namespace}"
    mgr = Manager(kube_client, manager_options(leader_election=True, leader_election_id=lease))

    def terminate() -> None:
        if mgr.elected.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate, daemon=True).start()
    assert mgr.run_until_signal() == 0  # runs in the main thread, as in the CLI
    assert signal.getsignal(signal.SIGTERM) is before
    assert not kube_client.get(LEASES, lease, kube_namespace)["spec"].get("holderIdentity")


def test_runnables_follow_leadership_and_failures_stop_the_manager(
    kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any, wait_until: Any,
) -> None:
    mgr = Manager(kube_client, manager_options())
    events: list[str] = []

    def everywhere(stop: threading.Event) -> None:
        events.append("everywhere")
        stop.wait()

    def leader_only(stop: threading.Event) -> None:
        events.append("leader")
        stop.wait()
        events.append("leader stopped")

    mgr.add_runnable(everywhere, needs_leader_election=False)
    mgr.add_runnable(leader_only)
    run = run_manager(mgr)
    wait_until(lambda: len(events) == 2)
    assert events[0] == "everywhere"  # non-leader work starts before leader work

    def failing(stop: threading.Event) -> None:
        raise RuntimeError("runnable broke")

    mgr.add_runnable(failing)  # added while running: starts at once, and its failure stops all
    assert run.returned.wait(10)
    assert isinstance(run.error, RuntimeError) and str(run.error) == "runnable broke"
    assert events[-1] == "leader stopped"


def test_unrecovered_reconcile_error_stops_the_manager(
    kube_client: Any, kube_namespace: str, manager_options: Any, run_manager: Any, sample: Any,
) -> None:
    mgr = Manager(kube_client, manager_options())
    name = f"panicky-{kube_namespace}"
    def reconcile(req: Request) -> None:
        raise ZeroDivisionError("a bug in the reconciler")

    ctrl = Controller(name, reconcile, ControllerOptions(recover_panic=False))
    ch = Channel()
    ctrl.watches(ch, EnqueueRequestForObject())
    mgr.add(ctrl)
    ch.send({"metadata": {"name": "x"}})
    run = run_manager(mgr)
    assert run.returned.wait(10)
    assert isinstance(run.error, ZeroDivisionError)
    assert ctrl.error is run.error
    assert sample("controller_runtime_reconcile_panics_total", controller=name) == 1
