"""Fixtures of the statistics tests: emulated API server (Antrea CRDs plus the stand-in's
``stats.antrea.io`` CRD), NSX simulator, the Antrea stats stand-in, and a running adapter
(CCP controllers to turn NSX policies into ACNPs, plus the statistics reporter) in a thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from controllers.ccp.adapter import setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from controllers.mp.stats import MpStatsSettings, StatsReporter, setup_mp_stats
from reconciler.errors import NotFound
from sim.antrea.stats import PolicyStats
from sim.nsx import NsxSimulator
from tests import worlds

CLUSTER = "c1"
POLICIES = "/policy/api/v1/infra/domains/default/security-policies"


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return worlds.wait_for(check, timeout, what, ignore=(KeyError, IndexError, NotFound))


@dataclass
class World(worlds.World):
    http: requests.Session
    stats: PolicyStats

    def nsx_patch(self, path: str, body: dict[str, Any]) -> None:
        resp = self.http.patch(self.nsx.url + path, json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def nsx_stats(self, policy_id: str) -> dict[str, tuple[int, int, int]]:
        """Per NSX rule id: (packets, bytes, sessions) as NSX's statistics read API shows them."""
        resp = self.http.get(f"{self.nsx.url}{POLICIES}/{policy_id}/statistics",
                             params={"container_cluster_path": cluster_path(CLUSTER)}, timeout=10)
        assert resp.status_code == 200, resp.text
        results = resp.json()["results"]
        assert len(results) == 1 and results[0]["container_cluster_path"] == cluster_path(CLUSTER)
        return {s["rule"].rsplit("/", 1)[1]: (s["packet_count"], s["byte_count"], s["session_count"])
                for s in results[0]["statistics"]["results"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The stand-in's stats.antrea.io CRD is installed by PolicyStats.start.
    with worlds.control_plane(tmp_path_factory.mktemp("mp-stats")) as cfg, cfg.client() as kube, \
            worlds.official_api(cfg) as api:
        stats = PolicyStats(api, interval=None).start()
        try:
            with NsxSimulator(tls=True) as nsx, worlds.nsx_admin(nsx) as http:
                worlds.register_cluster(http, nsx, CLUSTER)
                yield World(cfg, kube, nsx, http, stats)
        finally:
            stats.stop()


class Adapter(worlds.ManagerThread):
    """One adapter process-equivalent: CCP controllers plus the statistics reporter."""

    def __init__(self, world: World, stats_interval: float = 0.2) -> None:
        super().__init__(world.env.kubeconfig, world.nsx)
        setup_ccp(self.manager, self.nsx, CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=0.2))
        self.reporter: StatsReporter = setup_mp_stats(
            self.manager, self.nsx, MpStatsSettings(cluster_name=CLUSTER, stats_interval=stats_interval))
