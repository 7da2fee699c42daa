"""Pruning and defaulting over a structural schema's skeleton, as kube-apiserver does them.

Both walk only what the schema declares (``properties``, ``additionalProperties``, ``items``); the
logical junctors (oneOf/anyOf/allOf/not) never add fields, which is exactly why kube insists that
schemas be structural. A real apiserver silently drops unknown fields, so an emulator that kept them
would let a client pass against the fake and lose data on a real cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Fields of ObjectMeta: the only keys kept in an embedded resource's metadata.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_ROOT_KEPT = ("apiVersion", "kind", "metadata")


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}"


def prune(value: Any, schema: Mapping[str, Any] | None, path: str, removed: list[str], *, root: bool) -> None:
    """Delete, in place, every field of ``value`` that ``schema`` does not declare."""
    if schema is None:
        return
    if isinstance(value, dict):
        _prune_object(value, schema, path, removed, root=root)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                prune(item, items, f"{path}[{index}]", removed, root=False)


def _prune_object(
    value: dict[str, Any], schema: Mapping[str, Any], path: str, removed: list[str], *, root: bool
) -> None:
    props: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    if schema.get("x-kubernetes-int-or-string"):
        return
    for key in list(value):
        child_path = _key_path(path, key)
        if (root or embedded) and key in _ROOT_KEPT and key not in props:
            if embedded and key == "metadata" and isinstance(value[key], dict):
                _prune_object_meta(value[key], child_path, removed)
            continue
        if root and key == "metadata":
            continue  # root metadata belongs to the server, whatever the schema says about it
        if key in props:
            prune(value[key], props[key], child_path, removed, root=False)
        elif isinstance(additional, Mapping):
            prune(value[key], additional, child_path, removed, root=False)
        elif additional is True or preserve:
            continue
        else:
            del value[key]
            removed.append(child_path)


def _prune_object_meta(meta: dict[str, Any], path: str, removed: list[str]) -> None:
    for key in list(meta):
        if key not in OBJECT_META_FIELDS:
            del meta[key]
            removed.append(_key_path(path, key))


def _non_nullable_null(value: Any, schema: Mapping[str, Any] | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def drop_non_nullable_nulls(value: Any, schema: Mapping[str, Any] | None) -> None:
    """Remove ``null`` fields the schema does not allow to be null and cannot default.

    kube-apiserver does this just before defaulting ("null values for fields that either don't
    specify the nullable flag, or give it a false value, will be pruned before defaulting happens").
    Array items are never removed, only recursed into.
    """
    if schema is None:
        return
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key in list(value):
            child_schema = props.get(key) if key in props else (additional if isinstance(additional, Mapping) else None)
            if child_schema is None:
                continue
            if _non_nullable_null(value[key], child_schema) and "default" not in child_schema:
                del value[key]
            else:
                drop_non_nullable_nulls(value[key], child_schema)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                drop_non_nullable_nulls(item, items)


def apply_defaults(value: Any, schema: Mapping[str, Any] | None) -> None:
    """Fill absent (or non-nullable null) fields with their schema default, recursing into results."""
    if schema is None:
        return
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key, prop in props.items():
            if not isinstance(prop, Mapping) or "default" not in prop:
                continue
            if key not in value or _non_nullable_null(value[key], prop):
                value[key] = copy.deepcopy(prop["default"])
        additional = schema.get("additionalProperties")
        for key in list(value):
            if key in props:
                apply_defaults(value[key], props[key])
            elif isinstance(additional, Mapping):
                if _non_nullable_null(value[key], additional) and "default" in additional:
                    value[key] = copy.deepcopy(additional["default"])
                apply_defaults(value[key], additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                if _non_nullable_null(item, items) and "default" in items:
                    value[index] = copy.deepcopy(items["default"])
                apply_defaults(value[index], items)
