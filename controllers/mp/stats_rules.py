"""From an Antrea rule name back to the NSX rule id (mapping.md §3), for statistics and traceflow.

The CCP adapter names each Antrea rule after its NSX rule id, with ``-in``/``-out`` appended when
one NSX rule became two Antrea rules. Stripping the suffix blindly would be wrong for an NSX rule
whose id itself ends in ``-in``, so the id set of the NSX policy decides: a name that is an id of
that policy stays as it is; otherwise a ``-in``/``-out`` suffix is stripped if what remains is one.
The id set is read from NSX once per policy revision (the ACNP's ``nsx-revision`` annotation) and
re-read when a name does not resolve (rules can change without the policy's ``_revision``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

from nsx.errors import NotFound
from nsx.policy_api import PolicyApi

_POLICY_PATH = re.compile(r"^/infra/domains/([^/]+)/security-policies/([^/]+)$")
SUFFIXES = ("-in", "-out")


def split_policy_path(path: str) -> tuple[str, str] | None:
    """(domain, policy id) of an NSX security-policy path, None for anything else."""
    m = _POLICY_PATH.match(path)
    return (m.group(1), m.group(2)) if m else None


def resolve(name: str, rule_ids: Iterable[str]) -> str | None:
    """The NSX rule id an Antrea rule name stands for, or None when it matches no rule."""
    ids = rule_ids if isinstance(rule_ids, set | frozenset) else set(rule_ids)
    if name in ids:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in ids:
            return name[: -len(suffix)]
    return None


class RuleIds:
    """Cache of NSX rule ids per policy path, keyed by the revision the ACNP was translated from."""

    def __init__(self, policy_api: PolicyApi) -> None:
        self._api = policy_api
        self._lock = threading.Lock()
        self._ids: dict[str, tuple[str, frozenset[str]]] = {}
        self.reads = 0
        """NSX reads made (tests check the cache works)."""

    def ids(self, policy_path: str, revision: str, *, refresh: bool = False) -> frozenset[str] | None:
        """The rule ids of the policy; None when it does not exist in NSX (any more)."""
        with self._lock:
            cached = self._ids.get(policy_path)
        if cached is not None and cached[0] == revision and not refresh:
            return cached[1]
        parts = split_policy_path(policy_path)
        if parts is None:
            return None
        domain, policy_id = parts
        try:
            policy = self._api.get_security_policy(policy_id, domain)
        except NotFound:
            with self._lock:
                self._ids.pop(policy_path, None)
            return None
        finally:
            self.reads += 1
        ids = frozenset(r.id for r in policy.rules or [] if r.id)
        with self._lock:
            self._ids[policy_path] = (revision, ids)
        return ids

    def rule_id(self, policy_path: str, revision: str, name: str) -> str | None:
        """Resolve ``name``; one re-read of NSX when the cached ids do not know it."""
        ids = self.ids(policy_path, revision)
        if ids is None:
            return None
        found = resolve(name, ids)
        if found is None:
            fresh = self.ids(policy_path, revision, refresh=True)
            found = resolve(name, fresh) if fresh is not None else None
        return found

    def resolver(self, policy_path: str, revision: str) -> Callable[[str], str | None]:
        return lambda name: self.rule_id(policy_path, revision, name)
