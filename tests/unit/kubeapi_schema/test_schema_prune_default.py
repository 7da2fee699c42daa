"""Pruning, defaulting and the structural-schema gate, with kube-apiserver's semantics."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.kubeapi.schema import NonStructuralSchemaError, StructuralSchema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "auto"},
                "note": {"type": "string", "nullable": True, "default": "n/a"},
                "plain": {"type": "string"},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "action": {"type": "string", "default": "Allow"},
                            "port": {"x-kubernetes-int-or-string": True},
                            "match": {
                                "type": "object",
                                "properties": {
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                                },
                            },
                        },
                    },
                },
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {
                        "known": {"type": "object", "properties": {"a": {"type": "string"}}},
                        "size": {"type": "integer", "default": 3},
                    },
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
                },
                "counts": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "default": 0}},
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


@pytest.fixture
def schema() -> StructuralSchema:
    return StructuralSchema(SCHEMA)


def test_prune_removes_unknown_fields_at_every_depth(schema: StructuralSchema) -> None:
    obj = {
        "apiVersion": "g/v1",
        "kind": "K",
        "metadata": {"name": "n", "whatever": 1},
        "extraTop": 1,
        "spec": {
            "plain": "x",
            "unknown": {"deep": True},
            "rules": [{"action": "Drop", "bogus": 1}, {"match": {"labels": {"a": "b"}, "oops": 2}}],
        },
        "status": {"phase": "Ok", "junk": []},
    }
    removed = schema.prune(obj)
    assert removed == [
        ".extraTop",
        ".spec.rules[0].bogus",
        ".spec.rules[1].match.oops",
        ".spec.unknown",
        ".status.junk",
    ]
    assert obj == {
        "apiVersion": "g/v1",
        "kind": "K",
        "metadata": {"name": "n", "whatever": 1},  # root metadata is the server's business
        "spec": {"plain": "x", "rules": [{"action": "Drop"}, {"match": {"labels": {"a": "b"}}}]},
        "status": {"phase": "Ok"},
    }


def test_prune_keeps_unknowns_under_preserve_but_still_prunes_declared_children(schema: StructuralSchema) -> None:
    obj = {"spec": {"free": {"anything": {"goes": [1, 2]}, "known": {"a": "x", "b": "pruned"}}}}
    assert schema.prune(obj) == [".spec.free.known.b"]
    assert obj == {"spec": {"free": {"anything": {"goes": [1, 2]}, "known": {"a": "x"}}}}


def test_prune_embedded_resource_keeps_type_meta_and_object_meta_only(schema: StructuralSchema) -> None:
    obj = {
        "spec": {
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "labels": {"a": "b"}, "notMeta": 1},
                "spec": {"x": "y", "z": 1},
                "other": True,
            }
        }
    }
    assert schema.prune(obj) == [
        ".spec.template.metadata.notMeta",
        ".spec.template.other",
        ".spec.template.spec.z",
    ]
    assert obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"x": "y"},
    }


def test_prune_leaves_int_or_string_and_additional_properties_values(schema: StructuralSchema) -> None:
    obj = {"spec": {"rules": [{"port": "http"}], "counts": {"a": {"n": 1, "drop": 2}}}}
    assert schema.prune(obj) == [".spec.counts.a.drop"]
    assert obj == {"spec": {"rules": [{"port": "http"}], "counts": {"a": {"n": 1}}}}


def test_defaults_fill_absent_fields_recursively_and_in_array_items(schema: StructuralSchema) -> None:
    obj: dict[str, Any] = {"spec": {"rules": [{}, {"action": "Drop"}], "free": {"x": 1}, "counts": {"a": {}}}}
    schema.apply_defaults(obj)
    assert obj == {
        "spec": {
            "replicas": 1,
            "mode": "auto",
            "note": "n/a",
            "rules": [{"action": "Allow"}, {"action": "Drop"}],
            "free": {"x": 1, "size": 3},
            "counts": {"a": {"n": 0}},
        }
    }


def test_defaults_do_not_create_absent_parent_objects(schema: StructuralSchema) -> None:
    obj: dict[str, Any] = {"apiVersion": "g/v1", "kind": "K"}
    schema.apply_defaults(obj)
    assert obj == {"apiVersion": "g/v1", "kind": "K"}


def test_defaults_null_handling_follows_nullable(schema: StructuralSchema) -> None:
    obj: dict[str, Any] = {"spec": {"replicas": None, "note": None, "plain": None}}
    schema.apply_defaults(obj)
    # non-nullable null with a default -> default; nullable null stays; non-nullable null without default -> dropped
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["note"] is None
    assert "plain" not in obj["spec"]


def test_defaults_are_copies_not_shared(schema: StructuralSchema) -> None:
    list_default = StructuralSchema(
        {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]}},
        }
    )
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    list_default.apply_defaults(first)
    list_default.apply_defaults(second)
    first["tags"].append("b")
    assert second["tags"] == ["a"]
    assert list_default.schema["properties"]["tags"]["default"] == ["a"]


def test_prune_then_default_then_validate_pipeline(schema: StructuralSchema) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "g/v1",
        "kind": "K",
        "spec": {"rules": [{"port": 8080, "junk": 1}], "replicas": "two"},
    }
    original = copy.deepcopy(obj)
    assert schema.prune(obj) == [".spec.rules[0].junk"]
    schema.apply_defaults(obj)
    assert obj["spec"]["rules"] == [{"port": 8080, "action": "Allow"}]
    assert [e.field for e in schema.validate(obj)] == ["spec.replicas"]
    assert original["spec"]["rules"][0]["junk"] == 1  # the caller's copy is untouched


NON_STRUCTURAL = [
    ("root-not-object", {"type": "string"}, 'type: Invalid value: "string": must be object at the root'),
    ("root-without-type", {"properties": {}}, "type: Required value: must not be empty at the root"),
    ("missing-type", {"type": "object", "properties": {"a": {"minLength": 1}}}, "properties[a].type: Required value"),
    (
        "type-in-junctor",
        {"type": "object", "properties": {"a": {"type": "string", "oneOf": [{"type": "string"}]}}},
        "oneOf[0].type: Forbidden",
    ),
    (
        "property-only-in-junctor",
        {"type": "object", "anyOf": [{"properties": {"b": {"type": "string"}}}]},
        "anyOf[0].properties[b]: Forbidden",
    ),
    (
        "additionalProperties-false",
        {"type": "object", "properties": {"a": {"type": "object", "additionalProperties": False}}},
        "additionalProperties cannot be set to false",
    ),
    (
        "properties-and-additionalProperties",
        {
            "type": "object",
            "properties": {
                "a": {
                    "type": "object",
                    "properties": {"x": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                }
            },
        },
        "mutual exclusive",
    ),
    (
        "uniqueItems",
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}},
        "uniqueItems cannot be set to true",
    ),
    (
        "ref",
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}},
        "$ref is not supported",
    ),
    (
        "list-map-without-keys",
        {
            "type": "object",
            "properties": {
                "a": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}},
            },
        },
        "x-kubernetes-list-map-keys: Required value",
    ),
    (
        "metadata-beyond-name",
        {
            "type": "object",
            "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
        },
        "only restrictions on metadata.name and metadata.generateName are allowed",
    ),
]


@pytest.mark.parametrize(
    ("schema", "fragment"), [(c[1], c[2]) for c in NON_STRUCTURAL], ids=[c[0] for c in NON_STRUCTURAL]
)
def test_non_structural_schemas_are_refused(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(NonStructuralSchemaError, match="not structural") as info:
        StructuralSchema(schema)
    assert isinstance(info.value, ValueError)
    assert any(fragment in problem for problem in info.value.problems)


def test_constructor_does_not_keep_a_reference_to_the_callers_schema() -> None:
    raw: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}}
    compiled = StructuralSchema(raw)
    raw["properties"]["a"]["default"] = "changed"
    obj: dict[str, Any] = {}
    compiled.apply_defaults(obj)
    assert obj == {"a": "x"}


def test_broken_regex_is_refused_but_go_unicode_classes_are_accepted() -> None:
    with pytest.raises(ValueError, match="must be a valid regular expression"):
        StructuralSchema({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}})
    go_only = StructuralSchema({"type": "object", "properties": {"a": {"type": "string", "pattern": r"^\p{L}+$"}}})
    assert go_only.validate({"a": "anything"}) == []  # not enforceable with Python's re: not enforced
