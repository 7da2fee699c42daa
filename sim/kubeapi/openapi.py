"""A minimal ``/openapi/v3``: enough for kubectl to trust server-side field validation.

kubectl (default ``--validate=strict``) reads the root, then the document of the object's
group-version, and looks for a PATCH operation tagged with the kind's
``x-kubernetes-group-version-kind`` that accepts a ``fieldValidation`` query parameter. When it
finds one it sends ``fieldValidation=Strict`` and lets the server judge, so no schemas are needed
here (kubectl falls back to its compiled-in schemas for client-side apply merges). The ``hash``
changes whenever the served types change, which invalidates kubectl's cache of the documents.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .kinds import ResourceType
from .registry import Registry

_PARAM = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
          {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
          {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gv_pairs(registry: Registry) -> list[tuple[str, str]]:
    pairs = [("", v) for v in registry.versions("")]
    for group in registry.groups():
        pairs += [(group, v) for v in registry.versions(group)]
    return pairs


def gv_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.resources(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        for path, ops in _paths(rt).items():
            paths[path] = {op: {"operationId": f"{op}{rt.kind}", "x-kubernetes-group-version-kind": gvk,
                                "x-kubernetes-action": op if op != "put" else "put",
                                "parameters": _PARAM,
                                "responses": {"200": {"description": "OK"}}} for op in ops}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": {}}}


def _paths(rt: ResourceType) -> dict[str, list[str]]:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    out = {base: ["post"], f"{base}/{{name}}": ["put", "patch"]}
    if rt.status_subresource:
        out[f"{base}/{{name}}/status"] = ["put", "patch"]
    return out


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def root(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group, version in _gv_pairs(registry):
        doc = gv_document(registry, group, version)
        if doc is None:
            continue
        key = _gv_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(doc)}"}
    return {"paths": paths}
