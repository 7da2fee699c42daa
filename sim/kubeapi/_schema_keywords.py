"""The structural OpenAPI v3 dialect as a ``jsonschema`` validator class with kube's error wording.

``jsonschema`` walks the schema and the object and collects errors; the keyword functions below
replace its JSON-Schema semantics with kube-openapi's where they differ (OpenAPI ``nullable``,
boolean ``exclusiveMaximum``, ``x-kubernetes-int-or-string``, integral floats accepted as integers,
kube's format registry, oneOf/anyOf reporting the best failing branch as well as the composite
error, ``x-kubernetes-list-type`` duplicates). Each error carries a :class:`KubeErr` telling the
caller which ``field.Error`` kube-apiserver would have produced for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators
from jsonschema.protocols import Validator

from . import _schema_composites as composites
from ._schema_errors import INSTANCE_PATH, KubeErr, current_path, descend, json_equal, kube_error, kube_type
from ._schema_formats import check_format
from ._schema_gofmt import go_json, go_number


def _type_matches(types: list[str], value: Any) -> bool:
    actual = kube_type(value)
    if actual in types:
        return True
    if actual == "number" and "integer" in types and float(value).is_integer():
        return True
    return actual == "integer" and "number" in types


def _declared_types(schema: Mapping[str, Any]) -> list[str] | None:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    t = schema.get("type")
    if t is None:
        return None
    return [t] if isinstance(t, str) else list(t)


def _type(validator: Validator, _t: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """kube-openapi's typeValidator, quirks included.

    With a ``format`` set, a non-string, non-array value is checked against the format name first
    (a boolean ``priority`` of ``type: number, format: float`` reads ``must be of type float: ""``),
    and a string or array value under a non-numeric type with a format is not type-checked at all.
    """
    types = _declared_types(schema)
    if not types:
        return
    path = current_path(validator)
    if instance is None:
        if "null" not in types and not schema.get("nullable"):
            yield kube_error(
                validator, KubeErr("type_invalid", f'{path} in body must be of type {",".join(types)}: "null"', "null")
            )
        return
    actual = kube_type(instance)
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt:
        if actual not in ("string", "array"):
            go_format = _GO_FORMATS.get(actual, "")
            if not (_type_matches(types, instance) or go_format == fmt):
                yield kube_error(
                    validator,
                    KubeErr("type_invalid", f'{path} in body must be of type {fmt}: "{go_format}"', go_format),
                )
                return
        elif "integer" not in types and "number" not in types:
            return
    if not _type_matches(types, instance):
        yield kube_error(
            validator, KubeErr("type_invalid", f'{path} in body must be of type {",".join(types)}: "{actual}"', actual)
        )


# The format kube-openapi infers from a decoded JSON value (int64/float64), compared with ``format``.
_GO_FORMATS = {"integer": "int64", "number": "float64"}


def _int_or_string(validator: Validator, v: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if v and "type" not in schema:
        yield from _type(validator, None, instance, schema)


def _format(validator: Validator, fmt: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str) and isinstance(fmt, str) and not check_format(fmt, instance):
        path = current_path(validator)
        yield kube_error(
            validator,
            KubeErr(
                "type_invalid",
                f"{path} in body must be of type {fmt}: {json.dumps(instance, ensure_ascii=False)}",
                instance,
            ),
        )


def _enum(validator: Validator, enum: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    for allowed in enum:
        if json_equal(allowed, instance):
            return
    supported = tuple(a if isinstance(a, str) else go_json(a) for a in enum)
    yield kube_error(validator, KubeErr("not_supported", "", instance, supported=supported))


def _is_number(instance: Any) -> bool:
    return isinstance(instance, int | float) and not isinstance(instance, bool)


def _bound_text(instance: Any, bound: float) -> str:
    # kube-openapi compares an int64 value against int64(bound), a float64 against the float bound.
    if isinstance(instance, int):
        return str(int(bound))
    return go_number(float(bound))


def _maximum(validator: Validator, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not _is_number(instance):
        return
    exclusive = bool(schema.get("exclusiveMaximum"))
    failed = instance >= bound if exclusive else instance > bound
    if failed:
        word = "less than" if exclusive else "less than or equal to"
        path = current_path(validator)
        yield kube_error(
            validator, KubeErr("invalid", f"{path} in body should be {word} {_bound_text(instance, bound)}", instance)
        )


def _minimum(validator: Validator, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not _is_number(instance):
        return
    exclusive = bool(schema.get("exclusiveMinimum"))
    failed = instance <= bound if exclusive else instance < bound
    if failed:
        word = "greater than" if exclusive else "greater than or equal to"
        path = current_path(validator)
        yield kube_error(
            validator, KubeErr("invalid", f"{path} in body should be {word} {_bound_text(instance, bound)}", instance)
        )


def _multiple_of(
    validator: Validator, factor: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not _is_number(instance) or not factor:
        return
    quotient = instance / factor
    if not float(quotient).is_integer():
        path = current_path(validator)
        yield kube_error(
            validator, KubeErr("invalid", f"{path} in body should be a multiple of {go_number(factor)}", instance)
        )


def _max_length(validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str) and len(instance) > n:
        yield kube_error(
            validator, KubeErr("too_long", f"may not be more than {n} byte{'s' if n != 1 else ''}", instance)
        )


def _min_length(validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str) and len(instance) < n:
        path = current_path(validator)
        yield kube_error(validator, KubeErr("invalid", f"{path} in body should be at least {n} chars long", instance))


def _pattern(validator: Validator, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    rx = compile_pattern(pattern) if isinstance(pattern, str) else None
    if isinstance(instance, str) and rx is not None and not rx.search(instance):
        path = current_path(validator)
        yield kube_error(validator, KubeErr("invalid", f"{path} in body should match '{pattern}'", instance))


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """The pattern as a Python regex, or None for Go RE2 syntax Python lacks (then it is not enforced)."""
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern)
        except re.error:
            _PATTERNS[pattern] = None
    return _PATTERNS[pattern]


def _max_items(validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, list) and len(instance) > n:
        yield kube_error(
            validator, KubeErr("too_many", f"must have at most {n} item{'s' if n != 1 else ''}", len(instance))
        )


def _min_items(validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, list) and len(instance) < n:
        path = current_path(validator)
        yield kube_error(validator, KubeErr("invalid", f"{path} in body should have at least {n} items", len(instance)))


def _max_properties(
    validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, dict) and len(instance) > n:
        yield kube_error(
            validator, KubeErr("too_many", f"must have at most {n} item{'s' if n != 1 else ''}", len(instance))
        )


def _min_properties(
    validator: Validator, n: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, dict) and len(instance) < n:
        path = current_path(validator)
        yield kube_error(
            validator, KubeErr("invalid", f"{path} in body should have at least {n} properties", len(instance))
        )


def _required(
    validator: Validator, required: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for key in required:
        if key not in instance:
            yield kube_error(validator, KubeErr("required", "", "", child=key))


def _properties(
    validator: Validator, props: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for key in sorted(props):
        if key in instance:
            yield from descend(validator, instance[key], props[key], key)


def _additional_properties(
    validator: Validator, extra: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict) or not isinstance(extra, dict):
        return
    declared = schema.get("properties") or {}
    for key in sorted(instance):
        if key not in declared:
            yield from descend(validator, instance[key], extra, key)


def _items(validator: Validator, items: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not isinstance(instance, list) or not isinstance(items, dict):
        return
    for index, item in enumerate(instance):
        yield from descend(validator, item, items, index)


_KEYWORDS = {
    "type": _type,
    "x-kubernetes-int-or-string": _int_or_string,
    "format": _format,
    "enum": _enum,
    "maximum": _maximum,
    "minimum": _minimum,
    "multipleOf": _multiple_of,
    "maxLength": _max_length,
    "minLength": _min_length,
    "pattern": _pattern,
    "maxItems": _max_items,
    "minItems": _min_items,
    "maxProperties": _max_properties,
    "minProperties": _min_properties,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional_properties,
    "items": _items,
    "x-kubernetes-list-type": composites.list_type,
    "x-kubernetes-embedded-resource": composites.embedded_resource,
    "oneOf": composites.one_of,
    "anyOf": composites.any_of,
    "allOf": composites.all_of,
    "not": composites.not_,
}

KubeSchemaValidator = validators.create(
    meta_schema={"$schema": "kube-structural"},
    validators=_KEYWORDS,
    type_checker=Draft4Validator.TYPE_CHECKER,
    id_of=lambda schema: "",
)
"""A ``jsonschema`` validator class speaking kube's structural dialect (no $ref, no CEL)."""


def iter_kube_errors(validator: Any, instance: Any) -> list[ValidationError]:
    """All errors for ``instance``; each one carries ``.kube`` (a :class:`KubeErr`)."""
    token = INSTANCE_PATH.set([])
    try:
        return list(validator.iter_errors(instance))
    finally:
        INSTANCE_PATH.reset(token)
