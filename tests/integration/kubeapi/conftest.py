"""One emulated API server per test session, reached only through real clients over HTTP.

Tests isolate themselves with a fresh namespace (``ns``) and uniquely named CRDs (``make_crd``),
never with their own server; fault rules are cleared after each test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from sim.kubeapi import KubeApiServer


@pytest.fixture(scope="session")
def kapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.3) as srv:
        srv.write_kubeconfig(tmp_path_factory.mktemp("kubeapi") / "kubeconfig")
        yield srv


@pytest.fixture(scope="session")
def kubeconfig(kapi: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kapi.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig")


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(str(kubeconfig))
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _clear_faults(kapi: KubeApiServer) -> Iterator[None]:
    yield
    kapi.faults.clear()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def wait_until(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    return wait_until


def crd_manifest(group: str, plural: str, kind: str, *, scope: str = "Namespaced",
                 versions: list[dict[str, Any]] | None = None, short_names: list[str] | None = None,
                 categories: list[str] | None = None) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer", "minimum": 1, "default": 3},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }, "required": ["color"]},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    }}}
    names: dict[str, Any] = {"plural": plural, "kind": kind}
    if short_names:
        names["shortNames"] = short_names
    if categories:
        names["categories"] = categories
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope, "names": names,
                 "versions": versions or [{"name": "v1", "served": True, "storage": True, "schema": schema,
                                           "subresources": {"status": {}}}]},
    }


@pytest.fixture
def make_crd(api: client.ApiClient) -> Callable[..., dict[str, Any]]:
    """Create a CRD in a unique group; returns the created object as a dict."""
    ext = client.ApiextensionsV1Api(api)

    def make(plural: str = "widgets", kind: str = "Widget", **kw: Any) -> dict[str, Any]:
        group = f"g{uuid.uuid4().hex[:8]}.example.com"
        manifest = crd_manifest(group, plural, kind, **kw)
        ext.create_custom_resource_definition(manifest)
        return manifest

    return make


@pytest.fixture(scope="session")
def kubectl_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubectl-home")


@pytest.fixture
def kubectl(kubeconfig: Path, kubectl_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real kubectl with an isolated HOME and discovery cache (shared in the session)."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    env = dict(os.environ, HOME=str(kubectl_home), KUBECONFIG=str(kubeconfig),
               KUBECACHEDIR=str(kubectl_home / "cache"))

    def run(*args: str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([binary, *args], env=env, input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.env = env  # type: ignore[attr-defined]
    run.binary = binary  # type: ignore[attr-defined]
    return run


@pytest.fixture
def crd_doc() -> Callable[..., dict[str, Any]]:
    """The CRD manifest builder behind ``make_crd`` (for tests that create the CRD themselves)."""
    return crd_manifest


@pytest.fixture
def raw(kapi: KubeApiServer) -> Callable[..., Any]:
    """Plain HTTP to the server (requests), for wire-level checks the typed client hides."""
    import requests

    session = requests.Session()

    def call(method: str, path: str, **kw: Any) -> Any:
        return session.request(method, kapi.url + path, timeout=10, **kw)

    return call
