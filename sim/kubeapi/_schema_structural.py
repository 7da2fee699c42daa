"""The rules that make a CRD's openAPIV3Schema "structural", checked when a CRD is registered.

A real kube-apiserver refuses an ``apiextensions.k8s.io/v1`` CRD whose schema breaks these rules, so
an emulated one must too: otherwise a CRD the adapter ships could install on the fake and fail on a
cluster. Only the rules that matter for pruning/defaulting/validation semantics are enforced; each
violation is reported with kube's path notation (``spec.versions[0].schema.openAPIV3Schema`` is
left to the caller) and wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_FORBIDDEN_IN_JUNCTORS = ("type", "default", "additionalProperties", "nullable", "description")
_METADATA_ALLOWED = {"name", "generateName"}


def structural_violations(schema: Any) -> list[str]:
    """Every reason ``schema`` is not structural, as ``<path>: <problem>`` strings (empty if fine)."""
    problems: list[str] = []
    if not isinstance(schema, Mapping):
        return ["openAPIV3Schema: must be an object"]
    if not schema.get("type"):
        problems.append("type: Required value: must not be empty at the root")
    elif schema.get("type") != "object":
        problems.append(f'type: Invalid value: "{schema.get("type")}": must be object at the root')
    _check_node(schema, "", problems, root=True, in_junctor=False)
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, Mapping):
        _check_metadata(metadata, problems)
    return problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_node(node: Any, path: str, problems: list[str], *, root: bool, in_junctor: bool) -> None:
    here = path or "<root>"
    if not isinstance(node, Mapping):
        problems.append(f"{here}: must be a schema object")
        return
    if "$ref" in node:
        problems.append(f"{_join(path, '$ref')}: Forbidden: $ref is not supported")
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        problems.append(
            f"{_join(path, 'x-kubernetes-preserve-unknown-fields')}: Invalid value: false: must be true or undefined"
        )
    t = node.get("type")
    if t is not None and (not isinstance(t, str) or t not in _TYPES):
        problems.append(f"{_join(path, 'type')}: Unsupported value: {t!r}")
    if not in_junctor and not root and not t and not int_or_string and not preserve:
        problems.append(f"{_join(path, 'type')}: Required value: must not be empty for specified object fields")
    if int_or_string and t:
        problems.append(f"{_join(path, 'type')}: Invalid value: must be empty if x-kubernetes-int-or-string is true")
    pattern = node.get("pattern")
    if isinstance(pattern, str) and not _pattern_compiles(pattern):
        problems.append(f"{_join(path, 'pattern')}: Invalid value: {pattern!r}: must be a valid regular expression")
    if node.get("uniqueItems") is True:
        problems.append(
            f"{_join(path, 'uniqueItems')}: Forbidden: uniqueItems cannot be set to true since the runtime "
            "complexity becomes quadratic"
        )
    additional = node.get("additionalProperties")
    if additional is False:
        problems.append(
            f"{_join(path, 'additionalProperties')}: Forbidden: additionalProperties cannot be set to false"
        )
    if additional not in (None, False) and node.get("properties"):
        problems.append(
            f"{_join(path, 'additionalProperties')}: Forbidden: "
            "additionalProperties and properties are mutual exclusive"
        )
    _check_list_type(node, path, problems)
    if node.get("x-kubernetes-embedded-resource"):
        if t != "object":
            problems.append(
                f"{_join(path, 'type')}: Invalid value: must be object if x-kubernetes-embedded-resource is true"
            )
        if not node.get("properties") and not preserve:
            problems.append(
                f"{_join(path, 'properties')}: Required value: must not be empty if "
                "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
            )
    for key, child in (node.get("properties") or {}).items():
        _check_node(child, _join(path, f"properties[{key}]"), problems, root=False, in_junctor=in_junctor)
    if isinstance(additional, Mapping):
        _check_node(additional, _join(path, "additionalProperties"), problems, root=False, in_junctor=in_junctor)
    items = node.get("items")
    if isinstance(items, list):
        problems.append(f"{_join(path, 'items')}: Forbidden: items must be a schema object and not an array")
    elif items is not None:
        _check_node(items, _join(path, "items"), problems, root=False, in_junctor=in_junctor)
    if t == "array" and items is None and not in_junctor:
        problems.append(f"{_join(path, 'items')}: Required value: must be specified")
    for junctor in _JUNCTORS:
        for index, branch in enumerate(node.get(junctor) or []):
            _check_junctor_branch(node, branch, f"{_join(path, junctor)}[{index}]", problems, int_or_string)
    if node.get("not") is not None:
        _check_junctor_branch(node, node["not"], _join(path, "not"), problems, int_or_string)


def _pattern_compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        # Go RE2 character classes Python's re lacks (\p{L}...) are valid upstream: accept them.
        return "\\p{" in pattern or "\\P{" in pattern
    return True


def _check_junctor_branch(
    outer: Mapping[str, Any], branch: Any, path: str, problems: list[str], int_or_string: bool
) -> None:
    if not isinstance(branch, Mapping):
        problems.append(f"{path}: must be a schema object")
        return
    for key in _FORBIDDEN_IN_JUNCTORS:
        if key not in branch:
            continue
        if key == "type" and int_or_string and branch.get("type") in ("integer", "string"):
            continue  # the two allowed int-or-string patterns
        problems.append(f"{_join(path, key)}: Forbidden: must be empty to be structural")
    outer_props = outer.get("properties") or {}
    for key, child in (branch.get("properties") or {}).items():
        if key not in outer_props:
            problems.append(
                f"{_join(path, f'properties[{key}]')}: Forbidden: must not be specified in a junctor "
                "without also being specified outside of it"
            )
        _check_node(child, _join(path, f"properties[{key}]"), problems, root=False, in_junctor=True)
    if branch.get("items") is not None and outer.get("items") is None:
        problems.append(f"{_join(path, 'items')}: Forbidden: must be specified outside the junctor too")
    for junctor in _JUNCTORS:
        for index, nested in enumerate(branch.get(junctor) or []):
            _check_junctor_branch(outer, nested, f"{_join(path, junctor)}[{index}]", problems, int_or_string)


def _check_list_type(node: Mapping[str, Any], path: str, problems: list[str]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    map_keys = node.get("x-kubernetes-list-map-keys")
    if list_type is None:
        if map_keys:
            problems.append(
                f"{_join(path, 'x-kubernetes-list-map-keys')}: Forbidden: must not be specified if "
                "x-kubernetes-list-type is not map"
            )
        return
    if list_type not in ("atomic", "set", "map"):
        problems.append(f"{_join(path, 'x-kubernetes-list-type')}: Unsupported value: {list_type!r}")
        return
    if node.get("type") != "array":
        problems.append(f"{_join(path, 'x-kubernetes-list-type')}: Invalid value: must only be used on type array")
        return
    items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
    assert isinstance(items, Mapping)
    atomic_item = items.get("x-kubernetes-map-type") == "atomic" or items.get("x-kubernetes-list-type") == "atomic"
    if list_type == "set" and items.get("type") in ("object", "array") and not atomic_item:
        problems.append(
            f"{_join(path, 'items.type')}: Invalid value: must be a scalar type if x-kubernetes-list-type is set"
        )
    if list_type == "map":
        if not map_keys:
            problems.append(
                f"{_join(path, 'x-kubernetes-list-map-keys')}: Required value: must not be empty if "
                "x-kubernetes-list-type is map"
            )
        if items.get("type") != "object":
            problems.append(
                f"{_join(path, 'items.type')}: Invalid value: must be object if x-kubernetes-list-type is map"
            )
        props = items.get("properties") or {}
        required = set(items.get("required") or [])
        for key in map_keys or []:
            if key not in props:
                problems.append(f"{_join(path, 'items.properties')}: Invalid value: {key!r} must be a property")
            elif key not in required and "default" not in props[key]:
                problems.append(
                    f"{_join(path, 'items.properties')}: Invalid value: {key!r} must be required or have a default"
                )


def _check_metadata(metadata: Mapping[str, Any], problems: list[str]) -> None:
    allowed = {"type", "properties", "description"}
    for key in metadata:
        if key not in allowed:
            problems.append(
                f"properties[metadata].{key}: Forbidden: must not be specified; only restrictions on "
                "metadata.name and metadata.generateName are allowed"
            )
    for key in metadata.get("properties") or {}:
        if key not in _METADATA_ALLOWED:
            problems.append(
                f"properties[metadata].properties[{key}]: Forbidden: must not be specified; only restrictions "
                "on metadata.name and metadata.generateName are allowed"
            )
