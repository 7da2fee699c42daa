"""Label and field selectors, parsed once per request and then matched against many objects.

Grammar and semantics follow ``k8s.io/apimachinery/pkg/labels`` and ``.../fields``: ``!=`` and
``notin`` also match objects without the key; field selectors accept only the labels the resource
declares (400 otherwise), since a real server rejects the rest instead of ignoring them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .kinds import ResourceType, field_value

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|!=|=|>|<)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(next(iter(self.values)))
        except ValueError:
            return False
        return have > want if self.op == ">" else have < want


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``labelSelector``; raises a 400 ApiError on syntax errors."""
    if not text or not text.strip():
        return []
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        if m := _SET_RE.match(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            if not values:
                raise bad_request(f"unable to parse requirement: values for {m.group(2)!r} must not be empty")
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _CMP_RE.match(part):
            op = "=" if m.group(2) == "==" else m.group(2)
            if op in (">", "<") and not m.group(3).lstrip("-").isdigit():
                raise bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                  f"an integer: {m.group(3)!r}")
            reqs.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_RE.match(part):
            reqs.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: invalid label selector: {part.strip()!r}")
    return reqs


def labels_match(reqs: list[Requirement], obj: dict[str, Any]) -> bool:
    if not reqs:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


def _unescape_split(text: str, sep: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


@dataclass(frozen=True)
class FieldRequirement:
    label: str
    negate: bool
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        return (field_value(obj, self.label) == self.value) != self.negate


def parse_field_selector(text: str | None, rtype: ResourceType) -> list[FieldRequirement]:
    """Parse ``fieldSelector`` and check each label is one this resource supports (400 otherwise)."""
    if not text or not text.strip():
        return []
    reqs: list[FieldRequirement] = []
    supported = rtype.supported_field_labels()
    for raw in _split_escaped(text):
        part = raw.strip()
        found = next(((op, idx) for op in ("!=", "==", "=") if (idx := _find_unescaped(part, op)) >= 0), None)
        if found is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        op, idx = found
        negate = op == "!="
        label, value = part[:idx].strip(), part[idx + len(op):]
        if label not in supported:
            if rtype.is_custom:
                only = ", ".join(f'"{s}"' for s in supported)
                raise bad_request(f'"{label}" is not a known field selector: only {only}')
            raise bad_request(f'field label not supported: {label}')
        reqs.append(FieldRequirement(label, negate, _unescape_split(value, "\0")[0]))
    return reqs


def _split_escaped(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    out.append("".join(cur))
    return out


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1


def name_from_fields(reqs: list[FieldRequirement]) -> str | None:
    """The single name a ``metadata.name=`` selector pins, for cheap direct lookups."""
    for r in reqs:
        if r.label == "metadata.name" and not r.negate:
            return r.value
    return None


Matcher = Callable[[dict[str, Any]], bool]


def matcher(labels: list[Requirement], fields: list[FieldRequirement]) -> Matcher | None:
    """One predicate for both selectors, or None when nothing filters (the common fast path)."""
    if not labels and not fields:
        return None

    def match(obj: dict[str, Any]) -> bool:
        return labels_match(labels, obj) and all(f.matches(obj) for f in fields)

    return match
