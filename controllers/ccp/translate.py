"""NSX DFW intent -> the Antrea objects the CCP adapter wants to exist (mapping.md §2–§5).

Pure and deterministic: the same snapshot gives byte-identical objects, so the planner can compare
desired with observed state and a resync with nothing changed writes nothing. Every NSX object
either translates or yields errors with reasons; a policy with any error produces no ACNP and its
name is *held* (the controller leaves a previously applied version in place rather than opening the
traffic it guarded), and its errors go to NSX as a realization error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controllers.ccp import names
from controllers.ccp._fields import Invalid, as_bool, as_int, as_list, as_strings, ident, short
from controllers.ccp.addresses import IPNetwork, keep_family, looks_like_address, parse_addresses
from controllers.ccp.groups import GroupCriteria, GroupTranslator, SelectorTerm, Term, intersect
from controllers.ccp.services import Matches, rule_matches
from controllers.ccp.snapshot import NsxSnapshot

CATEGORIES = ("Ethernet", "Emergency", "Infrastructure", "Environment", "Application")
CLUSTER_PATH_PREFIX = "/infra/sites/default/enforcement-points/default/cluster-control-planes/"
MAX_SEQUENCE = 999999
# Policies without a category sort after every categorised one in NSX; they share the Application
# tier, placed after all of its policies.
_UNCATEGORISED_OFFSET = 100.0

_ACTIONS = {"ALLOW": "Allow", "DROP": "Drop", "REJECT": "Reject"}
_DIRECTIONS = ("IN", "OUT", "IN_OUT")
_IP_PROTOCOLS = ("IPV4", "IPV6", "IPV4_IPV6")


def cluster_path(cluster_name: str) -> str:
    """The cluster-control-plane path that puts a policy in this cluster's span (mapping.md §1)."""
    return CLUSTER_PATH_PREFIX + cluster_name


def policy_priority(sequence_number: int, *, categorised: bool = True) -> float:
    """Monotonic in the NSX sequence number and inside Antrea's recommended 1–100."""
    base = 1.0 + 99.0 * sequence_number / MAX_SEQUENCE
    return base if categorised else base + _UNCATEGORISED_OFFSET


@dataclass
class Translation:
    """The desired Antrea state for one cluster, and what could not be translated."""

    tiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # NSX path (policy or group) -> reasons, in a stable order.
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Every spanned NSX policy path -> its ACNP name, translated or not (realization is per policy).
    policy_names: dict[str, str] = field(default_factory=dict)
    # ACNP names of spanned policies that failed to translate: neither rewrite nor delete them.
    held: set[str] = field(default_factory=set)

    def objects(self) -> list[dict[str, Any]]:
        """Creation order: Tiers, child ClusterGroups, parent ClusterGroups, ClusterNetworkPolicies."""
        groups = [self.cluster_groups[n] for n in sorted(self.cluster_groups)]
        children = [g for g in groups if "childGroups" not in g["spec"]]
        parents = [g for g in groups if "childGroups" in g["spec"]]
        return [
            *(self.tiers[n] for n in sorted(self.tiers)),
            *children,
            *parents,
            *(self.policies[n] for n in sorted(self.policies)),
        ]

    def add_error(self, path: str, reason: str) -> None:
        reasons = self.errors.setdefault(path, [])
        if reason not in reasons:
            reasons.append(reason)


def _meta(name: str, *, nsx_path: str | None, display: str, revision: object = None) -> dict[str, Any]:
    annotations = {names.DISPLAY_NAME_ANNOTATION: display}
    if nsx_path is not None:
        annotations[names.NSX_PATH_ANNOTATION] = nsx_path
    if isinstance(revision, int) and not isinstance(revision, bool):
        annotations[names.NSX_REVISION_ANNOTATION] = str(revision)
    return {
        "name": name,
        "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE},
        "annotations": annotations,
    }


def tiers(priority_base: int = 0) -> dict[str, dict[str, Any]]:
    out = {}
    for offset, category in enumerate(CATEGORIES):
        name = names.tier_name(category)
        out[name] = {
            "apiVersion": names.ANTREA_API_VERSION,
            "kind": "Tier",
            "metadata": _meta(name, nsx_path=None, display=f"NSX DFW category {category}"),
            "spec": {"priority": priority_base + offset, "description": f"NSX DFW category {category}"},
        }
    return out


class _Rejected(Exception):
    """A policy with one or more untranslatable rules: every reason is reported."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class _Peers:
    """A source/destination/applied-to list: ANY, or groups and literal addresses (OR-ed)."""

    any: bool
    groups: list[str] = field(default_factory=list)
    networks: list[IPNetwork] = field(default_factory=list)


@dataclass
class PolicyResult:
    """One spanned policy's share of a :class:`Translation`, and what producing it read.

    ``group_reads``/``service_reads`` are the NSX paths (found or not) the translation looked up,
    so that a cache outside this module can tell when the result is still valid."""

    name: str
    acnp: dict[str, Any] | None  # None: the policy failed to translate and is held
    groups: list[dict[str, Any]]
    errors: list[tuple[str, str]]  # (NSX path, reason), in the order they were found
    group_reads: frozenset[str]
    service_reads: frozenset[str]


ReferencedPaths = Callable[[str, dict[str, Any]], Iterable[str]]


class TranslationContext:
    """What the translations of all spanned policies share: the span, names and name clashes, and
    the memoised group translations. Each policy then translates on its own
    (:meth:`translate_policy`), which lets a cache re-translate only the policies that changed;
    :meth:`assemble` joins the per-policy results exactly as one pass over every policy would."""

    def __init__(self, snapshot: NsxSnapshot, cluster_name: str, tier_priority_base: int = 0, *,
                 referenced: ReferencedPaths | None = None) -> None:
        self.snap = snapshot
        self.cluster = cluster_path(cluster_name)
        self.tier_priority_base = tier_priority_base
        self.groups = GroupTranslator(self.snap.groups.get)
        self.group_names: dict[str, str] = {}  # group path -> parent ClusterGroup name
        self.bad_group_names: dict[str, str] = {}  # group path -> collision reason
        self._families: dict[str, list[dict[str, Any]]] = {}  # group path -> its ClusterGroups
        # state of the policy being translated
        self._errors: list[tuple[str, str]] = []
        self._group_reads: set[str] = set()
        self._service_reads: set[str] = set()
        self.spanned = [(p, pol) for p, pol in sorted(self.snap.policies.items()) if self.spans(p, pol)]
        self.policy_names: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = {}
        for path, policy in self.spanned:
            name = names.policy_name(_object_id(policy, path))
            self.policy_names[path] = name
            self.by_name.setdefault(name, []).append(path)
        self._claim_group_names(self.spanned, referenced or referenced_group_paths)

    # -- span (mapping.md §2) ------------------------------------------------------------------
    def spans(self, path: str, policy: Any) -> bool:
        if not isinstance(policy, dict):
            return False
        if self.cluster in self.snap.spans.get(path, []):
            return True
        scopes = [policy.get("scope")]
        rules = policy.get("rules")
        if isinstance(rules, list):
            scopes += [r.get("scope") for r in rules if isinstance(r, dict)]
        return any(isinstance(s, list) and self.cluster in s for s in scopes)

    # -- policies ------------------------------------------------------------------------------
    def translate_policy(self, path: str, policy: dict[str, Any]) -> PolicyResult:
        """The ACNP and ClusterGroups of one spanned policy, or the reasons it has none."""
        self._errors, self._group_reads, self._service_reads = [], set(), set()
        name = self.policy_names[path]
        clash = [p for p in self.by_name[name] if p != path]
        acnp: dict[str, Any] | None = None
        groups: list[dict[str, Any]] = []
        try:
            if clash:
                raise Invalid(f"policy {path}: its Kubernetes name {name} is also the name of {clash[0]}")
            acnp, groups = self.policy(path, policy, name)
        except _Rejected as err:
            self._errors.extend((path, reason) for reason in err.reasons)
        except Invalid as err:
            self._errors.append((path, str(err)))
        return PolicyResult(name, acnp, groups if acnp is not None else [], self._errors,
                            frozenset(self._group_reads), frozenset(self._service_reads))

    def assemble(self, results: Mapping[str, PolicyResult]) -> Translation:
        """The translation of the snapshot from one result per spanned policy."""
        out = Translation(tiers=tiers(self.tier_priority_base))
        for where, reason in self.snap.load_errors:
            out.add_error(where, reason)
        out.policy_names.update(self.policy_names)
        for path, _ in self.spanned:
            result = results[path]
            for where, reason in result.errors:
                out.add_error(where, reason)
            if result.acnp is None:
                out.held.add(result.name)
                continue
            out.policies[result.name] = result.acnp
            for group in result.groups:
                out.cluster_groups[group["metadata"]["name"]] = group
        return out

    def policy(self, path: str, policy: dict[str, Any], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        what = f"policy {path}"
        category = policy.get("category") or ""
        if category == "Ethernet":
            raise Invalid(f"{what}: Ethernet (layer 2) policies are not enforced by Antrea")
        if category and category not in CATEGORIES:
            raise Invalid(f"{what}: category {short(category)} is not a DFW category")
        sequence = as_int(policy, "sequence_number", what=what, default=0)
        if not 0 <= sequence <= MAX_SEQUENCE:
            raise Invalid(f"{what}: sequence_number {sequence} is outside 0..{MAX_SEQUENCE}")
        policy_scope = self._scope(policy, what)
        reasons: list[str] = []
        groups: dict[str, dict[str, Any]] = {}
        ingress: list[dict[str, Any]] = []
        egress: list[dict[str, Any]] = []
        rule_names: set[str] = set()
        for rule in _ordered_rules(as_list(policy, "rules", what=what), what):
            try:
                rule_id = ident(rule, what=f"{what}: rule")
                halves = self.rule(rule, rule_id, policy_scope, groups, what=f"rule {rule_id}")
            except Invalid as err:
                reasons.append(str(err))
                continue
            for direction, body in halves:
                if body["name"] in rule_names:
                    reasons.append(f"rule {rule_id}: Antrea rule name {body['name']!r} is used twice in the policy")
                rule_names.add(body["name"])
                (ingress if direction == "in" else egress).append(body)
        if reasons:
            raise _Rejected(reasons)
        acnp = {
            "apiVersion": names.ANTREA_API_VERSION,
            "kind": "ClusterNetworkPolicy",
            "metadata": _meta(
                name,
                nsx_path=path,
                display=names.display_name(policy.get("display_name"), _object_id(policy, path)),
                revision=policy.get("_revision"),
            ),
            "spec": {
                "tier": names.tier_name(category or "Application"),
                "priority": policy_priority(sequence, categorised=bool(category)),
                "ingress": ingress,
                "egress": egress,
            },
        }
        return acnp, [groups[n] for n in sorted(groups)]

    def _scope(self, obj: dict[str, Any], what: str) -> list[str] | None:
        """Applied-to entries minus cluster paths; None when the list does not restrict (ANY/empty)."""
        scope = as_strings(obj, "scope", what=what)
        if any(s.upper() == "ANY" for s in scope):
            if len(scope) > 1:
                raise Invalid(f"{what}: 'ANY' must be the only entry of scope")
            return None
        return scope or None

    def rule(
        self,
        rule: dict[str, Any],
        rule_id: str,
        policy_scope: list[str] | None,
        groups: dict[str, dict[str, Any]],
        *,
        what: str,
    ) -> list[tuple[str, dict[str, Any]]]:
        if as_bool(rule, "disabled", what=what):
            return []
        rule_scope = self._scope(rule, what)
        clusters = _clusters(policy_scope) or _clusters(rule_scope)
        if clusters and self.cluster not in clusters:
            return []  # this rule is applied to other clusters only
        # Policy-level applied-to groups win; a policy scope naming only clusters leaves the rules' own.
        applied = _Peers(any=True)
        for scope in (policy_scope, rule_scope):
            for entry in scope or []:
                if entry.startswith(CLUSTER_PATH_PREFIX):
                    continue
                if not _is_group_path(entry):
                    raise Invalid(f"{what}: applied-to entry {short(entry)} is neither a group nor a cluster")
                applied.any = False
                applied.groups.append(entry)
            if not applied.any:
                break
        action = rule.get("action")
        if action == "JUMP_TO_APPLICATION":
            raise Invalid(f"{what}: JUMP_TO_APPLICATION has no Antrea equivalent")
        if not isinstance(action, str) or action not in _ACTIONS:
            raise Invalid(f"{what}: action {short(action)} is not ALLOW, DROP or REJECT")
        direction = rule.get("direction") or "IN_OUT"
        if direction not in _DIRECTIONS:
            raise Invalid(f"{what}: direction {short(direction)} is not IN, OUT or IN_OUT")
        ip_protocol = rule.get("ip_protocol") or "IPV4_IPV6"
        if ip_protocol not in _IP_PROTOCOLS:
            raise Invalid(f"{what}: ip_protocol {short(ip_protocol)} is not IPV4, IPV6 or IPV4_IPV6")
        for flag in ("sources_excluded", "destinations_excluded"):
            if as_bool(rule, flag, what=what):
                raise Invalid(f"{what}: {flag} (negated groups) cannot be expressed in Antrea")
        profiles = as_strings(rule, "profiles", what=what)
        if profiles and [p.upper() for p in profiles] != ["ANY"]:
            raise Invalid(f"{what}: context profiles (L7) are not supported for Antrea")
        sources = self._peers(rule, "source_groups", what)
        destinations = self._peers(rule, "destination_groups", what)
        for path in applied.groups + sources.groups + destinations.groups:
            self._group_objects(path, groups, what)
        matches = rule_matches(rule, self._service, what=what)
        common: dict[str, Any] = {"action": _ACTIONS[action], "enableLogging": as_bool(rule, "logged", what=what)}
        tag = rule.get("tag")
        if isinstance(tag, str) and names.log_label(tag):
            common["logLabel"] = names.log_label(tag)
        halves: list[tuple[str, dict[str, Any]]] = []
        if direction in ("IN", "IN_OUT"):
            body = self._half(True, applied, destinations, sources, matches, ip_protocol, groups, what)
            if body is not None:
                halves.append(("in", {**common, **body}))
        if direction in ("OUT", "IN_OUT"):
            body = self._half(False, applied, sources, destinations, matches, ip_protocol, groups, what)
            if body is not None:
                halves.append(("out", {**common, **body}))
        for direction_name, body in halves:
            suffix = f"-{direction_name}" if len(halves) == 2 else ""
            body["name"] = rule_id + suffix
        return [(d, _ordered_rule(b)) for d, b in halves]

    def _service(self, path: str) -> dict[str, Any] | None:
        self._service_reads.add(path)
        return self.snap.services.get(path)

    def _peers(self, rule: dict[str, Any], key: str, what: str) -> _Peers:
        entries = as_strings(rule, key, what=what)
        if not entries:
            return _Peers(any=True)
        if any(e.upper() == "ANY" for e in entries):
            if len(entries) > 1:
                raise Invalid(f"{what}: 'ANY' must be the only entry of {key}")
            return _Peers(any=True)
        peers = _Peers(any=False)
        literals = []
        for entry in entries:
            if looks_like_address(entry):
                literals.append(entry)
            elif _is_group_path(entry):
                peers.groups.append(entry)
            else:
                raise Invalid(f"{what}: {key} entry {short(entry)} is not a group path or an address")
        try:
            peers.networks = parse_addresses(literals, single_family=False)
        except Invalid as err:
            raise Invalid(f"{what}: {key}: {err}") from None
        return peers

    def _half(
        self,
        ingress: bool,
        applied: _Peers,
        targets: _Peers,
        peers: _Peers,
        matches: Matches,
        ip_protocol: str,
        groups: dict[str, dict[str, Any]],
        what: str,
    ) -> dict[str, Any] | None:
        """One Antrea rule: applied to ``applied ∩ targets``, matching traffic from/to ``peers``.

        None when the rule cannot match anything here (e.g. its targets are addresses only: those
        are not Pods this cluster can select), so no rule with an empty peer list is ever written
        (an empty ``from``/``to`` would mean *everyone* in Antrea).
        """
        applied_to = self._applied_to(applied, targets, groups, what)
        if applied_to is None:
            return None
        body: dict[str, Any] = {"appliedTo": applied_to}
        if not peers.any:
            entries: list[dict[str, Any]] = [{"group": self.group_names[g]} for g in _unique(peers.groups)]
            entries += [{"ipBlock": {"cidr": str(n)}} for n in keep_family(peers.networks, ip_protocol)]
            if not entries:
                return None
            body["from" if ingress else "to"] = entries
        ports, protocols = matches.for_direction(ingress)
        if matches.igmp and not peers.any:
            raise Invalid(f"{what}: IGMP rules cannot name sources or destinations in Antrea")
        if ports:
            body["ports"] = ports
        if protocols:
            body["protocols"] = protocols
        return body

    def _applied_to(
        self, applied: _Peers, targets: _Peers, groups: dict[str, dict[str, Any]], what: str
    ) -> list[dict[str, Any]] | None:
        if applied.any and targets.any:
            return [{"podSelector": {}}]
        if targets.any:
            refs = [self.group_names[g] for g in _unique(applied.groups)]
        elif applied.any:
            refs = [self.group_names[g] for g in _unique(targets.groups)]
        else:
            refs = []
            for at in _unique(applied.groups):
                for target in _unique(targets.groups):
                    if at == target:
                        refs.append(self.group_names[at])
                    else:
                        refs.append(self._intersection(at, target, groups, what))
        refs = _unique(refs)
        return [{"group": r} for r in refs] or None

    # -- groups --------------------------------------------------------------------------------
    def _claim_group_names(self, spanned: Iterable[tuple[str, Any]], referenced: ReferencedPaths) -> None:
        paths: set[str] = set()
        for path, policy in spanned:
            paths.update(referenced(path, policy))
        owners: dict[str, list[str]] = {}
        for path in sorted(paths):
            group = self.snap.groups.get(path)
            name = names.group_name(_object_id(group, path))
            self.group_names[path] = name
            owners.setdefault(name, []).append(path)
        for name, group_paths in owners.items():
            if len(group_paths) > 1:
                for path in group_paths:
                    other = next(p for p in group_paths if p != path)
                    self.bad_group_names[path] = f"group {path}: its Kubernetes name {name} is also the name of {other}"

    def _criteria(self, path: str) -> GroupCriteria:
        self._group_reads.add(path)
        if path in self.bad_group_names:
            self._errors.append((path, self.bad_group_names[path]))
            raise Invalid(self.bad_group_names[path])
        try:
            return self.groups.criteria(path)
        except Invalid as err:
            if path in self.snap.groups:
                self._errors.append((path, str(err)))
            raise
        finally:
            self._group_reads |= self.groups.reads(path)

    def _group_objects(self, path: str, groups: dict[str, dict[str, Any]], what: str) -> None:
        family = self._families.get(path)
        self._group_reads |= self.groups.reads(path)
        if family is None:
            try:
                criteria = self._criteria(path)
            except Invalid as err:
                raise Invalid(f"{what}: {err}") from None
            group = self.snap.groups[path]
            display = names.display_name(group.get("display_name"), _object_id(group, path))
            family = _group_family(self.group_names[path], criteria.terms, nsx_path=path, display=display,
                                   revision=group.get("_revision"))
            self._families[path] = family
        for obj in family:
            groups[obj["metadata"]["name"]] = obj

    def _intersection(self, a: str, b: str, groups: dict[str, dict[str, Any]], what: str) -> str:
        name = names.intersection_group_name(self.group_names[a], self.group_names[b])
        if name in groups:
            return name
        try:
            terms: list[Term] = list(intersect(self._criteria(a), self._criteria(b)))
        except Invalid as err:
            raise Invalid(f"{what}: {err}") from None
        first, second = sorted((a, b))
        display = f"{self.group_names[first]} ∩ {self.group_names[second]}"
        family = _group_family(name, terms, nsx_path=None, display=display, revision=None)
        family[-1]["metadata"]["annotations"][names.INTERSECTION_ANNOTATION] = f"{first},{second}"
        for obj in family:
            groups[obj["metadata"]["name"]] = obj
        return name


def _group_family(
    parent: str, terms: list[Term], *, nsx_path: str | None, display: str, revision: object
) -> list[dict[str, Any]]:
    """Children first, then the parent that lists them."""
    objects = []
    child_names = []
    for index, term in enumerate(terms):
        child = names.child_group_name(parent, index)
        child_names.append(child)
        meta = _meta(child, nsx_path=nsx_path, display=display, revision=revision)
        meta["annotations"][names.PARENT_ANNOTATION] = parent
        spec = term.spec()
        if isinstance(term, SelectorTerm) and not spec:
            spec = {"podSelector": {}}
        objects.append(
            {"apiVersion": names.ANTREA_API_VERSION, "kind": "ClusterGroup", "metadata": meta, "spec": spec}
        )
    objects.append(
        {
            "apiVersion": names.ANTREA_API_VERSION,
            "kind": "ClusterGroup",
            "metadata": _meta(parent, nsx_path=nsx_path, display=display, revision=revision),
            "spec": {"childGroups": child_names},
        }
    )
    return objects


_RULE_KEY_ORDER = ("name", "action", "appliedTo", "from", "to", "ports", "protocols", "enableLogging", "logLabel")


def _ordered_rule(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in _RULE_KEY_ORDER if k in body}


def _ordered_rules(rules: list[Any], what: str) -> list[dict[str, Any]]:
    """Ascending sequence_number, then id (mapping.md §3); malformed rules sort last, then fail."""
    keyed = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise Invalid(f"{what}: rules[{index}] is not an object")
        seq = rule.get("sequence_number", 0)
        rid = rule.get("id")
        ok = isinstance(seq, int) and not isinstance(seq, bool)
        keyed.append(((0 if ok else 1, seq if ok else 0, rid if isinstance(rid, str) else "", index), rule))
    keyed.sort(key=lambda pair: pair[0])
    for _, rule in keyed:
        seq = rule.get("sequence_number", 0)
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise Invalid(f"{what}: rule {short(rule.get('id'))}: sequence_number must be an integer")
    return [rule for _, rule in keyed]


def _clusters(scope: list[str] | None) -> list[str]:
    return [s for s in scope or [] if s.startswith(CLUSTER_PATH_PREFIX)]


def _is_group_path(entry: str) -> bool:
    return entry.startswith("/infra/") and "/groups/" in entry


def _object_id(obj: Any, path: str) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return str(obj["id"])
    return path.rstrip("/").rsplit("/", 1)[-1]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def referenced_group_paths(_path: str, policy: dict[str, Any]) -> list[str]:
    """Group paths named in the policy's and its rules' scope, source and destination lists."""
    return [entry for entry in _referenced_paths(policy) if _is_group_path(entry)]


def _referenced_paths(policy: dict[str, Any]) -> Iterable[str]:
    """Every string of the policy's and its rules' scope, source and destination lists."""
    for key in ("scope",):
        yield from _strings(policy.get(key))
    rules = policy.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict):
            for key in ("scope", "source_groups", "destination_groups"):
                yield from _strings(rule.get(key))


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def translate(snapshot: NsxSnapshot, cluster_name: str, *, tier_priority_base: int = 0) -> Translation:
    """The desired Tiers, ClusterGroups and ClusterNetworkPolicies for ``cluster_name``."""
    context = TranslationContext(snapshot, cluster_name, tier_priority_base)
    return context.assemble({path: context.translate_policy(path, policy) for path, policy in context.spanned})
