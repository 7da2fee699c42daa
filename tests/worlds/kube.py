"""The Kubernetes side of a world: a control plane chosen like envtest does (the emulated API server
unless ``KUBEBUILDER_ASSETS`` or ``USE_EXISTING_CLUSTER`` say otherwise), with the project's CRDs,
and the objects several suites need (Nodes, the adapter's ServiceAccount and RBAC role)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_api
from kubernetes import config as kube_config

from crds import MANIFEST_DIR
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment

ADAPTER_ROLE = Path(__file__).resolve().parents[2] / "config" / "rbac" / "role.yaml"
"""The adapter's ClusterRole as the repository ships it (``manager-role``)."""
ADAPTER_NAMESPACE = "adapter-ns"


@contextmanager
def control_plane(workdir: Path, *, emulator_only: str | None = None,
                  nodes: Iterable[str] = ()) -> Iterator[EnvConfig]:
    """A control plane of its own (kubeconfig in ``workdir``), stopped on exit. Suites that inject
    faults or read the request log pass ``emulator_only``, the reason to skip on any other backend.
    ``nodes`` are created bare (:func:`create_node`) before it is handed over, for suites whose
    Antrea stand-in realizes policies on Nodes and that need nothing more of them."""
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")
    cfg = env.start()
    try:
        if emulator_only and cfg.backend != "emulator":
            pytest.skip(emulator_only)
        if nodes:
            with cfg.client() as kube:
                for node in nodes:
                    create_node(kube, node)
        yield cfg
    finally:
        env.stop()


@contextmanager
def official_api(cfg: EnvConfig) -> Iterator[kube_api.ApiClient]:
    """An official ``kubernetes`` client from the kubeconfig, as the Antrea stand-ins are given."""
    api = kube_config.new_client_from_config(config_file=str(cfg.kubeconfig))
    try:
        yield api
    finally:
        api.close()


def create_node(kube: KubeClient, name: str, *, spec: dict[str, Any] | None = None,
                internal_ip: str | None = None) -> str:
    """Create a Node (no kubelet: ``spec`` and the InternalIP address are whatever the test says);
    returns its UID, the external id NSX inventory uses for it."""
    node: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    if spec is not None:
        node["spec"] = spec
    if internal_ip:
        node["status"] = {"addresses": [{"type": "InternalIP", "address": internal_ip}]}
    return str(kube.create(("v1", "Node"), node)["metadata"]["uid"])


def install_adapter_role(kube: KubeClient) -> None:
    """The adapter's namespace and config/rbac's ClusterRole, for suites that run the adapter as a
    ServiceAccount with RBAC enforced."""
    kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": ADAPTER_NAMESPACE}})
    kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                 body=yaml.safe_load(ADAPTER_ROLE.read_text()))


def service_account_kubeconfig(cfg: EnvConfig, kube: KubeClient, name: str, tmp: Path, *, bind: bool = True) -> Path:
    """A kubeconfig (written to ``tmp``) for ServiceAccount ``adapter-ns/<name>``, bound to the
    adapter's ClusterRole when ``bind``; needs :func:`install_adapter_role` first."""
    kube.request("POST", f"/api/v1/namespaces/{ADAPTER_NAMESPACE}/serviceaccounts", body={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    if bind:
        kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body={
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{name}-manager"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "manager-role"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ADAPTER_NAMESPACE}]})
    token = kube.request("POST", f"/api/v1/namespaces/{ADAPTER_NAMESPACE}/serviceaccounts/{name}/token", body={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})["status"]["token"]
    doc = yaml.safe_load(Path(cfg.kubeconfig).read_text())
    doc["users"][0]["user"] = {"token": token}
    path = tmp / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path
