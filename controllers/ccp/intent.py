"""Reading NSX intent for one cluster, and noticing when it changed.

NSX offers no cheap "what changed since" for policies, so change detection compares the
``(path, _revision)`` of every listed object with the previous poll (mapping.md §1). Objects are
kept as the raw JSON NSX sent: a malformed policy must reach the translator (which reports it as a
realization error) instead of failing the whole listing in model validation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from controllers.ccp.snapshot import NsxSnapshot
from nsx.paging import iter_results
from nsx.policy_api import domain_path
from nsx.transport import Transport

Fingerprint = frozenset[tuple[str, object]]


def fingerprint(snapshot: NsxSnapshot) -> Fingerprint:
    """Identity of a snapshot: every object's path and ``_revision`` (rules change their policy's)."""
    items: list[tuple[str, object]] = []
    for objects in (snapshot.policies, snapshot.groups, snapshot.services):
        for path, obj in objects.items():
            revision = obj.get("_revision") if isinstance(obj, dict) else None
            items.append((path, revision if isinstance(revision, int) else repr(obj)[:64]))
            if isinstance(obj, dict) and isinstance(obj.get("rules"), list):
                for rule in obj["rules"]:
                    if isinstance(rule, dict):
                        items.append((f"{path}/rules/{rule.get('id')}", rule.get("_revision")))
    for path, clusters in snapshot.spans.items():
        items.append((f"{path}#span", tuple(sorted(clusters))))
    return frozenset(items)


@dataclass(frozen=True)
class IntentUpdate:
    snapshot: NsxSnapshot
    changed: bool


class NsxIntent:
    """The latest NSX snapshot, fetched on demand and shared by the CCP controllers."""

    def __init__(self, transport: Transport, *, domain: str = "default", page_size: int | None = None) -> None:
        self._transport = transport
        self._domain = domain
        self._page_size = page_size
        self._lock = threading.Lock()
        self._fetching = threading.Lock()  # one fetch at a time: the poller and a first reconcile
        self._snapshot: NsxSnapshot | None = None
        self._fingerprint: Fingerprint | None = None
        self.healthy = False
        """False after a failed fetch, until the next one succeeds (feeds readiness and health)."""
        self.on_change: list[Callable[[NsxSnapshot], None]] = []

    def fetch(self) -> IntentUpdate:
        """List policies, groups and services; raise on NSX errors (the caller retries)."""
        with self._fetching:
            return self._fetch()

    def ensure(self) -> NsxSnapshot:
        """The current snapshot, fetching one only if none was ever fetched (so the first poll and
        the first reconcile do not both list everything and both count as a change). With a snapshot
        it never waits: a poll stuck in retries during an NSX outage must not block reconciles."""
        current = self.current()
        if current is not None:
            return current
        with self._fetching:
            current = self.current()
            if current is not None:
                return current
            return self._fetch().snapshot

    def _fetch(self) -> IntentUpdate:
        base = domain_path(self._domain)
        try:
            policies = list(iter_results(self._transport, f"{base}/security-policies", page_size=self._page_size))
            groups = list(iter_results(self._transport, f"{base}/groups", page_size=self._page_size))
            services = list(iter_results(self._transport, "/policy/api/v1/infra/services",
                                         page_size=self._page_size))
        except Exception:
            self.healthy = False
            raise
        snapshot = NsxSnapshot.from_lists(policies, groups, services)
        current_print = fingerprint(snapshot)
        with self._lock:
            changed = current_print != self._fingerprint
            self._snapshot, self._fingerprint = snapshot, current_print
            was_healthy, self.healthy = self.healthy, True
        if not was_healthy:
            logger.info("NSX intent readable again ({} policies, {} groups)", len(policies), len(groups))
        if changed:
            for callback in list(self.on_change):
                callback(snapshot)
        return IntentUpdate(snapshot, changed)

    def current(self) -> NsxSnapshot | None:
        with self._lock:
            return self._snapshot

    def invalidate(self) -> None:
        """Forget the fingerprint so the next fetch counts as a change (after a reconnect)."""
        with self._lock:
            self._fingerprint = None
