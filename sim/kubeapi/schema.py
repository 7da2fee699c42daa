"""Structural-schema engine of the emulated kube-apiserver: prune, default, validate a custom resource.

A custom resource goes through the same three steps as in kube-apiserver, in this order:
``prune`` (drop undeclared fields; ``fieldValidation=Strict`` turns the returned paths into
``unknown field "spec.foo"`` errors), ``apply_defaults`` (non-nullable nulls dropped, then schema
defaults filled in), ``validate`` (``field.Error``-shaped results the server turns into a 422
``Status`` with ``details.causes``).

Validation runs on ``jsonschema`` with a validator class for kube's structural OpenAPI v3 dialect
(see ``_schema_keywords``); messages follow kube-openapi + apiextensions-apiserver wording, e.g.
``spec.tier: Invalid value: "integer": spec.tier in body must be of type string: "integer"``.
A compiled yes/no checker (``_schema_fastpath``) answers first for valid objects, which skips the
``jsonschema`` walk (most of the cost of a create); it never decides an error message.

Not covered, on purpose:

* ``x-kubernetes-validations`` (CEL rules) are skipped: no CEL evaluator is wired in, and the Antrea
  CRDs this project installs do not use them.
* Root ``metadata`` is the server's business (name format, labels...), except that a schema's own
  constraints on ``metadata.name`` / ``metadata.generateName`` are validated here.
* Validation ratcheting on update (errors on unchanged fields are still reported).
* ``uniqueItems: true`` is refused at construction, as kube refuses it in v1 CRDs.
* ``pattern`` uses Python's ``re``; Go-only RE2 syntax (``\\p{L}``) is accepted but not enforced.
* Duplicate identical errors are reported once (kube's Status lists them once in the message too).

The constructor raises :class:`NonStructuralSchemaError` (a ``ValueError``) listing every rule the
schema breaks, in kube's path notation, so a CRD the real apiserver would refuse is refused here.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError

from ._schema_errors import KubeErr, go_path
from ._schema_fastpath import FastChecker
from ._schema_gofmt import go_bad_value, go_quote
from ._schema_keywords import KubeSchemaValidator, iter_kube_errors
from ._schema_prune import apply_defaults, prune
from ._schema_prune_fast import compile_drop_nulls, compile_prune_check
from ._schema_structural import structural_violations

__all__ = ["FieldError", "NonStructuralSchemaError", "StructuralSchema"]


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error`` as kube-apiserver reports it in a 422 ``Status`` cause.

    ``reason`` is the CauseType ("FieldValueInvalid"...), ``field`` kube's field path
    ("spec.ingress[0].action"; "<nil>" for errors kube attaches to no field, such as oneOf failures),
    ``message`` the text after the field, e.g. ``Required value``.
    """

    reason: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_REASONS = {
    "required": "FieldValueRequired",
    "not_supported": "FieldValueNotSupported",
    "type_invalid": "FieldValueTypeInvalid",
    "invalid": "FieldValueInvalid",
    "too_long": "FieldValueTooLong",
    "too_many": "FieldValueTooMany",
    "duplicate": "FieldValueDuplicate",
    "composite": "FieldValueInvalid",
}

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 256


def _validation_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema the validator runs: root metadata reduced to its name/generateName constraints."""
    out = dict(schema)
    props = dict(out.get("properties") or {})
    metadata = props.pop("metadata", None)
    if isinstance(metadata, Mapping):
        kept = {k: v for k, v in (metadata.get("properties") or {}).items() if k in ("name", "generateName")}
        if kept:
            props["metadata"] = {"type": "object", "properties": kept}
    if props or "properties" in out:
        out["properties"] = props
    return out


def _compiled_validator(schema: Mapping[str, Any]) -> tuple[Any, FastChecker]:
    """The ``jsonschema`` validator and the fast accept-only checker compiled from the same schema."""
    key = json.dumps(schema, sort_keys=True, default=str)
    with _CACHE_LOCK:
        compiled = _CACHE.get(key)
        if compiled is None:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            validator = KubeSchemaValidator(_validation_schema(schema))
            compiled = (validator, FastChecker(validator))
            _CACHE[key] = compiled
        return compiled


class NonStructuralSchemaError(ValueError):
    """A schema kube-apiserver would refuse in a CRD; ``problems`` holds one kube-style cause per rule broken.

    Each problem reads ``<path under openAPIV3Schema>: <message>``, e.g.
    ``properties[spec].properties[a].type: Required value: must not be empty for specified object fields``.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("schema is not structural: " + "; ".join(problems))
        self.problems = problems


class StructuralSchema:
    """One CRD version's ``openAPIV3Schema``, checked for structural-ness and compiled once."""

    def __init__(self, schema: dict[str, Any]) -> None:
        problems = structural_violations(schema)
        if problems:
            raise NonStructuralSchemaError(problems)
        self._schema: dict[str, Any] = copy.deepcopy(schema)
        self._validator, self._fast = _compiled_validator(self._schema)
        # Most CRDs (the Antrea ones among them) declare no default anywhere: then defaulting has
        # nothing to do, and walking a few hundred schema properties per write is skipped.
        self._declares_defaults = _mentions_key(self._schema, "default")
        # Compiled walks (exact mirrors, see _schema_prune_fast): pruning runs only when something
        # may be removed, and null-dropping looks nothing up in the schema per write.
        self._may_prune = compile_prune_check(self._schema)
        self._drop_nulls = compile_drop_nulls(self._schema)

    @property
    def schema(self) -> dict[str, Any]:
        return self._schema

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop undeclared fields in place; return their paths (".spec.foo"), sorted."""
        removed: list[str] = []
        try:
            may_prune = self._may_prune(obj)
        except Exception:  # e.g. RecursionError: the interpretive walk decides, and fails, as before
            may_prune = True
        if may_prune:
            prune(obj, self._schema, "", removed, root=True)
        return sorted(removed)

    def apply_defaults(self, obj: dict[str, Any]) -> None:
        """Apply schema defaults in place (call after :meth:`prune`, as kube-apiserver does)."""
        if self._drop_nulls is not None:
            self._drop_nulls(obj)
        if self._declares_defaults:
            apply_defaults(obj, self._schema)

    def validate(self, obj: dict[str, Any]) -> list[FieldError]:
        """Every schema violation of ``obj``, ordered by field path (stable across runs).

        The compiled fast path answers for valid objects (the common case) without building any
        error; anything else goes through the full validator, which words kube's errors.
        """
        if self._fast.accepts(obj):
            return []
        errors = iter_kube_errors(self._validator, obj)
        converted = [(_sort_key(e), _to_field_error(e)) for e in errors]
        converted.sort(key=lambda pair: pair[0])
        unique: list[FieldError] = []
        for _, fe in converted:
            if fe not in unique:
                unique.append(fe)
        return unique


def _mentions_key(value: Any, key: str) -> bool:
    """Whether ``key`` is a key anywhere in ``value`` (a property *named* like it counts too: the
    answer may be a false "yes", never a false "no")."""
    if isinstance(value, dict):
        return key in value or any(_mentions_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_key(v, key) for v in value)
    return False


def _sort_key(error: ValidationError) -> tuple[Any, ...]:
    kube: KubeErr = error.kube  # type: ignore[attr-defined]
    parts: list[Any] = list(error.absolute_path)
    if kube.child is not None:
        parts.append(kube.child)
    rank = 0 if kube.kind == "composite" else 1
    return (rank, tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts))


def _to_field_error(error: ValidationError) -> FieldError:
    kube: KubeErr = error.kube  # type: ignore[attr-defined]
    parts: list[Any] = list(error.absolute_path)
    if kube.child is not None:
        parts.append(kube.child)
    field = go_path(parts)
    reason = _REASONS[kube.kind]
    if kube.kind == "required":
        message = "Required value" + (f": {kube.detail}" if kube.detail else "")
    elif kube.kind == "not_supported":
        message = f"Unsupported value: {go_bad_value(kube.value)}"
        if kube.supported:
            message += ": supported values: " + ", ".join(go_quote(s) for s in kube.supported)
    elif kube.kind == "too_long":
        message = f"Too long: {kube.detail}"
    elif kube.kind == "too_many":
        message = f"Too many: {go_bad_value(kube.value)}: {kube.detail}"
    elif kube.kind == "duplicate":
        message = f"Duplicate value: {go_bad_value(kube.value)}"
    elif kube.kind == "composite":
        field = "<nil>"
        message = f'Invalid value: "": {kube.detail}'
    else:
        message = f"Invalid value: {go_bad_value(kube.value)}: {kube.detail}"
    return FieldError(reason=reason, field=field, message=message)
