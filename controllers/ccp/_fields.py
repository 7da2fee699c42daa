"""Defensive readers for NSX payloads.

NSX objects reach the translator as plain JSON. Anything malformed must become a per-object error
(a realization error in NSX), never an exception that stops the other objects, so every field is
read through these helpers, which raise :class:`Invalid` with a message an NSX admin can act on.
"""

from __future__ import annotations

from typing import Any


class Invalid(Exception):
    """One NSX object (or one part of it) cannot be translated; the message says why."""


def as_list(obj: dict[str, Any], key: str, *, what: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{what}: '{key}' must be a list, got {type(value).__name__}")
    return value


def as_str(obj: dict[str, Any], key: str, *, what: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        if value is None:
            raise Invalid(f"{what}: '{key}' is required")
        raise Invalid(f"{what}: '{key}' must be a string, got {type(value).__name__}")
    return value


def as_bool(obj: dict[str, Any], key: str, *, what: str, default: bool = False) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Invalid(f"{what}: '{key}' must be a boolean, got {type(value).__name__}")
    return value


def as_int(obj: dict[str, Any], key: str, *, what: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if value is None:
            raise Invalid(f"{what}: '{key}' is required")
        raise Invalid(f"{what}: '{key}' must be an integer, got {type(value).__name__}")
    return value


def as_strings(obj: dict[str, Any], key: str, *, what: str) -> list[str]:
    items = as_list(obj, key, what=what)
    for item in items:
        if not isinstance(item, str):
            raise Invalid(f"{what}: '{key}' must hold strings, got {type(item).__name__}")
    return items


def ident(obj: Any, *, what: str) -> str:
    if not isinstance(obj, dict):
        raise Invalid(f"{what}: not an object")
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what}: 'id' is required")
    return value


def short(value: object, limit: int = 80) -> str:
    """Quote user data in error messages without echoing megabytes of it back to NSX."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
