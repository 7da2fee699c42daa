"""RBAC rule evaluation, table-driven against the semantics of kube's evaluation_helpers.go, and the
request → attributes step (RequestInfoFactory) that feeds it."""

from __future__ import annotations

from typing import Any

import pytest

from sim.kubeapi.auth import Attributes, service_account_user
from sim.kubeapi.authz_filter import forbidden, request_attributes
from sim.kubeapi.rbac import rule_allows

SA = service_account_user("team", "bot")


def res(verb: str, resource: str, group: str = "", sub: str = "", ns: str = "team", name: str = "") -> Attributes:
    return Attributes(SA, verb, group, "v1", resource, sub, ns, name)


def url(verb: str, path: str) -> Attributes:
    return Attributes(SA, verb, "", "", "", "", "", "", path=path, resource_request=False)


PODS_READ = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
RULES: list[tuple[str, dict[str, Any], Attributes, bool]] = [
    ("exact verb", PODS_READ, res("list", "pods"), True),
    ("verb not granted", PODS_READ, res("delete", "pods", name="p"), False),
    ("verb *", {**PODS_READ, "verbs": ["*"]}, res("deletecollection", "pods"), True),
    ("core rule, other group", PODS_READ, res("list", "pods", group="metrics.k8s.io"), False),
    ("apiGroups *", {**PODS_READ, "apiGroups": ["*"]}, res("list", "pods", group="metrics.k8s.io"), True),
    ("named group", {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"]},
     res("update", "leases", group="coordination.k8s.io", name="l"), True),
    ("resource not granted", PODS_READ, res("list", "services"), False),
    ("resources *", {**PODS_READ, "resources": ["*"]}, res("list", "services"), True),
    ("resource does not cover its subresource", PODS_READ, res("get", "pods", sub="log", name="p"), False),
    ("subresource granted", {**PODS_READ, "resources": ["pods/log"]}, res("get", "pods", sub="log", name="p"), True),
    ("subresource rule does not cover the resource", {**PODS_READ, "resources": ["pods/log"]},
     res("get", "pods", name="p"), False),
    ("*/subresource", {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
     res("update", "deployments", group="apps", sub="scale", name="d"), True),
    ("*/subresource needs that subresource", {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
     res("update", "deployments", group="apps", sub="status", name="d"), False),
    ("resources * covers subresources", {**PODS_READ, "resources": ["*"]}, res("get", "pods", sub="log", name="p"),
     True),
    ("resourceNames: that name", {**PODS_READ, "resourceNames": ["web"]}, res("get", "pods", name="web"), True),
    ("resourceNames: another name", {**PODS_READ, "resourceNames": ["web"]}, res("get", "pods", name="db"), False),
    ("resourceNames: a list has no name", {**PODS_READ, "resourceNames": ["web"]}, res("list", "pods"), False),
    ("resourceNames: never create", {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["c"],
                                     "verbs": ["create"]}, res("create", "configmaps"), False),
    ("nonResourceURLs exact", {"nonResourceURLs": ["/version"], "verbs": ["get"]}, url("get", "/version"), True),
    ("nonResourceURLs prefix *", {"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
     url("get", "/apis/apps/v1"), True),
    ("nonResourceURLs prefix * is a prefix only", {"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
     url("get", "/apis"), False),
    ("nonResourceURLs *", {"nonResourceURLs": ["*"], "verbs": ["*"]}, url("post", "/anything"), True),
    ("nonResourceURLs verb", {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, url("post", "/healthz"), False),
    ("a resource rule grants no path", {**PODS_READ, "resources": ["*"]}, url("get", "/api"), False),
    ("a path rule grants no resource", {"nonResourceURLs": ["*"], "verbs": ["*"]}, res("get", "pods", name="p"),
     False),
]


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [(r, a, ok) for _, r, a, ok in RULES],
                         ids=[case[0] for case in RULES])
def test_rule_allows(rule: dict[str, Any], attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, rule) is allowed


REQUESTS: list[tuple[str, str, dict[str, str], tuple[str, str, str, str, str, str]]] = [
    # method, path, query -> verb, group, resource, subresource, namespace, name
    ("GET", "/api/v1/namespaces/a/pods", {}, ("list", "", "pods", "", "a", "")),
    ("GET", "/api/v1/namespaces/a/pods", {"watch": "true"}, ("watch", "", "pods", "", "a", "")),
    ("GET", "/api/v1/watch/namespaces/a/pods/p", {}, ("watch", "", "pods", "", "a", "p")),
    ("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=p,status.phase=Running"},
     ("list", "", "pods", "", "", "p")),
    ("GET", "/api/v1/namespaces/a/pods/p/log", {}, ("get", "", "pods", "log", "a", "p")),
    ("DELETE", "/apis/apps/v1/namespaces/a/deployments", {}, ("deletecollection", "apps", "deployments", "", "a", "")),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l", {},
     ("update", "coordination.k8s.io", "leases", "", "a", "l")),
    ("GET", "/api/v1/namespaces/a", {}, ("get", "", "namespaces", "", "a", "a")),
    ("PUT", "/api/v1/namespaces/a/status", {}, ("update", "", "namespaces", "status", "a", "a")),
    ("POST", "/api/v1/namespaces/a/serviceaccounts/s/token", {}, ("create", "", "serviceaccounts", "token", "a", "s")),
]


@pytest.mark.parametrize(("method", "path", "query", "expected"), REQUESTS, ids=[f"{m} {p}" for m, p, _, _ in REQUESTS])
def test_request_attributes(method: str, path: str, query: dict[str, str],
                            expected: tuple[str, str, str, str, str, str]) -> None:
    a = request_attributes(SA, method, path, query)
    assert a.resource_request and (a.verb, a.group, a.resource, a.subresource, a.namespace, a.name) == expected


def test_non_resource_attributes() -> None:
    a = request_attributes(SA, "GET", "/apis/apps/v1", {})
    assert not a.resource_request and (a.verb, a.path) == ("get", "/apis/apps/v1")


@pytest.mark.parametrize(("attrs", "message", "details"), [
    (res("list", "pods"), 'pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" '
     'in API group "" in the namespace "team"', {"kind": "pods"}),
    (res("get", "leases", group="coordination.k8s.io", name="l"),
     'leases.coordination.k8s.io "l" is forbidden: User "system:serviceaccount:team:bot" cannot get resource '
     '"leases" in API group "coordination.k8s.io" in the namespace "team"',
     {"kind": "leases", "group": "coordination.k8s.io", "name": "l"}),
    (res("watch", "nodes", ns=""), 'nodes is forbidden: User "system:serviceaccount:team:bot" cannot watch '
     'resource "nodes" in API group "" at the cluster scope', {"kind": "nodes"}),
    (res("get", "pods", sub="log", name="p"), 'pods "p" is forbidden: User "system:serviceaccount:team:bot" cannot '
     'get resource "pods/log" in API group "" in the namespace "team"', {"kind": "pods", "name": "p"}),
    (url("get", "/apis"), 'forbidden: User "system:serviceaccount:team:bot" cannot get path "/apis"', None),
])
def test_forbidden_message(attrs: Attributes, message: str, details: dict[str, str] | None) -> None:
    err = forbidden(attrs, "")
    status = err.status()
    assert (status["code"], status["reason"], status["message"]) == (403, "Forbidden", message)
    assert status.get("details") == details
