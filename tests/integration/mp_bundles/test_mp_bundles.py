"""Support bundles and log collection end to end over real HTTP: NSX simulator request → adapter
channel long-poll → :mod:`controllers.mp.bundles` → archive uploaded to the simulator → per-node
result. The emulated API server serves no ``system.antrea.io`` API, so these tests exercise the
fallback (AntreaControllerInfo / AntreaAgentInfo read through the API server)."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from loguru import logger

from controllers.ccp.translate import cluster_path
from controllers.mp.bundles import BundleCollector, BundleSettings, register_bundle_handlers
from controllers.mp.traceflow import MpTraceflowSettings, setup_mp_traceflow
from crds import MANIFEST_DIR
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from reconciler.client import KubeClient
from reconciler.envtest import Environment
from reconciler.manager import Manager, ManagerOptions
from sim.nsx import NsxSimulator

CLUSTER = "c1"
INFO_API = "crd.antrea.io/v1beta1"


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s (last: {last!r})")


@dataclass
class World:
    kube: KubeClient
    nsx: NsxSimulator
    collector: BundleCollector
    node_uids: dict[str, str]

    def done(self, request_id: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for r in self.nsx.state.adapter_requests(CLUSTER):
                if r["id"] == request_id and r["state"] == "DONE":
                    return r
            return None
        found: dict[str, Any] = wait_for(check, what=f"request {request_id} done in NSX")
        return found

    def archive(self, request_id: str) -> dict[str, bytes]:
        data = self.nsx.state.archive(request_id)
        assert data is not None
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("mp-bundles")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")
    cfg = env.start()
    kube = cfg.client()
    uids = {n: kube.create(("v1", "Node"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})[
        "metadata"]["uid"] for n in ("n1", "n2")}
    kube.create((INFO_API, "AntreaControllerInfo"), {
        "apiVersion": INFO_API, "kind": "AntreaControllerInfo", "metadata": {"name": "antrea-controller"},
        "version": "v2.1.0", "connectedAgentNum": 1})
    kube.create((INFO_API, "AntreaAgentInfo"), {
        "apiVersion": INFO_API, "kind": "AntreaAgentInfo", "metadata": {"name": "n1"},
        "version": "v2.1.0", "nodeRef": {"kind": "Node", "name": "n1"}, "apiPort": 10350})
    with NsxSimulator(tls=True) as sim:
        http = requests.Session()
        http.auth = (sim.username, sim.password)
        http.verify = str(sim.ca_file)
        http.trust_env = False
        resp = http.put(sim.url + "/policy/api/v1" + cluster_path(CLUSTER),
                        json={"resource_type": "ClusterControlPlane", "display_name": CLUSTER}, timeout=10)
        assert resp.status_code == 200, resp.text
        http.close()
        adapter_kube = KubeClient.from_kubeconfig(cfg.kubeconfig)
        nsx = NsxClient([sim.url], BasicAuth(sim.username, sim.password), tls=TlsSettings(ca_file=str(sim.ca_file)))
        manager = Manager(adapter_kube, ManagerOptions())
        traceflow = setup_mp_traceflow(manager, nsx, MpTraceflowSettings(cluster_name=CLUSTER, poll_timeout=1))
        collector = register_bundle_handlers(manager, traceflow.poller, BundleSettings(secrets=[sim.password]))
        thread = threading.Thread(target=manager.start, daemon=True)
        thread.start()
        try:
            yield World(kube, sim, collector, uids)
        finally:
            collector.ring.remove()
            manager.stop()
            thread.join(15)
            nsx.close()
            adapter_kube.close()
    kube.close()
    env.stop()


def test_support_bundle_for_two_nodes_is_a_partial_success_naming_the_failed_node(world: World) -> None:
    logger.info("bundle-test marker line")
    rid = world.nsx.request_support_bundle(CLUSTER, [world.node_uids["n1"], world.node_uids["n2"]])
    result = world.done(rid)["result"]
    assert result["phase"] == "SUCCEEDED"
    assert result["success_nodes"] == [{"node_id": world.node_uids["n1"], "node_display_name": "n1"}]
    assert [(n["node_id"], n["node_display_name"]) for n in result["failed_nodes"]] == [(world.node_uids["n2"], "n2")]
    assert "AntreaAgentInfo" in result["failed_nodes"][0]["error_message"]
    files = world.archive(rid)
    controller = json.loads(files["antrea/controller/antreacontrollerinfo.json"])
    assert controller["metadata"]["name"] == "antrea-controller" and controller["connectedAgentNum"] == 1
    agent = json.loads(files["antrea/agent_n1/antreaagentinfo.json"])
    assert agent["metadata"]["name"] == "n1" and agent["apiPort"] == 10350
    assert not any("agent_n2" in name for name in files)
    log = files["adapter/adapter.log"].decode()
    assert "bundle-test marker line" in log
    # The fallback is announced in the adapter's log, which the next archive carries.
    assert "system.antrea.io supportbundles is not served" in world.collector.ring.text()
    manifest = json.loads(files["manifest.json"])
    assert manifest["request_id"] == rid and manifest["failed_nodes"][0]["node_id"] == world.node_uids["n2"]


def test_log_collection_carries_the_adapter_log_without_the_nsx_password(world: World) -> None:
    password = world.nsx.password
    logger.info("log-collection marker; connecting with password={} ", password)
    logger.warning("raw secret in a message: {}", password)
    logger.bind(nsx_password=password).info("bound secret")
    rid = world.nsx.request_log_collection(CLUSTER)
    result = world.done(rid)["result"]
    assert result["phase"] == "SUCCEEDED" and result["failed_nodes"] == []
    files = world.archive(rid)
    assert set(files) == {"adapter/adapter.log", "manifest.json"}
    log = files["adapter/adapter.log"].decode()
    assert "log-collection marker" in log and "raw secret in a message" in log and "bound secret" in log
    assert all(password.encode() not in content for content in files.values())
    assert password not in log and "***" in log


def test_nsx_collect_call_with_no_nodes_collects_every_node(world: World) -> None:
    """NSX's own ``support-bundles?action=collect`` waits for the adapter's result: an empty node
    list means every Node, so n1 succeeds and n2 (no AntreaAgentInfo) fails."""
    http = requests.Session()
    http.auth = (world.nsx.username, world.nsx.password)
    http.verify = str(world.nsx.ca_file)
    http.trust_env = False
    with http:
        resp = http.post(world.nsx.url + "/api/v1/administration/support-bundles", params={"action": "collect"},
                         json={"container_nodes": [{"container_type": "ANTREA",
                                                    "clusters": [{"cluster_id": CLUSTER, "nodes": []}]}]},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [n["node_id"] for n in body["success_nodes"]] == [world.node_uids["n1"]]
    assert body["success_nodes"][0]["bundle_size"] > 0
    assert [n["node_id"] for n in body["failed_nodes"]] == [world.node_uids["n2"]]
