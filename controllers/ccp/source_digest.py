"""Source digests: what each managed object was translated from, stamped on it (mapping.md §3).

A restart with nothing changed should reach "in sync" without the full translation (1–1.5 s at
1,000 policies): each object the adapter writes carries, in two annotations, the NSX paths its
translation read (``source-inputs``) and a digest of their ``unique_id``/``_revision`` figures (and
those of embedded rules and service entries), the translator version and the settings that shape
the output (``source-digest``). At start-up one paged revision search (``NsxIntent.revisions``)
then tells whether every object would be translated the same again (:func:`check`).

The inputs are recorded rather than re-derived because deriving them (which groups a policy
reads, transitively) *is* translating. The digest is a function of the NSX input only, never of
the cluster, so the same input always stamps the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controllers.ccp import names
from controllers.ccp.intent import state

# Bump whenever a change of the translator can change its output for the same NSX input: every
# object then looks stale to the start-up check, which falls back to the full translation.
TRANSLATOR_VERSION = "1"

Kind = str  # "policies" | "groups" | "services", as in controllers.ccp.intent
_SHORT = {"policies": "p", "groups": "g", "services": "s"}
_LONG = {v: k for k, v in _SHORT.items()}
# Paths under these are recorded by their last segment (ids never contain "/"), which keeps the
# annotation small: a ClusterGroup may record a few dozen groups, and there are thousands of them.
_PREFIX = {"policies": "/infra/domains/default/security-policies/", "groups": "/infra/domains/default/groups/",
           "services": "/infra/services/"}


def _short_path(kind: Kind, path: str) -> str:
    rest = path[len(_PREFIX[kind]):]
    return rest if path.startswith(_PREFIX[kind]) and rest and "/" not in rest else path


@dataclass(frozen=True)
class Inputs:
    """The NSX paths one object's translation read, by kind."""

    policies: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    unmapped: bool = False
    """Also every NSX policy of the domain that has no ClusterNetworkPolicy (other clusters' policies,
    NSX's default sections, policies that failed to translate): recorded on one Tier only, so that
    a policy appearing or changing there is noticed without listing them all in an annotation."""

    def encode(self) -> str:
        """Compact, stable JSON: ``{"g": [...], "p": [...], "s": [...], "u": 1}`` (empty kinds left
        out; the usual NSX paths by id, any other in full)."""
        body: dict[str, Any] = {_SHORT[k]: sorted(_short_path(k, p) for p in getattr(self, k))
                                for k in ("policies", "groups", "services") if getattr(self, k)}
        if self.unmapped:
            body["u"] = 1
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def decode(text: str) -> Inputs | None:
        try:
            body = json.loads(text)
        except ValueError:
            return None
        if not isinstance(body, dict) or any(k not in _LONG and k != "u" for k in body):
            return None
        unmapped = body.pop("u", None)
        if unmapped not in (None, 1):
            return None
        kinds: dict[str, frozenset[str]] = {}
        for short, paths in body.items():
            # One C-level type check per list: a restart decodes a thousand of these.
            if type(paths) is not list or not set(map(type, paths)) <= {str}:
                return None
            prefix = _PREFIX[_LONG[short]]
            kinds[_LONG[short]] = frozenset([p if p[0] == "/" else prefix + p for p in paths if p])
        return Inputs(**kinds, unmapped=unmapped == 1)


def settings_text(cluster_name: str, tier_priority_base: int) -> str:
    return f"{TRANSLATOR_VERSION}\n{cluster_name}\n{tier_priority_base}"


# Text that JSON writes as is between double quotes (printable ASCII but for the quote and the
# backslash): for it the figures are formatted directly, byte-identical to json.dumps.
_PLAIN = re.compile(r'[ !#-\[\]-~]*')
# ... and that repr() also writes as is between single quotes (no single quote either).
_PLAIN_REPR = re.compile(r'[ !#-&(-\[\]-~]*')


def _figures(value: Hashable | None) -> str:
    """One object's state (see :func:`controllers.ccp.intent.state`) as stable text."""
    if value is None:
        return "-"
    if type(value) is tuple and len(value) == 3 and type(value[2]) is frozenset:
        uid, rev, children = value
        if type(uid) is str and type(rev) is int and _PLAIN.fullmatch(uid):
            # A restart formats thousands of these (a policy and its rules, a group): directly,
            # when every figure is plain, else through json.dumps below.
            rows = _plain_children(children)
            if rows is not None:
                return f'["{uid}",{rev},[{",".join(rows)}]]'
        return json.dumps([uid, rev, sorted([repr(x) for x in c] for c in children)], separators=(",", ":"))
    return json.dumps(repr(value))


def _plain_children(children: frozenset[Any]) -> list[str] | None:
    """The children's ``[repr(id), repr(unique_id), repr(_revision)]`` rows as JSON, in sorted
    order, when every id is plain text and every revision an int; else None."""
    rows: list[tuple[str, str, str]] = []
    plain = _PLAIN_REPR.fullmatch
    for child in children:
        if not (type(child) is tuple and len(child) == 3):
            return None
        cid, uid, rev = child
        if not (type(cid) is str and type(uid) is str and type(rev) is int and plain(cid) and plain(uid)):
            return None
        rows.append((f"'{cid}'", f"'{uid}'", str(rev)))
    rows.sort()
    return [f'["{a}","{b}","{c}"]' for a, b, c in rows]


class Figures:
    """Every input's figures as lines of digest text, memoised per path (the same group is an
    input of hundreds of objects); ``text_of`` gives an input's figures text (:func:`_figures`
    of its state, ``"-"`` when it is gone)."""

    def __init__(self, text_of: Callable[[Kind, str], str]) -> None:
        self._text_of = text_of
        self._lines: dict[Kind, dict[str, str]] = {kind: {} for kind in _SHORT}

    def lines(self, kind: Kind, paths: Iterable[str]) -> str:
        """``"\n<kind> <path> <figures>"`` for each path, in the order given."""
        memo, short, text_of = self._lines[kind], _SHORT[kind], self._text_of
        out = []
        for path in paths:
            line = memo.get(path)
            if line is None:
                line = memo[path] = f"\n{short} {path} {text_of(kind, path)}"
            out.append(line)
        return "".join(out)


def digest(settings: str, inputs: Inputs, lookup: Figures, unmapped: Iterable[str] = ()) -> str:
    """The settings, then one line per input, by kind (policies, groups, services) and by path."""
    policies = inputs.policies | frozenset(unmapped) if inputs.unmapped else inputs.policies
    text = "".join((settings, lookup.lines("policies", sorted(policies)), lookup.lines("groups", sorted(inputs.groups)),
                    lookup.lines("services", sorted(inputs.services))))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def snapshot_lookup(policies: Mapping[str, Any], groups: Mapping[str, Any], services: Mapping[str, Any]) -> Figures:
    """Figures of the objects of a snapshot."""
    by_kind = {"policies": policies, "groups": groups, "services": services}

    def text_of(kind: Kind, path: str) -> str:
        obj = by_kind[kind].get(path)
        return _figures(None if obj is None else state(obj, kind))

    return Figures(text_of)


def figure_texts(revisions: Mapping[Kind, Mapping[str, Hashable]]) -> dict[Kind, dict[str, str]]:
    """One revision search's states as figures text, by kind and path: plain strings, which is
    what a search run in another process hands back (cheap to pickle, and formatted there)."""
    return {kind: {path: _figures(value) for path, value in states.items()} for kind, states in revisions.items()}


def search_lookup(texts: Mapping[Kind, Mapping[str, str]], predefined: Mapping[str, Any]) -> Figures:
    """Figures from one revision search (:func:`figure_texts`); predefined services are not in
    NSX's index."""

    def text_of(kind: Kind, path: str) -> str:
        found = texts.get(kind, {}).get(path)
        if found is not None:
            return found
        if kind == "services" and path in predefined:
            return _figures(state(predefined[path], kind))
        return _figures(None)

    return Figures(text_of)


def stamp(obj: Mapping[str, Any], inputs: Inputs | str, value: str) -> dict[str, Any]:
    """A copy of ``obj`` carrying the two annotations (the original is shared and stays as is);
    ``inputs`` may come already encoded (:meth:`Inputs.encode`)."""
    meta = dict(obj.get("metadata") or {})
    encoded = inputs if isinstance(inputs, str) else inputs.encode()
    meta["annotations"] = {**(meta.get("annotations") or {}), names.SOURCE_INPUTS_ANNOTATION: encoded,
                           names.SOURCE_DIGEST_ANNOTATION: value}
    return {**obj, "metadata": meta}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    objects: int = 0


@dataclass(frozen=True)
class Recorded:
    """What the managed objects say about their own sources: everything :func:`check` needs from
    the cluster, read before NSX has answered (the start-up check's search is still running
    while the informers' caches are already full)."""

    objects: int
    problem: str | None
    """Why the objects cannot be in sync whatever NSX says, or None."""
    stamps: list[tuple[str, str, str, str]]
    """(kind, name, encoded inputs, recorded digest) of every object."""
    inputs: dict[str, Inputs | None]
    """Each distinct encoded inputs text, decoded (None: unreadable)."""
    mapped: frozenset[str]
    """The NSX paths the ClusterNetworkPolicies were translated from."""


def record(observed: Iterable[Mapping[str, Any]], tier_names: Iterable[str]) -> Recorded:
    """The NSX-independent half of :func:`check`: read the annotations, and check that the set of
    objects is closed (Tiers exactly the translator's, each ACNP in one of them, every
    ClusterGroup referenced and every reference resolved, one Tier anchoring the policies without
    an ACNP)."""
    acnps: dict[str, Mapping[str, Any]] = {}
    groups: dict[str, Mapping[str, Any]] = {}
    tiers: set[str] = set()
    stamps: list[tuple[str, str, str, str]] = []
    inputs: dict[str, Inputs | None] = {}
    anchored = 0
    problem: str | None = None
    objects = 0
    for obj in observed:
        objects += 1
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        name, kind = str(meta.get("name")), str(obj.get("kind"))
        text = str(annotations.get(names.SOURCE_INPUTS_ANNOTATION, ""))
        if text not in inputs:
            inputs[text] = Inputs.decode(text)
        recorded = inputs[text]
        if recorded is None:
            problem = problem or f"{kind} {name} has no readable source inputs"
            continue
        anchored += recorded.unmapped
        stamps.append((kind, name, text, str(annotations.get(names.SOURCE_DIGEST_ANNOTATION))))
        if kind == "ClusterNetworkPolicy":
            acnps[str(annotations.get(names.NSX_PATH_ANNOTATION))] = obj
        elif kind == "ClusterGroup":
            groups[name] = obj
        elif kind == "Tier":
            tiers.add(name)
        else:
            problem = problem or f"unexpected kind {kind}"
    wanted_tiers = set(tier_names)
    if problem is None and tiers != wanted_tiers:
        problem = "the managed Tiers differ from the translator's"
    if problem is None and anchored != 1:
        problem = "the NSX policies without a ClusterNetworkPolicy are not on record"
    if problem is None:
        referenced: set[str] = set()
        for acnp in acnps.values():
            spec = acnp.get("spec") or {}
            if spec.get("tier") not in wanted_tiers:
                problem = "a ClusterNetworkPolicy is in an unknown Tier"
                break
            referenced |= _group_refs(spec)
        for name in list(referenced):
            children = ((groups.get(name) or {}).get("spec") or {}).get("childGroups") or []
            referenced.update(str(c) for c in children)
        if problem is None and referenced != groups.keys():
            problem = "the ClusterGroups differ from those the policies reference"
    return Recorded(objects, problem, stamps, inputs, frozenset(acnps))


def check(observed: Iterable[Mapping[str, Any]] | Recorded, settings: str, lookup: Figures,
          policy_paths: Iterable[str], tier_names: Iterable[str]) -> Verdict:
    """Would translating the NSX intent described by ``lookup`` give exactly the ``observed``
    managed objects (spec drift aside)? True only if every object's digest recomputes equal from
    its recorded inputs and the set of objects is closed: every NSX policy of the domain has its
    ACNP or is among those recorded (with their revisions) on the one Tier that records the
    policies without an ACNP, every ClusterGroup is referenced and every reference resolves, and the
    Tiers are exactly those the translator makes. ``observed`` may be :func:`record`'s answer
    (then ``tier_names`` was given there)."""
    recorded = observed if isinstance(observed, Recorded) else record(observed, tier_names)
    if recorded.problem is not None:
        return Verdict(False, recorded.problem)
    policy_paths = set(policy_paths)
    unmapped = policy_paths - recorded.mapped
    values: dict[str, str] = {}  # a family's parent and children share their inputs
    for kind, name, text, value in recorded.stamps:
        expected = values.get(text)
        if expected is None:
            inputs = recorded.inputs[text]
            assert inputs is not None  # unreadable inputs are a problem of the record
            expected = values[text] = digest(settings, inputs, lookup, unmapped)
        if value != expected:
            return Verdict(False, f"{kind} {name} was translated from other NSX input")
    if recorded.mapped - policy_paths:
        return Verdict(False, "a ClusterNetworkPolicy has no NSX policy")
    return Verdict(True, "every object matches its NSX source digest", recorded.objects)


def _group_refs(spec: Mapping[str, Any]) -> set[str]:
    # Walked for every ACNP of a restart (thousands of peers): plain loops, no intermediate lists.
    refs: set[str] = set()
    add = refs.add
    for peer in spec.get("appliedTo") or ():
        if type(peer) is dict and type(group := peer.get("group")) is str:
            add(group)
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or ():
            if type(rule) is not dict:
                continue
            for key in ("appliedTo", "from", "to"):
                for peer in rule.get(key) or ():
                    if type(peer) is dict and type(group := peer.get("group")) is str:
                        add(group)
    return refs
