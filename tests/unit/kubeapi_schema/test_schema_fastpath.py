"""The compiled fast path (``_schema_fastpath``) agrees with the full ``jsonschema`` validator.

``StructuralSchema.validate`` returns ``[]`` as soon as the fast path accepts an object, so an
accept there must mean the full validator finds no error. The fast path is also meant to be exact
(it rejects only what the full validator rejects, or what makes it raise), which these tests check
too: a fast path that always said "unsure" would be safe but useless.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crds import by_kind, load_crds
from sim.kubeapi._schema_fastpath import FastChecker
from sim.kubeapi._schema_keywords import KubeSchemaValidator, iter_kube_errors
from sim.kubeapi.schema import StructuralSchema

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "integration" / "crds" / "samples"


def _full_verdict(validator: Any, instance: Any) -> bool:
    """True iff the full validator reports no error; False when it reports some or raises."""
    try:
        return not iter_kube_errors(validator, instance)
    except Exception:
        return False


def _fast_verdict(schema: dict[str, Any], instance: Any) -> tuple[bool, bool]:
    validator = KubeSchemaValidator(schema)
    return FastChecker(validator).accepts(instance), _full_verdict(validator, instance)


# --- generated schemas and instances ------------------------------------------------------------

_KEYS = ["a", "b", "c", "apiVersion", "kind"]
_keys = st.sampled_from(_KEYS)
_strings = st.sampled_from(
    ["", "a", "b", "ab", "abc", "A", "10.0.0.1", "10.0.0.0/8", "::1", "v1", "g/v1", "a/b/c", "Pod", "pod-1",
     "2024-01-01T00:00:00Z", "1h", "x" * 70]
)
_numbers = st.sampled_from([0, 1, 2, 3, -1, 1.0, 2.0, 2.5, -1.5, 0.5, math.inf, 2**70])
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _strings)
_instances = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=10,
)

_TYPES = ["string", "integer", "number", "boolean", "object", "array"]
_FORMATS = ["", "int32", "int64", "float", "float64", "ipv4", "ipv6", "cidr", "date-time", "unknown-format"]
_PATTERNS = ["^a", "b$", "^[a-z]+$", "\\p{L}", "[", "."]
_leaf_keywords: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(_TYPES),
    "nullable": st.booleans(),
    "format": st.sampled_from(_FORMATS),
    "enum": st.lists(_scalars, max_size=3),
    "minimum": _numbers,
    "maximum": _numbers,
    "exclusiveMinimum": st.booleans(),
    "exclusiveMaximum": st.booleans(),
    "multipleOf": st.sampled_from([0, 2, 0.5, 3]),
    "maxLength": st.integers(0, 3),
    "minLength": st.integers(0, 3),
    "maxItems": st.integers(0, 3),
    "minItems": st.integers(0, 3),
    "maxProperties": st.integers(0, 3),
    "minProperties": st.integers(0, 3),
    "pattern": st.sampled_from(_PATTERNS),
    "required": st.lists(_keys, max_size=2),
    "x-kubernetes-int-or-string": st.booleans(),
    "x-kubernetes-embedded-resource": st.booleans(),
    "x-kubernetes-preserve-unknown-fields": st.just(True),
    "x-kubernetes-list-type": st.sampled_from(["atomic", "set", "map"]),
    "x-kubernetes-list-map-keys": st.lists(_keys, min_size=1, max_size=2),
    "default": _scalars,
}


# Keywords that only matter next to another one come with it.
_COMPANIONS = {
    "maximum": "exclusiveMaximum",
    "minimum": "exclusiveMinimum",
    "x-kubernetes-list-type": "x-kubernetes-list-map-keys",
}


def _node(children: st.SearchStrategy[Any], leaf_keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    chosen = {k: _leaf_keywords[k] for k in leaf_keys}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    optional.update(
        {
            "properties": st.dictionaries(_keys, children, max_size=3),
            "additionalProperties": children,
            "items": children,
            "oneOf": st.lists(children, max_size=3),
            "anyOf": st.lists(children, max_size=3),
            "allOf": st.lists(children, max_size=2),
            "not": children,
        }
    )
    return st.fixed_dictionaries(chosen, optional=optional)


def _schemas() -> st.SearchStrategy[Any]:
    # Few keywords per node keep generated instances valid often enough to exercise the accept path.
    # Most nodes declare a type, as structural schemas do: that is where kube's type quirks live.
    subsets = st.builds(
        lambda keys, typed: sorted(set(keys) | ({"type"} if typed else set()) | {_COMPANIONS.get(k, k) for k in keys}),
        st.lists(st.sampled_from(sorted(_leaf_keywords)), max_size=3, unique=True),
        st.integers(0, 3).map(bool),
    )
    leaf = subsets.flatmap(lambda keys: st.fixed_dictionaries({k: _leaf_keywords[k] for k in keys}))
    return st.recursive(
        leaf | st.booleans(),
        lambda children: subsets.flatmap(lambda keys: _node(children, keys)),
        max_leaves=6,
    ).filter(lambda s: isinstance(s, dict))


def _twist(value: Any) -> Any:
    """A value equal-looking to ``value`` that JSON equality may or may not treat as equal."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@st.composite
def _instance_near(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """An instance shaped after ``schema`` (so that it is often valid), now and then a random one."""
    if not isinstance(schema, dict) or depth > 5 or draw(st.integers(0, 7)) == 0:
        return draw(_instances)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and draw(st.booleans()):
        return draw(st.sampled_from(enum).flatmap(lambda v: st.sampled_from([v, _twist(v)])))
    branches = [b for j in ("oneOf", "anyOf", "allOf") for b in (schema.get(j) or []) if isinstance(b, dict)]
    if isinstance(schema.get("not"), dict):
        branches.append(schema["not"])
    if branches and draw(st.integers(0, 2)) == 0:
        return draw(_instance_near(draw(st.sampled_from(branches)), depth + 1))
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        kind = "int-or-string"
    elif kind is None and ("properties" in schema or "required" in schema or "additionalProperties" in schema):
        kind = "object"
    elif kind is None and "items" in schema:
        kind = "array"
    if kind == "object":
        out: dict[str, Any] = {}
        props: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
        for key, child in props.items():
            if draw(st.booleans()):
                out[key] = draw(_instance_near(child, depth + 1))
        for key in schema.get("required") or []:
            if key not in out and draw(st.integers(0, 3)):
                out[key] = draw(_instances)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in draw(st.lists(_keys, max_size=2)):
                if key not in props:
                    out[key] = draw(_instance_near(extra, depth + 1))
        return out
    if kind == "array":
        items = [draw(_instance_near(schema.get("items"), depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        if draw(st.booleans()) and items:
            items.append(copy.deepcopy(draw(st.sampled_from(items))))  # list-type set/map duplicates
        return items
    by_kind: dict[Any, st.SearchStrategy[Any]] = {
        "string": _strings,
        "integer": _numbers | st.booleans(),
        "number": _numbers | st.booleans(),
        "boolean": st.booleans(),
        "int-or-string": _numbers | _strings | st.booleans(),
    }
    if draw(st.integers(0, 9)) == 0:
        return None
    bounds = [b for b in (schema.get("minimum"), schema.get("maximum")) if isinstance(b, int | float)]
    if draw(st.booleans()) and bounds:
        return draw(st.sampled_from(bounds))
    return draw(by_kind.get(kind, _scalars))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_schemas(), st.data())
def test_fast_path_verdict_equals_full_validator_verdict(schema: dict[str, Any], data: st.DataObject) -> None:
    validator = KubeSchemaValidator(schema)
    fast = FastChecker(validator)
    for _ in range(8):
        instance = data.draw(_instance_near(schema))
        assert fast.accepts(instance) == _full_verdict(validator, instance), (schema, instance)


def _opt(**optional: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=optional)


_string_nodes = st.builds(
    lambda extra: {"type": "string", **extra},
    _opt(format=st.sampled_from(_FORMATS), pattern=st.sampled_from(_PATTERNS), maxLength=st.integers(0, 4),
         minLength=st.integers(0, 2), enum=st.lists(_strings, min_size=1, max_size=3), nullable=st.booleans(),
         oneOf=st.just([{"format": "ipv4"}, {"format": "ipv6"}])),
)
_number_nodes = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(["integer", "number"]),
    _opt(format=st.sampled_from(["int32", "int64", "float", "double"]), minimum=_numbers, maximum=_numbers,
         exclusiveMinimum=st.booleans(), exclusiveMaximum=st.booleans(), multipleOf=st.sampled_from([2, 0.5]),
         enum=st.lists(_numbers, min_size=1, max_size=3), nullable=st.booleans()),
)
_other_leaves = st.sampled_from(
    [{"type": "boolean"}, {"x-kubernetes-int-or-string": True}, {"x-kubernetes-int-or-string": True, "pattern": "^a"},
     {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
     {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}]
)


def _object_node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    def build(props: dict[str, Any], extra: dict[str, Any], flags: list[int]) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "object", "properties": props, **extra}
        keys = sorted(props)
        if keys and flags[0]:
            node["required"] = keys[: flags[0]]
        if len(keys) >= 2 and flags[1]:
            node["oneOf"] = [{"required": [keys[0]]}, {"required": [keys[1]]}]
        return node

    return st.builds(
        build,
        st.dictionaries(_keys, children, min_size=1, max_size=4),
        _opt(maxProperties=st.integers(1, 3), minProperties=st.integers(0, 2), nullable=st.booleans()),
        st.lists(st.integers(0, 2), min_size=2, max_size=2),
    ) | st.builds(lambda child: {"type": "object", "additionalProperties": child}, children)


def _array_node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda items, extra: {"type": "array", "items": items, **extra},
        children,
        _opt(maxItems=st.integers(0, 3), minItems=st.integers(0, 2), nullable=st.booleans(),
             **{"x-kubernetes-list-type": st.sampled_from(["atomic", "set"])}),
    )


_structural = st.recursive(
    _string_nodes | _number_nodes | _other_leaves,
    lambda children: _object_node(children) | _array_node(children),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_structural, st.data())
def test_fast_path_verdict_equals_full_validator_on_structural_schemas(
    schema: dict[str, Any], data: st.DataObject
) -> None:
    """Schemas shaped like real CRDs (typed nodes, required/oneOf over declared keys, list types)."""
    validator = KubeSchemaValidator(schema)
    fast = FastChecker(validator)
    for _ in range(8):
        instance = data.draw(_instance_near(schema))
        assert fast.accepts(instance) == _full_verdict(validator, instance), (schema, instance)


# --- hand-picked quirks --------------------------------------------------------------------------

QUIRKS: list[tuple[str, dict[str, Any], Any, bool]] = [
    ("bool is not an integer", {"type": "integer"}, True, False),
    ("integral float is an integer", {"type": "integer"}, 2.0, True),
    ("fractional float is not", {"type": "integer"}, 2.5, False),
    ("integer is a number", {"type": "number"}, 3, True),
    ("null needs nullable", {"type": "string"}, None, False),
    ("nullable accepts null", {"type": "string", "nullable": True}, None, True),
    ("enum still applies to null", {"type": "string", "nullable": True, "enum": ["a"]}, None, False),
    ("format skips the type check of a string", {"type": "object", "format": "x"}, "s", True),
    ("format skips the type check of an array", {"type": "boolean", "format": "x"}, [], True),
    ("numeric type with format checks strings", {"type": "integer", "format": "int32"}, "s", False),
    ("format name never stands for the type", {"type": "string", "format": "int64"}, 5, False),
    ("int-or-string takes an int", {"x-kubernetes-int-or-string": True}, 80, True),
    ("int-or-string takes a string", {"x-kubernetes-int-or-string": True}, "http", True),
    ("int-or-string refuses a bool", {"x-kubernetes-int-or-string": True}, False, False),
    ("enum: 1 equals 1.0", {"enum": [1]}, 1.0, True),
    ("enum: True is not 1", {"enum": [1]}, True, False),
    ("enum: objects by value", {"enum": [{"a": [1]}]}, {"a": [1.0]}, True),
    ("exclusive maximum", {"maximum": 3, "exclusiveMaximum": True}, 3, False),
    ("inclusive maximum", {"maximum": 3}, 3, True),
    ("multipleOf 0 is ignored", {"multipleOf": 0}, 3, True),
    ("pattern searches", {"pattern": "b"}, "abc", True),
    ("RE2-only pattern is not enforced", {"pattern": "\\p{L}+"}, "123", True),
    ("cidr format", {"type": "string", "format": "cidr"}, "10.0.0.0/33", False),
    ("unknown format passes", {"type": "string", "format": "no-such-format"}, "x", True),
    ("set list duplicates", {"type": "array", "x-kubernetes-list-type": "set", "items": {}}, [1, 1.0], False),
    (
        "map list key defaults",
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["p"],
            "items": {"type": "object", "properties": {"p": {"type": "string", "default": "TCP"}}},
        },
        [{"p": "TCP"}, {}],
        False,
    ),
    ("oneOf: exactly one", {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1}, True),
    ("oneOf: two is too many", {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, False),
    ("oneOf skips null", {"oneOf": [{"required": ["a"]}]}, None, True),
    ("anyOf: one of two", {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"b": 1}, True),
    ("allOf: all", {"allOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"b": 1}, False),
    ("not", {"not": {"required": ["a"]}}, {"a": 1}, False),
    ("embedded resource", {"type": "object", "x-kubernetes-embedded-resource": True}, {"kind": "Pod"}, False),
    (
        "embedded resource ok",
        {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True},
        {"apiVersion": "v1", "kind": "Pod", "spec": {"anything": [1]}},
        True,
    ),
    ("additionalProperties", {"type": "object", "additionalProperties": {"type": "string"}}, {"k": 1}, False),
    ("items", {"type": "array", "items": {"type": "string", "maxLength": 1}}, ["a", "bb"], False),
    ("required", {"type": "object", "required": ["a"]}, {"b": 1}, False),
    ("maxProperties", {"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, False),
]


@pytest.mark.parametrize(("schema", "instance", "valid"), [q[1:] for q in QUIRKS], ids=[q[0] for q in QUIRKS])
def test_fast_path_follows_kube_quirks(schema: dict[str, Any], instance: Any, valid: bool) -> None:
    assert _fast_verdict(schema, instance) == (valid, valid)


def test_an_error_in_the_full_validator_is_never_hidden() -> None:
    # A bound jsonschema compares with a number raises TypeError: the fast path must not answer [].
    schema = {"type": "object", "properties": {"n": {"maximum": "3"}}}
    assert _fast_verdict(schema, {"n": 1}) == (False, False)
    with pytest.raises(TypeError):
        iter_kube_errors(KubeSchemaValidator(schema), {"n": 1})


# --- the project's CRDs and the sample corpus ------------------------------------------------------


def _samples() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(id, kind, expected verdict, manifest) for every object of the CRD sample corpus."""
    out = []
    for path in sorted(SAMPLE_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = by_kind(document["kind"])
        for entry in document["samples"]:
            metadata: dict[str, Any] = {"name": entry["id"]}
            if resource.namespaced:
                metadata["namespace"] = "default"
            manifest = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata,
                        **entry["body"]}
            out.append((entry["id"], document["kind"], entry["expect"], manifest))
    return out


def _project_schema(kind: str) -> StructuralSchema:
    resource = by_kind(kind)
    for crd in load_crds():
        if crd["metadata"]["name"] == resource.crd_name:
            for version in crd["spec"]["versions"]:
                if version["name"] == resource.version:
                    return StructuralSchema(version["schema"]["openAPIV3Schema"])
    raise KeyError(kind)


class _FullOnly:
    """Stands in for the fast checker: always undecided, so ``validate`` takes the full path."""

    def accepts(self, _instance: Any) -> bool:
        return False


SAMPLES = _samples()


def test_the_sample_corpus_covers_every_project_crd_kind() -> None:
    kinds = {crd["spec"]["names"]["kind"] for crd in load_crds()}
    accepted = {kind for _, kind, expect, _ in SAMPLES if expect == "accept"}
    assert kinds <= accepted


@pytest.mark.parametrize(("kind", "expect", "manifest"), [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES])
def test_project_crd_samples_fast_path_accepts_exactly_the_valid_ones(
    kind: str, expect: str, manifest: dict[str, Any]
) -> None:
    schema = _project_schema(kind)
    obj = copy.deepcopy(manifest)
    schema.prune(obj)
    schema.apply_defaults(obj)
    full_only = _project_schema(kind)
    full_only._fast = _FullOnly()  # type: ignore[assignment]
    errors = full_only.validate(obj)
    assert schema.validate(obj) == errors
    assert schema._fast.accepts(obj) == (not errors)
    assert (not errors) == (expect == "accept")
