"""Read the packaged CRD manifests (``crds/manifests/*.yaml``) as plain dicts.

Test control planes install these before the adapter starts, exactly as a cluster would have them
from Antrea's own chart. Parsing is cached (the ACNP schema alone is large) and every call returns
fresh copies, so callers may mutate what they get.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

MANIFEST_DIR: Path = Path(__file__).resolve().parent / "manifests"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_paths() -> list[Path]:
    """The CRD files, one per kind, sorted by name."""
    return sorted(MANIFEST_DIR.glob("*.yaml"))


@functools.lru_cache(maxsize=32)
def _parse(path: Path, mtime_ns: int) -> dict[str, Any]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # CSafeLoader/SafeLoader only
    if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{path} does not hold a CustomResourceDefinition")
    return document


def load_crds() -> list[dict[str, Any]]:
    """Every CRD as a dict ready for ``ApiextensionsV1Api.create_custom_resource_definition``."""
    return [copy.deepcopy(_parse(path, path.stat().st_mtime_ns)) for path in manifest_paths()]


def load_crd(plural: str) -> dict[str, Any]:
    """The CRD serving ``plural`` (e.g. ``clusternetworkpolicies``)."""
    for crd in load_crds():
        if crd["spec"]["names"]["plural"] == plural:
            return crd
    raise KeyError(plural)
