"""`hack/kind/`: the real-cluster scripts cannot run here (no Docker engine), so this checks what can
be checked without one — shell syntax, pinned versions, and the manifests the script applies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
KIND = ROOT / "hack" / "kind"
SCRIPTS = (KIND / "up.sh", KIND / "down.sh")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_fail_fast(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout


def test_up_pins_antrea_and_the_node_image_and_installs_the_released_manifest() -> None:
    text = (KIND / "up.sh").read_text(encoding="utf-8")
    version = re.search(r'ANTREA_VERSION="\$\{ANTREA_VERSION:-(v\d+\.\d+\.\d+)\}"', text)
    assert version, "ANTREA_VERSION must default to a pinned release vX.Y.Z"
    assert re.search(r'KIND_NODE_IMAGE="\$\{KIND_NODE_IMAGE:-kindest/node:v\d+\.\d+\.\d+\}"', text)
    assert "https://github.com/antrea-io/antrea/releases/download/$ANTREA_VERSION/antrea.yml" in text
    assert 'kind load docker-image "$IMAGE"' in text
    assert "render_dev.py" in text and "kubectl apply -f -" in text
    # The image tag is not "latest", so the kubelet never tries to pull the local-only image.
    image = re.search(r'IMAGE="\$\{IMAGE:-([^}]+)\}"', text)
    assert image and not image.group(1).endswith(":latest")
    # The pinned version is the one docs/kind.md tells people about.
    assert version.group(1) in (ROOT / "docs" / "kind.md").read_text(encoding="utf-8")


def test_kind_config_disables_the_default_cni_and_has_a_control_plane_node() -> None:
    config = yaml.safe_load((KIND / "kind-config.yaml").read_text(encoding="utf-8"))
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["networking"]["disableDefaultCNI"] is True
    roles = [n["role"] for n in config["nodes"]]
    assert roles.count("control-plane") == 1 and "worker" in roles


def _render(mode: str) -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with kustomize) is not on the PATH")
    result = subprocess.run([sys.executable, str(KIND / "render_dev.py"), "--mode", mode, "--image",
                             "antrea-nsx-adapter:kind-dev"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_the_applied_overlay_leaves_antreas_crds_alone_and_uses_the_loaded_image() -> None:
    docs = _render("release")
    kinds = {d["kind"] for d in docs}
    assert "CustomResourceDefinition" not in kinds
    assert {"Deployment", "ConfigMap", "Secret", "ClusterRole"} <= kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert {c["name"] for c in containers} == {"mp-adapter", "ccp-adapter"}
    for container in containers:
        assert container["image"] == "antrea-nsx-adapter:kind-dev"
        assert container["imagePullPolicy"] == "IfNotPresent"
    bootstrap = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "bootstrap-config")
    assert "NSXManagers" in bootstrap["data"]["bootstrap.conf"]


def test_without_antrea_the_overlay_brings_the_crds() -> None:
    crds = {d["metadata"]["name"] for d in _render("crds") if d["kind"] == "CustomResourceDefinition"}
    assert {"clusternetworkpolicies.crd.antrea.io", "tiers.crd.antrea.io", "clustergroups.crd.antrea.io"} <= crds
