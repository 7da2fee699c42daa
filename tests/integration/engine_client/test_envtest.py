"""reconciler.envtest: backend choice, CRD installation, and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import errors
from reconciler.client import KubeClient
from reconciler.envtest import Environment, load_crds

ROOT = Path(__file__).resolve().parents[3]

GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.envtest.example.com"},
    "spec": {
        "group": "envtest.example.com",
        "scope": "Cluster",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object",
                                                     "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


def test_backend_is_chosen_like_envtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("USE_EXISTING_CLUSTER", "KUBEBUILDER_ASSETS", "TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_ETCD"):
        monkeypatch.delenv(var, raising=False)
    assert Environment(binary_assets_directory=tmp_path).backend == "emulator"
    for name in ("kube-apiserver", "etcd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assert Environment().backend == "binaries"
    monkeypatch.setenv("USE_EXISTING_CLUSTER", "true")
    assert Environment().backend == "existing"
    assert Environment(use_existing_cluster=False).backend == "binaries"


def test_load_crds_reads_multi_document_files(tmp_path: Path) -> None:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([GADGET_CRD, other]))
    (tmp_path / "b.txt").write_text("ignored")
    assert [c["metadata"]["name"] for c in load_crds([tmp_path])] == ["gadgets.envtest.example.com"]
    with pytest.raises(FileNotFoundError):
        Environment([tmp_path / "missing"], error_if_crd_path_missing=True).start()


def test_environment_installs_crds_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USE_EXISTING_CLUSTER", raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "gadget.yaml").write_text(yaml.safe_dump(GADGET_CRD))
    env = Environment([crd_dir], binary_assets_directory=tmp_path)
    with env as cfg:
        assert cfg.backend == "emulator" and cfg.server is not None
        assert [c["metadata"]["name"] for c in cfg.crds] == ["gadgets.envtest.example.com"]
        client = KubeClient.from_kubeconfig(cfg.kubeconfig, qps=-1)
        res = client.resource("envtest.example.com/v1", "Gadget")
        assert not res.namespaced
        client.create(res, {"apiVersion": "envtest.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}})
        assert client.get(res, "g")["metadata"]["name"] == "g"
        client.close()
        url = cfg.configuration.host
    with pytest.raises(errors.ConnectionFailure):  # stopped: nothing listens any more
        KubeClient.from_configuration(cfg.configuration, qps=-1, max_retries=0).get_json("/version")
    assert url.startswith("http")


def test_command_line_runs_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "gadget.yaml").write_text(yaml.safe_dump(GADGET_CRD))
    env = dict(os.environ)
    env.pop("USE_EXISTING_CLUSTER", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.envtest", "--kubeconfig", str(kubeconfig), "--crd-dir", str(crd_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        detail = line + (proc.stderr.read() if proc.poll() is not None else "")
        assert line.startswith("envtest ready:") and "crds=1" in line, detail
        client = KubeClient.from_kubeconfig(kubeconfig, qps=-1)
        assert client.resource("envtest.example.com/v1", "Gadget").plural == "gadgets"
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.conformance
def test_kubectl_fixture_talks_to_the_session_control_plane(
    kubectl: Any, kube_client: KubeClient, kube_namespace: str, tmp_path: Path
) -> None:
    kube_client.create(("v1", "ConfigMap"), {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "from-client", "namespace": kube_namespace}})
    out = kubectl("get", "configmaps", "-n", kube_namespace, "-o", "name").stdout.split()
    assert "configmap/from-client" in out
    manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                               "metadata": {"name": "from-kubectl", "namespace": kube_namespace}})
    kubectl("apply", "-f", "-", input=manifest)
    assert kube_client.get(("v1", "ConfigMap"), "from-kubectl", kube_namespace)["data"] == {"k": "v"}
    # Discovery is cached under the test's own HOME, not the user's.
    assert (tmp_path / "kubectl-home" / ".kube" / "cache").is_dir()
