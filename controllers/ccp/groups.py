"""NSX groups -> Antrea ClusterGroups (mapping.md §5).

An NSX group is an OR of criteria; a ClusterGroup holds one selector kind, and Antrea allows one
level of nesting. So each group becomes a parent whose children are one criterion each, and groups
referenced by path are flattened into their referrer. Anything a label selector cannot say exactly
is an error: a security group must never silently select more or fewer Pods than NSX would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controllers.ccp._fields import Invalid, as_list, as_str, as_strings, short
from controllers.ccp.addresses import IPNetwork, parse_addresses

LABEL_PREFIX = "dis:k8s:"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class Selector:
    """A Kubernetes label selector kept in NSX expression order (deterministic output)."""

    match_labels: dict[str, str] = field(default_factory=dict)
    match_expressions: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def require(self, key: str, operator: str, value: str) -> None:
        if operator == "In" and key not in self.match_labels:
            self.match_labels[key] = value
            return
        expr = (key, operator, (value,))
        if expr not in self.match_expressions:
            self.match_expressions.append(expr)

    def merged(self, other: Selector) -> Selector:
        out = Selector(dict(self.match_labels), list(self.match_expressions))
        for key, value in other.match_labels.items():
            if out.match_labels.get(key, value) != value:
                out.require(key, "In", value)  # conflicting values: selects nothing, exactly as NSX
            else:
                out.match_labels[key] = value
        for expr in other.match_expressions:
            if expr not in out.match_expressions:
                out.match_expressions.append(expr)
        return out

    def to_k8s(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [
                {"key": k, "operator": op, "values": list(vals)} for k, op, vals in self.match_expressions
            ]
        return out


@dataclass
class SelectorTerm:
    pods: Selector | None = None
    namespaces: Selector | None = None

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pods is not None:
            out["podSelector"] = self.pods.to_k8s()
        if self.namespaces is not None:
            out["namespaceSelector"] = self.namespaces.to_k8s()
        return out


@dataclass
class AddressTerm:
    networks: list[IPNetwork]

    def spec(self) -> dict[str, Any]:
        return {"ipBlocks": [{"cidr": str(net)} for net in self.networks]}


@dataclass
class ServiceTerm:
    name: str
    namespace: str

    def spec(self) -> dict[str, Any]:
        return {"serviceReference": {"name": self.name, "namespace": self.namespace}}


Term = SelectorTerm | AddressTerm | ServiceTerm


@dataclass
class GroupCriteria:
    """A translated NSX group: the OR of its terms (each one child ClusterGroup)."""

    path: str
    terms: list[Term]

    @property
    def pure_selectors(self) -> bool:
        return all(isinstance(t, SelectorTerm) for t in self.terms)


# NSX states no limit on group-in-group depth; a bound keeps a pathological chain an error, not a crash.
MAX_REFERENCE_DEPTH = 50

Resolver = Callable[[str], dict[str, Any] | None]


class _StackDependent(Invalid):
    """A reference cycle or a too-deep chain: its message names the chain from where the walk
    started, so it is only valid for the walk that found it (see :class:`GroupTranslator`)."""


class GroupTranslator:
    """Translates groups on demand, memoised, with cycle detection across path references.

    The result for a group never depends on which groups were asked for before it, so a policy
    translated alone (by the translation cache) reads exactly what a full translation reads: results
    that depend on the walk (cycle and depth errors, which name the chain from where the walk
    started) are memoised only until the outermost :meth:`criteria` call returns.
    """

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._done: dict[str, GroupCriteria | Invalid] = {}
        self._walk: dict[str, GroupCriteria | Invalid] = {}  # walk-dependent, for this walk only
        self._reads: dict[str, frozenset[str]] = {}
        self._stack: list[str] = []
        self._reading: list[set[str]] = []

    def reads(self, path: str) -> frozenset[str]:
        """Group paths whose objects the last translation of ``path`` looked at (itself included)."""
        return self._reads.get(path, frozenset((path,)))

    def criteria(self, path: str) -> GroupCriteria:
        """Raise :class:`Invalid` when the group (or one it references) cannot be translated."""
        cached = self._done.get(path) or self._walk.get(path)
        if cached is not None:
            self._note(self._reads.get(path, frozenset((path,))))
            if isinstance(cached, Invalid):
                raise cached
            return cached
        self._note(frozenset((path,)))
        if len(self._stack) >= MAX_REFERENCE_DEPTH:
            raise _StackDependent(f"group {self._stack[0]}: group references nest deeper than {MAX_REFERENCE_DEPTH}")
        if path in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(path):], path])
            raise _StackDependent(f"group reference cycle: {cycle}")
        self._stack.append(path)
        self._reading.append({path})
        try:
            result: GroupCriteria | Invalid = self._translate(path)
        except Invalid as err:
            result = err
        finally:
            self._stack.pop()
            reads = frozenset(self._reading.pop())
            self._reads[path] = reads
            self._note(reads)
        (self._walk if isinstance(result, _StackDependent) else self._done)[path] = result
        if not self._stack:
            self._walk.clear()
        if isinstance(result, Invalid):
            raise result
        return result

    def _note(self, paths: frozenset[str]) -> None:
        if self._reading:
            self._reading[-1] |= paths

    def _translate(self, path: str) -> GroupCriteria:
        group = self._resolve(path)
        if group is None:
            raise Invalid(f"unknown group {path}")
        if not isinstance(group, dict):
            raise Invalid(f"group {path} is not an object")
        group_types = as_strings(group, "group_type", what=f"group {path}")
        if "ANTREA" not in group_types:
            raise Invalid(f"group {path} is not an Antrea group (group_type must include \"ANTREA\")")
        expression = as_list(group, "expression", what=f"group {path}")
        return GroupCriteria(path, self._expression(expression, path))

    def _expression(self, expression: list[Any], path: str) -> list[Term]:
        terms: list[Term] = []
        for segment in _or_segments(expression, path):
            terms.extend(self._segment(segment, path))
        return terms

    def _segment(self, items: list[dict[str, Any]], path: str) -> list[Term]:
        """One AND-joined run of expressions -> the terms it ORs into its parent."""
        kinds = [item.get("resource_type") for item in items]
        if len(items) == 1 and kinds[0] == "IPAddressExpression":
            networks = parse_addresses(
                as_strings(items[0], "ip_addresses", what=f"group {path}"), single_family=True
            )
            return [AddressTerm(networks)] if networks else []
        if len(items) == 1 and _is_group_reference(items[0]):
            terms: list[Term] = []
            for ref in _group_reference_paths(items[0], path):
                terms.extend(self.criteria(ref).terms)
            return terms
        conditions: list[dict[str, Any]] = []
        for item, kind in zip(items, kinds, strict=True):
            if kind == "Condition" and not _is_group_reference(item):
                conditions.append(item)
            elif kind == "NestedExpression":
                conditions.extend(_nested_conditions(item, path))
            else:
                raise Invalid(
                    f"group {path}: {kind} cannot be combined with AND: only Pod, Namespace and Service "
                    "conditions can be intersected"
                )
        return [_conditions_term(conditions, path)]


def _or_segments(expression: list[Any], path: str) -> list[list[dict[str, Any]]]:
    if len(expression) % 2 == 0 and expression:
        raise Invalid(f"group {path}: expression must alternate criteria and conjunctions (odd length)")
    segments: list[list[dict[str, Any]]] = [[]]
    for index, item in enumerate(expression):
        if not isinstance(item, dict):
            raise Invalid(f"group {path}: expression[{index}] is not an object")
        kind = item.get("resource_type")
        if index % 2 == 1:
            if kind != "ConjunctionOperator":
                raise Invalid(f"group {path}: expression[{index}] must be a ConjunctionOperator")
            op = item.get("conjunction_operator")
            if op == "OR":
                segments.append([])
            elif op != "AND":
                raise Invalid(f"group {path}: unknown conjunction_operator {short(op)}")
            continue
        if kind == "ConjunctionOperator":
            raise Invalid(f"group {path}: expression[{index}] must be a criterion, not a conjunction")
        if not isinstance(kind, str) or kind not in _SUPPORTED_EXPRESSIONS:
            raise Invalid(f"group {path}: {short(kind)} membership cannot be expressed in Antrea")
        segments[-1].append(item)
    return [s for s in segments if s]


_SUPPORTED_EXPRESSIONS = {"Condition", "NestedExpression", "IPAddressExpression", "PathExpression"}


def _is_group_reference(item: dict[str, Any]) -> bool:
    kind = item.get("resource_type")
    return kind == "PathExpression" or (kind == "Condition" and item.get("member_type") == "Group")


def _group_reference_paths(item: dict[str, Any], path: str) -> list[str]:
    if item.get("resource_type") == "PathExpression":
        paths = as_strings(item, "paths", what=f"group {path}")
        for ref in paths:
            if "/groups/" not in ref:
                raise Invalid(f"group {path}: path {short(ref)} is not a group (segments and ports are not Pods)")
        return paths
    if item.get("operator", "EQUALS") != "EQUALS":
        raise Invalid(f"group {path}: a Group condition must use EQUALS")
    value = as_str(item, "value", what=f"group {path}")
    return [value if value.startswith("/") else f"/infra/domains/default/groups/{value}"]


def _nested_conditions(item: dict[str, Any], path: str) -> list[dict[str, Any]]:
    inner = as_list(item, "expressions", what=f"group {path}: NestedExpression")
    segments = _or_segments(inner, path)
    if len(segments) != 1:
        raise Invalid(f"group {path}: a NestedExpression must join one or more conditions with AND")
    for cond in segments[0]:
        if cond.get("resource_type") != "Condition" or _is_group_reference(cond):
            raise Invalid(f"group {path}: a NestedExpression may only hold Pod/Namespace/Service conditions")
    return segments[0]


def _label(value: str, path: str) -> tuple[str, str]:
    """``scope|tag`` -> (label key, label value)."""
    if "|" not in value:
        raise Invalid(f"group {path}: tag condition {short(value)} has no scope; a label needs a key")
    scope, tag = value.split("|", 1)
    if not scope:
        raise Invalid(f"group {path}: tag condition {short(value)} matches any scope; a label needs a key")
    key = scope[len(LABEL_PREFIX):] if scope.startswith(LABEL_PREFIX) else scope
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name) or (
        prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))
    ):
        raise Invalid(f"group {path}: {short(key)} is not a valid Kubernetes label key")
    if len(tag) > 63 or not _LABEL_VALUE.match(tag):
        raise Invalid(f"group {path}: {short(tag)} is not a valid Kubernetes label value")
    return key, tag


def _conditions_term(conditions: list[dict[str, Any]], path: str) -> Term:
    if not conditions:
        raise Invalid(f"group {path}: empty criterion")
    pods: Selector | None = None
    namespaces: Selector | None = None
    service: str | None = None
    namespace_name: str | None = None
    for cond in conditions:
        member = cond.get("member_type")
        key = cond.get("key")
        operator = cond.get("operator")
        value = as_str(cond, "value", what=f"group {path}: condition")
        if cond.get("scope_operator", "EQUALS") not in ("EQUALS", None):
            raise Invalid(f"group {path}: scope_operator {short(cond.get('scope_operator'))} cannot be expressed")
        if operator not in ("EQUALS", "NOTEQUALS"):
            raise Invalid(
                f"group {path}: operator {short(operator)} cannot be expressed as a label selector "
                "(only EQUALS and NOTEQUALS)"
            )
        k8s_op = "In" if operator == "EQUALS" else "NotIn"
        if member == "Pod" and key == "Tag":
            pods = pods or Selector()
            pods.require(*_label_op(value, k8s_op, path))
        elif member == "Namespace" and key == "Tag":
            namespaces = namespaces or Selector()
            namespaces.require(*_label_op(value, k8s_op, path))
        elif member == "Namespace" and key == "Name":
            if not _DNS_SUBDOMAIN.match(value) or len(value) > 63:
                raise Invalid(f"group {path}: {short(value)} is not a valid namespace name")
            namespaces = namespaces or Selector()
            namespaces.require(NAMESPACE_NAME_LABEL, k8s_op, value)
            if operator == "EQUALS":
                namespace_name = value
        elif member == "Service" and key == "Name" and operator == "EQUALS":
            if service is not None:
                raise Invalid(f"group {path}: two Service name conditions in one criterion")
            service = value
        else:
            raise Invalid(f"group {path}: condition {short(member)}/{short(key)} cannot be expressed in Antrea")
    if service is not None:
        only_namespace_name = (
            namespaces is not None
            and not namespaces.match_expressions
            and set(namespaces.match_labels) == {NAMESPACE_NAME_LABEL}
        )
        if pods is not None or namespace_name is None or not only_namespace_name:
            raise Invalid(
                f"group {path}: a Service condition needs exactly one Namespace Name EQUALS condition "
                "and nothing else in the same criterion"
            )
        return ServiceTerm(service, namespace_name)
    return SelectorTerm(pods, namespaces)


def _label_op(value: str, op: str, path: str) -> tuple[str, str, str]:
    key, tag = _label(value, path)
    return key, op, tag


def intersect(a: GroupCriteria, b: GroupCriteria) -> list[SelectorTerm]:
    """Pods in both groups, as selector terms; IP terms select no Pods and are left out.

    Raise when either side holds a Service reference: its backends cannot be intersected exactly.
    """
    left = [t for t in a.terms if not isinstance(t, AddressTerm)]
    right = [t for t in b.terms if not isinstance(t, AddressTerm)]
    for side in (left, right):
        for term in side:
            if not isinstance(term, SelectorTerm):
                raise Invalid(
                    f"applied-to ∩ {a.path if side is left else b.path}: Service-based groups cannot be "
                    "intersected with another group exactly"
                )
    out: list[SelectorTerm] = []
    for x in left:
        for y in right:
            assert isinstance(x, SelectorTerm) and isinstance(y, SelectorTerm)
            out.append(SelectorTerm(_merge(x.pods, y.pods), _merge(x.namespaces, y.namespaces)))
    return out


def _merge(x: Selector | None, y: Selector | None) -> Selector | None:
    if x is None:
        return y
    if y is None:
        return x
    return x.merged(y)
