"""K8s NetworkPolicy realization, as Antrea's controlplane view shows it, reaches NSX as the
``network_status`` / ``network_errors`` of its ``ContainerNetworkPolicy`` (mapping.md §6, §7).

The Antrea stand-in serves ``controlplane.antrea.io/v1beta2`` behind the emulated API server's
aggregation layer and fails a policy on one Node on request, as a real agent reporting a
realization failure would. The adapter runs as a ServiceAccount holding only config/rbac's
ClusterRole, with RBAC enforced (when the control plane is the emulated API server)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests import worlds
from tests.integration.mp.conftest import Running, World, wait_for

NETPOL = ("networking.k8s.io/v1", "NetworkPolicy")


@pytest.fixture(scope="module")
def antrea_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, AntreaSimulator]]:
    tmp = tmp_path_factory.mktemp("mp-np")
    with worlds.control_plane(tmp) as cfg, cfg.client(qps=-1) as kube:
        for node in ("w1", "w2"):
            worlds.create_node(kube, node)
        adapter_cfg = cfg
        if cfg.backend == "emulator":  # as a ServiceAccount bound to config/rbac's ClusterRole, as shipped
            worlds.install_adapter_role(kube)
            adapter_cfg = dataclasses.replace(cfg, kubeconfig=worlds.service_account_kubeconfig(cfg, kube, "adapter",
                                                                                               tmp))
        with NsxSimulator(tls=True, rate_limit_rps=0) as nsx, \
                AntreaSimulator(cfg.kubeconfig, realization_delay=0.2, heartbeat_interval=1.0) as antrea:
            if cfg.backend == "emulator":
                cfg.server.enable_rbac()
            yield World(adapter_cfg, kube, nsx), antrea  # the test's own kube client stays admin


@pytest.fixture
def world(antrea_world: tuple[World, AntreaSimulator]) -> World:
    return antrea_world[0]


@pytest.fixture
def antrea(antrea_world: tuple[World, AntreaSimulator]) -> AntreaSimulator:
    return antrea_world[1]


def _policy(world: World, cluster_id: str, uid: str) -> dict[str, Any] | None:
    return world.inventory(cluster_id, "ContainerNetworkPolicy").get(uid)


def test_k8s_network_policy_realization_failure_and_recovery_in_nsx(
        world: World, antrea: AntreaSimulator, cluster_id: str, run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    netpol = world.kube.create(NETPOL, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "db", "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]}})
    uid = netpol["metadata"]["uid"]
    with run() as adapter:
        adapter.wait_synced()
        assert adapter.mp.realization is not None
        wait_for(adapter.mp.realization.served.is_set, what="controlplane view listed")
        healthy = wait_for(lambda: _policy(world, cluster_id, uid), what="policy in NSX")
        if world.env.server is not None:  # what the adapter asked for was granted, and the view was one
            denied = [r for r in world.env.server.requests if r.status == 403]
            assert not denied, [(r.method, r.path) for r in denied]
        assert healthy["network_status"] == "HEALTHY" and not healthy.get("network_errors")
        assert healthy["policy_type"] == "NETWORK_POLICY"

        antrea.fail_network_policy(ns, "db", "w2", "OVS flow install failed")
        failed = wait_for(lambda: (p := _policy(world, cluster_id, uid)) and p["network_status"] == "UNHEALTHY"
                          and p, what="UNHEALTHY in NSX")
        assert failed["network_errors"] == [{"error_message": 'Failed Nodes count 1: "w2":"OVS flow install failed"'}]

        antrea.clear_network_policy_fault(ns, "db")
        recovered = wait_for(lambda: (p := _policy(world, cluster_id, uid)) and p["network_status"] == "HEALTHY"
                             and p, what="HEALTHY again in NSX")
        assert not recovered.get("network_errors")


def test_a_restart_reports_a_failed_policy_at_once_and_nothing_else(
        world: World, antrea: AntreaSimulator, cluster_id: str, run: Callable[..., Running]) -> None:
    """The failure exists before the adapter starts: the first sync already carries it, and a
    restart with nothing changed sends no update for the policy."""
    ns = world.namespace()["metadata"]["name"]
    netpol = world.kube.create(NETPOL, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "api", "namespace": ns},
        "spec": {"podSelector": {}, "egress": [{}]}})
    uid = netpol["metadata"]["uid"]
    antrea.fail_network_policy(ns, "api", "w1", "rule install timeout")
    try:
        with run() as adapter:
            adapter.wait_synced()
            wait_for(lambda: (p := _policy(world, cluster_id, uid)) and p["network_status"] == "UNHEALTHY",
                     what="UNHEALTHY in NSX")
        with run() as again:
            again.wait_synced()
            assert again.mp.realization is not None
            wait_for(again.mp.realization.served.is_set, what="controlplane view listed")
            again.wait_synced()
            sent = [op for op in again.ops() if op.external_id == uid]
            assert sent == [], sent
    finally:
        antrea.clear_network_policy_fault(ns, "api")
