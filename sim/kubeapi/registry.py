"""Which group/version/plural is served right now: the built-ins plus whatever CRDs registered.

Discovery, OpenAPI and routing all read from here, so a CRD becomes visible everywhere at once
when it is registered and disappears everywhere when it is removed.
"""

from __future__ import annotations

import re
import threading

from .kinds import ResourceType, builtin_types

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key giving Kubernetes' version order (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others)."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    level = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (level, -major, -minor, "")


class Registry:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._builtin_groups: list[str] = []
        self.generation = 0  # bumps on every change, for cache keys (openapi hash)
        for rt in builtin_types():
            self._types[(rt.group, rt.version, rt.plural)] = rt
            if rt.group not in self._builtin_groups:
                self._builtin_groups.append(rt.group)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def find_kind(self, group: str, kind: str) -> list[ResourceType]:
        with self._lock:
            return [t for t in self._types.values() if t.group == group and t.kind == kind]

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def versions(self, group: str) -> list[str]:
        """Served versions of ``group``, preferred first."""
        with self._lock:
            found = {v for (g, v, _) in self._types if g == group}
        return sorted(found, key=version_priority)

    def groups(self) -> list[str]:
        """Named groups (not core) in discovery order: built-ins first, then CRD groups sorted."""
        with self._lock:
            present = {g for (g, _, _) in self._types if g}
        builtin = [g for g in self._builtin_groups if g and g in present]
        return builtin + sorted(present - set(builtin))

    def resources(self, group: str, version: str) -> list[ResourceType]:
        with self._lock:
            return [t for (g, v, _), t in self._types.items() if g == group and v == version]

    def is_builtin_group(self, group: str) -> bool:
        return group in self._builtin_groups

    def set_crd(self, crd_name: str, types: list[ResourceType]) -> None:
        """Replace everything served for ``crd_name`` by ``types`` (empty to stop serving)."""
        with self._lock:
            for k in [k for k, t in self._types.items() if t.crd_name == crd_name]:
                del self._types[k]
            for t in types:
                self._types[(t.group, t.version, t.plural)] = t
            self.generation += 1

    def crd_types(self, crd_name: str) -> list[ResourceType]:
        with self._lock:
            return [t for t in self._types.values() if t.crd_name == crd_name]
