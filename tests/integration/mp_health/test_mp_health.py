"""Cluster health end to end: Antrea stand-in heartbeats -> MP health reporter -> NSX status read API.

Real HTTP everywhere: the Antrea stand-in writes AntreaControllerInfo/AntreaAgentInfo into the
emulated API server, the MP adapter's reporter reads them through informers together with the CCP
adapter's liveness Lease, and posts AntreaClusterInfo on the adapter channel; the assertions read
NSX's own ``cluster-control-planes/{id}/status``. Intervals are shrunk (Antrea heartbeats 0.3 s and
judged stale after 3 × 1 s, NSX report interval 1 s) so the whole module runs in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from controllers.ccp.adapter import CcpAdapter, setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.liveness import (
    HEALTHY,
    NSX_CONNECTED,
    AdapterLiveness,
    LivenessPublisher,
    LivenessSettings,
    lease_name,
    manager_ready,
    read_liveness,
    setup_liveness,
)
from controllers.mp.health import HealthSettings, MpHealth, setup_mp_health
from nsx.registration import cluster_control_plane_path
from nsx.transport import RetryPolicy
from reconciler.envtest import EnvConfig
from reconciler.leaderelection import LEASES
from reconciler.manager import ManagerOptions
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests import worlds
from tests.worlds import wait_for

CLUSTER = "c1"
NAMESPACE = "vmware-system-antrea"  # created by conftest.py, with Nodes n1-n3
STATUS = "/policy/api/v1" + cluster_control_plane_path(CLUSTER) + "/status"
# Few, quick retries: a heartbeat is periodic, the next one is the retry.
HEARTBEAT_RETRY = RetryPolicy(max_tries=2, max_time=1.0, initial_delay=0.05)


@dataclass
class World(worlds.World):
    http: requests.Session
    antrea: AntreaSimulator

    def status(self) -> dict[str, Any]:
        resp = self.http.get(self.nsx.url + STATUS, timeout=10)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="module")
def world(health_env: EnvConfig) -> Iterator[World]:
    with health_env.client() as kube, NsxSimulator(tls=True) as nsx, worlds.nsx_admin(nsx) as http, \
            AntreaSimulator(health_env.kubeconfig, heartbeat_interval=0.3) as antrea:
        base = worlds.register_cluster(http, nsx, CLUSTER)
        resp = http.put(base + "/heartbeat-config", json={"report_interval": 1}, timeout=10)
        assert resp.status_code == 200, resp.text
        yield World(health_env, kube, nsx, http, antrea)


class Adapter(worlds.ManagerThread):
    """One adapter process-equivalent (a manager in a thread)."""

    def __init__(self, world: World, options: ManagerOptions | None = None) -> None:
        super().__init__(world.env.kubeconfig, world.nsx, options, nsx_retry=HEARTBEAT_RETRY, nsx_timeout=(2.0, 5.0))


class Mp(Adapter):
    def __init__(self, world: World, options: ManagerOptions | None = None) -> None:
        super().__init__(world, options)
        self.health: MpHealth = setup_mp_health(self.manager, self.nsx, HealthSettings(
            cluster_name=CLUSTER, heartbeat_interval=0.3, retry_interval=0.2, antrea_heartbeat_period=1.0,
            namespace=NAMESPACE, liveness_renew_interval=0.3, liveness_lease_duration=1))


class Ccp(Adapter):
    """The CCP adapter with its liveness wired as proposed for controllers/ccp/adapter.py."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.adapter: CcpAdapter = setup_ccp(self.manager, self.nsx, CcpSettings(
            cluster_name=CLUSTER, nsx_poll_interval=0.3))
        intent = self.adapter.intent

        def session_up() -> bool:
            return intent.healthy

        self.liveness: LivenessPublisher = setup_liveness(self.manager, LivenessSettings(
            component="ccp", namespace=NAMESPACE, renew_interval=0.3, lease_duration=1),
            {HEALTHY: manager_ready(self.manager), NSX_CONNECTED: session_up})


@pytest.fixture
def ccp(world: World) -> Iterator[Ccp]:
    with Ccp(world) as adapter:
        yield adapter


@pytest.fixture
def mp(world: World, ccp: Ccp) -> Iterator[Mp]:
    with Mp(world) as adapter:
        yield adapter


def mp_liveness(world: World) -> AdapterLiveness:
    return read_liveness("mp", world.kube.get(LEASES, lease_name("mp"), NAMESPACE))


def counts(status: dict[str, Any]) -> tuple[int, int, int]:
    a = status.get("agent_info") or {}
    return a.get("healthy_agent_num", -1), a.get("degraded_agent_num", -1), a.get("failed_agent_num", -1)


def conditions(component: dict[str, Any]) -> dict[str, str]:
    return {c["condition_type"]: c["status"] for c in component.get("conditions") or []}


def healthy(world: World, mp: Mp) -> dict[str, Any]:
    """NSX shows HEALTHY from a report of this test's MP adapter (not one left by an earlier test)."""
    reporter = mp.health.reporter

    def check() -> dict[str, Any] | None:
        sent = reporter.last_report is not None and reporter.last_report.status == "HEALTHY"
        status = world.status()
        return status if sent and status["status"] == "HEALTHY" else None

    return wait_for(check, what="cluster HEALTHY")


def test_all_fine_is_healthy_in_nsx(world: World, mp: Mp) -> None:
    status = healthy(world, mp)
    assert status["controller_status"]["status"] == "HEALTHY"
    assert status["controller_status"]["connected_agent_num"] == 3
    assert conditions(status["controller_status"]) == {"CONTROLLER_HEALTHY": "HEALTHY"}
    assert counts(status) == (3, 0, 0)
    assert status["mp_adapter_status"]["status"] == "HEALTHY"
    assert conditions(status["mp_adapter_status"]) == {"MP_ADAPTER_HEALTHY": "HEALTHY", "MP_CONNECTED": "HEALTHY"}
    assert status["ccp_adapter_status"]["status"] == "HEALTHY"
    assert conditions(status["ccp_adapter_status"]) == {"CCP_ADAPTER_HEALTHY": "HEALTHY",
                                                        "CCP_SESSION_STATE_UP": "HEALTHY"}
    # Both adapters' liveness Leases exist, held by their manager's identity.
    for component, adapter in (("mp", mp), ("ccp", None)):
        lease = world.kube.get(LEASES, lease_name(component), NAMESPACE)
        assert lease["spec"]["holderIdentity"]
        assert lease["spec"]["leaseDurationSeconds"] == 1
        if adapter is not None:
            assert lease["spec"]["holderIdentity"] == adapter.manager.options.leader_election_identity
    # The stand-in wrote what antrea.md §4 describes.
    info = world.kube.get(("crd.antrea.io/v1beta1", "AntreaAgentInfo"), "n1")
    assert info["nodeRef"]["name"] == "n1" and info["nodeSubnets"] and "localPodNum" in info
    assert {c["type"] for c in info["agentConditions"]} == {
        "AgentHealthy", "ControllerConnectionUp", "OVSDBConnectionUp", "OpenflowConnectionUp"}


def test_one_agent_stops_heartbeating_is_degraded(world: World, mp: Mp) -> None:
    healthy(world, mp)
    world.antrea.stop_agent("n2")
    try:
        status = wait_for(lambda: (s := world.status())["status"] == "DEGRADED" and counts(s) == (2, 0, 1) and s,
                          what="DEGRADED with one failed agent")
        assert status["controller_status"]["status"] == "HEALTHY"
        assert status["controller_status"]["connected_agent_num"] == 2
    finally:
        world.antrea.resume_agent("n2")
    assert counts(healthy(world, mp)) == (3, 0, 0)


def test_agent_condition_down_is_degraded(world: World, mp: Mp) -> None:
    healthy(world, mp)
    world.antrea.set_agent_condition("n3", "OVSDBConnectionUp", "False")
    try:
        wait_for(lambda: (s := world.status())["status"] == "DEGRADED" and counts(s) == (2, 1, 0),
                 what="DEGRADED with one degraded agent")
    finally:
        world.antrea.clear_agent_conditions("n3")
    healthy(world, mp)


def test_controller_down_is_failed(world: World, mp: Mp) -> None:
    healthy(world, mp)
    world.antrea.stop_controller()
    try:
        status = wait_for(lambda: (s := world.status())["status"] == "FAILED" and s, what="cluster FAILED")
        assert status["controller_status"]["status"] == "FAILED"
        assert conditions(status["controller_status"]) == {"CONTROLLER_HEALTHY": "UNHEALTHY"}
        # Agents lose their controller connection: still alive, but degraded.
        wait_for(lambda: counts(world.status()) == (0, 3, 0), what="agents degraded")
    finally:
        world.antrea.resume_controller()
    healthy(world, mp)


def test_stale_ccp_liveness_is_reported(world: World, ccp: Ccp, mp: Mp) -> None:
    healthy(world, mp)
    server = world.env.server
    if server is None:
        pytest.skip("needs the emulated API server's fault injection")
    # The CCP adapter hangs: its renewals no longer reach the API server.
    server.faults.fail_next(100_000, 403, method="PUT", path=f"/leases/{lease_name('ccp')}$")
    try:
        status = wait_for(lambda: (s := world.status())["ccp_adapter_status"]["status"] == "FAILED" and s,
                          what="CCP adapter FAILED")
        assert conditions(status["ccp_adapter_status"]) == {"CCP_ADAPTER_HEALTHY": "UNHEALTHY",
                                                            "CCP_SESSION_STATE_UP": "UNHEALTHY"}
        reasons = {c["reason"] for c in status["ccp_adapter_status"]["conditions"]}
        assert reasons == {"LivenessExpired"}
        assert status["status"] == "DEGRADED"
        assert status["mp_adapter_status"]["status"] == "HEALTHY"
    finally:
        server.faults.clear()
    healthy(world, mp)
    # A clean stop is visible at once (the Lease is released), not only after it expires.
    ccp.stop()
    status = wait_for(lambda: (s := world.status())["ccp_adapter_status"]["status"] == "FAILED" and s,
                      timeout=3.0, what="CCP adapter FAILED after a clean stop")
    assert {c["reason"] for c in status["ccp_adapter_status"]["conditions"]} == {"Stopped"}


def test_heartbeats_stopping_makes_nsx_say_unknown(world: World, mp: Mp) -> None:
    healthy(world, mp)
    sent = mp.health.reporter.sent
    mp.stop()
    assert sent > 0
    status = wait_for(lambda: (s := world.status())["status"] == "UNKNOWN" and s, what="cluster UNKNOWN")
    assert status["controller_status"]["status"] == "UNKNOWN"
    assert status["mp_adapter_status"]["status"] == "UNKNOWN"


def test_nsx_unreachable_then_back(world: World, mp: Mp) -> None:
    healthy(world, mp)
    world.nsx.faults.set_unreachable(True)
    try:
        # NSX's read API is unreachable too; look at what it would answer from the inside.
        wait_for(lambda: world.nsx.channel.cluster_status(CLUSTER)["status"] == "UNKNOWN",
                 what="cluster UNKNOWN in NSX while the channel is down")
        wait_for(lambda: not mp.health.reporter.nsx_reachable, what="reporter noticed")
        # The MP adapter's liveness Lease (in Kubernetes, still reachable) says what it knows.
        wait_for(lambda: mp_liveness(world).conditions[NSX_CONNECTED].status is False, what="MP NsxConnected False")
        assert mp_liveness(world).state == "running" and mp_liveness(world).holds(HEALTHY)
    finally:
        world.nsx.faults.set_unreachable(False)
    status = healthy(world, mp)
    assert conditions(status["mp_adapter_status"])["MP_CONNECTED"] == "HEALTHY"
    assert mp.health.reporter.nsx_reachable


def test_only_the_leader_reports_and_a_standby_takes_over(world: World, ccp: Ccp) -> None:
    def replica(name: str) -> Mp:
        return Mp(world, ManagerOptions(
            leader_election=True, leader_election_id="antrea-nsx-adapter-mp", leader_election_namespace=NAMESPACE,
            leader_election_identity=name, lease_duration=2.0, renew_deadline=1.0, retry_period=0.2))

    first, second = replica("mp-a"), replica("mp-b")
    first.start()
    wait_for(first.manager.elected.is_set, what="mp-a leads")
    second.start()
    try:
        healthy(world, first)
        wait_for(lambda: mp_liveness(world).holder == "mp-a" and mp_liveness(world).state == "running",
                 what="mp-a publishes the MP liveness")
        time.sleep(0.5)
        assert second.health.reporter.sent == 0 and second.health.publisher is not None
        assert second.health.publisher.renewals == 0, "a standby must neither report nor publish"
        first.stop()
        wait_for(second.manager.elected.is_set, what="mp-b takes over")
        healthy(world, second)
        wait_for(lambda: mp_liveness(world).holder == "mp-b" and mp_liveness(world).state == "running",
                 what="mp-b publishes the MP liveness")
    finally:
        for adapter in (first, second):
            adapter.stop()
