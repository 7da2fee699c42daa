"""The NSX intent the CCP adapter translates: policies, groups and services keyed by policy path.

Two producers feed it: the live adapter (paged Policy API lists) and the `translate --nsx-export`
preview (a file holding either NSX's hierarchical ``Infra`` tree or a flat export, mapping.md §10).
Both end up here so that translation never cares where the intent came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nsx.predefined_services import predefined_services

DEFAULT_DOMAIN = "/infra/domains/default"


@dataclass
class NsxSnapshot:
    """Plain NSX Policy API objects, as NSX returns them, keyed by their ``path``."""

    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    # policy path -> container cluster paths from `container-cluster-span` children (mapping.md §2).
    spans: dict[str, list[str]] = field(default_factory=dict)
    # Entries of the input that could not even be keyed (no id, not an object): (where, reason).
    load_errors: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_lists(
        cls,
        policies: Iterable[Any],
        groups: Iterable[Any],
        services: Iterable[Any] = (),
        *,
        spans: Mapping[str, list[str]] | None = None,
        with_predefined: bool = True,
    ) -> NsxSnapshot:
        snap = cls()
        if with_predefined:
            snap.services.update(predefined_services())
        for where, items, parent, collection, target in (
            ("services", services, "/infra", "services", snap.services),
            ("groups", groups, DEFAULT_DOMAIN, "groups", snap.groups),
            ("security_policies", policies, DEFAULT_DOMAIN, "security-policies", snap.policies),
        ):
            for i, obj in enumerate(items):
                path = object_path(obj, parent, collection)
                if path is None:
                    snap.load_errors.append((f"{where}[{i}]", "not an NSX object with an id or path"))
                    continue
                target[path] = obj
        for policy in snap.policies.values():
            _take_span_children(snap, policy)
        if spans:
            for path, clusters in spans.items():
                snap.spans.setdefault(path, []).extend(clusters)
        return snap

    @classmethod
    def from_objects(
        cls,
        policies: Mapping[str, Any],
        groups: Mapping[str, Any],
        services: Mapping[str, Any],
        *,
        load_errors: Iterable[tuple[str, str]] = (),
    ) -> NsxSnapshot:
        """A snapshot of objects already keyed by path, kept as the same dicts (no predefined
        services are added: ``services`` holds every one the snapshot should know)."""
        snap = cls(policies=dict(policies), groups=dict(groups), services=dict(services),
                   load_errors=list(load_errors))
        for policy in snap.policies.values():
            if isinstance(policy, dict):
                _take_span_children(snap, policy)
        return snap


def object_path(obj: Any, parent: str, collection: str) -> str | None:
    """The NSX path of a listed object: its ``path``, else ``parent/collection/id``; None if neither."""
    if not isinstance(obj, dict):
        return None
    path = obj.get("path")
    if isinstance(path, str) and path.startswith("/"):
        return path
    oid = obj.get("id")
    if isinstance(oid, str) and oid and "/" not in oid:
        return f"{parent}/{collection}/{oid}"
    return None


def _take_span_children(snap: NsxSnapshot, policy: dict[str, Any]) -> None:
    """Move ``container-cluster-span`` children of a tree-shaped policy into ``snap.spans``."""
    children = policy.get("children")
    if not isinstance(children, list):
        return
    path = policy.get("path")
    for child in children:
        if not isinstance(child, dict) or child.get("marked_for_delete") is True:
            continue
        inner = child.get("SecurityPolicyContainerCluster", child)
        if isinstance(inner, dict) and inner.get("resource_type") == "SecurityPolicyContainerCluster":
            cluster = inner.get("container_cluster_path")
            if isinstance(path, str) and isinstance(cluster, str):
                snap.spans.setdefault(path, []).append(cluster)


class ExportError(ValueError):
    """The export file as a whole cannot be read (as opposed to one bad object inside it)."""


def load_export(data: Any) -> NsxSnapshot:
    """Accept NSX's ``Infra`` tree or the flat ``{groups, security_policies, services}`` form."""
    if not isinstance(data, dict):
        raise ExportError("an NSX export must be a JSON/YAML object (an Infra tree or a flat export)")
    if data.get("resource_type") == "Infra" or "children" in data:
        return _load_tree(data)
    known = {"groups", "security_policies", "services", "results"}
    if not known & data.keys():
        raise ExportError(
            "unrecognised NSX export: expected an Infra object with 'children' or an object with "
            "'groups', 'security_policies' and/or 'services'"
        )
    lists: dict[str, list[Any]] = {}
    for key in ("groups", "security_policies", "services"):
        value = data.get(key, [])
        if isinstance(value, dict) and isinstance(value.get("results"), list):
            value = value["results"]  # a pasted ListResult
        if not isinstance(value, list):
            raise ExportError(f"'{key}' must be a list of NSX objects")
        lists[key] = value
    return NsxSnapshot.from_lists(lists["security_policies"], lists["groups"], lists["services"])


def _load_tree(infra: dict[str, Any]) -> NsxSnapshot:
    policies: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    _walk(infra, "/infra", policies, groups, services)
    return NsxSnapshot.from_lists(policies, groups, services)


def _unwrap(child: Any) -> dict[str, Any] | None:
    """``{"resource_type": "ChildGroup", "Group": {...}}`` -> the Group, tombstones dropped."""
    if not isinstance(child, dict) or child.get("marked_for_delete") is True:
        return None
    rtype = child.get("resource_type")
    if isinstance(rtype, str) and rtype.startswith("Child"):
        inner = child.get(rtype[len("Child"):])
        if isinstance(inner, dict) and inner.get("marked_for_delete") is not True:
            return inner
        return None
    return child


def _walk(
    node: dict[str, Any],
    node_path: str,
    policies: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    services: list[dict[str, Any]],
) -> None:
    children = node.get("children")
    if not isinstance(children, list):
        return
    for raw in children:
        obj = _unwrap(raw)
        if obj is None:
            continue
        rtype = obj.get("resource_type")
        oid = obj.get("id")
        if rtype == "Domain" and isinstance(oid, str):
            _walk(obj, f"/infra/domains/{oid}", policies, groups, services)
        elif rtype == "Group":
            _with_path(obj, node_path, "groups")
            groups.append(obj)
        elif rtype == "SecurityPolicy":
            _with_path(obj, node_path, "security-policies")
            rules = [r for r in _items(obj, "rules") if isinstance(r, dict)]
            rules += [r for r in map(_unwrap, _items(obj, "children")) if r and r.get("resource_type") == "Rule"]
            obj = {**obj, "rules": rules}
            policies.append(obj)
        elif rtype == "Service":
            _with_path(obj, "/infra", "services")
            entries = [e for e in _items(obj, "service_entries") if isinstance(e, dict)]
            children = [e for e in map(_unwrap, _items(obj, "children")) if e]
            entries += [e for e in children if str(e.get("resource_type")).endswith("ServiceEntry")]
            services.append({**obj, "service_entries": entries})


def _items(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _with_path(obj: dict[str, Any], parent: str, collection: str) -> None:
    if not isinstance(obj.get("path"), str) and isinstance(obj.get("id"), str):
        obj["path"] = f"{parent}/{collection}/{obj['id']}"
