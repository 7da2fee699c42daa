"""Each structural-schema keyword and format: one accepted value, one rejected with kube's exact error."""

from __future__ import annotations

from typing import Any

import pytest

from sim.kubeapi.schema import FieldError, StructuralSchema


def _wrap(field_schema: dict[str, Any]) -> StructuralSchema:
    return StructuralSchema(
        {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": field_schema}}}}
    )


def _errors(field_schema: dict[str, Any], value: Any) -> list[tuple[str, str, str]]:
    errs = _wrap(field_schema).validate({"apiVersion": "g/v1", "kind": "K", "spec": {"x": value}})
    return [(e.reason, e.field, e.message) for e in errs]


# (schema, good value, bad value, expected (reason, field, message) for the bad value)
KEYWORD_CASES: list[tuple[str, dict[str, Any], Any, Any, tuple[str, str, str]]] = [
    (
        "type-string",
        {"type": "string"},
        "ok",
        5,
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "integer": spec.x in body must be of type string: "integer"',
        ),
    ),
    (
        "type-integer",
        {"type": "integer"},
        7,
        "7",
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "string": spec.x in body must be of type integer: "string"',
        ),
    ),
    (
        "type-number",
        {"type": "number"},
        1.5,
        True,
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "boolean": spec.x in body must be of type number: "boolean"',
        ),
    ),
    (
        "type-boolean",
        {"type": "boolean"},
        False,
        "false",
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "string": spec.x in body must be of type boolean: "string"',
        ),
    ),
    (
        "type-object",
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        {"a": 1},
        [1],
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "array": spec.x in body must be of type object: "array"',
        ),
    ),
    (
        "type-array",
        {"type": "array", "items": {"type": "string"}},
        ["a"],
        {"a": 1},
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "object": spec.x in body must be of type array: "object"',
        ),
    ),
    (
        "not-nullable-null",
        {"type": "string"},
        "a",
        None,
        ("FieldValueTypeInvalid", "spec.x", 'Invalid value: "null": spec.x in body must be of type string: "null"'),
    ),
    (
        "enum",
        {"type": "string", "enum": ["Allow", "Drop"]},
        "Drop",
        "Foo",
        ("FieldValueNotSupported", "spec.x", 'Unsupported value: "Foo": supported values: "Allow", "Drop"'),
    ),
    (
        "enum-integers",
        {"type": "integer", "enum": [17, 34]},
        34,
        3,
        ("FieldValueNotSupported", "spec.x", 'Unsupported value: 3: supported values: "17", "34"'),
    ),
    (
        "maximum",
        {"type": "integer", "maximum": 255},
        255,
        256,
        ("FieldValueInvalid", "spec.x", "Invalid value: 256: spec.x in body should be less than or equal to 255"),
    ),
    (
        "minimum",
        {"type": "integer", "minimum": 0},
        0,
        -1,
        ("FieldValueInvalid", "spec.x", "Invalid value: -1: spec.x in body should be greater than or equal to 0"),
    ),
    (
        "exclusiveMaximum",
        {"type": "number", "maximum": 10, "exclusiveMaximum": True},
        9.5,
        10.0,
        ("FieldValueInvalid", "spec.x", "Invalid value: 10: spec.x in body should be less than 10"),
    ),
    (
        "exclusiveMinimum",
        {"type": "number", "minimum": 1, "exclusiveMinimum": True},
        1.5,
        1,
        ("FieldValueInvalid", "spec.x", "Invalid value: 1: spec.x in body should be greater than 1"),
    ),
    (
        "float-maximum",
        {"type": "number", "maximum": 10000},
        10000,
        10000.5,
        (
            "FieldValueInvalid",
            "spec.x",
            "Invalid value: 10000.5: spec.x in body should be less than or equal to 10000",
        ),
    ),
    (
        "multipleOf",
        {"type": "integer", "multipleOf": 5},
        10,
        12,
        ("FieldValueInvalid", "spec.x", "Invalid value: 12: spec.x in body should be a multiple of 5"),
    ),
    (
        "maxLength",
        {"type": "string", "maxLength": 5},
        "abcde",
        "abcdef",
        ("FieldValueTooLong", "spec.x", "Too long: may not be more than 5 bytes"),
    ),
    (
        "minLength",
        {"type": "string", "minLength": 2},
        "ab",
        "a",
        ("FieldValueInvalid", "spec.x", 'Invalid value: "a": spec.x in body should be at least 2 chars long'),
    ),
    (
        "pattern",
        {"type": "string", "pattern": "^[a-z]+$"},
        "abc",
        "ABC",
        ("FieldValueInvalid", "spec.x", "Invalid value: \"ABC\": spec.x in body should match '^[a-z]+$'"),
    ),
    (
        "maxItems",
        {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        ["a", "b"],
        ["a", "b", "c"],
        ("FieldValueTooMany", "spec.x", "Too many: 3: must have at most 2 items"),
    ),
    (
        "minItems",
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ["a"],
        [],
        ("FieldValueInvalid", "spec.x", "Invalid value: 0: spec.x in body should have at least 1 items"),
    ),
    (
        "maxProperties",
        {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
        {"a": "1"},
        {"a": "1", "b": "2"},
        ("FieldValueTooMany", "spec.x", "Too many: 2: must have at most 1 item"),
    ),
    (
        "minProperties",
        {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
        {"a": "1"},
        {},
        ("FieldValueInvalid", "spec.x", "Invalid value: 0: spec.x in body should have at least 1 properties"),
    ),
    (
        "required",
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        {"name": "n"},
        {},
        ("FieldValueRequired", "spec.x.name", "Required value"),
    ),
    (
        "additionalProperties-schema",
        {"type": "object", "additionalProperties": {"type": "integer"}},
        {"a": 1},
        {"a": "one"},
        (
            "FieldValueTypeInvalid",
            "spec.x.a",
            'Invalid value: "string": spec.x.a in body must be of type integer: "string"',
        ),
    ),
    (
        "items",
        {"type": "array", "items": {"type": "integer"}},
        [1, 2],
        [1, "2"],
        (
            "FieldValueTypeInvalid",
            "spec.x[1]",
            'Invalid value: "string": spec.x[1] in body must be of type integer: "string"',
        ),
    ),
    (
        "list-type-set",
        {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        ["a", "b"],
        ["a", "b", "a"],
        ("FieldValueDuplicate", "spec.x[2]", 'Duplicate value: "a"'),
    ),
    (
        "list-type-map",
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
            },
        },
        [{"name": "a", "v": 1}, {"name": "b", "v": 1}],
        [{"name": "a", "v": 1}, {"name": "a", "v": 2}],
        ("FieldValueDuplicate", "spec.x[1]", 'Duplicate value: map[string]interface {}{"name":"a"}'),
    ),
    (
        "not",
        {"type": "string", "not": {"enum": ["forbidden"]}},
        "fine",
        "forbidden",
        ("FieldValueInvalid", "<nil>", 'Invalid value: "": "spec.x" must not validate the schema (not)'),
    ),
]


@pytest.mark.parametrize(("schema", "good"), [(c[1], c[2]) for c in KEYWORD_CASES], ids=[c[0] for c in KEYWORD_CASES])
def test_keyword_accepts_valid_value(schema: dict[str, Any], good: Any) -> None:
    assert _errors(schema, good) == []


@pytest.mark.parametrize(
    ("schema", "bad", "expected"), [(c[1], c[3], c[4]) for c in KEYWORD_CASES], ids=[c[0] for c in KEYWORD_CASES]
)
def test_keyword_rejects_with_kube_wording(schema: dict[str, Any], bad: Any, expected: tuple[str, str, str]) -> None:
    assert _errors(schema, bad) == [expected]


FORMAT_CASES = [
    ("int32", 1, None),  # kube does not range-check numeric formats
    ("cidr", "10.0.0.0/8", "10.0.0.0"),
    ("ipv4", "192.168.1.1", "192.168.1.256"),
    ("ipv6", "fe80::1", "192.168.1.1"),
    ("mac", "00:1a:2b:3c:4d:5e", "00:1a:2b"),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", "not-a-uuid"),
    ("hostname", "node-1.example.com", "bad_host"),
    ("uri", "https://example.com/x", "not a uri"),
    ("email", "ops@example.com", "not-an-email"),
    ("byte", "aGVsbG8=", "hello!"),
    ("date", "2026-11-27", "2026-02-30"),
    ("date-time", "2026-11-27T05:00:00Z", "yesterday"),
    ("duration", "1h30m", "soon"),
    ("password", "anything goes", None),
    ("no-such-format", "whatever", None),  # unknown formats are ignored
]


@pytest.mark.parametrize(("fmt", "good", "bad"), FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_formats(fmt: str, good: Any, bad: Any) -> None:
    type_ = "integer" if isinstance(good, int) else "string"
    assert _errors({"type": type_, "format": fmt}, good) == []
    if bad is None:
        return
    assert _errors({"type": type_, "format": fmt}, bad) == [
        (
            "FieldValueTypeInvalid",
            "spec.x",
            f'Invalid value: "{bad}": spec.x in body must be of type {fmt}: "{bad}"',
        )
    ]


def test_int32_format_does_not_range_check_like_kube() -> None:
    assert _errors({"type": "integer", "format": "int32"}, 2**40) == []


def test_nullable_accepts_null_but_not_a_wrong_type() -> None:
    schema = {"type": "string", "nullable": True}
    assert _errors(schema, None) == []
    assert _errors(schema, 1) == [
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "integer": spec.x in body must be of type string: "integer"',
        )
    ]


def test_integral_float_is_an_integer_but_fraction_is_not() -> None:
    assert _errors({"type": "integer"}, 3.0) == []
    assert _errors({"type": "integer"}, 3.5) == [
        ("FieldValueTypeInvalid", "spec.x", 'Invalid value: "number": spec.x in body must be of type integer: "number"')
    ]


def test_int_or_string_accepts_both_and_rejects_others() -> None:
    schema = {"x-kubernetes-int-or-string": True}
    assert _errors(schema, 80) == []
    assert _errors(schema, "http") == []
    assert _errors(schema, True) == [
        (
            "FieldValueTypeInvalid",
            "spec.x",
            'Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean"',
        )
    ]


def test_int_or_string_with_anyof_pattern_is_structural() -> None:
    schema = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert _errors(schema, 443) == []
    assert _errors(schema, "https") == []


ANTREA_STYLE_ONEOF = {
    "type": "array",
    "items": {
        "type": "object",
        "oneOf": [{"required": ["icmp"]}, {"required": ["igmp"]}],
        "properties": {
            "icmp": {"type": "object", "properties": {"icmpType": {"type": "integer"}}},
            "igmp": {"type": "object", "properties": {"igmpType": {"type": "integer"}}},
        },
    },
}


def test_oneof_exactly_one_branch_passes() -> None:
    assert _errors(ANTREA_STYLE_ONEOF, [{"icmp": {"icmpType": 8}}]) == []


def test_oneof_none_valid_reports_composite_and_best_branch() -> None:
    assert _errors(ANTREA_STYLE_ONEOF, [{}]) == [
        (
            "FieldValueInvalid",
            "<nil>",
            'Invalid value: "": "spec.x[0]" must validate one and only one schema (oneOf). Found none valid',
        ),
        ("FieldValueRequired", "spec.x[0].icmp", "Required value"),
    ]


def test_oneof_two_valid_reports_only_the_composite() -> None:
    assert _errors(ANTREA_STYLE_ONEOF, [{"icmp": {}, "igmp": {}}]) == [
        (
            "FieldValueInvalid",
            "<nil>",
            'Invalid value: "": "spec.x[0]" must validate one and only one schema (oneOf). Found 2 valid alternatives',
        )
    ]


def test_oneof_of_formats_like_antrea_group_address() -> None:
    schema = {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    assert _errors(schema, "224.0.0.1") == []
    assert _errors(schema, "ff02::1") == []
    errs = _errors(schema, "nope")
    assert errs[0] == (
        "FieldValueInvalid",
        "<nil>",
        'Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid',
    )
    assert errs[1] == (
        "FieldValueTypeInvalid",
        "spec.x",
        'Invalid value: "nope": spec.x in body must be of type ipv4: "nope"',
    )


def test_anyof_and_allof() -> None:
    any_of = {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}
    assert _errors(any_of, "bee") == []
    assert _errors(any_of, "cat")[0] == (
        "FieldValueInvalid",
        "<nil>",
        'Invalid value: "": "spec.x" must validate at least one schema (anyOf)',
    )
    all_of = {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]}
    assert _errors(all_of, "abc") == []
    assert _errors(all_of, "abcd") == [
        ("FieldValueInvalid", "<nil>", 'Invalid value: "": "spec.x" must validate all the schemas (allOf)'),
        ("FieldValueTooLong", "spec.x", "Too long: may not be more than 3 bytes"),
    ]


def test_errors_are_all_reported_in_path_order() -> None:
    schema = StructuralSchema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["b"],
                    "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}},
                }
            },
        }
    )
    errs = schema.validate({"spec": {"c": "no", "a": "x"}})
    assert [e.field for e in errs] == ["spec.a", "spec.b", "spec.c"]
    assert all(isinstance(e, FieldError) for e in errs)
    assert str(errs[1]) == "spec.b: Required value"


def test_schema_may_constrain_metadata_name_only() -> None:
    schema = StructuralSchema(
        {
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
            },
        }
    )
    assert schema.validate({"metadata": {"name": "short", "labels": {"a": "b"}}}) == []
    assert schema.validate({"metadata": {"name": "much-too-long"}}) == [
        FieldError("FieldValueTooLong", "metadata.name", "Too long: may not be more than 5 bytes")
    ]


def test_x_kubernetes_validations_are_ignored() -> None:
    schema = {"type": "string", "x-kubernetes-validations": [{"rule": "self == 'never'"}]}
    assert _errors(schema, "anything") == []


def test_embedded_resource_needs_api_version_and_a_valid_kind() -> None:
    schema = {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
    assert _errors(schema, {"apiVersion": "v1", "kind": "Pod", "spec": {}}) == []
    assert _errors(schema, {"kind": "Bad_Kind"}) == [
        ("FieldValueRequired", "spec.x.apiVersion", "Required value: must not be empty"),
        (
            "FieldValueInvalid",
            "spec.x.kind",
            'Invalid value: "Bad_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must '
            "consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end "
            "with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
    ]


def test_type_check_with_a_format_follows_kube_openapi_quirks() -> None:
    # Antrea's ACNP priority is `type: number, format: float`: a boolean is reported against the format.
    assert _errors({"type": "number", "format": "float"}, True) == [
        ("FieldValueTypeInvalid", "spec.x", 'Invalid value: "": spec.x in body must be of type float: ""')
    ]
    assert _errors({"type": "integer", "format": "int32"}, 1.5) == [
        ("FieldValueTypeInvalid", "spec.x", 'Invalid value: "float64": spec.x in body must be of type int32: "float64"')
    ]
    # A string under a numeric type with a format still gets the plain type error.
    assert _errors({"type": "integer", "format": "int32"}, "80") == [
        ("FieldValueTypeInvalid", "spec.x", 'Invalid value: "string": spec.x in body must be of type integer: "string"')
    ]
    # An array under `type: string` with a format is not type-checked by kube at all.
    assert _errors({"type": "string", "format": "cidr"}, ["10.0.0.0/8"]) == []
