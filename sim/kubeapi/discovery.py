"""``/version`` and legacy discovery documents, built from the registry on every request.

The v37 client validates these with strict pydantic models (every required field must be there),
and kubectl/DynamicClient resolve kinds, short names and the status subresource from them.
Aggregated discovery (v2) is served only when asked for (kubectl does; it saves one request per
group-version); the Python clients use the legacy documents.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .kinds import STANDARD_VERBS, SUBRESOURCE_VERBS, ResourceType
from .registry import Registry

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.versions(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    doc = _group(registry, group)
    if doc is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **doc}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [g for g in (_group(registry, name) for name in registry.groups()) if g is not None]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _storage_hash(rt: ResourceType) -> str:
    raw = hashlib.sha256(f"{rt.group}/{rt.storage_version or rt.version}/{rt.kind}".encode()).digest()
    import base64

    return base64.b64encode(raw[:8]).decode()


def _resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": list(STANDARD_VERBS), "storageVersionHash": _storage_hash(rt)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = sorted(registry.resources(group, version), key=lambda t: t.plural)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_resource(rt))
        if rt.status_subresource:
            resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": list(SUBRESOURCE_VERBS)})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """kubectl asks ``/api`` and ``/apis`` for aggregated discovery first (one request instead of
    one per group-version); other clients send plain ``application/json``."""
    return "g=apidiscovery.k8s.io" in accept and "v=v2" in accept and "as=APIGroupDiscoveryList" in accept


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    entry: dict[str, Any] = {"resource": rt.plural, "responseKind": kind, "singularResource": rt.singular,
                             "scope": "Namespaced" if rt.namespaced else "Cluster", "verbs": list(STANDARD_VERBS)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.status_subresource:
        entry["subresources"] = [{"subresource": "status", "responseKind": kind, "verbs": list(SUBRESOURCE_VERBS)}]
    return entry


def _aggregated_group(registry: Registry, group: str) -> dict[str, Any]:
    versions = [{"version": v, "freshness": "Current",
                 "resources": [_aggregated_resource(rt) for rt in
                               sorted(registry.resources(group, v), key=lambda t: t.plural)]}
                for v in registry.versions(group)]
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


def aggregated(registry: Registry, legacy_core: bool) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (core group only) or ``/apis`` (named groups)."""
    groups = [""] if legacy_core else registry.groups()
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": [_aggregated_group(registry, g) for g in groups]}
