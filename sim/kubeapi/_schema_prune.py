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
# What can hold fields to prune or default (a tuple: isinstance with a tuple is faster than with X | Y).
_CONTAINERS = (dict, list)


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
        if type(items) is dict or isinstance(items, Mapping):
            for index, item in enumerate(value):
                if isinstance(item, _CONTAINERS):  # a scalar has nothing to prune
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
    additional_is_schema = type(additional) is dict or isinstance(additional, Mapping)
    # Child paths are only built where they can be used: a scalar child has nothing to prune.
    for key in list(value):
        if (root or embedded) and key in _ROOT_KEPT and key not in props:
            if embedded and key == "metadata" and isinstance(value[key], dict):
                _prune_object_meta(value[key], _key_path(path, key), removed)
            continue
        if root and key == "metadata":
            continue  # root metadata belongs to the server, whatever the schema says about it
        if key in props:
            child = value[key]
            if isinstance(child, _CONTAINERS):
                prune(child, props[key], _key_path(path, key), removed, root=False)
        elif additional_is_schema:
            child = value[key]
            if isinstance(child, _CONTAINERS):
                prune(child, additional, _key_path(path, key), removed, root=False)
        elif additional is True or preserve:
            continue
        else:
            del value[key]
            removed.append(_key_path(path, key))


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
        if not (type(additional) is dict or isinstance(additional, Mapping)):
            additional = None
        for key in list(value):
            child_schema = props.get(key) if key in props else additional
            if child_schema is None:
                continue
            child = value[key]
            if _non_nullable_null(child, child_schema) and "default" not in child_schema:
                del value[key]
            elif isinstance(child, _CONTAINERS):  # a scalar has nothing inside to drop
                drop_non_nullable_nulls(child, child_schema)
    elif isinstance(value, list):
        items = schema.get("items")
        if type(items) is dict or isinstance(items, Mapping):
            for item in value:
                if isinstance(item, _CONTAINERS):
                    drop_non_nullable_nulls(item, items)


def apply_defaults(value: Any, schema: Mapping[str, Any] | None) -> None:
    """Fill absent (or non-nullable null) fields with their schema default, recursing into results."""
    if schema is None:
        return
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key, prop in props.items():
            if not (type(prop) is dict or isinstance(prop, Mapping)) or "default" not in prop:
                continue
            if key not in value or _non_nullable_null(value[key], prop):
                value[key] = copy.deepcopy(prop["default"])
        additional: Any = schema.get("additionalProperties")
        additional_is_schema = type(additional) is dict or isinstance(additional, Mapping)
        # Recursion only into containers: a scalar (defaulted or not) has no fields to default.
        for key in list(value):
            if key in props:
                child = value[key]
                if isinstance(child, _CONTAINERS):
                    apply_defaults(child, props[key])
            elif additional_is_schema:
                if _non_nullable_null(value[key], additional) and "default" in additional:
                    value[key] = copy.deepcopy(additional["default"])
                child = value[key]
                if isinstance(child, _CONTAINERS):
                    apply_defaults(child, additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if type(items) is dict or isinstance(items, Mapping):
            for index, item in enumerate(value):
                if _non_nullable_null(item, items) and "default" in items:
                    value[index] = copy.deepcopy(items["default"])
                child = value[index]
                if isinstance(child, _CONTAINERS):
                    apply_defaults(child, items)
