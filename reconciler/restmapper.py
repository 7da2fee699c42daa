"""Maps (apiVersion, kind) to the REST resource that serves it, from the server's discovery.

The adapter handles built-in kinds and CRDs it may install itself, so URLs are never hard-coded:
they come from ``/api/v1`` and ``/apis/<group>/<version>``. Discovery is fetched lazily per
group/version (one request the first time a group/version is used) and refreshed on a miss, so a
kind whose CRD was created a moment ago resolves without restarting (client-go's
``DeferredDiscoveryRESTMapper`` behaviour, minus the all-groups sweep).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from reconciler.errors import NotFound

__all__ = ["NoKindMatch", "RESTMapper", "Resource", "split_api_version"]

MISS_REFRESH_INTERVAL = 0.2
"""Seconds during which a second miss for the same group/version reuses the last fetch instead of
asking the server again: bounds discovery traffic when a caller polls for a kind that is not there
yet, while a CRD established in between is still found on the next call."""


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ``("apps", "v1")``; ``"v1"`` → ``("", "v1")`` (the core group)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True)
class Resource:
    """One REST resource (a GroupVersionResource with the facts needed to build its URLs)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = field(default=(), compare=False)
    subresources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection (no ``name``) or of one object / its subresource.

        A namespaced resource without ``namespace`` gives the all-namespaces collection."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}" if self.group else f"{self.plural}.{self.version}"


class NoKindMatch(NotFound):
    """The server serves no resource for this apiVersion/kind (not even after a fresh discovery)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(404, "NotFound", f"no matches for kind {kind!r} in version {api_version!r}")
        self.api_version = api_version
        self.kind = kind


GetJson = Callable[[str], Mapping[str, Any]]
"""Fetches a discovery document by path (raises the typed error on failure)."""


class RESTMapper:
    """Thread-safe, lazily filled discovery cache keyed by group/version."""

    def __init__(self, get_json: GetJson) -> None:
        self._get_json = get_json
        self._lock = threading.Lock()
        self._by_gv: dict[str, dict[str, Resource]] = {}  # api_version -> kind -> Resource
        self._plurals: dict[str, dict[str, Resource]] = {}  # api_version -> plural -> Resource
        self._fetched_at: dict[str, float] = {}

    def resource_for(self, api_version: str, kind: str) -> Resource:
        """The resource serving ``kind`` in ``api_version``; raises :class:`NoKindMatch`."""
        found = self._lookup(self._by_gv, api_version, kind)
        if found is None:
            raise NoKindMatch(api_version, kind)
        return found

    def resource_for_plural(self, api_version: str, plural: str) -> Resource:
        """The resource named ``plural`` (e.g. ``"pods"``) in ``api_version``."""
        found = self._lookup(self._plurals, api_version, plural)
        if found is None:
            raise NoKindMatch(api_version, plural)
        return found

    def invalidate(self, api_version: str | None = None) -> None:
        """Forget one group/version (or everything), e.g. after a CRD was deleted."""
        with self._lock:
            for table in (self._by_gv, self._plurals, self._fetched_at):
                if api_version is None:
                    table.clear()
                else:
                    table.pop(api_version, None)

    def _lookup(self, table: dict[str, dict[str, Resource]], api_version: str, name: str) -> Resource | None:
        # Hit path without the lock (every write resolves its kind): the per-version tables are
        # replaced whole, never edited in place, and a dict read is atomic, so a hit is consistent.
        hit = table.get(api_version, {}).get(name)
        if hit is not None:
            return hit
        with self._lock:
            cached = table.get(api_version, {}).get(name)
            fresh = time.monotonic() - self._fetched_at.get(api_version, -1e9) < MISS_REFRESH_INTERVAL
        if cached is not None or (fresh and api_version in table):
            return cached
        self._refresh(api_version)
        with self._lock:
            return table.get(api_version, {}).get(name)

    def _refresh(self, api_version: str) -> None:
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = self._get_json(path)
        except NotFound:
            doc = {"resources": []}
        by_kind: dict[str, Resource] = {}
        by_plural: dict[str, Resource] = {}
        subresources: dict[str, list[str]] = {}
        for entry in doc.get("resources") or []:
            name = str(entry.get("name", ""))
            if "/" in name:
                base, _, sub = name.partition("/")
                subresources.setdefault(base, []).append(sub)
        for entry in doc.get("resources") or []:
            name = str(entry.get("name", ""))
            if not name or "/" in name:
                continue
            res = Resource(
                group=str(entry.get("group") or group),
                version=str(entry.get("version") or version),
                plural=name,
                kind=str(entry.get("kind", "")),
                namespaced=bool(entry.get("namespaced", False)),
                verbs=tuple(entry.get("verbs") or ()),
                subresources=tuple(subresources.get(name, ())),
            )
            by_kind.setdefault(res.kind, res)
            by_plural[name] = res
        with self._lock:
            self._by_gv[api_version] = by_kind
            self._plurals[api_version] = by_plural
            self._fetched_at[api_version] = time.monotonic()
