"""Pruning and null-dropping compiled once per schema, for the write path of every custom resource.

Why: ``_schema_prune`` interprets the schema on every write (five ``schema.get`` calls, an ABC
``isinstance`` and a child path string per node), which cost more than validating an Antrea policy.
This module turns a schema into a tree of closures that do the same walks with everything that
depends only on the schema looked up in advance.

Exactness, so no observable behaviour changes:

* :func:`compile_prune_check` compiles a *detector*: it answers False only when
  ``_schema_prune.prune`` would remove nothing (and raise nothing), so the caller may skip the real
  prune, which is a no-op then. Anything it is unsure of (a schema shape other than plain dicts, a
  field to remove, an embedded resource's metadata to trim) answers True, and the caller runs the
  real prune, which builds the paths and mutates exactly as before.
* :func:`compile_drop_nulls` mirrors ``drop_non_nullable_nulls`` expression by expression; on any
  schema node that is not a plain dict it calls the interpretive function for that subtree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._schema_prune import OBJECT_META_FIELDS, drop_non_nullable_nulls

__all__ = ["compile_drop_nulls", "compile_prune_check"]

Detector = Callable[[Any], bool]  # True: "prune may remove something here": run the real prune
Dropper = Callable[[Any], None]

_ROOT_KEPT = frozenset(("apiVersion", "kind", "metadata"))
_CONTAINERS = (dict, list)


def _never(_value: Any) -> bool:
    return False


def _unsure(_value: Any) -> bool:
    return True


def _plain(schema: Any) -> bool:
    return type(schema) is dict


def compile_prune_check(schema: Any) -> Detector:
    """The detector for ``prune(value, schema, ..., root=True)``."""
    return _PruneCompiler().node(schema, root=True)


class _PruneCompiler:
    def __init__(self) -> None:
        # id(schema node) -> (node, detector); the node is kept so that its id stays unique
        self._memo: dict[int, tuple[Any, Detector]] = {}

    def node(self, schema: Any, *, root: bool = False) -> Detector:
        if schema is None:
            return _never  # prune(value, None) returns at once
        if root:
            return self._compile(schema, root=True)
        hit = self._memo.get(id(schema))
        if hit is not None:
            return hit[1]
        check = self._compile(schema, root=False)
        self._memo[id(schema)] = (schema, check)
        return check

    def _compile(self, schema: Any, *, root: bool) -> Detector:
        if not _plain(schema):
            return _unsure  # a Mapping subclass or a non-schema: the interpretive walk decides (or raises)
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        items = schema.get("items")
        if not _plain(props) or not (additional is None or type(additional) in (bool, dict)) \
                or not (items is None or type(items) in (dict, list)):
            return _unsure
        keep_unknown = additional is True or bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
        children: dict[Any, Detector] = {key: self.node(sub) for key, sub in props.items()}
        extra = self.node(additional) if type(additional) is dict else None
        each = self.node(items) if type(items) is dict else None
        if root or embedded:
            return _special_object(props, children, extra, keep_unknown, embedded, root, int_or_string, each)
        return _object(children, extra, keep_unknown, int_or_string, each)


def _list_check(each: Detector | None) -> Detector:
    if each is None or each is _never:
        return _never

    def check(items: list[Any]) -> bool:
        for item in items:  # noqa: SIM110 - a plain loop beats any(genexpr) on this hot path
            if isinstance(item, _CONTAINERS) and each(item):
                return True
        return False

    return check


def _object(children: dict[Any, Detector], extra: Detector | None, keep_unknown: bool, int_or_string: bool,
            each: Detector | None) -> Detector:
    """An ordinary schema node (neither the root nor an embedded resource)."""
    on_list = _list_check(each)
    get = children.get

    def check(value: Any) -> bool:
        if isinstance(value, dict):
            if int_or_string:
                return False
            for key, child in value.items():
                sub = get(key)
                if sub is not None:
                    if sub is not _never and isinstance(child, _CONTAINERS) and sub(child):
                        return True
                elif extra is not None:
                    if isinstance(child, _CONTAINERS) and extra(child):
                        return True
                elif not keep_unknown:
                    return True  # an undeclared field: prune removes it
            return False
        if isinstance(value, list):
            return on_list(value)
        return False

    return check


def _special_object(props: dict[str, Any], children: dict[Any, Detector], extra: Detector | None,
                    keep_unknown: bool, embedded: bool, root: bool, int_or_string: bool,
                    each: Detector | None) -> Detector:
    """The root or an embedded resource: apiVersion/kind/metadata are kept whatever the schema says."""
    plain = _object(children, extra, keep_unknown, int_or_string, each)

    def check(value: Any) -> bool:
        if not isinstance(value, dict) or int_or_string:
            return plain(value)
        rest: dict[Any, Any] = {}
        for key, child in value.items():
            if key in _ROOT_KEPT and key not in props:
                if embedded and key == "metadata" and isinstance(child, dict):
                    for field in child:
                        if field not in OBJECT_META_FIELDS:
                            return True
                continue
            if root and key == "metadata":
                continue
            rest[key] = child
        return plain(rest)

    return check


def compile_drop_nulls(schema: Any) -> Dropper | None:
    """``drop_non_nullable_nulls(value, schema)`` as one call; None when it never changes anything."""
    return _DropCompiler().node(schema)


class _DropCompiler:
    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Dropper | None]] = {}

    def node(self, schema: Any) -> Dropper | None:
        if schema is None:
            return None
        hit = self._memo.get(id(schema))
        if hit is not None:
            return hit[1]
        dropper = self._compile(schema)
        self._memo[id(schema)] = (schema, dropper)
        return dropper

    def _compile(self, schema: Any) -> Dropper | None:
        def interpreted(value: Any) -> None:
            drop_non_nullable_nulls(value, schema)

        if not _plain(schema):
            return interpreted
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        items = schema.get("items")
        if not _plain(props) or isinstance(additional, Mapping) and not _plain(additional) \
                or isinstance(items, Mapping) and not _plain(items):
            return interpreted
        entries: dict[Any, tuple[bool, Dropper | None] | None] = {}
        for key, sub in props.items():
            if sub is None:
                entries[key] = None  # declared with no schema: skipped, additionalProperties not consulted
            elif not _plain(sub):
                return interpreted
            else:
                entries[key] = self._entry(sub)
        extra = self._entry(additional) if _plain(additional) else None
        each = self.node(items) if _plain(items) else None
        if not entries and extra is None and each is None:
            return None
        return _dropper(entries, extra, each)

    def _entry(self, sub: dict[str, Any]) -> tuple[bool, Dropper | None]:
        # (a null here is dropped, what to run on a container here)
        return (not sub.get("nullable") and "default" not in sub, self.node(sub))


def _dropper(entries: dict[Any, tuple[bool, Dropper | None] | None], extra: tuple[bool, Dropper | None] | None,
             each: Dropper | None) -> Dropper:
    get = entries.get

    def drop(value: Any) -> None:
        if isinstance(value, dict):
            doomed: list[Any] | None = None
            try:
                for key, child in value.items():
                    entry = get(key, extra)  # a declared key maps to its entry even when that is None
                    if entry is None:
                        continue
                    if child is None:
                        if entry[0]:
                            if doomed is None:
                                doomed = []
                            doomed.append(key)
                    elif entry[1] is not None and isinstance(child, _CONTAINERS):
                        entry[1](child)
            finally:
                # Also when a malformed sub-schema raised: the interpretive walk had deleted the
                # keys before it by then, and both must leave the same object behind.
                if doomed is not None:
                    for key in doomed:
                        del value[key]
        elif isinstance(value, list) and each is not None:
            for item in value:
                if isinstance(item, _CONTAINERS):
                    each(item)

    return drop
