"""Reading NSX intent for one cluster, and noticing cheaply when it changed.

NSX offers no "what changed since", so change detection compares ``_revision``s (mapping.md §1).
Listing every policy with its rules embedded costs about a second at 1,000 policies × 10 rules,
too much to repeat every poll interval; so a poll asks NSX's search API for the ``path``,
``unique_id`` and ``_revision`` of every policy, rule, group, service and service entry (a few
hundred kilobytes), and reads in full only the policies, groups and services whose own revision or
one of whose rules' or entries' revisions changed (a rule written on its own path does not change
its policy's ``_revision``). The full lists are read at start, after :meth:`NsxIntent.invalidate`,
when many objects changed at once, every ``full_interval`` (the search index is only eventually
consistent), and always when NSX refuses the search query.

Unchanged objects stay the same dicts from one snapshot to the next, which lets the translation
cache (:mod:`controllers.ccp.translation_cache`) skip them by identity. Objects are kept as the raw
JSON NSX sent: a malformed policy must reach the translator (which reports it as a realization
error) instead of failing the whole listing in model validation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from controllers.ccp.snapshot import DEFAULT_DOMAIN, NsxSnapshot, object_path
from nsx.errors import BadRequest, NotFound
from nsx.paging import iter_results
from nsx.policy_api import POLICY, PolicyApi, domain_path
from nsx.predefined_services import predefined_services
from nsx.transport import Transport

SERVICE_ENTRY_TYPES = ("L4PortSetServiceEntry", "ICMPTypeServiceEntry", "IGMPTypeServiceEntry",
                       "IPProtocolServiceEntry", "ALGTypeServiceEntry", "EtherTypeServiceEntry",
                       "NestedServiceServiceEntry")
SEARCH_QUERY = "resource_type:(" + " OR ".join(("SecurityPolicy", "Rule", "Group", "Service",
                                                 *SERVICE_ENTRY_TYPES)) + ")"
LIGHT_FIELDS = ("path", "resource_type", "unique_id", "_revision")
# Above this many changed objects one full listing (about a second at 1,000 policies x 10 rules) is
# cheaper than one GET per object.
MAX_SINGLE_READS = 40

Kind = str  # "policies" | "groups" | "services"
_EMBEDDED = {"policies": ("rules", "rules"), "services": ("service_entries", "service-entries")}


def state(obj: Any, kind: Kind) -> Hashable:
    """What tells that an object changed: its ``unique_id`` and ``_revision`` and those of its
    embedded rules or service entries (the search API reports the same figures per path)."""
    if not isinstance(obj, dict):
        return ("malformed", repr(obj)[:200])
    children: frozenset[tuple[Any, Any, Any]] = frozenset()
    field = _EMBEDDED.get(kind)
    if field is not None:
        items = obj.get(field[0])
        if isinstance(items, list):
            children = frozenset((c.get("id"), c.get("unique_id"), c.get("_revision"))
                                 for c in items if isinstance(c, dict))
    return obj.get("unique_id"), obj.get("_revision"), children


class Cancel(Protocol):
    """What stops a revision search between pages (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


class SearchCancelled(Exception):
    """A revision search stopped by its caller before the last page."""


@dataclass(frozen=True)
class IntentUpdate:
    snapshot: NsxSnapshot
    changed: bool


class NsxIntent:
    """The latest NSX snapshot, fetched on demand and shared by the CCP controllers."""

    def __init__(self, transport: Transport, *, domain: str = "default", page_size: int | None = None,
                 full_interval: float = 600.0) -> None:
        self._transport = transport
        self._api = PolicyApi(transport)
        self._domain = domain
        self._page_size = page_size
        self._full_interval = full_interval
        self._lock = threading.Lock()
        self._fetching = threading.Lock()  # one fetch at a time: the poller and a first reconcile
        self._snapshot: NsxSnapshot | None = None
        self._objects: dict[Kind, dict[str, Any]] = {"policies": {}, "groups": {}, "services": {}}
        self._states: dict[Kind, dict[str, Hashable]] = {"policies": {}, "groups": {}, "services": {}}
        self._predefined = predefined_services()
        self._load_errors: list[tuple[str, str]] = []
        self._full_next = True
        self._last_full = 0.0
        self._search = True  # False once NSX refused the search query: poll with full lists
        self._dirty = False  # objects changed that no snapshot holds yet (a poll failed half-way)
        self.healthy = False
        """False after a failed fetch, until the next one succeeds (feeds readiness and health)."""
        self.on_change: list[Callable[[NsxSnapshot], None]] = []
        self.full_fetches = 0
        self.light_polls = 0
        self.single_reads = 0

    @property
    def transport(self) -> Transport:
        """The NSX transport every read goes through."""
        return self._transport

    def fetch(self) -> IntentUpdate:
        """Bring the snapshot up to date; raise on NSX errors (the caller retries)."""
        with self._fetching:
            try:
                update = self._fetch()
            except Exception:
                self.healthy = False
                raise
        if update.changed:
            for callback in list(self.on_change):
                callback(update.snapshot)
        return update

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
            try:
                return self._fetch().snapshot
            except Exception:
                self.healthy = False
                raise

    def revisions(self, cancel: Cancel | None = None, *,
                  via: Transport | None = None) -> dict[Kind, dict[str, Hashable]]:
        """The :func:`state` of every policy, group and service of the domain from one paged search
        (no full read, no snapshot change): what the policy controller's start-up check compares
        with the source digests stamped on the cluster's objects. ``cancel`` stops the search
        between pages (raising :class:`SearchCancelled`): on a first start the check finds nothing
        to compare, and the rest of the search would only compete with the full read. ``via``
        sends the search on another transport (a forked process's own, see
        :mod:`controllers.ccp.revision_prefetch`)."""
        return self._revisions(cancel, via)

    @property
    def predefined(self) -> dict[str, Any]:
        """The predefined services (not in NSX's search index), by path."""
        return self._predefined

    def current(self) -> NsxSnapshot | None:
        with self._lock:
            return self._snapshot

    def invalidate(self) -> None:
        """Make the next fetch read everything and count as a change (after a reconnect)."""
        with self._lock:
            self._full_next = True
            self._states = {kind: {} for kind in self._states}

    # -- fetching ------------------------------------------------------------------------------
    def _fetch(self) -> IntentUpdate:
        if (self._full_next or not self._search or self._snapshot is None
                or time.monotonic() - self._last_full >= self._full_interval):
            return self._read_all()
        try:
            current = self._revisions()
        except (BadRequest, NotFound) as err:
            logger.info("NSX refused the search query ({}); polling with full lists from now on", err)
            self._search = False
            return self._read_all()
        changed = {kind: [p for p, s in states.items() if self._states[kind].get(p) != s]
                   for kind, states in current.items()}
        gone = {kind: [p for p in self._states[kind] if p not in current[kind]] for kind in current}
        count = sum(map(len, changed.values())) + sum(map(len, gone.values()))
        self.light_polls += 1
        if count == 0:
            return self._done(changed=self._dirty)
        if count > MAX_SINGLE_READS:
            return self._read_all()
        self._dirty = True  # objects change below: a failure half-way must still reach a snapshot
        for kind, paths in gone.items():
            for path in paths:
                self._forget(kind, path)
        for kind, paths in changed.items():
            for path in paths:
                self._read_one(kind, path)
        return self._done(changed=True)

    def _revisions(self, cancel: Cancel | None = None, via: Transport | None = None) -> dict[Kind, dict[str, Hashable]]:
        """The state of every object of the domain, from one paged search."""
        policy_prefix = f"/infra/domains/{self._domain}"
        prefixes = {"policies": policy_prefix + "/security-policies/", "groups": policy_prefix + "/groups/",
                    "services": "/infra/services/"}
        heads: dict[Kind, dict[str, tuple[Any, Any]]] = {kind: {} for kind in prefixes}
        children: dict[str, set[tuple[Any, Any, Any]]] = {}
        api = self._api if via is None else PolicyApi(via)
        for item in api.search(SEARCH_QUERY, included_fields=LIGHT_FIELDS, page_size=self._page_size):
            if cancel is not None and cancel.is_set():
                raise SearchCancelled("revision search cancelled")
            path, rtype = item.get("path"), item.get("resource_type")
            if not isinstance(path, str):
                continue
            figures = (item.get("unique_id"), item.get("_revision"))
            kind = {"SecurityPolicy": "policies", "Group": "groups", "Service": "services"}.get(str(rtype))
            if kind is not None:
                if path.startswith(prefixes[kind]) and "/" not in path[len(prefixes[kind]):]:
                    heads[kind][path] = figures
                continue
            parent, _, child_id = path.rpartition("/")
            parent, _, collection = parent.rpartition("/")
            if collection in ("rules", "service-entries"):
                children.setdefault(parent, set()).add((child_id, *figures))
        return {kind: {path: (*figures, frozenset(children.get(path, ()))) for path, figures in objs.items()}
                for kind, objs in heads.items()}

    def _read_all(self) -> IntentUpdate:
        base = domain_path(self._domain)
        urls = {"policies": f"{base}/security-policies", "groups": f"{base}/groups",
                "services": f"{POLICY}/infra/services"}
        # The policy list is the big one (rules embedded): NSX takes a while to build it, and the
        # groups and services are read and decoded here in the meantime, not after it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nsx-full-read") as pool:
            policies = pool.submit(self._list, urls["policies"])
            lists = {"groups": self._list(urls["groups"]), "services": self._list(urls["services"])}
            lists["policies"] = policies.result()
        self.full_fetches += 1
        load_errors: list[tuple[str, str]] = []
        objects: dict[Kind, dict[str, Any]] = {}
        states: dict[Kind, dict[str, Hashable]] = {}
        changed = self._full_next
        for kind, parent, collection, where in (("services", "/infra", "services", "services"),
                                                ("groups", DEFAULT_DOMAIN, "groups", "groups"),
                                                ("policies", DEFAULT_DOMAIN, "security-policies",
                                                 "security_policies")):
            objects[kind], states[kind] = {}, {}
            for index, listed in enumerate(lists[kind]):
                path = object_path(listed, parent, collection)
                if path is None:
                    load_errors.append((f"{where}[{index}]", "not an NSX object with an id or path"))
                    continue
                now = state(listed, kind)
                obj = listed
                if self._states[kind].get(path) == now and path in self._objects[kind]:
                    obj = self._objects[kind][path]  # unchanged: keep the very same dict
                else:
                    changed = True
                objects[kind][path], states[kind][path] = obj, now
            changed = changed or objects[kind].keys() != self._objects[kind].keys()
        changed = changed or load_errors != self._load_errors or self._dirty
        self._objects, self._states, self._load_errors = objects, states, load_errors
        self._full_next = False
        self._last_full = time.monotonic()
        return self._done(changed=changed or self._snapshot is None)

    def _list(self, url: str) -> list[Any]:
        return list(iter_results(self._transport, url, page_size=self._page_size))

    def _read_one(self, kind: Kind, path: str) -> None:
        self.single_reads += 1
        try:
            obj = self._transport.request("GET", POLICY + path)
        except NotFound:
            self._forget(kind, path)
            return
        self._objects[kind][path] = obj
        self._states[kind][path] = state(obj, kind)

    def _forget(self, kind: Kind, path: str) -> None:
        self._objects[kind].pop(path, None)
        self._states[kind].pop(path, None)

    def _done(self, *, changed: bool) -> IntentUpdate:
        snapshot = self._snapshot
        self._dirty = False
        if changed or snapshot is None:
            snapshot = NsxSnapshot.from_objects(
                self._objects["policies"], self._objects["groups"],
                {**self._predefined, **self._objects["services"]}, load_errors=self._load_errors)
        with self._lock:
            self._snapshot = snapshot
            was_healthy, self.healthy = self.healthy, True
        if not was_healthy:
            logger.info("NSX intent readable again ({} policies, {} groups)", len(snapshot.policies),
                        len(snapshot.groups))
        return IntentUpdate(snapshot, changed)

