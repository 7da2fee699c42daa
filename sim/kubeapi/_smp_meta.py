"""Strategic-merge-patch metadata of the built-in kinds, read from Kubernetes 1.32's own schemas.

kube-apiserver takes ``patchStrategy``/``patchMergeKey`` from the Go struct tags of its types; the
OpenAPI definitions shipped in the ``kubernetes-validate`` package carry the same information as
``x-kubernetes-patch-strategy``/``x-kubernetes-patch-merge-key``. The file is large (~1.3 MB), so
it is located without importing the package, parsed on first use only, and shared afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA_VERSION = "v1.32.0-local"
_LOCK = threading.Lock()
_DEFS: dict[str, Any] | None = None
_GVK_INDEX: dict[tuple[str, str], str] | None = None


@dataclass(frozen=True)
class FieldMeta:
    """How SMP treats one field: its strategies (``merge``, ``retainKeys``, ``replace``) and merge key."""

    schema: Mapping[str, Any] | None
    strategies: tuple[str, ...] = ()
    merge_key: str = ""

    @property
    def strategy(self) -> str:
        """The list/map strategy once ``retainKeys`` is set aside (``merge``, ``replace`` or "")."""
        rest = [s for s in self.strategies if s != "retainKeys"]
        return rest[0] if rest else ""


def _definitions_file() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the kubernetes-validate package is not installed; it ships the built-in schemas")
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "kubernetes-json-schema" / _SCHEMA_VERSION / "_definitions.json"


def _load() -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    global _DEFS, _GVK_INDEX
    with _LOCK:
        if _DEFS is None or _GVK_INDEX is None:
            with _definitions_file().open(encoding="utf-8") as fh:
                raw = json.load(fh)
            defs: dict[str, Any] = raw.get("$defs") or raw.get("definitions") or {}
            index: dict[tuple[str, str], str] = {}
            for name, definition in defs.items():
                for gvk in definition.get("x-kubernetes-group-version-kind") or []:
                    group, version = gvk.get("group", ""), gvk.get("version", "")
                    api_version = f"{group}/{version}" if group else version
                    index.setdefault((api_version, gvk.get("kind", "")), name)
            _DEFS, _GVK_INDEX = defs, index
        return _DEFS, _GVK_INDEX


def root_schema(api_version: str, kind: str) -> Mapping[str, Any] | None:
    """The definition of a built-in kind, or None when the kind is not built in (e.g. a CRD)."""
    defs, index = _load()
    name = index.get((api_version, kind))
    return defs[name] if name else None


def resolve(schema: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Follow ``$ref`` (and single-element ``allOf`` wrappers) to the referenced definition."""
    defs, _ = _load()
    seen = 0
    while schema is not None and seen < 32:
        seen += 1
        ref = schema.get("$ref")
        if isinstance(ref, str):
            schema = defs.get(ref.rsplit("/", 1)[-1])
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and not schema.get("properties"):
            schema = all_of[0]
            continue
        break
    return schema


def _strategies(prop: Mapping[str, Any]) -> tuple[str, ...]:
    raw = prop.get("x-kubernetes-patch-strategy") or ""
    return tuple(s for s in str(raw).split(",") if s)


def field_meta(parent: Mapping[str, Any] | None, key: str) -> FieldMeta:
    """Metadata for ``parent[key]``; unknown fields get none (SMP then replaces lists, merges maps)."""
    node = resolve(parent)
    if node is None:
        return FieldMeta(None)
    props = node.get("properties") or {}
    prop = props.get(key)
    if prop is None:
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            prop = additional
    if prop is None:
        return FieldMeta(None)
    strategies = _strategies(prop)
    merge_key = str(prop.get("x-kubernetes-patch-merge-key") or "")
    target = resolve(prop)
    if target is not None and not strategies and not merge_key and target is not prop:
        strategies = _strategies(target)
        merge_key = str(target.get("x-kubernetes-patch-merge-key") or "")
    return FieldMeta(target, strategies, merge_key)


def item_schema(list_schema: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The schema of one element of a list field."""
    node = resolve(list_schema)
    if node is None:
        return None
    items = node.get("items")
    return resolve(items) if isinstance(items, Mapping) else None


def supports(api_version: str, kind: str) -> bool:
    _, index = _load()
    return (api_version, kind) in index
