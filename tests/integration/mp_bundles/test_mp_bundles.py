"""Support bundles and log collection end to end over real HTTP: NSX simulator request → adapter
channel long-poll → :mod:`controllers.mp.bundles` → Antrea's bundles (the controller's through the
emulated API server's aggregation layer, each agent's from the agent over verified TLS) streamed into
one archive uploaded to the simulator → per-node result in NSX.

Two clusters: one with the Antrea stand-in serving ``system.antrea.io`` (one agent stopped, so the
result is a partial success), and a bare one without Antrea's aggregated API (the fallback)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from loguru import logger

from controllers.mp.antrea_bundles import (
    AgentBundleClient,
    BundleError,
    agent_endpoint,
    bearer_token,
    controller_bundle,
)
from controllers.mp.bundles import BundleCollector, BundleSettings, register_bundle_handlers
from controllers.mp.traceflow import MpTraceflowSettings, setup_mp_traceflow
from reconciler.client import KubeClient
from reconciler.errors import ApiError
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests import worlds

CLUSTER = "c1"
INFO_API = "crd.antrea.io/v1beta1"
NODE_IPS = {"n1": "127.0.0.2", "n2": "127.0.0.3", "n3": "127.0.0.4"}


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    return worlds.wait_for(check, timeout, what)


@dataclass
class World(worlds.World):
    collector: BundleCollector
    node_uids: dict[str, str]
    antrea: AntreaSimulator | None = None

    def done(self, request_id: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for r in self.nsx.state.adapter_requests(CLUSTER):
                if r["id"] == request_id and r["state"] == "DONE":
                    return r
            return None
        found: dict[str, Any] = wait_for(check, timeout=30, what=f"request {request_id} done in NSX")
        return found

    def archive(self, request_id: str) -> dict[str, bytes]:
        data = self.nsx.state.archive(request_id)
        assert data is not None
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _members(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


def _world(tmp: Path, with_antrea: bool, rbac: bool = False) -> Iterator[World]:
    with ExitStack() as stack:
        cfg = stack.enter_context(worlds.control_plane(
            tmp, emulator_only="enforces RBAC with the emulated API server" if rbac else None))
        kube = stack.enter_context(cfg.client())
        adapter_kubeconfig = Path(cfg.kubeconfig)
        if rbac:
            worlds.install_adapter_role(kube)
            adapter_kubeconfig = worlds.service_account_kubeconfig(cfg, kube, "adapter", tmp)
        uids = {n: worlds.create_node(kube, n, internal_ip=ip) for n, ip in NODE_IPS.items()}
        antrea: AntreaSimulator | None = None
        if with_antrea:
            antrea = stack.enter_context(
                AntreaSimulator(cfg.kubeconfig, heartbeat_interval=0.5, bundle_collect_time=0.3))

            def endpoint_written(node: str) -> bool:
                items = kube.list((INFO_API, "AntreaAgentInfo"))["items"]
                return any(i["metadata"]["name"] == node and i.get("apiCABundle") for i in items)
            wait_for(lambda: all(endpoint_written(n) for n in NODE_IPS), what="agents' API endpoints")
            antrea.stop_agent("n3")
            if rbac:
                cfg.server.enable_rbac()
        else:
            kube.create((INFO_API, "AntreaControllerInfo"), {
                "apiVersion": INFO_API, "kind": "AntreaControllerInfo", "metadata": {"name": "antrea-controller"},
                "version": "v2.1.0", "connectedAgentNum": 1})
            kube.create((INFO_API, "AntreaAgentInfo"), {
                "apiVersion": INFO_API, "kind": "AntreaAgentInfo", "metadata": {"name": "n1"},
                "version": "v2.1.0", "nodeRef": {"kind": "Node", "name": "n1"}, "apiPort": 10350})
        sim = stack.enter_context(NsxSimulator(tls=True))
        with worlds.nsx_admin(sim) as http:
            worlds.register_cluster(http, sim, CLUSTER)
        adapter = worlds.ManagerThread(adapter_kubeconfig, sim)
        traceflow = setup_mp_traceflow(adapter.manager, adapter.nsx,
                                       MpTraceflowSettings(cluster_name=CLUSTER, poll_timeout=1))
        collector = register_bundle_handlers(adapter.manager, traceflow.poller,
                                             BundleSettings(secrets=[sim.password], antrea_bundle_timeout=10))
        stack.callback(adapter.stop)
        stack.callback(collector.ring.remove)  # callbacks run last first: the log ring goes before the adapter
        adapter.start()
        yield World(cfg, kube, sim, collector, uids, antrea)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _world(tmp_path_factory.mktemp("mp-bundles"), with_antrea=True)


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The adapter runs as a ServiceAccount holding only config/rbac's ClusterRole, RBAC enforced
    by the API server and, through delegated reviews, by the agents."""
    yield from _world(tmp_path_factory.mktemp("mp-bundles-rbac"), with_antrea=True, rbac=True)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _world(tmp_path_factory.mktemp("mp-bundles-bare"), with_antrea=False)


def test_support_bundle_with_one_agent_down_is_a_partial_success_per_node(world: World) -> None:
    assert world.antrea is not None
    logger.info("bundle-test marker line")
    world.env.server.clear_requests()
    controller_before = world.antrea.controller_bundles.collections
    rid = world.nsx.request_support_bundle(CLUSTER, [world.node_uids[n] for n in ("n1", "n2", "n3")])
    result = world.done(rid)["result"]
    assert result["phase"] == "SUCCEEDED"
    assert sorted((n["node_id"], n["node_display_name"]) for n in result["success_nodes"]) == sorted(
        (world.node_uids[n], n) for n in ("n1", "n2"))
    [failed] = result["failed_nodes"]
    assert (failed["node_id"], failed["node_display_name"]) == (world.node_uids["n3"], "n3")
    assert "127.0.0.4" in failed["error_message"] and "unreachable" in failed["error_message"]
    assert "n3" in result["reason"]
    files = world.archive(rid)
    # Antrea's own bundles, whole and valid, one per component (NSX's layout).
    assert world.antrea.controller_bundles.collections == controller_before + 1
    assert {"logs/antrea-controller.log", "networkpolicies.json"} <= _members(files["antrea/controller.tar.gz"])
    for node in ("n1", "n2"):
        members = _members(files[f"antrea/agent_{node}.tar.gz"])
        assert {"logs/antrea-agent.log", "ovs/flows.txt"} <= members
        with tarfile.open(fileobj=io.BytesIO(files[f"antrea/agent_{node}.tar.gz"]), mode="r:gz") as tar:
            assert node in tar.extractfile("logs/antrea-agent.log").read().decode()  # type: ignore[union-attr]
    assert "antrea/agent_n3.tar.gz" not in files
    controller = json.loads(files["antrea/controller/antreacontrollerinfo.json"])
    assert controller["apiVersion"] == "system.antrea.io/v1beta1"  # the live view, not the CRD
    assert "bundle-test marker line" in files["adapter/adapter.log"].decode()
    manifest = json.loads(files["manifest.json"])
    assert manifest["request_id"] == rid and manifest["failed_nodes"][0]["node_id"] == world.node_uids["n3"]
    # Every request the adapter made to Antrea's aggregated API is granted by config/rbac.
    accesses = {_access(r.method, r.path) for r in world.env.server.requests if "antrea.io/" in r.path
                and not r.path.startswith("/apis/crd.antrea.io")}
    assert ("create", "system.antrea.io", "supportbundles") in accesses
    assert ("get", "system.antrea.io", "supportbundles/download") in accesses
    assert all(_granted(a) for a in accesses), accesses


def test_a_stopped_controller_leaves_the_agents_bundles(world: World) -> None:
    assert world.antrea is not None
    world.antrea.stop_controller()
    try:
        rid = world.nsx.request_support_bundle(CLUSTER, [world.node_uids["n1"]])
        result = world.done(rid)["result"]
    finally:
        world.antrea.resume_controller()
    assert result["phase"] == "SUCCEEDED" and [n["node_display_name"] for n in result["success_nodes"]] == ["n1"]
    files = world.archive(rid)
    assert "antrea/controller.tar.gz" not in files and "antrea/agent_n1.tar.gz" in files
    assert "antrea/controller/antreacontrollerinfo.json" in files  # the CRD, still readable
    assert "controller support bundle failed" in world.collector.ring.text()


def test_nsx_collect_call_with_no_nodes_collects_every_node(world: World) -> None:
    """NSX's own ``support-bundles?action=collect`` waits for the adapter's result: an empty node
    list means every Node, so n1 and n2 succeed and n3 (agent down) fails."""
    with worlds.nsx_admin(world.nsx) as http:
        resp = http.post(world.nsx.url + "/api/v1/administration/support-bundles", params={"action": "collect"},
                         json={"container_nodes": [{"container_type": "ANTREA",
                                                    "clusters": [{"cluster_id": CLUSTER, "nodes": []}]}]},
                         timeout=60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert sorted(n["node_id"] for n in body["success_nodes"]) == sorted(world.node_uids[n] for n in ("n1", "n2"))
    assert all(n["bundle_size"] > 0 for n in body["success_nodes"])
    assert [n["node_id"] for n in body["failed_nodes"]] == [world.node_uids["n3"]]


def test_the_adapters_cluster_role_is_exactly_enough_for_antreas_bundles(
        enforced: World, tmp_path: Path) -> None:
    assert enforced.antrea is not None
    reviews = enforced.antrea.delegated_auth.reviews
    rid = enforced.nsx.request_support_bundle(CLUSTER, [enforced.node_uids[n] for n in ("n1", "n2")])
    result = enforced.done(rid)["result"]
    assert result["phase"] == "SUCCEEDED" and result["failed_nodes"] == [], result
    files = enforced.archive(rid)
    assert {"antrea/controller.tar.gz", "antrea/agent_n1.tar.gz", "antrea/agent_n2.tar.gz"} <= set(files)
    assert enforced.antrea.delegated_auth.reviews > reviews  # the agents asked the API server
    # A ServiceAccount without the role gets nothing from the controller nor from an agent.
    kube = enforced.env.client()
    try:
        stranger = KubeClient.from_kubeconfig(worlds.service_account_kubeconfig(enforced.env, kube, "stranger",
                                                                                tmp_path, bind=False))
        info = next(i for i in kube.list((INFO_API, "AntreaAgentInfo"))["items"] if i["metadata"]["name"] == "n1")
        node = kube.get(("v1", "Node"), "n1")
    finally:
        kube.close()
    with stranger:
        with tarfile.open(fileobj=io.BytesIO(), mode="w:gz") as tar, pytest.raises(ApiError) as denied:
            controller_bundle(stranger, tar, "c", 60, 5)
        assert denied.value.code == 403
        agent = AgentBundleClient(agent_endpoint(node, info), bearer_token(stranger), 5)
        try:
            with pytest.raises(BundleError, match="403"):
                agent.start(60)
        finally:
            agent.close()


def test_without_antrea_aggregated_api_every_node_fails_with_its_reason(bare: World) -> None:
    rid = bare.nsx.request_support_bundle(CLUSTER, [bare.node_uids["n1"], bare.node_uids["n2"]])
    result = bare.done(rid)["result"]
    assert result["phase"] == "FAILED" and result["success_nodes"] == []
    reasons = {n["node_display_name"]: n["error_message"] for n in result["failed_nodes"]}
    assert "apiCABundle" in reasons["n1"]  # never contacted without a CA to verify it
    assert "AntreaAgentInfo not found" in reasons["n2"]
    files = bare.archive(rid)
    controller = json.loads(files["antrea/controller/antreacontrollerinfo.json"])
    assert controller["metadata"]["name"] == "antrea-controller" and controller["connectedAgentNum"] == 1
    agent = json.loads(files["antrea/agent_n1/antreaagentinfo.json"])
    assert agent["metadata"]["name"] == "n1" and agent["apiPort"] == 10350
    assert not any(name.endswith(".tar.gz") for name in files)
    assert "system.antrea.io supportbundles is not served" in bare.collector.ring.text()


def test_log_collection_carries_the_adapter_log_without_the_nsx_password(bare: World) -> None:
    password = bare.nsx.password
    logger.info("log-collection marker; connecting with password={} ", password)
    logger.warning("raw secret in a message: {}", password)
    logger.bind(nsx_password=password).info("bound secret")
    rid = bare.nsx.request_log_collection(CLUSTER)
    result = bare.done(rid)["result"]
    assert result["phase"] == "SUCCEEDED" and result["failed_nodes"] == []
    files = bare.archive(rid)
    assert set(files) == {"adapter/adapter.log", "manifest.json"}
    log = files["adapter/adapter.log"].decode()
    assert "log-collection marker" in log and "raw secret in a message" in log and "bound secret" in log
    assert all(password.encode() not in content for content in files.values())
    assert password not in log and "***" in log


# ------------------------------------------------------------------------------------------ rbac

_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/[^/]+/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")


def _access(method: str, path: str) -> tuple[str, str, str]:
    m = _PATH.match(path)
    assert m, path
    resource = m["resource"] + (f"/{m['sub']}" if m["sub"] else "")
    verb = {"GET": "get" if m["name"] else "list", "POST": "create", "DELETE": "delete"}.get(method, method.lower())
    return verb, m["group"], resource


def _granted(access: tuple[str, str, str]) -> bool:
    verb, group, resource = access
    return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
               for rule in yaml.safe_load(worlds.ADAPTER_ROLE.read_text())["rules"])
