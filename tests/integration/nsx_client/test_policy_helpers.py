"""Typed policy helpers: spanned policies of a cluster, PATCH/PUT/DELETE semantics seen through them."""

from __future__ import annotations

import pytest

from nsx import NotFound, NsxClient, cluster_control_plane_path
from nsx.models import ClusterControlPlane, Condition, Group, Rule, SecurityPolicy

ANTREA_GROUP = "/infra/domains/default/groups/span-pods"


def _rule(rule_id: str, scope: list[str] | None = None) -> Rule:
    return Rule(id=rule_id, action="ALLOW", source_groups=["ANY"], destination_groups=[ANTREA_GROUP],
                services=["ANY"], scope=scope)


def test_spanned_policies(client: NsxClient) -> None:
    cluster = "span-cluster"
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id=cluster))
    other = "other-cluster"
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id=other))
    path, other_path = cluster_control_plane_path(cluster), cluster_control_plane_path(other)
    client.policy.patch_group(Group(id="span-pods", group_type=["ANTREA"], expression=[
        Condition(member_type="Pod", key="Tag", operator="EQUALS", value="app|web")]))
    client.policy.patch_security_policy(SecurityPolicy(
        id="span-by-policy-scope", category="Application", scope=[path], rules=[_rule("a")]))
    client.policy.patch_security_policy(SecurityPolicy(
        id="span-by-rule-scope", category="Environment", rules=[_rule("b", [path, ANTREA_GROUP])]))
    client.policy.patch_security_policy(SecurityPolicy(
        id="span-other-cluster", category="Application", scope=[other_path], rules=[_rule("c")]))

    spanned = {p.id for p in client.policy.spanned_security_policies(path)}
    assert {"span-by-policy-scope", "span-by-rule-scope"} <= spanned
    assert "span-other-cluster" not in spanned
    assert "default-layer3-section" not in spanned
    assert {p.id for p in client.policy.spanned_security_policies(other_path)} >= {"span-other-cluster"}


def test_patch_merges_rules_and_put_replaces(client: NsxClient) -> None:
    client.policy.patch_group(Group(id="span-pods", group_type=["ANTREA"], expression=[
        Condition(member_type="Pod", key="Tag", operator="EQUALS", value="app|web")]))
    client.policy.patch_security_policy(SecurityPolicy(id="merge", category="Application",
                                                       rules=[_rule("one"), _rule("two")]))
    client.policy.patch_security_policy(SecurityPolicy(id="merge", rules=[_rule("three")]))
    current = client.policy.get_security_policy("merge")
    assert {r.id for r in current.rules or []} == {"one", "two", "three"}
    replaced = client.policy.put_security_policy(current.model_copy(update={"rules": [_rule("only")]}))
    assert [r.id for r in replaced.rules or []] == ["only"]
    assert replaced.revision == (current.revision or 0) + 1
    assert client.policy.delete_security_policy("merge") is True
    with pytest.raises(NotFound):
        client.policy.get_security_policy("merge")


def test_span_children_count_only_when_asked(client: NsxClient) -> None:
    cluster = "span-child-cluster"
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id=cluster))
    path = cluster_control_plane_path(cluster)
    client.policy.patch_group(Group(id="span-pods", group_type=["ANTREA"], expression=[
        Condition(member_type="Pod", key="Tag", operator="EQUALS", value="app|web")]))
    client.policy.patch_security_policy(SecurityPolicy(id="span-by-child", category="Application",
                                                       rules=[_rule("d")]))
    client.put("/policy/api/v1/infra/domains/default/security-policies/span-by-child/container-cluster-span/"
               + cluster, {"resource_type": "SecurityPolicyContainerCluster", "container_cluster_path": path,
                           "container_cluster_type": "ANTREA"})
    assert "span-by-child" not in {p.id for p in client.policy.spanned_security_policies(path)}
    spanned = {p.id for p in client.policy.spanned_security_policies(path, include_span_children=True)}
    assert "span-by-child" in spanned
    spans = client.policy.list_span_children("span-by-child")
    assert [(s.container_cluster_path, s.container_cluster_type) for s in spans] == [(path, "ANTREA")]
