"""config/: every kustomization builds, the output is valid Kubernetes 1.32, and `kubectl apply -k`
of the bootstrap and default bases into the local control plane yields the intended Deployment and RBAC."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from crds import MANIFEST_DIR
from reconciler.envtest import Environment
from tests.conftest import Kubectl

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
KUSTOMIZATIONS = sorted(str(p.parent.relative_to(CONFIG)) for p in CONFIG.rglob("kustomization.yaml"))
K8S_VERSION = "1.32.0"
NAMESPACE = "vmware-system-antrea"


@functools.cache
def _build(name: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    result = subprocess.run([kubectl, "kustomize", str(CONFIG / name)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def build(name: str) -> list[dict[str, Any]]:
    """``kubectl kustomize config/<name>`` as objects (built once per session)."""
    return [d for d in yaml.safe_load_all(_build(name)) if d]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{kind} {name}: {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def test_every_base_and_overlay_is_tested() -> None:
    assert {"crd", "rbac", "manager", "default", "bootstrap", "samples", "overlays/ha",
            "overlays/dev"} <= set(KUSTOMIZATIONS)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_builds_and_validates_against_kubernetes_1_32(name: str) -> None:
    objs = build(name)
    assert objs
    for obj in objs:
        if obj["kind"] == "CustomResourceDefinition" and name != "crd":
            continue  # the same objects as config/crd's, validated there
        # strict: unknown fields are errors too (CRDs are validated as CustomResourceDefinitions).
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def containers(deploy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in deploy["spec"]["template"]["spec"]["containers"]}


def test_default_is_hardened_and_runs_both_adapters() -> None:
    objs = build("default")
    assert not [o for o in objs if o["kind"] == "CustomResourceDefinition"]  # Antrea owns its CRDs
    assert {o["metadata"].get("namespace", NAMESPACE) for o in objs if o["kind"] not in (
        "Namespace", "ClusterRole", "ClusterRoleBinding")} == {NAMESPACE}
    deploy = find(objs, "Deployment", "antrea-nsx-adapter-controller")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert "node-role.kubernetes.io/control-plane" in pod["nodeSelector"]
    assert {t["key"] for t in pod["tolerations"]} >= {"node-role.kubernetes.io/control-plane"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "antrea-nsx-adapter-controller"
    by_name = containers(deploy)
    assert set(by_name) == {"mp-adapter", "ccp-adapter"}
    ports: set[int] = set()
    for role, c in (("mp", by_name["mp-adapter"]), ("ccp", by_name["ccp-adapter"])):
        assert c["command"] == ["antrea-nsx-adapter", role]
        assert c["image"] == by_name["mp-adapter"]["image"]  # one image
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["resources"]["requests"] and c["resources"]["limits"]
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        args = dict(a.removeprefix("--").split("=", 1) for a in c["args"])
        assert args["health-probe-bind-address"] == f":{named[f'{role}-health']}"
        assert args["metrics-bind-address"] == f":{named[f'{role}-metrics']}"
        assert args["bootstrap-config"] == "/etc/antrea/bootstrap-config/bootstrap.conf"
        assert args["nsx-client-cert-file"] == "/etc/antrea/nsx-cert/tls.crt"
        assert args["leader-elect"] == "false"
        ports |= set(named.values())
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        assert mounts["nsx-cert"]["readOnly"] is True
    assert len(ports) == 4  # the containers share the Pod's network: no port used twice
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["bootstrap-config"]["configMap"]["name"] == "bootstrap-config"  # well-known, unprefixed
    assert volumes["nsx-cert"]["secret"]["secretName"] == "nsx-cert"
    assert deploy["spec"]["strategy"]["type"] == "Recreate"  # one replica, no leader election: no overlap


def test_every_flag_in_the_manifests_exists() -> None:
    """A typo in args would crash-loop the Pod; check them against the CLI's own parser."""
    from controllers.cli import build_parser

    parser = build_parser()
    for overlay in ("default", "overlays/ha", "overlays/dev"):
        for c in containers(find(build(overlay), "Deployment")).values():
            command = c["command"][1]
            if command == "mp":
                continue  # the MP adapter's command is not in the CLI yet (see docs/operations.md)
            parser.parse_args([command, *c["args"]])


def test_ha_overlay() -> None:
    objs = build("overlays/ha")
    deploy = find(objs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    for c in containers(deploy).values():
        assert "--leader-elect=true" in c["args"]
    pdb = find(objs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    assert find(objs, "Role", "antrea-nsx-adapter-leader-election-role")


def test_dev_overlay_points_at_a_simulator_with_crds() -> None:
    objs = build("overlays/dev")
    assert len([o for o in objs if o["kind"] == "CustomResourceDefinition"]) == 9
    conf = yaml.safe_load(find(objs, "ConfigMap", "bootstrap-config")["data"]["bootstrap.conf"])
    assert conf["clusterName"] == "dev-cluster" and conf["NSXManagers"]
    for c in containers(find(objs, "Deployment")).values():
        assert "--nsx-ca-file=/etc/antrea/nsx-ca/ca.crt" in c["args"]  # TLS verification stays on
        assert not [a for a in c["args"] if a.startswith("--nsx-insecure")]


def test_bootstrap_samples_hold_placeholders_only() -> None:
    objs = build("bootstrap")
    conf = yaml.safe_load(find(objs, "ConfigMap", "bootstrap-config")["data"]["bootstrap.conf"])
    assert set(conf) >= {"clusterName", "NSXManagers"}
    secret = find(objs, "Secret", "nsx-cert")
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"tls.crt", "tls.key"}
    text = json.dumps(objs)
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text


@pytest.fixture(scope="module")
def own_kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """kubectl against a control plane of this module's own (the session's may hold another test's
    vmware-system-antrea namespace), with the Antrea CRDs installed as Antrea would have."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    home = tmp_path_factory.mktemp("kubectl-home")
    with Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=home / "kubeconfig") as cfg:
        env = dict(os.environ, HOME=str(home), KUBECONFIG=str(cfg.kubeconfig),
                   KUBECACHEDIR=str(home / ".kube" / "cache"))

        def run(*args: str, check: bool = True, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
            return subprocess.run([binary, *args], env=env, input=input, capture_output=True, text=True,
                                  check=check, timeout=timeout)

        yield run


@pytest.mark.slow
def test_apply_bootstrap_then_default_into_the_control_plane(own_kubectl: Kubectl) -> None:
    kubectl = own_kubectl
    kubectl("apply", "-k", str(CONFIG / "bootstrap"))
    out = kubectl("apply", "-k", str(CONFIG / "default")).stdout
    assert "deployment.apps/antrea-nsx-adapter-controller created" in out or "configured" in out
    deploy = json.loads(kubectl("get", "deployment", "-n", NAMESPACE, "antrea-nsx-adapter-controller",
                                "-o", "json").stdout)
    by_name = containers(deploy)
    assert by_name["ccp-adapter"]["command"] == ["antrea-nsx-adapter", "ccp"]
    assert by_name["mp-adapter"]["command"] == ["antrea-nsx-adapter", "mp"]
    assert "--health-probe-bind-address=:8083" in by_name["ccp-adapter"]["args"]
    role = json.loads(kubectl("get", "clusterrole", "antrea-nsx-adapter-manager-role", "-o", "json").stdout)
    assert any("clusternetworkpolicies" in r["resources"] for r in role["rules"])
    binding = json.loads(kubectl("get", "clusterrolebinding", "antrea-nsx-adapter-manager-rolebinding",
                                 "-o", "json").stdout)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "antrea-nsx-adapter-controller",
                                    "namespace": NAMESPACE}]
    for kind, name in (("role", "antrea-nsx-adapter-leader-election-role"),
                       ("rolebinding", "antrea-nsx-adapter-bootstrap-rolebinding"),
                       ("serviceaccount", "antrea-nsx-adapter-controller"), ("configmap", "bootstrap-config"),
                       ("secret", "nsx-cert"), ("service", "antrea-nsx-adapter-metrics")):
        kubectl("get", kind, "-n", NAMESPACE, name)
    again = kubectl("apply", "-k", str(CONFIG / "default")).stdout  # idempotent
    assert "deployment.apps/antrea-nsx-adapter-controller unchanged" in again
