"""The compiled prune detector and null-dropper (``_schema_prune_fast``) agree with ``_schema_prune``.

``StructuralSchema.prune`` skips the interpretive prune when the detector says nothing can be
removed, and ``apply_defaults`` runs the compiled dropper instead of ``drop_non_nullable_nulls``;
so a detector "no" must mean the real prune is a no-op, and the dropper must leave exactly the
object (or raise exactly the error) the interpretive walk does.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crds import by_kind, load_crds
from sim.kubeapi._schema_prune import apply_defaults, drop_non_nullable_nulls, prune
from sim.kubeapi._schema_prune_fast import compile_drop_nulls, compile_prune_check
from sim.kubeapi.schema import StructuralSchema

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "integration" / "crds" / "samples"
_KEYS = ["a", "b", "apiVersion", "kind", "metadata", "name", "junk"]
_keys = st.sampled_from(_KEYS)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "x"]))
_instances = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)
_flags = {
    "type": st.sampled_from(["object", "array", "string", "integer"]),
    "nullable": st.booleans(),
    "default": _scalars,
    "x-kubernetes-preserve-unknown-fields": st.booleans(),
    "x-kubernetes-embedded-resource": st.booleans(),
    "x-kubernetes-int-or-string": st.booleans(),
}


def _node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            **_flags,
            "properties": st.dictionaries(_keys, children, max_size=4),
            "additionalProperties": st.one_of(st.booleans(), children),
            "items": st.one_of(children, st.lists(children, max_size=2)),
        },
    )


# Mostly schema objects; now and then None, a bool or a list where a schema is expected (the
# compiled walks must then behave, or fail, like the interpretive ones).
_schemas = st.recursive(
    st.fixed_dictionaries({}, optional=_flags) | st.none() | st.booleans(),
    _node,
    max_leaves=10,
)


@st.composite
def _instance_near(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """An instance shaped after ``schema`` (declared keys, nulls, a stray key now and then)."""
    if not isinstance(schema, dict) or depth > 5 or draw(st.integers(0, 5)) == 0:
        return draw(_instances)
    props = schema.get("properties")
    if isinstance(props, dict) or isinstance(schema.get("additionalProperties"), dict):
        out: dict[str, Any] = {}
        for key, child in (props or {}).items():
            if draw(st.booleans()):
                out[key] = None if draw(st.integers(0, 4)) == 0 else draw(_instance_near(child, depth + 1))
        extra = schema.get("additionalProperties")
        for key in draw(st.lists(_keys, max_size=2)):
            if key not in out:
                out[key] = draw(_instance_near(extra, depth + 1)) if isinstance(extra, dict) else draw(_scalars)
        return out
    if isinstance(schema.get("items"), dict):
        return [draw(_instance_near(schema["items"], depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    return draw(_instances)


def _outcome(fn: Any, value: Any) -> tuple[Any, Any]:
    """(the value after ``fn`` ran on a copy, the type of the exception it raised or None)."""
    try:
        fn(value)
    except Exception as exc:  # the exception type is what is compared
        return value, type(exc)
    return value, None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas, st.data())
def test_a_detector_no_means_prune_removes_nothing(schema: Any, data: st.DataObject) -> None:
    detector = compile_prune_check(schema)
    for _ in range(6):
        instance = data.draw(_instance_near(schema) | _instances)
        try:
            may_prune = detector(instance)
        except RecursionError:
            continue
        removed: list[str] = []

        def real_prune(value: Any, removed: list[str] = removed) -> None:
            prune(value, schema, "", removed, root=True)

        after, raised = _outcome(real_prune, copy.deepcopy(instance))
        if not may_prune:
            assert (after, raised, removed) == (instance, None, []), (schema, instance)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas, st.data())
def test_compiled_drop_equals_interpretive_drop(schema: Any, data: st.DataObject) -> None:
    dropper = compile_drop_nulls(schema)
    for _ in range(6):
        instance = data.draw(_instance_near(schema) | _instances)
        expected = _outcome(lambda v: drop_non_nullable_nulls(v, schema), copy.deepcopy(instance))
        actual = _outcome(dropper or (lambda v: None), copy.deepcopy(instance))
        assert actual == expected, (schema, instance)
        assert list(_walk_keys(actual[0])) == list(_walk_keys(expected[0]))  # same key order too


def _walk_keys(value: Any) -> Any:
    if isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _walk_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk_keys(child)


def test_detector_finds_what_prune_removes_at_every_level() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "rules": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {}},
                    "port": {"x-kubernetes-int-or-string": True},
                },
            }
        },
    }
    detector = compile_prune_check(schema)
    clean = {
        "apiVersion": "v1", "kind": "K", "metadata": {"anything": 1},
        "spec": {"rules": [{"a": "x"}, "scalar"], "free": {"x": {"y": 1}}, "byName": {"k": {}},
                 "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, "port": {"x": 1}},
    }
    assert detector(clean) is False
    dirty: dict[str, Any]
    for dirty in (
        {"extra": 1},
        {"spec": {"extra": None}},
        {"spec": {"rules": [{"a": "x"}, {"b": 1}]}},
        {"spec": {"byName": {"k": {"z": 1}}}},
        {"spec": {"template": {"metadata": {"name": "p", "bogus": 1}}}},
        {"spec": {"template": {"spec": {}}}},
    ):
        assert detector(dirty) is True, dirty
        removed: list[str] = []
        prune(dirty, schema, "", removed, root=True)
        assert removed


def _project_samples() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(openAPIV3Schema of the served version, manifest) for every object of the CRD sample corpus."""
    schemas = {}
    for crd in load_crds():
        kind = crd["spec"]["names"]["kind"]
        version = by_kind(kind).version
        schemas[kind] = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)
    out = []
    for path in sorted(SAMPLE_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = by_kind(document["kind"])
        for entry in document["samples"]:
            manifest = {"apiVersion": resource.api_version, "kind": resource.kind,
                        "metadata": {"name": entry["id"]}, **entry["body"]}
            out.append((schemas[document["kind"]], manifest))
    return out


def test_project_crds_prune_and_drop_like_the_interpretive_walks() -> None:
    checked = 0
    for raw, manifest in _project_samples():
        compiled = StructuralSchema(raw)
        spec: dict[str, Any] = manifest["spec"] if isinstance(manifest.get("spec"), dict) else {}
        for variant in (manifest, {**manifest, "junk": 1, "spec": {**spec, "x": None}}):
            fast, slow = copy.deepcopy(variant), copy.deepcopy(variant)
            removed: list[str] = []
            prune(slow, compiled.schema, "", removed, root=True)
            drop_non_nullable_nulls(slow, compiled.schema)
            apply_defaults(slow, compiled.schema)
            assert compiled.prune(fast) == sorted(removed)
            compiled.apply_defaults(fast)
            assert fast == slow
            checked += 1
    assert checked > 20
