"""Shared fixtures for the CRD tests: the sample corpus, Antrea's upstream CRDs, emulated servers.

The corpus (``samples/<kind>.yaml``) holds objects with the verdict Antrea's own CRD schema gives
them. Tests that request a ``sample`` argument are parametrised over every sample of every kind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from crds import Resource, by_kind, load_crds

SAMPLE_DIR = Path(__file__).resolve().parent / "samples"
REPO_ROOT = Path(__file__).resolve().parents[3]
# Antrea's own CRDs live next to the repository (../shared), never inside it.
UPSTREAM_CRD_DIR = Path(
    os.environ.get("ANTREA_UPSTREAM_CRDS", REPO_ROOT.parent / "shared" / "upstream" / "antrea-crds")
)
SAMPLE_NAMESPACE = "default"
ABSENT = "<absent>"


@dataclass(frozen=True)
class Sample:
    """One object of the corpus and the verdict Antrea's schema gives it."""

    id: str
    resource: Resource
    expect: str  # "accept" or "reject"
    why: str
    body: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.expect == "accept"

    def after_mismatches(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Paths listed in ``after`` whose stored value differs: ``{path: (expected, found)}``."""
        found = {path: lookup(stored, path) for path in self.after}
        return {path: (want, found[path]) for path, want in self.after.items() if found[path] != want}

    def manifest(self) -> dict[str, Any]:
        """The full object to send: the body plus apiVersion, kind and metadata."""
        metadata: dict[str, Any] = {"name": self.id}
        if self.resource.namespaced:
            metadata["namespace"] = SAMPLE_NAMESPACE
        return {"apiVersion": self.resource.api_version, "kind": self.resource.kind, "metadata": metadata,
                **yaml.safe_load(yaml.safe_dump(self.body))}


def load_samples() -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(SAMPLE_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = by_kind(document["kind"])
        for entry in document["samples"]:
            assert entry["expect"] in ("accept", "reject"), f"{path}: {entry['id']}: bad expect"
            samples.append(
                Sample(
                    id=entry["id"],
                    resource=resource,
                    expect=entry["expect"],
                    why=entry["why"],
                    body=entry["body"],
                    after=entry.get("after") or {},
                )
            )
    return samples


SAMPLES = load_samples()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``sample`` over the corpus; a module may narrow it with ``SAMPLE_KINDS``."""
    if "sample" in metafunc.fixturenames:
        kinds = getattr(metafunc.module, "SAMPLE_KINDS", None)
        chosen = [s for s in SAMPLES if kinds is None or s.resource.kind in kinds]
        metafunc.parametrize("sample", chosen, ids=[s.id for s in chosen])


def lookup(obj: Any, dotted: str) -> Any:
    """Follow ``a.b.0.c`` through dicts and lists; returns ``ABSENT`` when a step is missing."""
    current = obj
    for step in dotted.split("."):
        if isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        elif isinstance(current, dict) and step in current:
            current = current[step]
        else:
            return ABSENT
    return current


def load_upstream_crds() -> list[dict[str, Any]]:
    """Antrea v2.7.0's CRDs, read in place from the shared folder (never copied into the project)."""
    if not UPSTREAM_CRD_DIR.is_dir():
        pytest.skip(f"upstream Antrea CRDs not found at {UPSTREAM_CRD_DIR}; comparison with Antrea skipped")
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(UPSTREAM_CRD_DIR.glob("*.yaml"))]


@pytest.fixture(scope="session")
def all_samples() -> list[Sample]:
    return SAMPLES


@pytest.fixture(scope="session")
def schema_of() -> Any:
    """``schema_of(crds, resource)``: the openAPIV3Schema serving ``resource`` among ``crds``."""
    return crd_schema


@pytest.fixture(scope="session")
def upstream_crds() -> list[dict[str, Any]]:
    return load_upstream_crds()


@pytest.fixture(scope="session")
def upstream_crds_if_present() -> list[dict[str, Any]]:
    """Antrea's CRDs, or an empty list when ../shared is absent (for tests that also run alone)."""
    if not UPSTREAM_CRD_DIR.is_dir():
        return []
    return load_upstream_crds()


@pytest.fixture(scope="session")
def upstream_crd_dir(upstream_crds: list[dict[str, Any]]) -> Path:
    """Where Antrea's CRDs were read from (skips with them when absent)."""
    return UPSTREAM_CRD_DIR


def crd_schema(crds: list[dict[str, Any]], resource: Resource) -> dict[str, Any]:
    """The openAPIV3Schema serving ``resource`` among ``crds``."""
    for crd in crds:
        if crd["metadata"]["name"] == resource.crd_name:
            for version in crd["spec"]["versions"]:
                if version["name"] == resource.version:
                    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
                    return schema
    raise KeyError(resource.crd_name)


# --- emulated API servers -------------------------------------------------------------------------


@dataclass
class Cluster:
    """An emulated API server with a set of CRDs installed, and an official client bound to it."""

    api_client: Any
    url: str

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def create(self, manifest: dict[str, Any], resource: Resource, *, dry_run: bool = True) -> Any:
        """Create ``manifest`` through the official client; returns the stored object or raises."""
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        if resource.namespaced:
            return self.custom.create_namespaced_custom_object(
                resource.group, resource.version, manifest["metadata"]["namespace"], resource.plural,
                manifest, **kwargs,
            )
        return self.custom.create_cluster_custom_object(
            resource.group, resource.version, resource.plural, manifest, **kwargs
        )

    def verdict(self, sample: Sample) -> tuple[str, Any]:
        """("accept", stored object) or ("reject", the ApiException) for a dry-run create."""
        from kubernetes.client.exceptions import ApiException

        try:
            return "accept", self.create(sample.manifest(), sample.resource)
        except ApiException as exc:
            return "reject", exc


def _kube_api_server_class() -> Any:
    from sim.kubeapi import KubeApiServer

    return KubeApiServer


def install_crds(api_client: Any, crds: list[dict[str, Any]], timeout: float = 10.0) -> None:
    """Create every CRD and wait until each reports ``Established=True``."""
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api_client)
    for crd in crds:
        ext.create_custom_resource_definition(body=crd)
    deadline = time.monotonic() + timeout
    pending = {crd["metadata"]["name"] for crd in crds}
    while pending:
        for name in sorted(pending):
            status = ext.read_custom_resource_definition(name).status
            conditions = (status.conditions if status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"CRDs not Established after {timeout}s: {sorted(pending)}")
        if pending:
            time.sleep(0.05)


@pytest.fixture(scope="session")
def cluster_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start emulated API servers on demand (``factory(crds)``); all stop at session end."""
    from kubernetes import client, config

    server_class = _kube_api_server_class()
    started: list[Any] = []

    def factory(crds: list[dict[str, Any]]) -> Cluster:
        server = server_class()
        server.__enter__()
        started.append(server)
        kubeconfig = tmp_path_factory.mktemp("kube") / "config"
        server.write_kubeconfig(kubeconfig)
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        core = client.CoreV1Api(api_client)
        try:
            core.create_namespace(body={"metadata": {"name": SAMPLE_NAMESPACE}})
        except client.exceptions.ApiException as exc:
            if exc.status != 409:
                raise
        install_crds(api_client, crds)
        return Cluster(api_client=api_client, url=server.url)

    yield factory
    for server in reversed(started):
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def project_cluster(cluster_factory: Any) -> Cluster:
    cluster: Cluster = cluster_factory(load_crds())
    return cluster


@pytest.fixture(scope="session")
def upstream_cluster(cluster_factory: Any, upstream_crds: list[dict[str, Any]]) -> Cluster:
    cluster: Cluster = cluster_factory(upstream_crds)
    return cluster


@pytest.fixture(scope="session")
def upstream_cluster_if_present(cluster_factory: Any, upstream_crds_if_present: list[dict[str, Any]]) -> Any:
    """A server with Antrea's CRDs, or None when ../shared is absent."""
    return cluster_factory(upstream_crds_if_present) if upstream_crds_if_present else None
