"""One test (or a parametrised row) per rule of mapping.md §2–§5: NSX intent -> Antrea objects."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest

from controllers.ccp import names
from controllers.ccp.snapshot import NsxSnapshot, load_export
from controllers.ccp.translate import Translation, cluster_path, policy_priority, translate

CLUSTER = "c1"
P = cluster_path(CLUSTER)
G = "/infra/domains/default/groups/"
S = "/infra/services/"


def cond(member: str, key: str, value: str, op: str = "EQUALS", **extra: Any) -> dict[str, Any]:
    return {"resource_type": "Condition", "member_type": member, "key": key, "operator": op, "value": value, **extra}


def conj(op: str) -> dict[str, Any]:
    return {"resource_type": "ConjunctionOperator", "conjunction_operator": op}


def group(gid: str, *expression: dict[str, Any], group_type: list[str] | None = None) -> dict[str, Any]:
    return {"id": gid, "group_type": ["ANTREA"] if group_type is None else group_type, "expression": list(expression)}


def pod_group(gid: str, label: str = "app", value: str | None = None) -> dict[str, Any]:
    return group(gid, cond("Pod", "Tag", f"dis:k8s:{label}|{value or gid}"))


def rule(rid: str, src: list[str] | None = None, dst: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "source_groups": src or ["ANY"],
        "destination_groups": dst or ["ANY"],
        "services": ["ANY"],
        "action": "ALLOW",
    }
    body.update(extra)
    return body


def policy(pid: str, *rules: dict[str, Any], scope: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "category": "Application", "sequence_number": 10,
            "scope": [P] if scope is None else scope, "rules": list(rules), **extra}


def run(
    policies: list[dict[str, Any]], groups: Sequence[dict[str, Any]] = (), services: Sequence[dict[str, Any]] = ()
) -> Translation:
    return translate(NsxSnapshot.from_lists(policies, groups, services), CLUSTER)


def acnp(t: Translation, pid: str) -> dict[str, Any]:
    assert not t.errors, t.errors
    return t.policies[names.policy_name(pid)]


def only_error(t: Translation, path_suffix: str) -> str:
    matches = [reason for path, reasons in t.errors.items() if path.endswith(path_suffix) for reason in reasons]
    assert matches, f"no error for {path_suffix}: {t.errors}"
    return " ".join(matches)


# -- §2 span ---------------------------------------------------------------------------------------
def test_policy_scope_naming_the_cluster_spans_it() -> None:
    t = run([policy("p1", rule("r1"))])
    assert list(t.policies) == ["nsx-p1"]
    assert t.policy_names == {"/infra/domains/default/security-policies/p1": "nsx-p1"}


def test_rule_scope_naming_the_cluster_spans_the_policy_and_other_clusters_rules_are_left_out() -> None:
    other = cluster_path("c2")
    t = run([policy("p1", rule("mine", scope=[P]), rule("theirs", scope=[other]), scope=[])])
    rules = acnp(t, "p1")["spec"]["ingress"]
    assert [r["name"] for r in rules] == ["mine-in"]


def test_container_cluster_span_child_spans_the_policy() -> None:
    span = {"resource_type": "ChildSecurityPolicyContainerCluster",
            "SecurityPolicyContainerCluster": {"resource_type": "SecurityPolicyContainerCluster",
                                               "container_cluster_path": P}}
    pol = policy("p1", rule("r1"), scope=[])
    pol["path"] = "/infra/domains/default/security-policies/p1"
    pol["children"] = [span]
    assert "nsx-p1" in run([pol]).policies


def test_policy_for_another_cluster_and_its_groups_are_not_translated() -> None:
    t = run([policy("p1", rule("r1", src=[G + "web"]), scope=[cluster_path("c2")])], [pod_group("web")])
    assert t.policies == {} and t.cluster_groups == {} and t.errors == {}


def test_policy_level_applied_to_groups_win_over_rule_level() -> None:
    t = run([policy("p1", rule("r1", scope=[G + "db"]), scope=[P, G + "web"])], [pod_group("web"), pod_group("db")])
    (ingress,) = acnp(t, "p1")["spec"]["ingress"]
    assert ingress["appliedTo"] == [{"group": "nsx-web"}]
    assert "nsx-db" not in t.cluster_groups


def test_only_referenced_groups_are_translated() -> None:
    t = run([policy("p1", rule("r1", src=[G + "web"]))], [pod_group("web"), pod_group("unused")])
    assert {"nsx-web", "nsx-web-0"} == set(t.cluster_groups)


# -- §3 names, ownership, ordering -------------------------------------------------------------------
def test_dns_label_ids_are_kept_verbatim() -> None:
    assert names.k8s_name("933e463e-c061-4e80-80b3-eff3402e41a9") == "933e463e-c061-4e80-80b3-eff3402e41a9"


@pytest.mark.parametrize("nsx_id", ["Web_Policy", "a" * 51, "ünïcode policy", "-lead", "trail-", "x.y"])
def test_other_ids_get_a_sanitised_prefix_and_a_hash(nsx_id: str) -> None:
    name = names.k8s_name(nsx_id)
    digest = hashlib.sha256(nsx_id.encode()).hexdigest()[:10]
    assert name.endswith(digest)
    assert len(name) <= 51
    assert names._DNS_LABEL.match(name)


def test_two_nsx_policies_with_one_kubernetes_name_are_both_errors() -> None:
    clash = names.k8s_name("Web")  # "web-<hash>"
    t = run([policy("Web", rule("r1")), policy(clash, rule("r1"))])
    assert t.policies == {}
    assert len(t.errors) == 2 and all("also the name of" in r[0] for r in t.errors.values())
    assert t.held == {"nsx-" + clash}


def test_every_object_carries_the_managed_by_label_and_nsx_annotations() -> None:
    pol = policy("p1", rule("r1", src=[G + "web"]), display_name="Web tier", _revision=7)
    grp = pod_group("web")
    grp["display_name"] = "Web pods"
    grp["_revision"] = 2
    t = run([pol], [grp])
    for obj in t.objects():
        assert obj["metadata"]["labels"] == {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
    meta = t.policies["nsx-p1"]["metadata"]["annotations"]
    assert meta == {names.DISPLAY_NAME_ANNOTATION: "Web tier", names.NSX_REVISION_ANNOTATION: "7",
                    names.NSX_PATH_ANNOTATION: "/infra/domains/default/security-policies/p1"}
    child = t.cluster_groups["nsx-web-0"]["metadata"]["annotations"]
    assert child[names.PARENT_ANNOTATION] == "nsx-web"
    assert child[names.NSX_PATH_ANNOTATION] == G + "web" and child[names.NSX_REVISION_ANNOTATION] == "2"


def test_tiers_per_category_with_configurable_base() -> None:
    t = translate(NsxSnapshot(), CLUSTER, tier_priority_base=10)
    assert {n: o["spec"]["priority"] for n, o in t.tiers.items()} == {
        "nsx-category-ethernet": 10, "nsx-category-emergency": 11, "nsx-category-infrastructure": 12,
        "nsx-category-environment": 13, "nsx-category-application": 14}


@pytest.mark.parametrize("category", ["Emergency", "Infrastructure", "Environment", "Application"])
def test_category_selects_the_tier(category: str) -> None:
    t = run([policy("p1", rule("r1"), category=category)])
    assert acnp(t, "p1")["spec"]["tier"] == f"nsx-category-{category.lower()}"


def test_priority_is_monotonic_in_sequence_number_within_1_to_100() -> None:
    assert policy_priority(0) == 1.0 and policy_priority(999999) == 100.0
    values = [policy_priority(s) for s in (0, 1, 2, 10, 5000, 999998, 999999)]
    assert values == sorted(values) and len(set(values)) == len(values)
    t = run([policy("p1", rule("r1"), sequence_number=5000)])
    assert acnp(t, "p1")["spec"]["priority"] == pytest.approx(1.0 + 99.0 * 5000 / 999999)


def test_sequence_number_out_of_range_is_an_error() -> None:
    assert "sequence_number" in only_error(run([policy("p1", rule("r1"), sequence_number=1_000_000)]), "p1")


def test_rules_ordered_by_sequence_number_then_id() -> None:
    t = run([policy("p1", *(dict(r, direction="IN") for r in (
        rule("b", sequence_number=2), rule("z", sequence_number=1), rule("a", sequence_number=2))))])
    assert [r["name"] for r in acnp(t, "p1")["spec"]["ingress"]] == ["z", "a", "b"]


# -- §4 rules --------------------------------------------------------------------------------------
def test_in_becomes_ingress_applied_to_destination_from_source() -> None:
    pol = policy("p1", rule("r1", src=[G + "fe"], dst=[G + "web"], direction="IN"))
    t = run([pol], [pod_group("fe"), pod_group("web")])
    spec = acnp(t, "p1")["spec"]
    assert spec["egress"] == []
    assert spec["ingress"] == [{"name": "r1", "action": "Allow", "appliedTo": [{"group": "nsx-web"}],
                                "from": [{"group": "nsx-fe"}], "enableLogging": False}]


def test_out_becomes_egress_applied_to_source_to_destination() -> None:
    pol = policy("p1", rule("r1", src=[G + "fe"], dst=[G + "web"], direction="OUT"))
    t = run([pol], [pod_group("fe"), pod_group("web")])
    spec = acnp(t, "p1")["spec"]
    assert spec["ingress"] == []
    assert spec["egress"] == [{"name": "r1", "action": "Allow", "appliedTo": [{"group": "nsx-fe"}],
                               "to": [{"group": "nsx-web"}], "enableLogging": False}]


def test_in_out_yields_both_halves_with_suffixes() -> None:
    t = run([policy("p1", rule("r1", src=[G + "fe"]))], [pod_group("fe")])
    spec = acnp(t, "p1")["spec"]
    assert spec["ingress"] == [{"name": "r1-in", "action": "Allow", "appliedTo": [{"podSelector": {}}],
                                "from": [{"group": "nsx-fe"}], "enableLogging": False}]
    assert spec["egress"] == [{"name": "r1-out", "action": "Allow", "appliedTo": [{"group": "nsx-fe"}],
                               "enableLogging": False}]


def test_any_to_any_applies_to_all_pods_without_peers() -> None:
    spec = acnp(run([policy("p1", rule("r1", action="DROP"))]), "p1")["spec"]
    for half in spec["ingress"] + spec["egress"]:
        assert half["appliedTo"] == [{"podSelector": {}}] and "from" not in half and "to" not in half


def test_applied_to_intersected_with_the_same_group_is_that_group() -> None:
    t = run([policy("p1", rule("r1", dst=[G + "web"], direction="IN"), scope=[P, G + "web"])], [pod_group("web")])
    assert acnp(t, "p1")["spec"]["ingress"][0]["appliedTo"] == [{"group": "nsx-web"}]


def test_applied_to_intersected_with_another_selector_group_is_a_merged_cluster_group() -> None:
    web = group("web", cond("Pod", "Tag", "app|web"))
    prod = group("prod", cond("Namespace", "Name", "prod"))
    t = run([policy("p1", rule("r1", dst=[G + "web"], direction="IN"), scope=[P, G + "prod"])], [web, prod])
    (ref,) = acnp(t, "p1")["spec"]["ingress"][0]["appliedTo"]
    assert ref["group"] == names.intersection_group_name("nsx-prod", "nsx-web")
    children = t.cluster_groups[ref["group"]]["spec"]["childGroups"]
    assert [t.cluster_groups[c]["spec"] for c in children] == [{
        "podSelector": {"matchLabels": {"app": "web"}},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}}]


def test_applied_to_intersected_with_a_service_group_is_an_error() -> None:
    svc = group("svc", {"resource_type": "NestedExpression", "expressions": [
        cond("Service", "Name", "db"), conj("AND"), cond("Namespace", "Name", "prod")]})
    t = run([policy("p1", rule("r1", dst=[G + "svc"], direction="IN"), scope=[P, G + "web"])], [svc, pod_group("web")])
    assert "intersected" in only_error(t, "p1")
    assert t.held == {"nsx-p1"} and t.policies == {}


@pytest.mark.parametrize("flag", ["sources_excluded", "destinations_excluded"])
def test_negated_groups_are_errors(flag: str) -> None:
    extra: dict[str, Any] = {flag: True}
    assert flag in only_error(run([policy("p1", rule("r1", **extra))]), "p1")


@pytest.mark.parametrize(("nsx", "antrea"), [("ALLOW", "Allow"), ("DROP", "Drop"), ("REJECT", "Reject")])
def test_actions(nsx: str, antrea: str) -> None:
    spec = acnp(run([policy("p1", rule("r1", action=nsx))]), "p1")["spec"]
    assert {r["action"] for r in spec["ingress"] + spec["egress"]} == {antrea}


def test_jump_to_application_is_an_error() -> None:
    t = run([policy("p1", rule("r1", action="JUMP_TO_APPLICATION"), category="Environment")])
    assert "JUMP_TO_APPLICATION" in only_error(t, "p1")


def test_disabled_rules_are_omitted_logged_and_tag_become_logging() -> None:
    t = run([policy("p1", rule("off", disabled=True), rule("on", logged=True, tag="web drop! ünï", notes="dropped"))])
    spec = acnp(t, "p1")["spec"]
    assert [r["name"] for r in spec["ingress"]] == ["on-in"]
    assert spec["ingress"][0]["enableLogging"] is True
    assert spec["ingress"][0]["logLabel"] == "web-drop-n"  # non-label characters become "-"
    assert "notes" not in str(spec)


def test_context_profiles_are_an_error() -> None:
    assert "profiles" in only_error(run([policy("p1", rule("r1", profiles=["/infra/context-profiles/HTTP"]))]), "p1")


def test_l4_services_become_ports_with_ranges_and_source_port_cross_product() -> None:
    svc = {"id": "app", "service_entries": [
        {"resource_type": "L4PortSetServiceEntry", "id": "e1", "l4_protocol": "TCP",
         "destination_ports": ["8080", "9000-9010"], "source_ports": ["1000", "2000-2001"]}]}
    t = run([policy("p1", rule("r1", services=[S + "app", S + "DNS-UDP"], direction="IN"))], services=[svc])
    assert acnp(t, "p1")["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8080, "sourcePort": 1000},
        {"protocol": "TCP", "port": 8080, "sourcePort": 2000, "sourceEndPort": 2001},
        {"protocol": "TCP", "port": 9000, "endPort": 9010, "sourcePort": 1000},
        {"protocol": "TCP", "port": 9000, "endPort": 9010, "sourcePort": 2000, "sourceEndPort": 2001},
        {"protocol": "UDP", "port": 53},
    ]


def test_inline_service_entries_and_icmp() -> None:
    r = rule("r1", services=[S + "ICMP_Echo_Request"], direction="IN", service_entries=[
        {"resource_type": "ICMPTypeServiceEntry", "id": "v6", "protocol": "ICMPv6", "icmp_type": 128, "icmp_code": 0}])
    half = acnp(run([policy("p1", r)]), "p1")["spec"]["ingress"][0]
    assert half["protocols"] == [{"icmp": {"icmpType": 8}}, {"icmp": {"icmpType": 128, "icmpCode": 0}}]
    assert "ports" not in half


def test_igmp_per_direction() -> None:
    r = rule("r1", service_entries=[{"resource_type": "IGMPTypeServiceEntry", "id": "igmp"}])
    spec = acnp(run([policy("p1", r)]), "p1")["spec"]
    assert spec["ingress"][0]["protocols"] == [{"igmp": {"igmpType": 17}}]
    assert spec["egress"][0]["protocols"] == [{"igmp": {"igmpType": t}} for t in (18, 22, 34)]


@pytest.mark.parametrize("entry", [
    {"resource_type": "IPProtocolServiceEntry", "id": "gre", "protocol_number": 47},
    {"resource_type": "ALGTypeServiceEntry", "id": "ftp", "alg": "FTP", "destination_ports": ["21"]},
    {"resource_type": "EtherTypeServiceEntry", "id": "arp", "ether_type": 2054},
])
def test_unexpressible_service_entries_are_errors(entry: dict[str, Any]) -> None:
    assert entry["resource_type"] in only_error(run([policy("p1", rule("r1", service_entries=[entry]))]), "p1")


def test_nested_service_cycle_is_an_error() -> None:
    a = {"id": "a", "service_entries": [{"resource_type": "NestedServiceServiceEntry", "id": "n",
                                          "nested_service_path": S + "b"}]}
    b = {"id": "b", "service_entries": [{"resource_type": "NestedServiceServiceEntry", "id": "n",
                                          "nested_service_path": S + "a"}]}
    assert "cycle" in only_error(run([policy("p1", rule("r1", services=[S + "a"]))], services=[a, b]), "p1")


def test_ip_protocol_filters_address_peers_by_family() -> None:
    r = rule("r1", src=["10.0.0.0/8", "2001:db8::/32"], dst=[G + "web"], direction="IN", ip_protocol="IPV6")
    half = acnp(run([policy("p1", r)], [pod_group("web")]), "p1")["spec"]["ingress"][0]
    assert half["from"] == [{"ipBlock": {"cidr": "2001:db8::/32"}}]


def test_address_only_peer_list_filtered_empty_omits_the_rule_instead_of_allowing_everyone() -> None:
    r = rule("r1", src=["10.0.0.0/8"], dst=[G + "web"], direction="IN", ip_protocol="IPV6")
    spec = acnp(run([policy("p1", r)], [pod_group("web")]), "p1")["spec"]
    assert spec["ingress"] == []


def test_ethernet_category_is_an_error() -> None:
    assert "Ethernet" in only_error(run([policy("p1", rule("r1"), category="Ethernet")]), "p1")


def test_errors_list_every_reason_and_hold_the_policy() -> None:
    t = run([policy("p1", rule("r1", action="JUMP_TO_APPLICATION"), rule("r2", sources_excluded=True),
                    rule("r3", src=[G + "missing"]))])
    reason = only_error(t, "p1")
    assert "rule r1" in reason and "rule r2" in reason and "unknown group" in reason
    assert t.held == {"nsx-p1"}


# -- §5 groups -------------------------------------------------------------------------------------
def child_specs(t: Translation, gid: str) -> list[dict[str, Any]]:
    parent = t.cluster_groups["nsx-" + gid]
    return [t.cluster_groups[c]["spec"] for c in parent["spec"]["childGroups"]]


def translate_group(grp: dict[str, Any], *more: dict[str, Any]) -> Translation:
    return run([policy("p1", rule("r1", src=[G + grp["id"]]))], [grp, *more])


def test_pod_tag_equals_and_notequals() -> None:
    t = translate_group(group("g", cond("Pod", "Tag", "dis:k8s:app|web"), conj("OR"),
                              cond("Pod", "Tag", "tier|db", op="NOTEQUALS")))
    assert child_specs(t, "g") == [
        {"podSelector": {"matchLabels": {"app": "web"}}},
        {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}}]


@pytest.mark.parametrize(("value", "op"), [("|web", "EQUALS"), ("web", "EQUALS"), ("app|web", "CONTAINS"),
                                           ("app|web", "STARTSWITH"), ("app|web", "ENDSWITH"), ("app|w.*", "MATCHES")])
def test_unexpressible_tag_conditions_are_errors(value: str, op: str) -> None:
    t = translate_group(group("g", cond("Pod", "Tag", value, op=op)))
    assert only_error(t, G + "g") and only_error(t, "p1")
    assert t.held == {"nsx-p1"}


def test_namespace_tag_and_name() -> None:
    t = translate_group(group("g", cond("Namespace", "Tag", "env|prod"), conj("OR"), cond("Namespace", "Name", "dev")))
    assert child_specs(t, "g") == [
        {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}}}]


def test_service_with_namespace_name_becomes_service_reference() -> None:
    t = translate_group(group("g", {"resource_type": "NestedExpression", "expressions": [
        cond("Service", "Name", "db"), conj("AND"), cond("Namespace", "Name", "prod")]}))
    assert child_specs(t, "g") == [{"serviceReference": {"name": "db", "namespace": "prod"}}]


def test_service_without_namespace_is_an_error() -> None:
    assert "Service" in only_error(translate_group(group("g", cond("Service", "Name", "db"))), G + "g")


def test_and_merges_pod_and_namespace_conditions_into_one_child() -> None:
    t = translate_group(group("g", cond("Pod", "Tag", "app|web"), conj("AND"), cond("Pod", "Tag", "tier|fe"),
                              conj("AND"), cond("Namespace", "Tag", "env|prod")))
    assert child_specs(t, "g") == [{"podSelector": {"matchLabels": {"app": "web", "tier": "fe"}},
                                    "namespaceSelector": {"matchLabels": {"env": "prod"}}}]


def test_ip_addresses_become_minimal_cidrs() -> None:
    t = translate_group(group("g", {"resource_type": "IPAddressExpression",
                                    "ip_addresses": ["10.0.0.1", "10.0.0.0/24", "10.1.0.1-10.1.0.6", "10.2.0.9/16"]}))
    assert child_specs(t, "g") == [{"ipBlocks": [
        {"cidr": "10.0.0.1/32"}, {"cidr": "10.0.0.0/24"}, {"cidr": "10.1.0.1/32"}, {"cidr": "10.1.0.2/31"},
        {"cidr": "10.1.0.4/31"}, {"cidr": "10.1.0.6/32"}, {"cidr": "10.2.0.0/16"}]}]


def test_mixed_family_ip_expression_is_an_error() -> None:
    t = translate_group(group("g", {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.1", "::1"]}))
    assert "IPv4" in only_error(t, G + "g")


def test_path_expression_flattens_the_referenced_group() -> None:
    t = translate_group(group("g", {"resource_type": "PathExpression", "paths": [G + "inner"]}, conj("OR"),
                              cond("Pod", "Tag", "app|x")), pod_group("inner"))
    assert child_specs(t, "g") == [{"podSelector": {"matchLabels": {"app": "inner"}}},
                                   {"podSelector": {"matchLabels": {"app": "x"}}}]
    assert "nsx-inner" not in t.cluster_groups


def test_group_reference_cycle_is_an_error() -> None:
    a = group("a", {"resource_type": "PathExpression", "paths": [G + "b"]})
    b = group("b", {"resource_type": "PathExpression", "paths": [G + "a"]})
    assert "cycle" in only_error(translate_group(a, b), G + "a")


def test_empty_expression_is_a_parent_without_children() -> None:
    t = translate_group(group("g"))
    assert t.cluster_groups["nsx-g"]["spec"] == {"childGroups": []}


def test_non_antrea_group_is_an_error() -> None:
    t = translate_group(group("g", cond("Pod", "Tag", "app|x"), group_type=["IPAddress"]))
    assert "ANTREA" in only_error(t, G + "g")


# -- §10 export formats ----------------------------------------------------------------------------
def test_infra_tree_and_flat_export_translate_identically() -> None:
    pol = policy("p1", rule("r1", src=[G + "web"], services=[S + "HTTPS"]))
    web = pod_group("web")
    flat = translate(load_export({"security_policies": [pol], "groups": [web]}), CLUSTER)
    rules = pol.pop("rules")
    tree = {"resource_type": "Infra", "children": [
        {"resource_type": "ChildDomain", "Domain": {"resource_type": "Domain", "id": "default", "children": [
            {"resource_type": "ChildGroup", "Group": {**web, "resource_type": "Group"}},
            {"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
                **pol, "resource_type": "SecurityPolicy",
                "children": [{"resource_type": "ChildRule", "Rule": {**r, "resource_type": "Rule"}} for r in rules]}},
        ]}}]}
    from_tree = translate(load_export(tree), CLUSTER)
    assert from_tree.objects() == flat.objects() and not flat.errors


def test_policy_scope_naming_only_clusters_keeps_the_rules_applied_to() -> None:
    t = run([policy("p1", rule("r1", scope=[G + "db"], direction="IN"), scope=[P])], [pod_group("db")])
    assert acnp(t, "p1")["spec"]["ingress"][0]["appliedTo"] == [{"group": "nsx-db"}]
