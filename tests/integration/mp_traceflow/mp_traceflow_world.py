"""The traceflow tests' world: emulated API server with Nodes, Pods and a Service, the NSX
simulator, the Antrea Traceflow stand-in, and one running adapter (CCP controllers so NSX policies
become ACNPs, plus the traceflow service) for the whole module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from controllers.ccp.adapter import setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.mp.traceflow import MpTraceflow, MpTraceflowSettings, setup_mp_traceflow
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from reconciler.errors import NotFound
from sim.antrea.traceflow import TraceflowRunner
from sim.nsx import NsxSimulator
from tests import worlds

CLUSTER = "c1"
NS = "shop"
POLICY = "/policy/api/v1"
TRACEFLOWS = f"{POLICY}/infra/antrea/traceflows"
TRACEFLOW = ("crd.antrea.io/v1beta1", "Traceflow")
# name -> (labels, node, pod IP)
PODS = {
    "client": ({"app": "client"}, "n1", "10.10.1.5"),
    "frontend": ({"app": "frontend"}, "n1", "10.10.1.6"),
    "web-1": ({"app": "web"}, "n2", "10.10.2.7"),
}


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return worlds.wait_for(check, timeout, what, ignore=(KeyError, IndexError, NotFound))


class Adapter(worlds.ManagerThread):
    """One adapter process-equivalent: CCP controllers plus the traceflow service, started at once."""

    def __init__(self, env: EnvConfig, nsx: NsxSimulator) -> None:
        super().__init__(env.kubeconfig, nsx)
        setup_ccp(self.manager, self.nsx, CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=0.2))
        self.traceflow: MpTraceflow = setup_mp_traceflow(self.manager, self.nsx, MpTraceflowSettings(
            cluster_name=CLUSTER, poll_timeout=1, timeout=5, grace=2.0))  # room for a restart under load
        self.start()


@dataclass
class World(worlds.World):
    http: requests.Session
    antrea: TraceflowRunner
    adapter: Adapter
    uids: dict[str, str] = field(default_factory=dict)
    """Pod, Service and Node names -> UIDs (the inventory external ids NSX uses)."""

    def restart_adapter(self) -> None:
        self.adapter.stop()
        self.adapter = Adapter(self.env, self.nsx)

    def nsx_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, self.nsx.url + path, json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json() if resp.content else None

    def trace(self, tf_id: str, source_uid: str, destination_uid: str | None = None, **packet: Any) -> None:
        body: dict[str, Any] = {"resource_type": "AntreaTraceflowConfig", "container_cluster_id": CLUSTER,
                                "source_external_id": source_uid}
        if destination_uid:
            body["destination_external_id"] = destination_uid
        body["packet"] = {"resource_type": "FIELDS_PACKET_DATA", **packet} if packet else {
            "resource_type": "FIELDS_PACKET_DATA", "ip_header": {"protocol": 6},
            "transport_header": {"tcp_header": {"dst_port": 80, "tcp_flags": 2}}}
        self.nsx_call("PUT", f"{TRACEFLOWS}/{tf_id}", body)

    def status(self, tf_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.nsx_call("GET", f"{TRACEFLOWS}/{tf_id}/status")
        return result

    def finished(self, tf_id: str, timeout: float = 10.0) -> dict[str, Any]:
        status: dict[str, Any] = wait_for(lambda: "phase" in self.status(tf_id) and self.status(tf_id),
                                          timeout=timeout, what=f"traceflow {tf_id} finished in NSX")
        return status

    def observations(self, tf_id: str) -> list[dict[str, Any]]:
        return list(self.nsx_call("GET", f"{TRACEFLOWS}/{tf_id}/observations")["results"])

    def crs(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.kube.list(TRACEFLOW)["items"]]


def _populate(kube: KubeClient, uids: dict[str, str]) -> None:
    for node in ("n1", "n2"):
        uids[node] = worlds.create_node(kube, node)
    kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for name, (labels, node, ip) in PODS.items():
        pod = kube.create(("v1", "Pod"), {"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": name, "namespace": NS, "labels": labels},
                                          "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}})
        uids[name] = pod["metadata"]["uid"]
        hosts = {"n1": "192.168.0.1", "n2": "192.168.0.2"}
        kube.patch_status(("v1", "Pod"), name, {"status": {"phase": "Running", "podIP": ip, "hostIP": hosts[node]}},
                          NS)
    svc = kube.create(("v1", "Service"), {"apiVersion": "v1", "kind": "Service",
                                          "metadata": {"name": "web", "namespace": NS},
                                          "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    uids["svc/web"] = svc["metadata"]["uid"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with worlds.control_plane(tmp_path_factory.mktemp("mp-traceflow")) as cfg, cfg.client() as kube:
        uids: dict[str, str] = {}
        _populate(kube, uids)
        with worlds.official_api(cfg) as api:
            antrea = TraceflowRunner(api, run_time=0.2).start()
            try:
                with NsxSimulator(tls=True) as nsx, worlds.nsx_admin(nsx) as http:
                    worlds.register_cluster(http, nsx, CLUSTER)
                    world = World(cfg, kube, nsx, http, antrea, Adapter(cfg, nsx), uids)
                    try:
                        yield world
                    finally:
                        world.adapter.stop()
            finally:
                antrea.stop()
