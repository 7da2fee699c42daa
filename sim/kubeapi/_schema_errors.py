"""Plumbing shared by the structural-schema keyword functions: kube error records and path tracking.

kube-openapi embeds the node's own path in its messages ("spec.priority in body should be ..."),
which ``jsonschema`` only records on errors after the fact, so the walk keeps the current instance
path in a context variable while it descends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator


@dataclass(frozen=True)
class KubeErr:
    """What kube's ``kubeOpenAPIResultToFieldErrors`` turns one kube-openapi error into.

    ``kind`` is one of required / not_supported / type_invalid / invalid / too_long / too_many /
    duplicate / composite. ``child`` names a key or index appended to the node's path (required
    properties and list-type duplicates are reported on the child, not on the node).
    """

    kind: str
    detail: str = ""
    value: Any = ""
    child: str | int | None = None
    supported: tuple[str, ...] = ()


def go_path(path: Iterable[Any]) -> str:
    """kube-openapi's path notation: ``spec.ingress[0].action`` (root is the empty string)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def kube_type(value: Any) -> str:
    """The JSON type name kube-openapi infers from a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def kube_error(validator: Validator, err: KubeErr) -> ValidationError:
    """A ``jsonschema`` error carrying the kube record (jsonschema adds the instance path on the way up)."""
    e = ValidationError(err.detail or err.kind)
    e.kube = err  # type: ignore[attr-defined]
    return e


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality: numbers by value (1 == 1.0), but a boolean never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


INSTANCE_PATH: ContextVar[list[str | int]] = ContextVar("kube_schema_path")


def current_path(validator: Validator) -> str:
    """The kube-style path of the node being validated (for messages that quote it)."""
    return go_path(INSTANCE_PATH.get())


def descend(validator: Validator, instance: Any, schema: Any, key: str | int | None) -> Iterator[ValidationError]:
    """Validate a child (``key``) or a junctor branch (``None``) while keeping the path current."""
    stack = INSTANCE_PATH.get()
    if key is not None:
        stack.append(key)
    try:
        errors = list(validator.descend(instance, schema, path=key))  # type: ignore[attr-defined]
    finally:
        if key is not None:
            stack.pop()
    yield from errors
