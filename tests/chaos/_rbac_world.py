"""A cluster with RBAC enforced and ``config/default`` applied, for running the adapter as its own
ServiceAccount: the emulated API server (RBAC and TLS on: kubectl sends tokens only over TLS), the
Antrea CRDs, the bootstrap objects, a few workloads, the NSX Manager simulator and the Antrea stand-in.

Everything the test does as a human (kubectl apply, NSX edits, the Antrea stand-in) runs with the
envtest admin token; only the adapter holds the ServiceAccount token, minted with
``kubectl create token``. The request log names clients by token fingerprint, so the adapter's
requests are told apart from everyone else's.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as k8s

from controllers.ccp.translate import cluster_path
from crds import MANIFEST_DIR
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment, load_crds
from reconciler.errors import NotFound
from sim.antrea import AntreaSimulator
from sim.kubeapi import KubeApiServer, RequestRecord
from sim.kubeapi.faults import client_id
from sim.nsx import NsxSimulator

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "vmware-system-antrea"
SERVICE_ACCOUNT = "antrea-nsx-adapter-controller"
CLUSTER_ROLE = "antrea-nsx-adapter-manager-role"
CLUSTER = "rbac-chaos"
DOMAIN = "/policy/api/v1/infra/domains/default"
WORKLOAD_NS = "shop"
PODS = ("web-1", "web-2", "db-1")


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (requests.RequestException, KeyError, IndexError, NotFound):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def rendered_config() -> list[dict[str, Any]]:
    """``kubectl kustomize config/default``, as a user would apply it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "config" / "default")], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def without_verb(docs: list[dict[str, Any]], resource: str, verb: str) -> list[dict[str, Any]]:
    """``docs`` with ``verb`` taken off ``resource`` in the adapter's ClusterRole (the rule is split
    so the other resources of the rule keep the verb)."""
    out = []
    for doc in docs:
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == CLUSTER_ROLE:
            rules: list[dict[str, Any]] = []
            for rule in doc["rules"]:
                if resource in rule.get("resources", []) and verb in rule.get("verbs", []):
                    others = [r for r in rule["resources"] if r != resource]
                    if others:
                        rules.append({**rule, "resources": others})
                    rules.append({**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]})
                else:
                    rules.append(rule)
            assert rules != doc["rules"], f"{CLUSTER_ROLE} does not grant {verb} on {resource}"
            out.append({**doc, "rules": rules})
        else:
            out.append(doc)
    return out


@dataclass
class RbacWorld:
    workdir: Path
    kube: KubeApiServer
    admin: KubeClient
    nsx: NsxSimulator
    antrea: AntreaSimulator
    http: requests.Session
    kubectl_env: dict[str, str]
    adapter_token: str = ""
    proc: subprocess.Popen[str] | None = None
    log_file: Path = field(default_factory=Path)

    # -- kubectl, as the cluster admin -----------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None) -> str:
        binary = shutil.which("kubectl")
        assert binary is not None
        proc = subprocess.run([binary, *args], env=self.kubectl_env, input=input, capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    # -- the adapter, as its ServiceAccount -------------------------------------------------------
    def start_adapter(self) -> None:
        """``antrea-nsx-adapter run`` with a kubeconfig holding only the ServiceAccount token."""
        self.adapter_token = self.kubectl("create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE).strip()
        kubeconfig = self.kube.write_kubeconfig(self.workdir / "adapter.kubeconfig", NAMESPACE,
                                                token=self.adapter_token)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREA_NSX_ADAPTER_")}
        env.pop("KUBECONFIG", None)
        self.log_file = self.workdir / "adapter.log"
        with self.log_file.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controllers.cli", "run", "--kubeconfig", str(kubeconfig),
                 "--nsx-ca-file", str(self.nsx.ca_file), "--leader-elect", "--leader-election-namespace", NAMESPACE,
                 "--health-probe-bind-address", "0", "--nsx-poll-interval", "0.5", "--inventory-batch-period", "0.2",
                 "--heartbeat-interval", "1s", "--stats-interval", "1s"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)

    def stop_adapter(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def adapter_log(self) -> str:
        return self.log_file.read_text() if self.log_file.is_file() else ""

    def adapter_requests(self) -> list[RequestRecord]:
        me = client_id(self.adapter_token)
        return [r for r in self.kube.requests if r.client == me]

    # -- NSX, as its admin ------------------------------------------------------------------------
    def nsx_patch(self, path: str, body: dict[str, Any]) -> None:
        resp = self.http.patch(self.nsx.url + path, json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def nsx_get(self, path: str) -> Any:
        resp = self.http.get(self.nsx.url + path, timeout=10)
        return resp.json() if resp.ok else None

    def cluster_id(self) -> str:
        cm = self.admin.get(("v1", "ConfigMap"), "cluster-id", NAMESPACE)
        return str(yaml.safe_load(cm["data"]["cluster-id.conf"])["clusterID"])

    def close(self) -> None:
        self.stop_adapter()
        self.antrea.stop()
        self.http.close()
        self.nsx.stop()
        self.admin.close()
        self.kube.stop()


def _workloads(admin: KubeClient) -> None:
    for node in ("node-1", "node-2"):
        admin.create(("v1", "Node"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    admin.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": WORKLOAD_NS, "labels": {"team": "retail"}}})
    for index, name in enumerate(PODS):
        admin.create(("v1", "Pod"), {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": WORKLOAD_NS, "labels": {"app": name.split("-")[0]}},
            "spec": {"nodeName": f"node-{index % 2 + 1}", "containers": [{"name": "main", "image": "example/app:1"}]}})
        admin.patch_status(("v1", "Pod"), name, {"status": {"phase": "Running", "podIP": f"10.10.0.{index + 10}",
                                                            "podIPs": [{"ip": f"10.10.0.{index + 10}"}]}}, WORKLOAD_NS)


def build_rbac_world(workdir: Path, config_docs: list[dict[str, Any]]) -> RbacWorld:
    """Start everything and apply ``config_docs`` (config/default, possibly edited); the adapter is
    not started yet."""
    workdir.mkdir(parents=True, exist_ok=True)
    kube = KubeApiServer(rbac=True, tls=True).start()
    parts: list[Any] = [kube]
    try:
        kubeconfig = kube.write_kubeconfig(workdir / "admin.kubeconfig")
        configuration = k8s.Configuration()
        from kubernetes import config as kube_config

        kube_config.load_kube_config(str(kubeconfig), client_configuration=configuration, persist_config=False)
        env = Environment()
        env.config = EnvConfig(kubeconfig, configuration, "emulator", kube)
        env.install_crds(load_crds([MANIFEST_DIR]))
        admin = env.config.client(qps=-1)
        parts.append(admin)
        home = workdir / "kubectl-home"
        kubectl_env = dict(os.environ, HOME=str(home), KUBECONFIG=str(kubeconfig),
                           KUBECACHEDIR=str(home / "cache"))
        nsx = NsxSimulator(tls=True).start()
        parts.append(nsx)
        antrea = AntreaSimulator(kubeconfig, realization_delay=0.2, heartbeat_interval=1.0,
                                 stats_interval=0.5).start()
        parts.append(antrea)
        http = requests.Session()
        http.auth = (nsx.username, nsx.password)
        http.verify = str(nsx.ca_file)
        http.trust_env = False
        world = RbacWorld(workdir, kube, admin, nsx, antrea, http, kubectl_env)
        world.apply(config_docs)
        admin.create(("v1", "ConfigMap"), {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bootstrap-config"},
            "data": {"bootstrap.conf": yaml.safe_dump({"clusterName": CLUSTER, "NSXManagers": [nsx.url]})}},
            NAMESPACE)
        admin.create(("v1", "Secret"), {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nsx-cert"},
            "data": {"username": base64.b64encode(nsx.username.encode()).decode(),
                     "password": base64.b64encode(nsx.password.encode()).decode()}}, NAMESPACE)
        _workloads(admin)
        return world
    except BaseException:
        for part in reversed(parts):
            part.stop() if hasattr(part, "stop") else part.close()
        raise


def antrea_policy(world: RbacWorld, policy_id: str) -> None:
    """An NSX admin's Antrea groups and a DFW policy scoped to the cluster."""
    for app in ("web", "db"):
        world.nsx_patch(f"{DOMAIN}/groups/{app}", {"group_type": ["ANTREA"], "expression": [
            {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
             "value": f"dis:k8s:app|{app}"}]})
    world.nsx_patch(f"{DOMAIN}/security-policies/{policy_id}", {
        "resource_type": "SecurityPolicy", "category": "Application", "sequence_number": 5,
        "scope": [cluster_path(CLUSTER)], "rules": [{
            "resource_type": "Rule", "id": "web-db", "sequence_number": 1, "action": "ALLOW", "direction": "IN_OUT",
            "source_groups": ["/infra/domains/default/groups/web"],
            "destination_groups": ["/infra/domains/default/groups/db"], "services": ["ANY"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "pg", "l4_protocol": "TCP",
                                 "destination_ports": ["5432"]}]}]})


def realization(world: RbacWorld, policy_id: str) -> str:
    status = world.nsx_get("/policy/api/v1/infra/realized-state/status?intent_path="
                           f"/infra/domains/default/security-policies/{policy_id}") or {}
    per = status.get("consolidated_status_per_enforcement_point") or [{}]
    return str((per[0].get("consolidated_status") or {}).get("consolidated_status", "UNKNOWN"))
