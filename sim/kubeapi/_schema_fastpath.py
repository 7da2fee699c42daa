"""A compiled yes/no decision "does this object pass the structural schema?", run before ``jsonschema``.

Why: the ``jsonschema`` walk (one ``evolve``/``descend`` and one generator per schema node) costs
milliseconds per Antrea policy, and almost every object the emulator sees is valid. This module
compiles a validator's schema once into a tree of small closures that answer the question with no
error objects, no paths and no ``jsonschema`` machinery; the caller only runs the full validator
(which builds kube's error messages) when the answer is not "valid".

Safety by construction, so no observable behaviour changes:

* every keyword the validator class knows is mirrored from the keyword function registered for it
  (``validator.VALIDATORS``), with the same expressions evaluated on the same values; a keyword
  whose registered function is not one this module mirrors, or whose value has a shape the mirror
  does not expect, is decided by calling that very keyword function and accepting iff it yields
  nothing (the "generic" checker: exact, only slower);
* every checker is exact (True iff the keyword function would report no error), so junctors can be
  decided natively: ``oneOf`` counts valid branches, ``not`` negates, ``anyOf``/``allOf`` evaluate
  every branch as ``jsonschema`` does;
* any exception while checking makes :meth:`FastChecker.accepts` answer False, so the full
  validator runs and raises (or reports) exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from typing import Any

from . import _schema_composites as composites
from . import _schema_keywords as kw
from ._schema_errors import INSTANCE_PATH, json_equal
from ._schema_formats import check_format

__all__ = ["FastChecker"]

Check = Callable[[Any], bool]


def _accept(_value: Any) -> bool:
    return True


def _reject(_value: Any) -> bool:
    return False


def _not_a_schema(_value: Any) -> bool:
    # jsonschema fails on such a node (schema.items() of a non-mapping): let the full path do so.
    raise TypeError("schema node is not an object")


def _all(checks: list[Check]) -> Check:
    """The conjunction of ``checks`` (short-circuits: a False sends the caller to the full validator)."""
    checks = [c for c in checks if c is not _accept]
    if not checks:
        return _accept
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda v: a(v) and b(v)
    if len(checks) == 3:
        a, b, c = checks
        return lambda v: a(v) and b(v) and c(v)
    frozen = tuple(checks)

    def all_of(v: Any) -> bool:
        for check in frozen:  # noqa: SIM110 - a plain loop beats all(genexpr) on this hot path
            if not check(v):
                return False
        return True

    return all_of


# --- type -----------------------------------------------------------------------------------------


def _is_integer(v: Any) -> bool:
    # kube_type "integer" (an int, never a bool) or an integral "number" (_type_matches).
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and float(v).is_integer()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_int_or_string(v: Any) -> bool:
    return isinstance(v, str) or _is_integer(v)


_BASE_TYPE_CHECKS: dict[tuple[str, ...], Check] = {
    ("string",): lambda v: isinstance(v, str),
    ("object",): lambda v: isinstance(v, dict),
    ("array",): lambda v: isinstance(v, list),
    ("boolean",): lambda v: isinstance(v, bool),
    ("integer",): _is_integer,
    ("number",): _is_number,
    ("integer", "string"): _is_int_or_string,
}


def _type_check(schema: Mapping[str, Any]) -> Check:
    """Mirror of ``_schema_keywords._type`` (nullable, the ``format`` quirk, integral floats)."""
    types = kw._declared_types(schema)
    if not types:
        return _accept
    key = tuple(types) if all(isinstance(t, str) for t in types) else None
    base = _BASE_TYPE_CHECKS.get(key) if key is not None else None
    if base is None:
        frozen = list(types)

        def base(v: Any) -> bool:
            return kw._type_matches(frozen, v)

    null_ok = "null" in types or bool(schema.get("nullable"))
    fmt = schema.get("format")
    # With a format and no numeric type, a string or array value is not type-checked at all.
    skip_str_array = isinstance(fmt, str) and bool(fmt) and "integer" not in types and "number" not in types
    if skip_str_array:
        return lambda v: null_ok if v is None else (isinstance(v, str | list) or base(v))
    if null_ok:
        return lambda v: v is None or base(v)
    # base(None) is False for every type list without "null".
    return base


# --- scalar keywords --------------------------------------------------------------------------------


def _format_check(fmt: Any) -> Check:
    if not isinstance(fmt, str):
        return _accept
    return lambda v: not isinstance(v, str) or check_format(fmt, v)


def _enum_check(enum: Any) -> Check:
    if not isinstance(enum, list):
        raise _Unmirrored
    strings = frozenset(a for a in enum if type(a) is str)

    def check(v: Any) -> bool:
        # json_equal(a, v) for a str v is "type(a) is str and a == v".
        if type(v) is str:
            return v in strings
        return any(json_equal(a, v) for a in enum)

    return check


def _maximum_check(bound: Any, schema: Mapping[str, Any]) -> Check:
    if bool(schema.get("exclusiveMaximum")):
        return lambda v: not _is_number(v) or not v >= bound
    return lambda v: not _is_number(v) or not v > bound


def _minimum_check(bound: Any, schema: Mapping[str, Any]) -> Check:
    if bool(schema.get("exclusiveMinimum")):
        return lambda v: not _is_number(v) or not v <= bound
    return lambda v: not _is_number(v) or not v < bound


def _multiple_of_check(factor: Any) -> Check:
    def check(v: Any) -> bool:
        if not _is_number(v) or not factor:
            return True
        return float(v / factor).is_integer()

    return check


def _pattern_check(pattern: Any) -> Check:
    rx = kw.compile_pattern(pattern) if isinstance(pattern, str) else None
    if rx is None:
        return _accept
    search = rx.search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _length_check(kind: type[Sized], n: Any, upper: bool) -> Check:
    def at_most(v: Any) -> bool:
        return not isinstance(v, kind) or not len(v) > n

    def at_least(v: Any) -> bool:
        return not isinstance(v, kind) or not len(v) < n

    return at_most if upper else at_least


def _required_check(required: Any) -> Check:
    if not isinstance(required, list):
        raise _Unmirrored
    keys = tuple(required)
    if not keys:
        return _accept

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key in keys:  # noqa: SIM110
            if key not in v:
                return False
        return True

    return check


class _Unmirrored(Exception):
    """A keyword value this module does not mirror natively: use the keyword function itself."""


class _Compiler:
    """Compiles schema nodes for one validator instance (the one generic checkers call back into)."""

    def __init__(self, validator: Any) -> None:
        self.validator = validator
        self.keywords: Mapping[str, Any] = validator.VALIDATORS
        self.uses_context = False  # a generic checker needs INSTANCE_PATH set while it runs

    def node(self, schema: Any) -> Check:
        if schema is True:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict):
            return _not_a_schema
        checks: list[Check] = []
        for key, value in schema.items():
            fn = self.keywords.get(key)
            if fn is None:
                continue
            try:
                checks.append(self.keyword(key, fn, value, schema))
            except Exception:  # any surprise: decide with the keyword function itself
                checks.append(self.generic(fn, value, schema))
        return _all(checks)

    def generic(self, fn: Any, value: Any, schema: Mapping[str, Any]) -> Check:
        """Exact by construction: run the registered keyword function, valid iff it yields nothing."""
        self.uses_context = True
        validator = self.validator

        def check(v: Any) -> bool:
            for _ in fn(validator, value, v, schema) or ():
                return False
            return True

        return check

    def keyword(self, key: str, fn: Any, value: Any, schema: dict[str, Any]) -> Check:
        native = _NATIVE.get(key)
        if native is None or fn is not native:
            raise _Unmirrored
        if key == "type":
            return _type_check(schema)
        if key == "x-kubernetes-int-or-string":
            return _type_check(schema) if value and "type" not in schema else _accept
        if key == "format":
            return _format_check(value)
        if key == "enum":
            return _enum_check(value)
        if key == "maximum":
            return _maximum_check(value, schema)
        if key == "minimum":
            return _minimum_check(value, schema)
        if key == "multipleOf":
            return _multiple_of_check(value)
        if key == "pattern":
            return _pattern_check(value)
        if key in _LENGTHS:
            kind, upper = _LENGTHS[key]
            return _length_check(kind, value, upper)
        if key == "required":
            return _required_check(value)
        if key == "properties":
            return self.properties(value)
        if key == "additionalProperties":
            return self.additional_properties(value, schema)
        if key == "items":
            return self.items(value)
        if key == "x-kubernetes-list-type":
            # Only "set" and "map" lists are checked (uniqueness by json_equal): the keyword function does it.
            return self.generic(fn, value, schema) if value in ("set", "map") else _accept
        if key in ("oneOf", "anyOf", "allOf"):
            return self.junctor(key, value)
        if key == "not":
            branch = self.node(value)
            return lambda v: v is None or not branch(v)
        raise _Unmirrored

    def properties(self, props: Any) -> Check:
        if not isinstance(props, dict):
            raise _Unmirrored
        children = tuple((key, self.node(props[key])) for key in sorted(props))
        children = tuple((k, c) for k, c in children if c is not _accept)
        if not children:
            return _accept

        by_key = dict(children)
        declared = len(children)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            # A conjunction of pure checks (any exception means "undecided"), so the order is free:
            # walk whichever side is smaller (objects usually set few of many declared fields).
            if len(v) < declared:
                for key, value in v.items():
                    child = by_key.get(key)
                    if child is not None and not child(value):
                        return False
                return True
            for key, child in children:  # noqa: SIM110
                if key in v and not child(v[key]):
                    return False
            return True

        return check

    def additional_properties(self, extra: Any, schema: Mapping[str, Any]) -> Check:
        if not isinstance(extra, dict):
            return _accept
        child = self.node(extra)
        declared = schema.get("properties") or {}

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            # sorted as jsonschema's walk does (it raises on unorderable keys)
            for key in sorted(v):  # noqa: SIM110
                if key not in declared and not child(v[key]):
                    return False
            return True

        return check

    def items(self, items: Any) -> Check:
        if not isinstance(items, dict):
            return _accept
        child = self.node(items)
        if child is _accept:
            return _accept

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            for item in v:  # noqa: SIM110
                if not child(item):
                    return False
            return True

        return check

    def junctor(self, key: str, branches: Any) -> Check:
        if not isinstance(branches, list):
            raise _Unmirrored
        compiled = tuple(self.node(b) for b in branches)

        # Every branch is evaluated, as composites._branch_errors does (an error raised in any
        # branch must reach the full validator).
        if key == "oneOf":
            return lambda v: v is None or [c(v) for c in compiled].count(True) == 1
        if key == "anyOf":
            return lambda v: v is None or True in [c(v) for c in compiled]
        return lambda v: v is None or False not in [c(v) for c in compiled]


_NATIVE: dict[str, Any] = {
    "type": kw._type,
    "x-kubernetes-int-or-string": kw._int_or_string,
    "format": kw._format,
    "enum": kw._enum,
    "maximum": kw._maximum,
    "minimum": kw._minimum,
    "multipleOf": kw._multiple_of,
    "maxLength": kw._max_length,
    "minLength": kw._min_length,
    "pattern": kw._pattern,
    "maxItems": kw._max_items,
    "minItems": kw._min_items,
    "maxProperties": kw._max_properties,
    "minProperties": kw._min_properties,
    "required": kw._required,
    "properties": kw._properties,
    "additionalProperties": kw._additional_properties,
    "items": kw._items,
    "x-kubernetes-list-type": composites.list_type,
    "oneOf": composites.one_of,
    "anyOf": composites.any_of,
    "allOf": composites.all_of,
    "not": composites.not_,
}

# keyword -> (instance type it applies to, True for an upper bound)
_LENGTHS: dict[str, tuple[type[Sized], bool]] = {
    "maxLength": (str, True),
    "minLength": (str, False),
    "maxItems": (list, True),
    "minItems": (list, False),
    "maxProperties": (dict, True),
    "minProperties": (dict, False),
}


class FastChecker:
    """``accepts(obj)`` is True only when ``validator.iter_errors(obj)`` would yield no error.

    False means "invalid, or this path could not decide" (an exception was raised): the caller
    then runs the full validator, which produces kube's errors (or raises) as it always did.
    """

    def __init__(self, validator: Any) -> None:
        compiler = _Compiler(validator)
        self._check = compiler.node(validator.schema)
        self._uses_context = compiler.uses_context

    def accepts(self, instance: Any) -> bool:
        try:
            if not self._uses_context:
                return self._check(instance)
            token = INSTANCE_PATH.set([])
            try:
                return self._check(instance)
            finally:
                INSTANCE_PATH.reset(token)
        except Exception:  # undecided: the full validator decides (and raises) as before
            return False
