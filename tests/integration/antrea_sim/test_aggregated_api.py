"""antrea-controller's aggregated API and the agents' APIs served by the Antrea stand-in, reached the
way real clients reach them: kubectl and the official client through the emulated API server's
aggregation layer, and each agent directly over TLS verified with its ``apiCABundle``
(antrea.md §2.7, §4, §5.3, §7)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import ssl
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from crds import load_crds
from sim.antrea import AntreaSimulator
from sim.kubeapi import KubeApiServer

SYSTEM = "/apis/system.antrea.io/v1beta1"
CONTROLPLANE = "/apis/controlplane.antrea.io/v1beta2"
NODES = {"n1": "127.0.0.2", "n2": "127.0.0.3"}


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s (last: {last!r})")


class Cluster:
    def __init__(self, server: KubeApiServer, kubeconfig: Path, api: client.ApiClient, sim: AntreaSimulator) -> None:
        self.server, self.kubeconfig, self.api, self.sim = server, kubeconfig, api, sim

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl is not on PATH")
        return subprocess.run([kubectl, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              input=stdin.encode() if stdin is not None else None, timeout=60, check=False)

    def raw(self, path: str) -> Any:
        out = self.kubectl("get", "--raw", path)
        assert out.returncode == 0, out.stderr.decode()
        return json.loads(out.stdout)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The official client's raw call (status, decoded body), errors included."""
        try:
            resp = self.api.call_api(*self._serialize(method, path, body), _request_timeout=30)
            resp.read()
            return resp.status, json.loads(resp.data) if resp.data else None
        except client.ApiException as err:
            return err.status, json.loads(err.body) if err.body else None

    def _serialize(self, method: str, path: str, body: Any) -> tuple[Any, ...]:
        _, url, headers, payload, _ = self.api.param_serialize(
            method, path, body=body, header_params={"Accept": "application/json", "Content-Type": "application/json"},
            auth_settings=["BearerToken"])
        return method, url, headers, payload

    def agent_info(self, node: str) -> dict[str, Any]:
        info: dict[str, Any] = client.CustomObjectsApi(self.api).get_cluster_custom_object(
            "crd.antrea.io", "v1beta1", "antreaagentinfos", node)
        return info

    def internal(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        items = self.raw(f"{CONTROLPLANE}/networkpolicies")["items"]
        return next((p for p in items if p["sourceRef"].get("name") == name
                     and p["sourceRef"].get("namespace") == namespace), None)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with KubeApiServer() as srv:
        kubeconfig = srv.write_kubeconfig(tmp_path_factory.mktemp("antrea-agg") / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ext = client.ApiextensionsV1Api(api)
        for crd in load_crds():
            ext.create_custom_resource_definition(crd)
        core = client.CoreV1Api(api)
        for node, ip in NODES.items():
            core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                              "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
        with AntreaSimulator(kubeconfig, realization_delay=0.2, heartbeat_interval=0.5,
                             bundle_collect_time=0.3) as sim:
            c = Cluster(srv, kubeconfig, api, sim)
            wait_for(lambda: all(_has_endpoint(c, n) for n in NODES), what="agent API endpoints")
            yield c
        api.close()


def _has_endpoint(cluster: Cluster, node: str) -> bool:
    try:
        return bool(cluster.agent_info(node).get("apiCABundle"))
    except client.ApiException:
        return False


def test_discovery_lists_the_aggregated_groups(cluster: Cluster) -> None:
    groups = {g["name"]: g for g in client.ApisApi(cluster.api).get_api_versions().to_dict()["groups"]}
    assert groups["system.antrea.io"]["preferred_version"]["version"] == "v1beta1"
    assert groups["controlplane.antrea.io"]["preferred_version"]["version"] == "v1beta2"
    resources = cluster.kubectl("api-resources", "--api-group", "system.antrea.io", "-o", "name")
    assert resources.returncode == 0, resources.stderr.decode()
    assert set(resources.stdout.decode().split()) == {"supportbundles.system.antrea.io",
                                                      "controllerinfos.system.antrea.io"}
    listed = cluster.kubectl("get", "networkpolicies.controlplane.antrea.io", "-o", "json")
    assert listed.returncode == 0, listed.stderr.decode()
    assert json.loads(listed.stdout)["kind"] in ("List", "NetworkPolicyList")


def test_controller_support_bundle_lifecycle(cluster: Cluster) -> None:
    code, body = cluster.call("POST", f"{SYSTEM}/supportbundles", {"metadata": {"name": "agent"}, "since": "1h"})
    assert code == 403 and body["reason"] == "Forbidden"
    code, body = cluster.call("POST", f"{SYSTEM}/supportbundles", {"metadata": {"name": "controller"},
                                                                   "since": "30m"})
    assert code == 201 and body["status"] == "Collecting"
    code, _ = cluster.call("POST", f"{SYSTEM}/supportbundles", {"metadata": {"name": "controller"}})
    assert code == 409  # one collection at a time
    bundle = wait_for(lambda: (b := cluster.raw(f"{SYSTEM}/supportbundles/controller"))["status"] == "Collected"
                      and b, what="Collected")
    assert bundle["since"] == "30m" and bundle["size"] > 0
    download = cluster.kubectl("get", "--raw", f"{SYSTEM}/supportbundles/controller/download")
    assert download.returncode == 0
    assert hashlib.sha256(download.stdout).hexdigest() == bundle["sum"] and len(download.stdout) == bundle["size"]
    with tarfile.open(fileobj=io.BytesIO(download.stdout), mode="r:gz") as tar:
        assert {"logs/antrea-controller.log", "networkpolicies.json"} <= set(tar.getnames())
    code, _ = cluster.call("DELETE", f"{SYSTEM}/supportbundles/controller")
    assert code == 200
    assert cluster.raw(f"{SYSTEM}/supportbundles/controller")["status"] == "None"


def test_controllerinfos_is_computed_live(cluster: Cluster) -> None:
    info = cluster.raw(f"{SYSTEM}/controllerinfos/antrea-controller")
    assert info["kind"] == "AntreaControllerInfo" and info["version"]
    assert [c["type"] for c in info["controllerConditions"]] == ["ControllerHealthy"]
    assert len(cluster.raw(f"{SYSTEM}/controllerinfos")["items"]) == 1


def _agent(cluster: Cluster, node: str, method: str, path: str, body: Any = None,
           token: str | None = "adapter-token") -> tuple[int, bytes]:
    info = cluster.agent_info(node)
    ctx = ssl.create_default_context(cadata=base64.b64decode(info["apiCABundle"]).decode())
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"https://{NODES[node]}:{info['apiPort']}{SYSTEM}/supportbundles{path}",
                                 data=json.dumps(body).encode() if body is not None else None, headers=headers,
                                 method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_each_agent_serves_its_bundle_over_verified_tls(cluster: Cluster) -> None:
    ports = {cluster.agent_info(n)["apiPort"] for n in NODES}
    assert len(ports) == len(NODES)
    assert _agent(cluster, "n1", "POST", "", {"metadata": {"name": "agent"}}, token=None)[0] == 401
    assert _agent(cluster, "n1", "POST", "", {"metadata": {"name": "controller"}})[0] == 403
    code, raw = _agent(cluster, "n1", "POST", "", {"metadata": {"name": "agent"}, "since": "1h"})
    assert code == 201 and json.loads(raw)["status"] == "Collecting"
    bundle = wait_for(lambda: (b := json.loads(_agent(cluster, "n1", "GET", "/agent")[1]))["status"] == "Collected"
                      and b, what="agent bundle")
    code, data = _agent(cluster, "n1", "GET", "/agent/download")
    assert code == 200 and hashlib.sha256(data).hexdigest() == bundle["sum"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        log = tar.extractfile("logs/antrea-agent.log").read().decode()  # type: ignore[union-attr]
    assert "n1" in log


def test_a_stopped_agent_refuses_connections_and_comes_back_on_its_port(cluster: Cluster) -> None:
    port = cluster.agent_info("n2")["apiPort"]
    cluster.sim.stop_agent_api("n2")
    try:
        with pytest.raises(urllib.error.URLError):
            _agent(cluster, "n2", "GET", "/agent")
    finally:
        cluster.sim.start_agent_api("n2")
    assert cluster.agent_info("n2")["apiPort"] == port
    assert _agent(cluster, "n2", "GET", "/agent")[0] == 200


def test_k8s_network_policy_realization_in_the_controlplane_view(cluster: Cluster) -> None:
    net = client.NetworkingV1Api(cluster.api)
    net.create_namespaced_network_policy("default", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}})
    realized = wait_for(lambda: (p := cluster.internal("web")) and p["status"]["phase"] == "Realized" and p,
                        what="Realized")
    assert realized["sourceRef"]["type"] == "K8sNetworkPolicy"
    assert realized["metadata"]["name"] == realized["sourceRef"]["uid"]
    assert (realized["status"]["currentNodesRealized"], realized["status"]["desiredNodesRealized"]) == (2, 2)
    cluster.sim.fail_network_policy("default", "web", "n2", "OVS flow install failed")
    failed = wait_for(lambda: (p := cluster.internal("web")) and p["status"]["phase"] == "Failed" and p,
                      what="Failed")
    condition = next(c for c in failed["status"]["conditions"] if c["type"] == "RealizationFailure")
    assert condition["reason"] == "NetworkPolicyRealizationFailedOnNode"
    assert condition["message"] == 'Failed Nodes count 1: "n2":"OVS flow install failed"'
    cluster.sim.clear_network_policy_fault("default", "web")
    wait_for(lambda: cluster.internal("web")["status"]["phase"] == "Realized", what="Realized again")  # type: ignore[index]
    net.delete_namespaced_network_policy("web", "default")
    wait_for(lambda: cluster.internal("web") is None, what="internal policy gone")


def test_an_external_realizer_reports_through_networkpolicies_status(cluster: Cluster) -> None:
    """nephe's path (antrea.md §2.7): POST a NetworkPolicyStatus for a pseudo node."""
    net = client.NetworkingV1Api(cluster.api)
    net.create_namespaced_network_policy("default", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "ext"},
        "spec": {"podSelector": {}}})
    policy = wait_for(lambda: cluster.internal("ext"), what="internal policy")
    name = policy["metadata"]["name"]
    code, _ = cluster.call("POST", f"{CONTROLPLANE}/networkpolicies/{name}/status", {
        "apiVersion": "controlplane.antrea.io/v1beta2", "kind": "NetworkPolicyStatus", "metadata": {"name": name},
        "nodes": [{"nodeName": "cloud-1", "generation": policy["metadata"]["generation"],
                   "realizationFailure": True, "message": "cloud rule rejected"}]})
    assert code == 201
    reported = wait_for(lambda: (p := cluster.internal("ext")) and {n["nodeName"]: n for n in p["status"]["nodes"]},
                        what="report")
    assert reported["cloud-1"] == {"nodeName": "cloud-1", "generation": policy["metadata"]["generation"],
                                   "realizationFailure": True, "message": "cloud rule rejected"}
    code, body = cluster.call("POST", f"{CONTROLPLANE}/networkpolicies/{name}/status", {"nodes": "n1"})
    assert code == 400 and body["reason"] == "BadRequest"
    net.delete_namespaced_network_policy("ext", "default")


def test_watch_through_the_aggregator_streams_changes(cluster: Cluster) -> None:
    listed = cluster.raw(f"{CONTROLPLANE}/networkpolicies")
    rv = listed["metadata"]["resourceVersion"]
    _, url, headers, _, _ = cluster.api.param_serialize(
        "GET", f"{CONTROLPLANE}/networkpolicies", query_params=[("watch", "true"), ("resourceVersion", rv),
                                                                 ("timeoutSeconds", "20")],
        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    resp = cluster.api.call_api("GET", url, headers, None, None, _request_timeout=30)
    events: list[dict[str, Any]] = []
    try:
        client.NetworkingV1Api(cluster.api).create_namespaced_network_policy("default", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "watched"},
            "spec": {"podSelector": {}}})
        buffer = b""
        deadline = time.monotonic() + 15
        for chunk in resp.response.stream(1024):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                events.append(json.loads(line))
            if any(e["type"] == "MODIFIED" and e["object"]["sourceRef"]["name"] == "watched"
                   and e["object"]["status"]["phase"] == "Realized" for e in events) or time.monotonic() > deadline:
                break
    finally:
        resp.response.release_conn()
    ours = [e for e in events if e["object"].get("sourceRef", {}).get("name") == "watched"]
    assert ours[0]["type"] == "ADDED"
    assert ours[-1]["object"]["status"]["phase"] == "Realized"
    client.NetworkingV1Api(cluster.api).delete_namespaced_network_policy("watched", "default")


def test_a_stopped_controller_makes_the_api_server_answer_503(cluster: Cluster) -> None:
    cluster.sim.stop_controller()
    try:
        out = cluster.kubectl("get", "--raw", f"{SYSTEM}/controllerinfos")
        assert out.returncode != 0 and b"ServiceUnavailable" in out.stderr
    finally:
        cluster.sim.resume_controller()
    wait_for(lambda: cluster.kubectl("get", "--raw", f"{SYSTEM}/controllerinfos").returncode == 0,
             what="controller back")


def test_antrea_policies_have_internal_policies_too(cluster: Cluster) -> None:
    custom = client.CustomObjectsApi(cluster.api)
    custom.create_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", {
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-db"},
        "spec": {"priority": 5, "tier": "securityops", "appliedTo": [{"podSelector": {}}],
                 "ingress": [{"action": "Drop", "name": "no-db", "from": [{"podSelector": {}}]}]}})
    try:
        internal = wait_for(lambda: next((p for p in cluster.raw(f"{CONTROLPLANE}/networkpolicies")["items"]
                                          if p["sourceRef"]["name"] == "deny-db"), None), what="internal ACNP")
        ref = internal["sourceRef"]
        assert ref["type"] == "AntreaClusterNetworkPolicy" and "namespace" not in ref
        assert (internal["priority"], internal["tierPriority"]) == (5, 100)
        assert internal["rules"] == [{"direction": "In", "priority": 0, "action": "Drop", "name": "no-db"}]
    finally:
        custom.delete_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", "deny-db")
