"""Fixtures of the statistics tests: emulated API server (Antrea CRDs plus the stand-in's
``stats.antrea.io`` CRD), NSX simulator, the Antrea stats stand-in, and a running adapter
(CCP controllers to turn NSX policies into ACNPs, plus the statistics reporter) in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from kubernetes import config as kube_config

from controllers.ccp.adapter import setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from controllers.mp.stats import MpStatsSettings, StatsReporter, setup_mp_stats
from crds import MANIFEST_DIR
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment
from reconciler.errors import NotFound
from reconciler.manager import Manager, ManagerOptions
from sim.antrea.stats import PolicyStats
from sim.nsx import NsxSimulator

CLUSTER = "c1"
POLICIES = "/policy/api/v1/infra/domains/default/security-policies"


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (KeyError, IndexError, NotFound):
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s (last: {last!r})")


@dataclass
class World:
    env: EnvConfig
    kube: KubeClient
    nsx: NsxSimulator
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
    workdir = tmp_path_factory.mktemp("mp-stats")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")  # stats CRD: PolicyStats.start
    cfg = env.start()
    kube = cfg.client()
    api = kube_config.new_client_from_config(config_file=str(cfg.kubeconfig))
    stats = PolicyStats(api, interval=None).start()
    with NsxSimulator(tls=True) as nsx:
        http = requests.Session()
        http.auth = (nsx.username, nsx.password)
        http.verify = str(nsx.ca_file)
        http.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override the simulator's CA
        resp = http.put(nsx.url + "/policy/api/v1" + cluster_path(CLUSTER),
                        json={"resource_type": "ClusterControlPlane", "display_name": CLUSTER}, timeout=10)
        assert resp.status_code == 200, resp.text
        yield World(cfg, kube, nsx, http, stats)
        http.close()
    stats.stop()
    api.close()
    kube.close()
    env.stop()


class Adapter:
    """One adapter process-equivalent: CCP controllers plus the statistics reporter."""

    def __init__(self, world: World, stats_interval: float = 0.2) -> None:
        self.kube = KubeClient.from_kubeconfig(world.env.kubeconfig)
        self.nsx = NsxClient([world.nsx.url], BasicAuth(world.nsx.username, world.nsx.password),
                             tls=TlsSettings(ca_file=str(world.nsx.ca_file)))
        self.manager = Manager(self.kube, ManagerOptions())
        setup_ccp(self.manager, self.nsx, CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=0.2))
        self.reporter: StatsReporter = setup_mp_stats(
            self.manager, self.nsx, MpStatsSettings(cluster_name=CLUSTER, stats_interval=stats_interval))
        self.thread = threading.Thread(target=self.manager.start, daemon=True)

    def __enter__(self) -> Adapter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.manager.stop()
        self.thread.join(15)
        self.nsx.close()
        self.kube.close()
