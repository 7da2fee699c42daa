"""RBAC evaluation from the Role/ClusterRole/RoleBinding/ClusterRoleBinding objects in the store.

Follows ``k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac`` and
``pkg/apis/rbac/v1/evaluation_helpers.go`` so a grant that works here works on a real cluster and a
missing verb fails here first: ``*`` for verbs, groups and resources; ``pods/log`` and
``*/scale`` subresource forms (``pods`` does not cover ``pods/status``); ``resourceNames`` (never
matching a request without a name, such as create or an unfiltered list); ``nonResourceURLs``
with a trailing ``*``; RoleBindings grant only in their namespace and never non-resource URLs;
ServiceAccount subjects without a namespace default to the binding's. ``aggregationRule``
ClusterRoles are evaluated with the rules of the ClusterRoles their selectors match, as the
aggregation controller would have filled them in.

Objects are read from the store on every decision (no cache to go stale); the number of bindings
in a test cluster is small. Not emulated: the escalation check on writing roles and bindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import meta
from .auth import AUTHENTICATED, MASTERS, UNAUTHENTICATED, Attributes, UserInfo
from .storage import Store

GROUP = "rbac.authorization.k8s.io"
ROLES = (GROUP, "roles")
CLUSTER_ROLES = (GROUP, "clusterroles")
ROLE_BINDINGS = (GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (GROUP, "clusterrolebindings")

Rule = dict[str, Any]


# -- one rule ----------------------------------------------------------------------------------
def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return "*" in verbs or verb in verbs


def group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return "*" in groups or group in groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for wanted in rule.get("resources") or ():
        if wanted in ("*", combined):
            return True
        if subresource and wanted == "*/" + subresource:
            return True
    return False


def name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def url_matches(rule: Rule, path: str) -> bool:
    for wanted in rule.get("nonResourceURLs") or ():
        if wanted in ("*", path) or (wanted.endswith("*") and path.startswith(wanted[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    if attrs.resource_request:
        return (verb_matches(rule, attrs.verb) and group_matches(rule, attrs.group)
                and resource_matches(rule, attrs.resource, attrs.subresource) and name_matches(rule, attrs.name))
    return verb_matches(rule, attrs.verb) and url_matches(rule, attrs.path)


# -- subjects and bindings ---------------------------------------------------------------------
def subject_applies(subject: dict[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(user.name == f"system:serviceaccount:{namespace}:{name}")
    return False


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (op == "In" and (not present or labels[key] not in values)) or \
                (op == "NotIn" and present and labels[key] in values) or \
                (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _not_found(singular: str, name: str) -> str:
    """Worded like the listers the real authorizer reads through (singular resource)."""
    return f'{singular}.{GROUP} "{name}" not found'


class RbacAuthorizer:
    """The RBAC authorizer; ``system:masters`` is allowed everything, as on a real cluster."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        if MASTERS in attrs.user.groups:
            return True, ""
        problems: list[str] = []
        namespace = attrs.namespace if attrs.resource_request else ""
        for rules in self.rule_sets(attrs.user, namespace, problems):
            if any(rule_allows(attrs, rule) for rule in rules):
                return True, ""
        return False, ("RBAC: " + ", ".join(problems)) if problems else ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule that applies to ``user`` in ``namespace`` (SelfSubjectRulesReview), and the
        bindings that could not be resolved."""
        problems: list[str] = []
        rules = [rule for rules in self.rule_sets(user, namespace, problems) for rule in rules]
        if MASTERS in user.groups:
            rules.insert(0, {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
            rules.insert(1, {"nonResourceURLs": ["*"], "verbs": ["*"]})
        return rules, problems

    def rule_sets(self, user: UserInfo, namespace: str, problems: list[str]) -> Iterator[list[Rule]]:
        """The rules of each binding that applies, cluster bindings first (lazily: the first
        allowing rule ends the search)."""
        for stored in self.store.items(CLUSTER_ROLE_BINDINGS):
            binding = stored.obj
            if any(subject_applies(s, user, "") for s in binding.get("subjects") or ()):
                rules = self._role_rules(binding.get("roleRef") or {}, "", problems)
                if rules:
                    yield rules
        if not namespace:
            return
        for stored in self.store.items(ROLE_BINDINGS, namespace):
            binding = stored.obj
            if any(subject_applies(s, user, namespace) for s in binding.get("subjects") or ()):
                # non-resource rules of a ClusterRole do not apply through a RoleBinding
                rules = [r for r in self._role_rules(binding.get("roleRef") or {}, namespace, problems)
                         if r.get("resources")]
                if rules:
                    yield rules

    def _role_rules(self, ref: dict[str, Any], namespace: str, problems: list[str]) -> list[Rule]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            stored = self.store.get(CLUSTER_ROLES, "", name)
            if stored is None:
                problems.append(_not_found("clusterrole", name))
                return []
            return self._cluster_role_rules(stored.obj)
        if kind == "Role" and namespace:
            stored = self.store.get(ROLES, namespace, name)
            if stored is None:
                problems.append(_not_found("role", name))
                return []
            return list(stored.obj.get("rules") or [])
        return []

    def _cluster_role_rules(self, role: dict[str, Any]) -> list[Rule]:
        aggregation = role.get("aggregationRule")
        if not aggregation:
            return list(role.get("rules") or [])
        selectors = aggregation.get("clusterRoleSelectors") or []
        rules: list[Rule] = []
        for stored in self.store.items(CLUSTER_ROLES):
            other = stored.obj
            if other is role or other.get("aggregationRule"):
                continue
            labels = other.get("metadata", {}).get("labels") or {}
            if any(_selector_matches(sel, labels) for sel in selectors):
                rules.extend(r for r in other.get("rules") or [] if r not in rules)
        return rules


# -- the defaults every cluster has (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) ----------
_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                   "/readyz", "/version", "/version/"]
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

BOOTSTRAP_CLUSTER_ROLES: dict[str, list[Rule]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "system:discovery": [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}],
    "system:public-info-viewer": [{"nonResourceURLs": _PUBLIC_URLS, "verbs": ["get"]}],
    "system:basic-user": [
        {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}],
}
BOOTSTRAP_BINDINGS: dict[str, list[str]] = {  # ClusterRoleBinding (= ClusterRole) name -> groups
    "cluster-admin": [MASTERS],
    "system:discovery": [AUTHENTICATED],
    "system:public-info-viewer": [AUTHENTICATED, UNAUTHENTICATED],
    "system:basic-user": [AUTHENTICATED],
}


def _bootstrap_meta(name: str) -> dict[str, Any]:
    return {"name": name, "uid": meta.new_uid(), "creationTimestamp": meta.now_rfc3339(),
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}


def seed_bootstrap_policy(store: Store) -> None:
    """Create the default ClusterRoles and ClusterRoleBindings that are missing (as the apiserver's
    RBAC post-start hook does), so discovery stays open to every authenticated user."""
    with store.lock:
        for name, rules in BOOTSTRAP_CLUSTER_ROLES.items():
            if store.get(CLUSTER_ROLES, "", name) is None:
                store.commit(CLUSTER_ROLES, {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
                                             "metadata": _bootstrap_meta(name), "rules": rules}, "ADDED")
        for name, groups in BOOTSTRAP_BINDINGS.items():
            if store.get(CLUSTER_ROLE_BINDINGS, "", name) is None:
                store.commit(CLUSTER_ROLE_BINDINGS, {
                    "apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": _bootstrap_meta(name),
                    "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
                    "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups]}, "ADDED")
