"""Fixtures shared by every test: one control plane per session, cheap per-test isolation.

The control plane is chosen like envtest does (see :mod:`reconciler.envtest`): the emulated API
server by default, real binaries with ``KUBEBUILDER_ASSETS``, the current cluster with
``USE_EXISTING_CLUSTER=true``. Tests isolate themselves with their own namespace
(``kube_namespace``), never with their own server.

Tests that must also pass on a real cluster carry the ``conformance`` marker and need no fault
injection; fault-injection tests take ``kube_server``, which skips on a real control plane::

    @pytest.mark.conformance
    def test_get_missing_is_not_found(kube_client, kube_namespace):
        with pytest.raises(NotFound):
            kube_client.get(("v1", "ConfigMap"), "nope", kube_namespace)

    def test_survives_500s(kube_client, kube_server):
        kube_server.faults.fail_next(3, 500, method="GET")
        ...

    USE_EXISTING_CLUSTER=true .venv/bin/pytest -m conformance
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment
from reconciler.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "crds" / "manifests"


@pytest.fixture(scope="session")
def kube_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvConfig]:
    """The session's control plane, with the project's CRDs (``crds/manifests/``) installed."""
    env = Environment(
        crd_paths=[CRD_DIR] if CRD_DIR.is_dir() else [],
        kubeconfig_path=tmp_path_factory.mktemp("kube") / "kubeconfig",
    )
    config = env.start()
    try:
        yield config
    finally:
        env.stop()


@pytest.fixture(scope="session")
def kubeconfig_path(kube_env: EnvConfig) -> Path:
    """Path of a kubeconfig for the session's control plane."""
    return kube_env.kubeconfig


@pytest.fixture(scope="session")
def kube_client(kube_env: EnvConfig) -> Iterator[KubeClient]:
    """A shared :class:`KubeClient` without client-side rate limit (tests measure the server, not
    the limiter) and with retries as in production."""
    client = kube_env.client(qps=-1)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kube_server(kube_env: EnvConfig) -> Iterator[Any]:
    """The emulated ``KubeApiServer`` for fault injection; faults are cleared after the test.
    Skips when the session runs against real binaries or an existing cluster."""
    if kube_env.server is None:
        pytest.skip("fault injection needs the emulated API server")
    yield kube_env.server
    kube_env.server.faults.clear()


@pytest.fixture
def kube_namespace(kube_client: KubeClient) -> Iterator[str]:
    """A fresh namespace for one test (deleted afterwards, best effort: like envtest, a namespace
    may stay Terminating on a control plane without a namespace controller)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_client.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        kube_client.delete(("v1", "Namespace"), name)
    except NotFound:
        pass


Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def kubectl_env(kubeconfig_path: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for running kubectl (or kustomize, helm, ...) against the session's control
    plane: ``KUBECONFIG`` set, ``HOME`` and ``KUBECACHEDIR`` under the test's tmp dir (kubectl
    caches discovery per host:port, which goes stale across sessions and must not touch the user's
    ``~/.kube``)."""
    home = tmp_path / "kubectl-home"
    home.mkdir(exist_ok=True)
    return dict(os.environ, HOME=str(home), KUBECONFIG=str(kubeconfig_path),
                KUBECACHEDIR=str(home / ".kube" / "cache"))


@pytest.fixture
def kubectl(kubectl_env: dict[str, str]) -> Kubectl:
    """Run ``kubectl`` in :func:`kubectl_env`::

        out = kubectl("get", "ns", "-o", "name").stdout

    Keyword ``check`` (default True) raises on a non-zero exit; ``input`` feeds stdin."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    env = kubectl_env

    def run(*args: str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], env=env, input=input, capture_output=True, text=True,
                              check=check, timeout=timeout)

    return run
