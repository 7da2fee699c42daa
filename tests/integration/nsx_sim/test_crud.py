"""The generic Policy CRUD engine (nsx-api.md §9.3): revisions, server fields, paging, references, H-API."""

from __future__ import annotations

import time
from typing import Any

from nsx_sim_helpers import DOMAIN, POLICY, Api, antrea_group, rule

from sim.nsx import NsxSimulator

POL = f"{DOMAIN}/security-policies"


def test_patch_creates_and_server_fills_fields(api: Api, sim: NsxSimulator) -> None:
    t0 = int(time.time() * 1000)
    r = api.patch(f"{DOMAIN}/groups/web", json={**antrea_group("web"), "_create_user": "mallory",
                                                 "path": "/elsewhere", "unique_id": "x"})
    assert r.status_code == 200 and r.content == b""
    g = api.get(f"{DOMAIN}/groups/web").json()
    assert g["id"] == "web" and g["path"] == "/infra/domains/default/groups/web"
    assert g["parent_path"] == "/infra/domains/default" and g["relative_path"] == "web"
    assert g["_revision"] == 0 and g["_create_user"] == "admin" and g["_last_modified_user"] == "admin"
    assert g["unique_id"] != "x" and len(g["unique_id"]) == 36 and g["realization_id"] == g["unique_id"]
    assert g["marked_for_delete"] is False and g["overridden"] is False and g["_system_owned"] is False
    assert g["_protection"] == "NOT_PROTECTED" and g["_create_time"] >= t0
    assert g["display_name"] == "web"
    api.patch(f"{DOMAIN}/groups/web", json={"description": "d"})
    g2 = api.get(f"{DOMAIN}/groups/web").json()
    assert g2["_revision"] == 1 and g2["description"] == "d" and g2["unique_id"] == g["unique_id"]
    assert g2["expression"] == g["expression"]  # merge keeps unspecified fields


def test_revision_and_412(api: Api) -> None:
    assert api.put(f"{DOMAIN}/groups/g", json={"resource_type": "Group"}).status_code == 200
    cur = api.get(f"{DOMAIN}/groups/g").json()
    assert cur["_revision"] == 0
    # PUT on an existing object needs the current _revision.
    r = api.put(f"{DOMAIN}/groups/g", json={"resource_type": "Group"})
    assert r.status_code == 412 and r.json()["httpStatus"] == "PRECONDITION_FAILED"
    assert api.put(f"{DOMAIN}/groups/g", json={"resource_type": "Group", "_revision": 5}).status_code == 412
    r = api.put(f"{DOMAIN}/groups/g", json={"resource_type": "Group", "description": "x", "_revision": 0})
    assert r.status_code == 200 and r.json()["_revision"] == 1 and r.json()["description"] == "x"
    # PATCH: optional _revision, but a stale one is rejected.
    assert api.patch(f"{DOMAIN}/groups/g", json={"description": "y", "_revision": 0}).status_code == 412
    assert api.patch(f"{DOMAIN}/groups/g", json={"description": "y", "_revision": 1}).status_code == 200
    assert api.patch(f"{DOMAIN}/groups/g", json={"description": "z"}).status_code == 200
    assert api.get(f"{DOMAIN}/groups/g").json()["_revision"] == 3


def test_not_found_delete_and_unknown_paths(api: Api) -> None:
    r = api.get(f"{DOMAIN}/groups/Nope")
    assert r.status_code == 404
    assert r.json() == {"httpStatus": "NOT_FOUND", "error_code": 600, "module_name": "common-services",
                        "error_message": "The requested object : /infra/domains/default/groups/Nope could not be "
                                         "found. Object identifiers are case sensitive."}
    api.patch(f"{DOMAIN}/groups/a", json={})
    assert api.get(f"{DOMAIN}/groups/A").status_code == 404  # ids are case sensitive
    assert api.delete(f"{DOMAIN}/groups/a").status_code == 200
    assert api.get(f"{DOMAIN}/groups/a").status_code == 404
    assert api.get("/policy/api/v1/infra/bogus/x").status_code == 404
    assert api.post(f"{DOMAIN}/groups").status_code == 405
    api.patch(f"{DOMAIN}/groups/b", json={})
    assert api.post(f"{DOMAIN}/groups/b", json={}).status_code == 405  # POST only with ?action=
    assert api.post(f"{DOMAIN}/groups/b", params={"action": "nope"}, json={}).status_code == 400
    # Rule under a missing policy: 404 naming the parent.
    r = api.patch(f"{POL}/missing/rules/r", json=rule("r"))
    assert r.status_code == 404 and "/infra/domains/default/security-policies/missing" in r.json()["error_message"]


def test_patch_merges_rules_put_replaces(api: Api) -> None:
    body = {"resource_type": "SecurityPolicy", "category": "Application",
            "rules": [rule("r1", sequence_number=1), rule("r2", sequence_number=2)]}
    assert api.patch(f"{POL}/p", json=body).status_code == 200
    p = api.get(f"{POL}/p").json()
    assert [r["id"] for r in p["rules"]] == ["r1", "r2"]
    r1 = p["rules"][0]
    assert r1["path"] == "/infra/domains/default/security-policies/p/rules/r1"
    assert r1["direction"] == "IN_OUT" and r1["ip_protocol"] == "IPV4_IPV6" and r1["profiles"] == ["ANY"]
    assert isinstance(r1["rule_id"], int) and r1["is_default"] is False
    assert p["stateful"] is True and p["tcp_strict"] is True and p["internal_sequence_number"] == 13000000
    # PATCH with one changed and one new rule: r1 untouched, r2 updated, r3 added.
    api.patch(f"{POL}/p", json={"rules": [rule("r2", sequence_number=2, action="DROP"), rule("r3", sequence_number=3)]})
    p = api.get(f"{POL}/p").json()
    assert [(r["id"], r["action"]) for r in p["rules"]] == [("r1", "ALLOW"), ("r2", "DROP"), ("r3", "ALLOW")]
    assert p["rules"][1]["rule_id"] != p["rules"][2]["rule_id"]
    # PUT with only r3: the others are deleted.
    r = api.put(f"{POL}/p", json={"resource_type": "SecurityPolicy", "category": "Application",
                                   "_revision": p["_revision"], "rules": [rule("r3", sequence_number=3)]})
    assert r.status_code == 200 and [x["id"] for x in r.json()["rules"]] == ["r3"]
    assert api.get(f"{POL}/p/rules/r1").status_code == 404
    # Rules listed separately, include_rule_count on the list.
    assert api.get(f"{POL}/p/rules").json()["result_count"] == 1
    listed = api.get(f"{POL}?include_rule_count=true").json()["results"]
    assert {x["id"]: x["rule_count"] for x in listed}["p"] == 1
    # Per-rule CRUD.
    assert api.patch(f"{POL}/p/rules/r9", json=rule("r9")).status_code == 200
    assert api.delete(f"{POL}/p/rules/r9").status_code == 200
    # A PUT without "rules" is a full replace too: the policy keeps no rules.
    cur = api.get(f"{POL}/p").json()
    r = api.put(f"{POL}/p", json={"resource_type": "SecurityPolicy", "category": "Application",
                                   "_revision": cur["_revision"]})
    assert r.status_code == 200 and r.json()["rules"] == []
    assert api.get(f"{POL}/p/rules/r3").status_code == 404
    # Deleting the policy deletes its rules.
    api.patch(f"{POL}/p/rules/r4", json=rule("r4"))
    assert api.delete(f"{POL}/p").status_code == 200
    assert api.get(f"{POL}/p/rules/r4").status_code == 404


def test_paging_over_more_than_1000_objects(api: Api) -> None:
    n = 1234
    children = [{"resource_type": "ChildGroup", "Group": {"resource_type": "Group", "id": f"g{i:05d}",
                                                          "display_name": f"G {i:05d}"}} for i in range(n)]
    r = api.patch(f"{POLICY}/infra", json={"resource_type": "Infra", "children": [
        {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
         "children": children}]})
    assert r.status_code == 200, r.text
    first = api.get(f"{DOMAIN}/groups").json()
    assert len(first["results"]) == 1000 and first["result_count"] == n and first["cursor"]
    seen = [g["id"] for g in first["results"]]
    second = api.get(f"{DOMAIN}/groups", params={"cursor": first["cursor"]}).json()
    assert "cursor" not in second
    seen += [g["id"] for g in second["results"]]
    assert seen == [f"g{i:05d}" for i in range(n)]  # default sort: display_name ascending
    # page_size above the max is capped at 1000; small pages chain to the same total.
    assert len(api.get(f"{DOMAIN}/groups", params={"page_size": 5000}).json()["results"]) == 1000
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"page_size": 400, "sort_by": "id", "sort_ascending": "false"}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"{DOMAIN}/groups", params=params).json()
        ids += [g["id"] for g in page["results"]]
        cursor = page.get("cursor")
        if not cursor:
            break
    assert ids == [f"g{i:05d}" for i in reversed(range(n))]
    proj = api.get(f"{DOMAIN}/groups", params={"page_size": 2, "included_fields": "id,path"}).json()
    assert all(set(g) == {"id", "path"} for g in proj["results"])
    assert api.get(f"{DOMAIN}/groups", params={"cursor": "garbage!"}).status_code == 400


def test_referential_integrity(api: Api) -> None:
    r = api.patch(f"{POL}/p", json={"resource_type": "SecurityPolicy", "category": "Application", "rules": [
        rule("r", source_groups=["/infra/domains/default/groups/ghost"])]})
    assert r.status_code == 404
    assert "/infra/domains/default/groups/ghost could not be found" in r.json()["error_message"]
    assert api.get(f"{POL}/p").status_code == 404  # nothing half-written
    r = api.patch(f"{POL}/p", json={"resource_type": "SecurityPolicy", "rules": [
        rule("r", services=["/infra/services/nope"])]})
    assert r.status_code == 404 and "/infra/services/nope" in r.json()["error_message"]
    # Literal IPs are not references.
    api.patch(f"{DOMAIN}/groups/web", json=antrea_group("web"))
    api.patch("/policy/api/v1/infra/services/app", json={"resource_type": "Service", "service_entries": [
        {"resource_type": "L4PortSetServiceEntry", "id": "t", "l4_protocol": "TCP", "destination_ports": ["8080"]}]})
    ok = api.patch(f"{POL}/p", json={"resource_type": "SecurityPolicy", "rules": [
        rule("r", source_groups=["10.0.0.0/8", "192.168.1.1-192.168.1.9"],
             destination_groups=["/infra/domains/default/groups/web"], services=["/infra/services/app"])]})
    assert ok.status_code == 200, ok.text
    # In-use objects cannot be deleted.
    r = api.delete(f"{DOMAIN}/groups/web")
    assert r.status_code == 400 and r.json()["error_code"] == 500030
    r = api.delete("/policy/api/v1/infra/services/app")
    assert r.status_code == 400 and r.json()["error_code"] == 500030
    assert api.get(f"{DOMAIN}/groups/web").status_code == 200
    # Group referenced by another group's PathExpression.
    api.patch(f"{DOMAIN}/groups/outer", json={"resource_type": "Group", "expression": [
        {"resource_type": "PathExpression", "paths": ["/infra/domains/default/groups/inner"]}]})
    assert api.get(f"{DOMAIN}/groups/outer").status_code == 404
    api.patch(f"{DOMAIN}/groups/inner", json={})
    assert api.patch(f"{DOMAIN}/groups/outer", json={"resource_type": "Group", "expression": [
        {"resource_type": "PathExpression", "paths": ["/infra/domains/default/groups/inner"]}]}).status_code == 200
    assert api.delete(f"{DOMAIN}/groups/inner").status_code == 400
    # Removing the rule frees the group.
    assert api.delete(f"{POL}/p").status_code == 200
    assert api.delete(f"{DOMAIN}/groups/web").status_code == 200


def test_predefined_services_and_default_policies(api: Api) -> None:
    http = api.get("/policy/api/v1/infra/services/HTTP").json()
    assert http["is_default"] is True and http["_system_owned"] is True
    assert http["service_entries"][0]["destination_ports"] == ["80"]
    r = api.patch("/policy/api/v1/infra/services/HTTP", json={"description": "mine"})
    assert r.status_code == 400
    assert api.delete("/policy/api/v1/infra/services/HTTP").status_code == 400
    defaults = api.get("/policy/api/v1/infra/services", params={"default_service": "true"}).json()
    names = {s["id"] for s in defaults["results"]}
    assert {"HTTP", "HTTPS", "SSH", "DNS", "DNS-UDP", "ICMP-ALL", "DHCP-Server", "DHCP-Client", "NTP_Time_Server",
            "IPv6-ICMP_Neighbor_Solicitation", "IPv6-ICMP_Neighbor_Advertisement"} <= names
    l3 = api.get(f"{POL}/default-layer3-section").json()
    assert l3["is_default"] is True and l3["sequence_number"] == 14000000 and l3["tcp_strict"] is False
    assert [(r["id"], r["rule_id"]) for r in l3["rules"]] == [
        ("default_rule_NDP", 3), ("default_rule_DHCP", 4), ("default-layer3-rule", 2)]
    l2 = api.get(f"{POL}/default-layer2-section").json()
    assert l2["category"] == "Ethernet" and l2["stateful"] is False
    assert l2["rules"][0]["rule_id"] == 1 and "ip_protocol" not in l2["rules"][0]


def test_hapi_is_atomic_and_order_independent(api: Api, sim: NsxSimulator) -> None:
    def tree(*children: dict[str, Any]) -> dict[str, Any]:
        return {"resource_type": "Infra", "children": [
            {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
             "children": list(children)}]}

    policy = {"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
        "resource_type": "SecurityPolicy", "id": "web-policy", "category": "Application",
        "children": [{"resource_type": "ChildRule", "Rule": rule(
            "r1", destination_groups=["/infra/domains/default/groups/web"])}]}}
    group = {"resource_type": "ChildGroup", "Group": {**antrea_group("web"), "id": "web"}}
    before = sim.state.generation
    # Broken tree: valid group + policy referencing a missing group → nothing applied.
    broken = {"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
        "resource_type": "SecurityPolicy", "id": "bad", "children": [
            {"resource_type": "ChildRule", "Rule": rule("x", source_groups=["/infra/domains/default/groups/none"])}]}}
    r = api.patch(f"{POLICY}/infra", json=tree(group, broken))
    assert r.status_code == 404
    assert api.get(f"{DOMAIN}/groups/web").status_code == 404
    assert sim.state.generation == before
    # Invalid field deep in the tree → 400, nothing applied.
    bad_rule = {"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
        "resource_type": "SecurityPolicy", "id": "bad", "children": [
            {"resource_type": "ChildRule", "Rule": rule("x", action="NOPE")}]}}
    assert api.patch(f"{POLICY}/infra", json=tree(group, bad_rule)).status_code == 400
    assert api.get(f"{DOMAIN}/groups/web").status_code == 404
    # Policy listed before the group it references: fine in one transaction.
    r = api.patch(f"{POLICY}/infra", json=tree(policy, group))
    assert r.status_code == 200 and r.content == b""
    assert api.get(f"{POL}/web-policy/rules/r1").status_code == 200
    # Tombstones: delete the rule and add another in one call.
    r = api.patch(f"{POLICY}/infra", json=tree({"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
        "resource_type": "SecurityPolicy", "id": "web-policy", "children": [
            {"resource_type": "ChildRule", "id": "r1", "marked_for_delete": True,
             "Rule": {"resource_type": "Rule", "id": "r1"}},
            {"resource_type": "ChildRule", "Rule": rule("r2")}]}}))
    assert r.status_code == 200, r.text
    assert [x["id"] for x in api.get(f"{POL}/web-policy").json()["rules"]] == ["r2"]
    # Deleting a group still in use in the same tree fails as a whole.
    api.patch(f"{POL}/web-policy/rules/r2", json={"destination_groups": ["/infra/domains/default/groups/web"]})
    gen = sim.state.generation
    r = api.patch(f"{POLICY}/infra", json=tree({"resource_type": "ChildGroup", "marked_for_delete": True,
                                                 "Group": {"resource_type": "Group", "id": "web"}}))
    assert r.status_code == 400 and sim.state.generation == gen
    # enforce_revision_check: stale embedded _revision rejected only when asked.
    stale = tree({"resource_type": "ChildGroup", "Group": {"resource_type": "Group", "id": "web", "_revision": 99,
                                                          "group_type": ["ANTREA"]}})
    assert api.patch(f"{POLICY}/infra", json=stale).status_code == 200
    assert api.patch(f"{POLICY}/infra", params={"enforce_revision_check": "true"}, json=stale).status_code == 412
    # Filtered read of the tree.
    got = api.get(f"{POLICY}/infra", params={"filter": "Type-Domain|Group"}).json()
    domain = got["children"][0]
    assert domain["resource_type"] == "ChildDomain" and domain["Domain"]["id"] == "default"
    kinds = {c["resource_type"] for c in domain["Domain"]["children"]}
    assert kinds == {"ChildGroup"}
    full = api.get(f"{POLICY}/infra", params={"type_filter": "SecurityPolicy;Rule"}).json()
    ref = full["children"][0]
    assert ref["resource_type"] == "ChildResourceReference" and ref["target_type"] == "Domain"
    pols = {c["SecurityPolicy"]["id"]: c["SecurityPolicy"] for c in ref["children"]}
    assert [c["Rule"]["id"] for c in pols["web-policy"]["children"]] == ["r2"]


def test_revise_reorders(api: Api) -> None:
    for i, pid in enumerate(["a", "b", "c"]):
        api.patch(f"{POL}/{pid}", json={"resource_type": "SecurityPolicy", "category": "Application",
                                        "sequence_number": (i + 1) * 10})
    r = api.post(f"{POL}/c", params={"action": "revise", "operation": "insert_before",
                                     "anchor_path": "/infra/domains/default/security-policies/a"},
                 json={"resource_type": "SecurityPolicy", "category": "Application"})
    assert r.status_code == 200
    listed = api.get(POL, params={"sort_by": "sequence_number"}).json()["results"]
    order = [p["id"] for p in listed if p["category"] == "Application" and not p["is_default"]]
    assert order == ["c", "a", "b"]
    bad = api.post(f"{POL}/c", params={"action": "revise", "operation": "insert_after"}, json={})
    assert bad.status_code == 400


def test_policy_pages_carry_their_rules_and_sort_by_rendered_fields(api: Api) -> None:
    for i, pid in enumerate(["x", "y", "z"]):
        r = api.patch(f"{POL}/{pid}", json={"resource_type": "SecurityPolicy", "category": "Application",
                                            "sequence_number": 30 - 10 * i, "rules": [rule(f"r{pid}")]})
        assert r.status_code == 200
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = api.get(POL, params={"page_size": 1, **({"cursor": cursor} if cursor else {})}).json()
        paged += body["results"]
        cursor = body.get("cursor")
        if not cursor:
            break
    assert paged == api.get(POL).json()["results"]  # one page at a time renders what one page of all does
    mine = {p["id"]: p for p in paged if p["id"] in ("x", "y", "z")}
    assert {pid: [r["id"] for r in p["rules"]] for pid, p in mine.items()} == {"x": ["rx"], "y": ["ry"], "z": ["rz"]}
    by_rendered = api.get(POL, params={"sort_by": "internal_sequence_number", "page_size": 1000}).json()["results"]
    assert [p["id"] for p in by_rendered if p["id"] in mine] == ["z", "y", "x"]


def test_cluster_control_plane_lifecycle_and_cascade(api: Api, sim: NsxSimulator) -> None:
    from nsx_sim_helpers import CCP, CCP_PATH, register_cluster

    # PUT tolerates a _revision on create (nsx-operator sends 1) and assigns node_id once.
    r = api.put(f"{CCP}/c1", json={"resource_type": "AntreaClusterControlPlane", "_revision": 1,
                                    "certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"})
    assert r.status_code == 200, r.text
    node_id = r.json()["node_id"]
    r = api.put(f"{CCP}/c1", json={"resource_type": "AntreaClusterControlPlane", "_revision": 0,
                                    "display_name": "renamed",
                                    "certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"})
    assert r.status_code == 200 and r.json()["node_id"] == node_id and r.json()["_revision"] == 1
    # The same certificate cannot be bound to a second cluster (KB 345885).
    r = api.put(f"{CCP}/c2", json={"certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"})
    assert r.status_code == 400 and node_id in r.json()["error_message"]
    register_cluster(api, "c2")
    cpath = f"{CCP_PATH}/c1"
    api.patch(f"{DOMAIN}/groups/web", json=antrea_group("web"))
    api.patch(f"{POL}/p", json={"resource_type": "SecurityPolicy", "scope": [cpath, f"{CCP_PATH}/c2"],
                                "rules": [rule("r", scope=[cpath])]})
    span = api.put(f"{POL}/q/container-cluster-span/c1", json={"container_cluster_path": cpath,
                                                                "container_cluster_type": "ANTREA"})
    assert span.status_code == 404  # policy q does not exist yet
    api.patch(f"{POL}/q", json={"resource_type": "SecurityPolicy"})
    assert api.put(f"{POL}/q/container-cluster-span/c1", json={
        "container_cluster_path": cpath, "container_cluster_type": "ANTREA"}).status_code == 200
    dup = api.put(f"{POL}/q/container-cluster-span/other", json={
        "container_cluster_path": cpath, "container_cluster_type": "ANTREA"})
    assert dup.status_code == 400
    assert api.put(f"{POL}/q/container-cluster-span/x", json={
        "container_cluster_path": cpath, "container_cluster_type": "NCP"}).status_code == 400
    assert api.get(f"{POL}/q/container-cluster-span").json()["result_count"] == 1
    # Referenced: delete without cascade is refused; with cascade the references are stripped.
    r = api.delete(f"{CCP}/c1")
    assert r.status_code == 400 and r.json()["error_code"] == 500030
    assert api.delete(f"{CCP}/c1", params={"cascade": "true"}).status_code == 200
    p = api.get(f"{POL}/p").json()
    assert p["scope"] == [f"{CCP_PATH}/c2"] and p["rules"][0]["scope"] == ["ANY"]
    assert api.get(f"{POL}/q/container-cluster-span").json()["result_count"] == 0
    assert api.get(f"{CCP}/c1").status_code == 404
    assert [c["id"] for c in api.get(CCP).json()["results"]] == ["c2"]


def test_group_member_types_filter_and_configurable_default_policy_id() -> None:
    from nsx_sim_helpers import PASSWORD

    with NsxSimulator(password=PASSWORD, default_layer3_id="default-layer3-security-policy") as sim:
        api = Api(sim)
        assert api.get(f"{POL}/default-layer3-security-policy").json()["is_default"] is True
        assert api.get(f"{POL}/default-layer3-section").status_code == 404
        api.patch(f"{DOMAIN}/groups/pods", json=antrea_group("pods"))
        api.patch(f"{DOMAIN}/groups/ns", json={"resource_type": "Group", "expression": [
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS",
             "value": "prod"}]})
        api.patch(f"{DOMAIN}/groups/ips", json={"resource_type": "Group", "expression": [
            {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.1"]}]})
        got = api.get(f"{DOMAIN}/groups", params={"member_types": "Pod"}).json()
        assert [g["id"] for g in got["results"]] == ["pods"]
        both = api.get(f"{DOMAIN}/groups", params={"member_types": "Pod,Namespace"}).json()
        assert sorted(g["id"] for g in both["results"]) == ["ns", "pods"]
        assert api.get(f"{DOMAIN}/groups").json()["result_count"] == 3
