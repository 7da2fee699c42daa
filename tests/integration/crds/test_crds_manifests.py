"""The generated CRD manifests: current, complete, structural, and equivalent to Antrea's schemas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from crds import ALL_RESOURCES, MANIFEST_DIR, Resource, load_crd, load_crds, manifest_paths
from crds.generator.render import stale_files

CRD_DIR = MANIFEST_DIR.parent
# antrea.md §1-§5: which kinds have a status subresource.
WITH_STATUS = {"ClusterNetworkPolicy", "NetworkPolicy", "ClusterGroup", "Group", "Traceflow",
               "SupportBundleCollection"}
JUNCTORS = ("oneOf", "anyOf", "allOf", "not")


def test_checked_in_manifests_match_the_builders() -> None:
    assert stale_files(CRD_DIR) == [], "run `python -m crds.generator` to regenerate crds/manifests"


def test_one_crd_per_kind_with_the_names_of_the_resource_table() -> None:
    crds = {crd["spec"]["names"]["kind"]: crd for crd in load_crds()}
    assert set(crds) == {r.kind for r in ALL_RESOURCES}
    assert len(manifest_paths()) == len(ALL_RESOURCES)
    for resource in ALL_RESOURCES:
        crd = crds[resource.kind]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["metadata"]["name"] == resource.crd_name
        assert crd["spec"]["group"] == resource.group
        assert crd["spec"]["names"]["plural"] == resource.plural
        assert crd["spec"]["names"]["singular"] == resource.singular
        assert tuple(crd["spec"]["names"]["shortNames"]) == resource.short_names
        assert crd["spec"]["scope"] == ("Namespaced" if resource.namespaced else "Cluster")
        [version] = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == (resource.version, True, True)
        assert ("status" in version.get("subresources", {})) == (resource.kind in WITH_STATUS)
        assert load_crd(resource.plural) is not None


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((CRD_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = sorted(CRD_DIR / entry for entry in kustomization["resources"])
    assert listed == manifest_paths()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_all_crds() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(CRD_DIR)], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    rendered = [doc for doc in yaml.safe_load_all(out) if doc]
    assert sorted(d["metadata"]["name"] for d in rendered) == sorted(r.crd_name for r in ALL_RESOURCES)


def _structural_problems(node: dict[str, Any], path: str, in_junctor: bool = False) -> list[str]:
    """Violations of the Kubernetes structural-schema rules that matter for these CRDs."""
    problems: list[str] = []
    untyped_ok = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if in_junctor:
        problems += [f"{path}: '{k}' inside a junctor" for k in ("type", "default", "description") if k in node]
    elif "type" not in node and not untyped_ok:
        problems.append(f"{path}: no type")
    for name, child in node.get("properties", {}).items():
        problems += _structural_problems(child, f"{path}.{name}", in_junctor)
    if isinstance(node.get("items"), dict):
        problems += _structural_problems(node["items"], f"{path}[]", in_junctor)
    if isinstance(node.get("additionalProperties"), dict):
        problems += _structural_problems(node["additionalProperties"], f"{path}{{}}", in_junctor)
    for junctor in JUNCTORS:
        branches = [node[junctor]] if junctor == "not" and junctor in node else node.get(junctor, [])
        for i, branch in enumerate(branches):
            problems += _structural_problems(branch, f"{path}/{junctor}[{i}]", True)
    return problems


@pytest.mark.parametrize("resource", ALL_RESOURCES, ids=lambda r: r.kind)
def test_schema_is_structural(resource: Resource, schema_of: Any) -> None:
    assert _structural_problems(schema_of(load_crds(), resource), resource.kind) == []


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """Order-insensitive form: lists become sorted lists of their canonical YAML."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted(yaml.safe_dump(_canonical(v), sort_keys=True) for v in value)
    return value


@pytest.mark.parametrize("resource", ALL_RESOURCES, ids=lambda r: r.kind)
def test_same_validation_rules_as_antrea(resource: Resource, upstream_crds: list[dict[str, Any]]) -> None:
    """Descriptions and layout are ours; every validation keyword, name and column matches Antrea's."""
    ours = next(c for c in load_crds() if c["metadata"]["name"] == resource.crd_name)
    theirs = next(c for c in upstream_crds if c["metadata"]["name"] == resource.crd_name)
    assert _canonical(_without_descriptions(ours["spec"])) == _canonical(_without_descriptions(theirs["spec"]))


def test_manifests_are_written_not_copied(upstream_crd_dir: Path) -> None:
    """Our files carry our own descriptions and none of Antrea's comments."""
    for path in manifest_paths():
        text = path.read_text(encoding="utf-8")
        assert text != (upstream_crd_dir / path.name).read_text(encoding="utf-8")
        assert "# Ensure that" not in text
        assert "description:" in text


def test_generator_detects_and_repairs_drift(tmp_path: Path) -> None:
    from crds.generator.__main__ import main
    from crds.generator.render import write_all

    written = write_all(tmp_path)
    assert len(written) == len(ALL_RESOURCES) + 1  # the manifests and the kustomization
    assert stale_files(tmp_path) == []
    edited = tmp_path / "manifests" / "tier.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("maximum: 255", "maximum: 256"), encoding="utf-8")
    assert stale_files(tmp_path) == [edited]
    assert write_all(tmp_path) == [edited]
    assert stale_files(tmp_path) == []
    assert main(["--check"]) == 0  # the checked-in tree
