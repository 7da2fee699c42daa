"""The policy controller: make the cluster's managed Antrea objects equal ``translate(NSX intent)``.

One key (the whole intent) is reconciled, because groups are shared by policies: every run
translates the latest NSX snapshot, plans against the informer caches of the managed Tiers,
ClusterGroups and ClusterNetworkPolicies, and applies the minimal writes in dependency order
(Tiers, child groups, parent groups, policies on the way up; the reverse on the way down). Drift
(a kubectl edit or delete of a managed object) wakes it through the informers and is reverted; a
resync with nothing changed writes nothing. Objects without the managed-by label are invisible to
the plan, so they can never be modified or deleted; a name clash with one is reported to NSX.

Every object written carries its source digest (:mod:`controllers.ccp.source_digest`). The first
run checks those against one NSX revision search before anything else: when all match, the cluster
is declared in sync at once (no write is possible: the translation would be the same), and the run
goes on with the full translation and compare, which reverts spec drift made while the adapter was
down (a kubectl edit leaves the digest annotations as they were).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loguru import logger

from controllers.ccp import names, source_digest
from controllers.ccp.intent import NsxIntent
from controllers.ccp.outcomes import Outcomes, PolicyOutcome
from controllers.ccp.revision_prefetch import RevisionPrefetch
from controllers.ccp.settings import CcpSettings
from controllers.ccp.snapshot import NsxSnapshot
from controllers.ccp.translate import PolicyResult, Translation, tiers
from controllers.ccp.translation_cache import TranslationCache
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
        self._translations = TranslationCache(settings.cluster_name, tier_priority_base=settings.tier_priority_base)
        # (desired, observed) pairs found equal, by key: while both are the very same objects (the
        # translation cache and the informer cache keep unchanged objects), the next plan need
        # not compare them again — a resync of thousands of unchanged objects costs nothing.
        self._in_sync: dict[Key, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        # Translate each new snapshot as soon as the poller has it: at start-up that overlaps the
        # informers' initial lists, and the reconcile it wakes finds the translation done.
        self._translating = threading.Lock()
        intent.on_change.append(self._prepare)
        self._settings_text = source_digest.settings_text(settings.cluster_name, settings.tier_priority_base)
        # Stamped copies of translated objects, by key: (the translated object, its inputs, its
        # digest, the stamped copy), reused while all are the same so identity checks keep working.
        self._stamped: dict[Key, tuple[Mapping[str, Any], source_digest.Inputs, str, dict[str, Any]]] = {}
        self._start_checked = False
        self._start_answered = threading.Event()
        self.idle = threading.Event()
        """Set while no run is in progress: the NSX poller waits for it, since a change it found
        during a run (a long apply at start-up) could only be acted on after that run anyway."""
        self.idle.set()
        self._revisions: RevisionPrefetch | None = None
        self.start_verdict: source_digest.Verdict | None = None
        """The start-up digest check's answer (None until the first run made it)."""
        self.full_runs_at_start_verdict: int | None = None
        """How many full translations had run when the start-up check answered."""

    @property
    def start_answered(self) -> threading.Event:
        """Set once the first run's start-up digest check answered (or found nothing to check)."""
        return self._start_answered

    def reconcile(self, request: Request) -> Result:
        self.idle.clear()
        try:
            return self._reconcile(request)
        finally:
            self.idle.set()

    def _reconcile(self, request: Request) -> Result:
        if not self._start_checked:
            self._start_checked = True
            self._check_at_start()
        started = time.perf_counter()
        snapshot = self._intent.ensure()
        fetched = time.perf_counter()
        with self._translating:
            translation = self._translations.translate(snapshot)
            per_policy = self._translations.results()  # what each policy read, for the digests
        translated = time.perf_counter()
        errors: dict[str, list[str]] = {
            path: list(translation.errors.get(path, [])) for path in translation.policy_names
        }
        # The versions first, the caches second: each cache then holds everything up to its
        # version, so a write of ours at or below it that the cache lacks was deleted since.
        seen = {kind: version() for kind, version in self._synced_versions.items()}
        observed_tiers = list(self._caches["Tier"]())
        self._tier_clashes(translation, observed_tiers, errors)
        desired: dict[Key, dict[str, Any]] = self._stamp(translation, snapshot, per_policy)
        # Cached objects are shared with the informers: read, never modified.
        observed: dict[Key, Any] = {}
        for tier in observed_tiers:
            if is_managed(tier):
                observed[object_key(tier)] = tier
        for kind in ("ClusterGroup", "ClusterNetworkPolicy"):
            for obj in self._caches[kind]():
                if is_managed(obj):
                    observed[object_key(obj)] = obj
        self._overlay_recent_writes(observed, seen)
        self._hold(translation, desired, observed)
        the_plan = plan(desired, observed, compare=self._compare)
        self._remember_in_sync(desired, observed, the_plan)
        for update in the_plan.update:
            # NSX is the source of truth for spec: no resourceVersion precondition, or every status
            # write by Antrea between our read and our patch would make the revert fail with 409.
            meta = update.patch.get("metadata")
            if isinstance(meta, dict):
                meta.pop("resourceVersion", None)
                if not meta:
                    del update.patch["metadata"]
        self.last_plan = the_plan
        planned = time.perf_counter()
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
        logger.debug("policy run: NSX intent {:.3f} s, translation ({} of {} policies) {:.3f} s, plan {:.3f} s, "
                     "writes and reports {:.3f} s", fetched - started, self._translations.last_translated,
                     len(translation.policy_names), translated - fetched, planned - translated,
                     time.perf_counter() - planned)
        transient = [f for f in failures if not isinstance(f.error, (AlreadyExists, Invalid))]
        if transient:
            raise WriteFailed(f"{len(transient)} of {len(results)} writes failed: {transient[0].error}")
        # A name clash or a rejected object stays so until NSX or the cluster changes, which
        # wakes this controller anyway: retrying sooner would only repeat the error.
        return Result(requeue_after=self._settings.reconcile_interval)

    def _prepare(self, snapshot: NsxSnapshot) -> None:
        # At start-up the digest check comes first: translating now would only slow it down (one
        # interpreter lock). The first run translates after the check. Never wait here: the
        # poller calls this before it wakes the controller, whose first run answers the check.
        if not self._start_answered.is_set():
            return
        try:
            with self._translating:
                self._translations.translate(snapshot)
        except Exception as err:  # the reconcile translates again and reports; never break the poller
            logger.warning("translating the new NSX intent failed: {}", err)

    # -- source digests ------------------------------------------------------------------------
    def _stamp(self, translation: Translation, snapshot: NsxSnapshot,
               results: Mapping[str, PolicyResult]) -> dict[Key, dict[str, Any]]:
        """The translated objects keyed, each stamped with its source inputs and digest."""
        acnp_inputs: dict[str, source_digest.Inputs] = {}
        producers: dict[str, list[frozenset[str]]] = {}
        for path, result in results.items():
            if result.acnp is None:
                continue
            reads = result.group_reads
            acnp_inputs[result.name] = source_digest.Inputs(frozenset((path,)), reads, result.service_reads)
            for group in result.groups:
                producers.setdefault(group["metadata"]["name"], []).append(reads)
        # Every policy producing a group read all that group's inputs: the intersection over them
        # is the tightest superset known without walking the group again (one C-level call each).
        group_reads = {name: reads[0] if len(reads) == 1 else reads[0].intersection(*reads[1:])
                       for name, reads in producers.items()}
        lookup = source_digest.snapshot_lookup(snapshot.policies, snapshot.groups, snapshot.services)
        mapped = {a["metadata"]["annotations"][names.NSX_PATH_ANNOTATION] for a in translation.policies.values()}
        unmapped = [p for p in snapshot.policies if p not in mapped]
        anchor = min(tiers(self._settings.tier_priority_base))
        stamped: dict[Key, tuple[Mapping[str, Any], source_digest.Inputs, str, dict[str, Any]]] = {}
        desired: dict[Key, dict[str, Any]] = {}
        # (digest, encoded inputs) per distinct inputs: a group's parent and children share theirs.
        digests: dict[source_digest.Inputs, tuple[str, str]] = {}
        for obj in translation.objects():
            key = object_key(obj)
            if key[0] == "ClusterNetworkPolicy":
                inputs = acnp_inputs.get(key[1], source_digest.Inputs())
            elif key[0] == "ClusterGroup":
                inputs = source_digest.Inputs(groups=group_reads.get(key[1], frozenset()))
            else:
                inputs = source_digest.Inputs(unmapped=key[1] == anchor)
            known_stamp = self._stamped.get(key)
            if (known_stamp is not None and known_stamp[0] is obj and known_stamp[1] == inputs
                    and not inputs.unmapped):
                # The translation cache returns the very same object only while every input of the
                # policy that produced it has the same unique_id and _revision: same digest.
                stamped[key] = known_stamp
                desired[key] = known_stamp[3]
                continue
            computed = digests.get(inputs)
            if computed is None:
                computed = digests[inputs] = (source_digest.digest(self._settings_text, inputs, lookup, unmapped),
                                              inputs.encode())
            value, encoded = computed
            if (known_stamp is not None and known_stamp[0] is obj and known_stamp[1] == inputs
                    and known_stamp[2] == value):
                stamped[key] = known_stamp
            else:
                stamped[key] = (obj, inputs, value, source_digest.stamp(obj, encoded, value))
            desired[key] = stamped[key][3]
        self._stamped = stamped
        return desired

    def prefetch_revisions(self) -> None:
        """Start the start-up check's NSX revision search now, in the background (in a process of
        its own when this one may fork), so that it overlaps the informers' initial lists instead
        of following them."""
        self._revisions = RevisionPrefetch(self._intent)

    def _check_at_start(self) -> None:
        """Declare the cluster in sync from the source digests alone, if they all match."""
        try:
            self._check_digests()
        finally:
            self._start_answered.set()

    def _check_digests(self) -> None:
        observed: list[Mapping[str, Any]] = [t for t in self._caches["Tier"]() if is_managed(t)]
        for kind in ("ClusterGroup", "ClusterNetworkPolicy"):
            observed.extend(o for o in self._caches[kind]() if is_managed(o))
        if not observed:  # a first start: nothing to vouch for, and no reason to wait for the search
            if self._revisions is not None:
                # Nor to finish it: its pages would compete with the full read that follows, in
                # NSX and in this process (at 1,000 policies, 14 pages over the first 1.7 s).
                self._revisions.cancel()
            self._revisions = None
            logger.info("start-up digest check: no managed objects yet; translating")
            return
        # The cluster's half of the check first: the search is usually still running, and when
        # the objects alone already say "not in sync" its answer is not needed at all.
        recorded = source_digest.record(observed, tiers(self._settings.tier_priority_base).keys())
        if recorded.problem is not None:
            if self._revisions is not None:
                self._revisions.cancel()
            self._revisions = None
            self._start_verdict(source_digest.Verdict(False, recorded.problem))
            return
        try:
            if self._revisions is not None:
                prefetch, self._revisions = self._revisions, None
                texts = prefetch.result()
            else:
                texts = source_digest.figure_texts(self._intent.revisions())
        except Exception as err:  # an NSX that refuses the search: the full translation decides
            logger.info("start-up digest check skipped: {}", err)
            return
        self._start_verdict(source_digest.check(
            recorded, self._settings_text, source_digest.search_lookup(texts, self._intent.predefined),
            texts.get("policies", {}).keys(), ()))

    def _start_verdict(self, verdict: source_digest.Verdict) -> None:
        self.start_verdict = verdict
        self.full_runs_at_start_verdict = self._translations.full_runs
        if verdict.ok:
            self.started_in_sync(verdict.objects)
        else:
            logger.info("start-up digest check: {}; waiting for the full translation", verdict.reason)

    def started_in_sync(self, objects: int) -> None:
        """The start-up check found every object current: the moment the adapter is in sync."""
        logger.info("policy sync: in sync at start-up ({} objects match their NSX source digests); "
                    "the full translation follows to revert any drift", objects)

    # -- cheap no-op resyncs ------------------------------------------------------------------
    def _compare(self, desired: Mapping[str, Any], observed: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                          dict[str, Any]]:
        known = self._in_sync.get(object_key(desired))
        if known is not None and known[0] is desired and known[1] is observed:
            return {}, {}
        want, have = compare(desired, observed)
        # Equal JSON texts mean equal JSON values (1 and 1.0, or true and 1, print differently and
        # fall through to the planner's exact walk): a C-speed answer for the usual "no drift".
        if json.dumps(want, sort_keys=True) == json.dumps(have, sort_keys=True):
            return {}, {}
        return want, have

    def _remember_in_sync(self, desired: Mapping[Key, Mapping[str, Any]], observed: Mapping[Key, Any],
                          the_plan: Plan) -> None:
        drifted = {u.key for u in the_plan.update} | set(the_plan.pending) | {c.key for c in the_plan.conflicts}
        self._in_sync = {key: (want, observed[key]) for key, want in desired.items()
                         if key in observed and key not in drifted}

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

    def _overlay_recent_writes(self, observed: dict[Key, dict[str, Any]], seen: Mapping[str, str]) -> None:
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
            if cached is None and _cache_has_seen(seen.get(key[0]), written):
                del self._recent[key]  # deleted after our write: it must be recreated
            elif cached is None or _newer(written, cached):
                observed[key] = written
            else:
                del self._recent[key]  # the cache caught up

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
    def _tier_clashes(self, translation: Translation, tiers: list[Mapping[str, Any]],
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


def _cache_has_seen(seen: str | None, written: Mapping[str, Any]) -> bool:
    """Whether a cache that has applied every event up to resourceVersion ``seen`` has seen
    ``written`` (only numeric versions compare; anything else answers "not yet", the safe side)."""
    ours = _rv(written)
    return seen is not None and seen.isdigit() and ours.isdigit() and int(seen) >= int(ours)


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
