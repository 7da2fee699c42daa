"""Properties that must hold for any input, found by hypothesis rather than hand-picked cases."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.kubeapi.patch import json_patch, merge_patch, strategic_merge_patch
from sim.kubeapi.schema import StructuralSchema

_keys = st.sampled_from(["a", "b", "c", "spec", "x"])
_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3))
# Merge patches cannot express null values in the result, so generated documents hold none.
_docs = st.recursive(
    _scalars | st.lists(_scalars, max_size=3),
    lambda children: st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _docs, max_size=4)


def _create_merge_patch(a: Any, b: Any) -> Any:
    """The RFC 7386 patch that turns ``a`` into ``b`` (test-only oracle)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return copy.deepcopy(b)
    patch: dict[str, Any] = {key: None for key in a if key not in b}
    for key, value in b.items():
        if key not in a:
            patch[key] = copy.deepcopy(value)
        elif a[key] != value or type(a[key]) is not type(value):
            patch[key] = _create_merge_patch(a[key], value)
    return patch


@settings(max_examples=40, deadline=None)
@given(_objects, _objects)
def test_merge_patch_of_the_diff_reproduces_the_target(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert merge_patch(a, _create_merge_patch(a, b)) == b


@settings(max_examples=30, deadline=None)
@given(_objects)
def test_merge_patch_with_itself_is_idempotent(a: dict[str, Any]) -> None:
    once = merge_patch({}, a)
    assert merge_patch(once, a) == once


@settings(max_examples=30, deadline=None)
@given(_objects, _keys, _docs)
def test_json_patch_add_then_remove_round_trips(doc: dict[str, Any], key: str, value: Any) -> None:
    added = json_patch(doc, [{"op": "add", "path": f"/{key}", "value": value}])
    assert added[key] == value
    removed = json_patch(added, [{"op": "remove", "path": f"/{key}"}])
    expected = {k: v for k, v in doc.items() if k != key}
    assert removed == expected


_SCHEMA = StructuralSchema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "a": {"type": "string"},
                    "x": {
                        "type": "object",
                        "properties": {"b": {"type": "integer"}, "c": {"type": "array", "items": {"type": "object"}}},
                    },
                    "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
)


@settings(max_examples=40, deadline=None)
@given(_objects)
def test_prune_is_idempotent_and_reports_only_what_it_removed(obj: dict[str, Any]) -> None:
    first = copy.deepcopy(obj)
    removed = _SCHEMA.prune(first)
    second = copy.deepcopy(first)
    assert _SCHEMA.prune(second) == []
    assert second == first
    assert len(removed) == len(set(removed))
    if not removed:
        assert first == obj


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=3), max_size=3))
def test_smp_label_patch_matches_merge_patch_for_plain_maps(labels: dict[str, str]) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "z": "9"}}}
    patch = {"metadata": {"labels": labels}}
    assert strategic_merge_patch(cm, patch, "v1", "ConfigMap") == merge_patch(cm, patch)


_RICH_SCHEMA = StructuralSchema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["a"],
                "properties": {
                    "a": {"type": "string", "enum": ["x", "y"], "maxLength": 2},
                    "b": {"x-kubernetes-int-or-string": True},
                    "x": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["a"],
                        "items": {
                            "type": "object",
                            "required": ["a"],
                            "oneOf": [{"required": ["b"]}, {"required": ["c"]}],
                            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "string"}},
                        },
                    },
                    "c": {"type": "object", "additionalProperties": {"type": "string", "format": "cidr"}},
                },
            }
        },
    }
)


@settings(max_examples=40, deadline=None)
@given(_objects)
def test_validate_never_crashes_and_every_error_is_kube_shaped(obj: dict[str, Any]) -> None:
    errors = _RICH_SCHEMA.validate(obj)
    assert errors == _RICH_SCHEMA.validate(copy.deepcopy(obj))  # deterministic order
    for error in errors:
        assert error.reason.startswith("FieldValue")
        assert error.field == "<nil>" or error.field.startswith("spec")
        assert error.message
