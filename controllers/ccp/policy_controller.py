"""The policy controller: make the cluster's managed Antrea objects equal ``translate(NSX intent)``.

One key (the whole intent) is reconciled, because groups are shared by policies: every run
translates the latest NSX snapshot, plans against the informer caches of the managed Tiers,
ClusterGroups and ClusterNetworkPolicies, and applies the minimal writes in dependency order
(Tiers, child groups, parent groups, policies on the way up; the reverse on the way down). Drift
(a kubectl edit or delete of a managed object) wakes it through the informers and is reverted; a
resync with nothing changed writes nothing. Objects without the managed-by label are invisible to
the plan, so they can never be modified or deleted; a name clash with one is reported to NSX.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loguru import logger

from controllers.ccp import names
from controllers.ccp.intent import NsxIntent
from controllers.ccp.outcomes import Outcomes, PolicyOutcome
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import Translation, translate
from reconciler.client import KubeClient
from reconciler.errors import AlreadyExists, ApiError, Invalid
from reconciler.planner import Outcome, Plan, apply, owned_fields, plan
from reconciler.reconcile import Request, Result

GLOBAL = Request(name="nsx-intent")
API_VERSION = names.ANTREA_API_VERSION
KINDS = ("Tier", "ClusterGroup", "ClusterNetworkPolicy")
Key = tuple[str, str]  # (kind, name): every kind the CCP adapter writes is cluster-scoped


class WriteFailed(Exception):
    """Some writes of a reconcile failed; the run is retried with back-off (the others landed)."""


def object_key(obj: Mapping[str, Any]) -> Key:
    return str(obj.get("kind")), str((obj.get("metadata") or {}).get("name"))


def is_managed(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(names.MANAGED_BY_LABEL) == names.MANAGED_BY_VALUE)


def rank(obj: Mapping[str, Any]) -> int:
    """Tiers, then child groups, then parent groups, then policies (reversed for deletes)."""
    kind = obj.get("kind")
    if kind == "Tier":
        return 0
    if kind == "ClusterGroup":
        return 2 if "childGroups" in (obj.get("spec") or {}) else 1
    return 3


def compare(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The planner's projection, except that a Tier's priority is never updated (Antrea rejects it)."""
    want, have = owned_fields(desired, observed)
    if desired.get("kind") == "Tier":
        for view in (want, have):
            spec = view.get("spec")
            if isinstance(spec, dict):
                view["spec"] = {k: v for k, v in spec.items() if k != "priority"}
    return want, have


def group_refs(acnp: Mapping[str, Any]) -> set[str]:
    """ClusterGroup names a policy's rules point at."""
    refs: set[str] = set()
    spec = acnp.get("spec") or {}
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for key in ("appliedTo", "from", "to"):
                for peer in rule.get(key) or []:
                    if isinstance(peer, dict) and isinstance(peer.get("group"), str):
                        refs.add(peer["group"])
    for peer in spec.get("appliedTo") or []:
        if isinstance(peer, dict) and isinstance(peer.get("group"), str):
            refs.add(peer["group"])
    return refs


class PolicyReconciler:
    """Reconciles :data:`GLOBAL`; see the module docstring."""

    def __init__(
        self,
        *,
        client: KubeClient,
        intent: NsxIntent,
        outcomes: Outcomes,
        caches: Mapping[str, Callable[[], Iterable[Mapping[str, Any]]]],
        settings: CcpSettings,
        on_outcomes: Callable[[set[str]], None] | None = None,
        synced_versions: Mapping[str, Callable[[], str]] | None = None,
    ) -> None:
        """``caches`` maps each kind to a cache lister: managed objects for ClusterGroup and
        ClusterNetworkPolicy, *every* Tier for Tier (to see priority clashes). ``synced_versions``
        maps each kind to the resourceVersion its informer has seen up to: a write of ours at or
        below it that the cache lacks was deleted since, not "not seen yet"."""
        self._client = client
        self._writer = client.writer(field_manager="antrea-nsx-adapter-ccp")
        self._intent = intent
        self._outcomes = outcomes
        self._caches = caches
        self._settings = settings
        self._on_outcomes = on_outcomes
        self._synced_versions = synced_versions or {}
        self.last_plan: Plan | None = None
        self.writes = 0
        # Our own writes, until the informer cache shows them: without this overlay a reconcile
        # triggered by the first events of a large apply sees half-stale caches and re-creates.
        self._recent: dict[Key, tuple[dict[str, Any] | None, float]] = {}

    def reconcile(self, request: Request) -> Result:
        snapshot = self._intent.ensure()
        translation = translate(snapshot, self._settings.cluster_name,
                                tier_priority_base=self._settings.tier_priority_base)
        errors: dict[str, list[str]] = {
            path: list(translation.errors.get(path, [])) for path in translation.policy_names
        }
        observed_tiers = [dict(t) for t in self._caches["Tier"]()]
        self._tier_clashes(translation, observed_tiers, errors)
        desired: dict[Key, dict[str, Any]] = {object_key(o): o for o in translation.objects()}
        observed: dict[Key, dict[str, Any]] = {}
        for tier in observed_tiers:
            if is_managed(tier):
                observed[object_key(tier)] = tier
        for kind in ("ClusterGroup", "ClusterNetworkPolicy"):
            for obj in self._caches[kind]():
                if is_managed(obj):
                    observed[object_key(obj)] = dict(obj)
        self._overlay_recent_writes(observed)
        self._hold(translation, desired, observed)
        the_plan = plan(desired, observed, compare=compare)
        for update in the_plan.update:
            # NSX is the source of truth for spec: no resourceVersion precondition, or every status
            # write by Antrea between our read and our patch would make the revert fail with 409.
            meta = update.patch.get("metadata")
            if isinstance(meta, dict):
                meta.pop("resourceVersion", None)
                if not meta:
                    del update.patch["metadata"]
        self.last_plan = the_plan
        results = apply(the_plan, self._writer, concurrency=self._settings.max_concurrent_writes, rank=rank,
                        dry_run=self._settings.dry_run)
        self._remember(results, the_plan)
        failures = [o for o in results if not o.ok and not self._ours_already(o)]
        self.writes += sum(1 for o in results if o.ok and not o.dry_run)
        self._attribute_failures(failures, desired, translation, errors)
        if results:
            logger.info("policy sync: {} (failed {})", the_plan.summary(), len(failures))
        changed = self._outcomes.publish({
            path: PolicyOutcome(name, _revision(snapshot.policies.get(path)), tuple(errors.get(path, [])))
            for path, name in translation.policy_names.items()
        })
        if changed and self._on_outcomes is not None:
            self._on_outcomes(changed)
        transient = [f for f in failures if not isinstance(f.error, (AlreadyExists, Invalid))]
        if transient:
            raise WriteFailed(f"{len(transient)} of {len(results)} writes failed: {transient[0].error}")
        # A name clash or a rejected object stays so until NSX or the cluster changes, which
        # wakes this controller anyway: retrying sooner would only repeat the error.
        return Result(requeue_after=self._settings.reconcile_interval)

    # -- read-your-writes ---------------------------------------------------------------------
    def _remember(self, results: list[Outcome], the_plan: Plan) -> None:
        now = time.monotonic()
        deleted = {object_key(o): o for o in the_plan.delete}
        for outcome in results:
            if not outcome.ok or outcome.dry_run:
                continue
            key = _kind_name(outcome.key)
            if outcome.action == "delete":
                self._recent[key] = (None, now)
                gone = deleted.get(key)
                if gone is not None:
                    self._recent[key] = ({"_deleted_rv": _rv(gone)}, now)
            elif outcome.result is not None:
                self._recent[key] = (dict(outcome.result), now)

    def _overlay_recent_writes(self, observed: dict[Key, dict[str, Any]]) -> None:
        now = time.monotonic()
        for key, (written, at) in list(self._recent.items()):
            cached = observed.get(key)
            if written is None or now - at > _RECENT_TTL:
                del self._recent[key]
                continue
            if "_deleted_rv" in written:
                if cached is not None and _rv(cached) == written["_deleted_rv"]:
                    del observed[key]  # the cache has not seen our delete yet
                else:
                    del self._recent[key]
                continue
            if cached is None and self._cache_has_seen(key[0], written):
                del self._recent[key]  # deleted after our write: it must be recreated
            elif cached is None or _newer(written, cached):
                observed[key] = written
            else:
                del self._recent[key]  # the cache caught up

    def _cache_has_seen(self, kind: str, written: Mapping[str, Any]) -> bool:
        version = self._synced_versions.get(kind)
        if version is None:
            return False
        seen, ours = version(), _rv(written)
        return seen.isdigit() and ours.isdigit() and int(seen) >= int(ours)

    def _ours_already(self, outcome: Outcome) -> bool:
        """A create answered AlreadyExists is a clash only if the existing object is not ours."""
        if outcome.action != "create" or not isinstance(outcome.error, AlreadyExists):
            return False
        kind, name = _kind_name(outcome.key)
        try:
            existing = self._client.get((API_VERSION, kind), name)
        except ApiError:
            return False
        if is_managed(existing):
            self._recent[(kind, name)] = (existing, time.monotonic())
            return True
        return False

    # -- safety rules ------------------------------------------------------------------------
    def _tier_clashes(self, translation: Translation, tiers: list[dict[str, Any]],
                      errors: dict[str, list[str]]) -> None:
        """A desired Tier whose name or priority is taken by a Tier the adapter does not manage
        is not written, and the policies in it are errors (and held)."""
        foreign = [t for t in tiers if not is_managed(t)]
        for name, tier in list(translation.tiers.items()):
            priority = tier["spec"]["priority"]
            clash = next((t for t in foreign if t["metadata"]["name"] == name
                          or (t.get("spec") or {}).get("priority") == priority), None)
            if clash is None:
                continue
            reason = (f"Tier {name}: priority {priority} or its name is already used by Tier "
                      f"{clash['metadata']['name']}, which the adapter does not manage")
            logger.warning(reason)
            del translation.tiers[name]
            for policy_name, acnp in list(translation.policies.items()):
                if acnp["spec"]["tier"] == name:
                    path = acnp["metadata"]["annotations"][names.NSX_PATH_ANNOTATION]
                    errors.setdefault(path, []).append(reason)
                    del translation.policies[policy_name]
                    translation.held.add(policy_name)

    def _hold(self, translation: Translation, desired: dict[Key, dict[str, Any]],
              observed: dict[Key, dict[str, Any]]) -> None:
        """Keep the last applied version of a policy that failed to translate, with its groups."""
        keep_groups: set[str] = set()
        for name in translation.held:
            acnp = observed.pop(("ClusterNetworkPolicy", name), None)
            if acnp is not None:
                keep_groups |= group_refs(acnp)
        for key, obj in list(observed.items()):
            if key[0] != "ClusterGroup" or key in desired:
                continue
            parent = ((obj.get("metadata") or {}).get("annotations") or {}).get(names.PARENT_ANNOTATION)
            if key[1] in keep_groups or parent in keep_groups:
                del observed[key]
        for key in [k for k in observed if k[0] == "Tier" and k not in desired]:
            tier_name = key[1]
            still_used = any(o["spec"].get("tier") == tier_name for k, o in observed.items()
                             if k[0] == "ClusterNetworkPolicy")
            if still_used:
                del observed[key]

    def _attribute_failures(self, failures: list[Outcome], desired: Mapping[Key, dict[str, Any]],
                            translation: Translation, errors: dict[str, list[str]]) -> None:
        """Turn failed writes into realization errors of the NSX policies they belong to."""
        if not failures:
            return
        users: dict[str, set[str]] = {}  # ClusterGroup name -> NSX policy paths using it
        for acnp in translation.policies.values():
            path = acnp["metadata"]["annotations"][names.NSX_PATH_ANNOTATION]
            for group in group_refs(acnp):
                users.setdefault(group, set()).add(path)
                for child in (desired.get(("ClusterGroup", group)) or {}).get("spec", {}).get("childGroups") or []:
                    users.setdefault(child, set()).add(path)
        for failure in failures:
            kind, name = _kind_name(failure.key)
            reason = _describe(kind, name, failure)
            logger.error(reason)
            if kind == "ClusterNetworkPolicy":
                obj = desired.get((kind, name))
                paths = {obj["metadata"]["annotations"][names.NSX_PATH_ANNOTATION]} if obj else set()
            elif kind == "ClusterGroup":
                paths = users.get(name, set())
            else:
                paths = {a["metadata"]["annotations"][names.NSX_PATH_ANNOTATION]
                         for a in translation.policies.values() if a["spec"]["tier"] == name}
            for path in paths:
                errors.setdefault(path, []).append(reason)


_RECENT_TTL = 60.0


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _newer(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Is ``a`` a later version than ``b``? resourceVersions are opaque, but in practice integers."""
    ra, rb = _rv(a), _rv(b)
    if ra.isdigit() and rb.isdigit():
        return int(ra) > int(rb)
    return ra != rb


def _kind_name(key: object) -> tuple[str, str]:
    if isinstance(key, tuple) and len(key) == 2:
        return str(key[0]), str(key[1])
    return "object", str(key)


def _describe(kind: str, name: str, failure: Outcome) -> str:
    err = failure.error
    if isinstance(err, AlreadyExists):
        return (f"a {kind} named {name} already exists and is not managed by the adapter; "
                "it was left untouched")
    if isinstance(err, ApiError):
        return f"{failure.action} {kind} {name} failed: {err.code} {err.reason}: {err.message}"
    return f"{failure.action} {kind} {name} failed: {err}"


def _revision(policy: Any) -> int | None:
    if isinstance(policy, dict):
        value = policy.get("_revision")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
