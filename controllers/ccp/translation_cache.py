"""Incremental translation: re-translate only the NSX policies whose inputs changed.

A full :func:`~controllers.ccp.translate.translate` of 1,000 policies costs more than a second,
and the policy controller runs on every NSX change and every drift event. A policy's translation
depends only on the policy, the groups and services it reads (transitively) and a little shared
context (its name clash, the names of the groups it references), all of which
:class:`~controllers.ccp.translate.PolicyResult` records; so each result is kept with those inputs
and reused while they are unchanged. The assembled output equals a full translation exactly
(``tests/unit/ccp/test_translation_cache.py`` checks that over random edit sequences).

"Unchanged" is object identity (:class:`~controllers.ccp.intent.NsxIntent` keeps unchanged NSX
objects as the same dicts across polls) or, for objects read again, the same ``unique_id`` and
``_revision`` on the object and on each embedded rule or service entry — NSX bumps ``_revision``
on every write, and ``unique_id`` tells a re-created object from the one it replaced. Snapshots
must be treated as immutable values: an object edited in place is not noticed.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from controllers.ccp.snapshot import NsxSnapshot
from controllers.ccp.translate import (
    PolicyResult,
    Translation,
    TranslationContext,
    referenced_group_paths,
)

_EMBEDDED = ("rules", "service_entries")


def version(obj: Any) -> Hashable | None:
    """``unique_id`` and ``_revision`` of the object and of its embedded children; None when any
    is missing (then only identity tells that the object is unchanged)."""
    if not isinstance(obj, dict):
        return None
    head = _leaf(obj)
    if head is None or "children" in obj:
        return None
    parts: list[Hashable] = [head]
    for key in _EMBEDDED:
        items = obj.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return None
        parts.append(key)
        for item in items:
            leaf = _leaf(item)
            if leaf is None:
                return None
            parts.append(leaf)
    return tuple(parts)


def _leaf(obj: Any) -> tuple[str, int] | None:
    if not isinstance(obj, dict):
        return None
    uid, rev = obj.get("unique_id"), obj.get("_revision")
    if isinstance(uid, str) and type(rev) is int:
        return uid, rev
    return None


@dataclass(frozen=True)
class _Input:
    """One object a result was computed from, as it was then."""

    obj: Any
    version: Hashable | None

    def same(self, now: Any) -> bool:
        if now is self.obj:
            return True
        return self.version is not None and version(now) == self.version


def _input(obj: Any) -> _Input:
    return _Input(obj, version(obj))


@dataclass
class _Entry:
    policy: _Input
    result: PolicyResult
    clash: tuple[str, ...]
    groups: dict[str, _Input]
    names: dict[str, tuple[str | None, str | None]]  # group path -> (its name, its name-clash reason)
    services: dict[str, _Input]

    def valid(self, context: TranslationContext, policy: Any) -> bool:
        snap = context.snap
        if not self.policy.same(policy):
            return False
        if tuple(context.by_name.get(self.result.name, ())) != self.clash:
            return False
        for path, (name, bad) in self.names.items():
            if context.group_names.get(path) != name or context.bad_group_names.get(path) != bad:
                return False
        for path, seen in self.groups.items():
            if not seen.same(snap.groups.get(path)):
                return False
        return all(seen.same(snap.services.get(path)) for path, seen in self.services.items())


class TranslationCache:
    """``translate(snapshot)`` with per-policy results kept between calls (see the module docstring).

    Not thread-safe: one caller (the policy controller's single worker) at a time."""

    def __init__(self, cluster_name: str, *, tier_priority_base: int = 0) -> None:
        self.cluster_name = cluster_name
        self.tier_priority_base = tier_priority_base
        self._entries: dict[str, _Entry] = {}
        self._referenced: dict[str, tuple[_Input, list[str]]] = {}
        self.last_translated = 0
        """How many policies the last call translated (the others were reused)."""
        self._last: tuple[NsxSnapshot, Translation] | None = None
        self.full_runs = 0
        """How many snapshots were translated (a snapshot asked again is not counted)."""

    def translate(self, snapshot: NsxSnapshot) -> Translation:
        """The translation of ``snapshot``; callers may modify the returned containers (not the
        objects in them), so the same snapshot asked again gets a fresh copy of the containers."""
        if self._last is not None and self._last[0] is snapshot:
            self.last_translated = 0
            return _copy(self._last[1])
        translation = self._translate_snapshot(snapshot)
        self._last = (snapshot, translation)
        return _copy(translation)

    def _translate_snapshot(self, snapshot: NsxSnapshot) -> Translation:
        context = TranslationContext(snapshot, self.cluster_name, self.tier_priority_base,
                                     referenced=self._referenced_paths)
        results: dict[str, PolicyResult] = {}
        translated = 0
        for path, policy in context.spanned:
            entry = self._entries.get(path)
            if entry is None or not entry.valid(context, policy):
                entry = self._translate(context, path, policy)
                self._entries[path] = entry
                translated += 1
            results[path] = entry.result
        spanned = results.keys()
        for gone in [p for p in self._entries if p not in spanned]:
            del self._entries[gone]
        for gone in [p for p in self._referenced if p not in spanned]:
            del self._referenced[gone]
        self.last_translated = translated
        self.full_runs += 1
        return context.assemble(results)

    def results(self) -> dict[str, PolicyResult]:
        """Per spanned policy path, the result of the last translation (with what it read)."""
        return {path: entry.result for path, entry in self._entries.items()}

    def clear(self) -> None:
        self._entries.clear()
        self._referenced.clear()
        self._last = None

    def _translate(self, context: TranslationContext, path: str, policy: dict[str, Any]) -> _Entry:
        result = context.translate_policy(path, policy)
        snap = context.snap
        return _Entry(
            policy=_input(policy),
            result=result,
            clash=tuple(context.by_name.get(result.name, ())),
            groups={g: _input(snap.groups.get(g)) for g in result.group_reads},
            names={g: (context.group_names.get(g), context.bad_group_names.get(g)) for g in result.group_reads},
            services={s: _input(snap.services.get(s)) for s in result.service_reads},
        )

    def _referenced_paths(self, path: str, policy: dict[str, Any]) -> list[str]:
        known = self._referenced.get(path)
        if known is not None and known[0].same(policy):
            return known[1]
        paths = referenced_group_paths(path, policy)
        self._referenced[path] = (_input(policy), paths)
        return paths


def _copy(t: Translation) -> Translation:
    return Translation(tiers=dict(t.tiers), cluster_groups=dict(t.cluster_groups), policies=dict(t.policies),
                       errors={path: list(reasons) for path, reasons in t.errors.items()},
                       policy_names=dict(t.policy_names), held=set(t.held))
