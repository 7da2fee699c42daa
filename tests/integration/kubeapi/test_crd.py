"""CustomResourceDefinitions and custom resources through the official client."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

UPSTREAM = Path("/work/shared/upstream/antrea-crds")


def widget(group, name="w", version="v1", **spec):
    return {"apiVersion": f"{group}/{version}", "kind": "Widget", "metadata": {"name": name},
            "spec": {"color": "red", **spec}}


def test_crd_status_conditions_are_complete(api, make_crd):
    crd = make_crd()
    got = client.ApiextensionsV1Api(api).read_custom_resource_definition(crd["metadata"]["name"])
    conds = {c.type: c for c in got.status.conditions}
    for ctype in ("Established", "NamesAccepted"):
        c = conds[ctype]
        assert c.status == "True" and c.reason and c.message and c.last_transition_time
    assert got.status.accepted_names.kind == "Widget" and got.status.stored_versions == ["v1"]
    assert got.spec.names.list_kind == "WidgetList" and got.spec.names.singular == "widget"
    assert got.metadata.generation == 1


def test_invalid_crd_is_422(api, crd_doc):
    bad = crd_doc("example.com", "things", "Thing")
    bad["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(bad)
    body = json.loads(err.value.body)
    assert err.value.status == 422 and "metadata.name" in {c["field"] for c in body["details"]["causes"]}


def test_create_prunes_defaults_and_drops_status(custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    body = widget(group, junk=1, free={"anything": {"goes": 1}})
    body["status"] = {"phase": "Done"}
    obj = custom.create_namespaced_custom_object(group, "v1", ns, "widgets", body)
    assert obj["spec"] == {"color": "red", "size": 3, "free": {"anything": {"goes": 1}}}
    assert "status" not in obj and obj["metadata"]["generation"] == 1


def test_validation_failure_lists_causes(custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(group, "v1", ns, "widgets",
                                               {**widget(group), "spec": {"color": "green", "size": 0}})
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["details"]["kind"] == "Widget" and body["details"]["group"] == group
    fields = {c["field"]: c for c in body["details"]["causes"]}
    assert fields["spec.color"]["reason"] == "FieldValueNotSupported"
    assert "spec.size" in fields
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(group, "v1", ns, "widgets",
                                               {**widget(group), "spec": {"size": 2}})
    assert json.loads(err.value.body)["details"]["causes"][0]["reason"] == "FieldValueRequired"


def test_field_validation_strict_and_warn(raw, make_crd, ns):
    group = make_crd()["spec"]["group"]
    url = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    strict = raw("POST", url + "?fieldValidation=Strict", json=widget(group, "s", junk=1))
    assert strict.status_code == 400 and 'unknown field "spec.junk"' in strict.json()["message"]
    warn = raw("POST", url + "?fieldValidation=Warn", json=widget(group, "w", junk=1))
    assert warn.status_code == 201 and 'unknown field \\"spec.junk\\"' in warn.headers["Warning"]
    ignore = raw("POST", url + "?fieldValidation=Ignore", json=widget(group, "i", junk=1))
    assert ignore.status_code == 201 and "Warning" not in ignore.headers


def test_status_subresource_and_generation(custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    obj = custom.create_namespaced_custom_object(group, "v1", ns, "widgets", widget(group))
    obj["status"] = {"phase": "Ignored"}
    obj["metadata"]["labels"] = {"x": "y"}
    updated = custom.replace_namespaced_custom_object(group, "v1", ns, "widgets", "w", obj)
    assert "status" not in updated and updated["metadata"]["generation"] == 1
    st = custom.patch_namespaced_custom_object_status(group, "v1", ns, "widgets", "w",
                                                      {"status": {"phase": "Ready"}, "spec": {"size": 9}})
    assert st["status"] == {"phase": "Ready"} and st["spec"]["size"] == 3 and st["metadata"]["generation"] == 1
    spec_change = custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", {"spec": {"size": 5}})
    assert spec_change["metadata"]["generation"] == 2 and spec_change["status"] == {"phase": "Ready"}


def test_replace_without_resource_version_is_422(custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", widget(group))
    with pytest.raises(ApiException) as err:
        custom.replace_namespaced_custom_object(group, "v1", ns, "widgets", "w", widget(group))
    assert err.value.status == 422 and "metadata.resourceVersion" in err.value.body


def test_strategic_merge_patch_on_cr_is_415(raw, custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", widget(group))
    resp = raw("PATCH", f"/apis/{group}/v1/namespaces/{ns}/widgets/w", data=json.dumps({"spec": {"size": 4}}),
               headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert resp.status_code == 415 and resp.json()["reason"] == "UnsupportedMediaType"


def test_multiple_versions_share_storage(custom, make_crd, ns, crd_doc):
    schema = crd_doc("x.io", "widgets", "Widget")["spec"]["versions"][0]["schema"]
    versions = [{"name": "v1alpha1", "served": True, "storage": False, "schema": schema},
                {"name": "v1", "served": True, "storage": True, "schema": schema}]
    group = make_crd(versions=versions)["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1alpha1", ns, "widgets", widget(group, version="v1alpha1"))
    as_v1 = custom.get_namespaced_custom_object(group, "v1", ns, "widgets", "w")
    assert as_v1["apiVersion"] == f"{group}/v1"
    listed = custom.list_namespaced_custom_object(group, "v1alpha1", ns, "widgets")
    assert listed["items"][0]["apiVersion"] == f"{group}/v1alpha1" and listed["kind"] == "WidgetList"


def test_cluster_scoped_crd(custom, make_crd):
    group = make_crd(scope="Cluster")["spec"]["group"]
    obj = custom.create_cluster_custom_object(group, "v1", "widgets", widget(group, "c1"))
    assert "namespace" not in obj["metadata"]
    assert custom.get_cluster_custom_object(group, "v1", "widgets", "c1")["metadata"]["uid"] == obj["metadata"]["uid"]


def test_deleting_crd_deletes_objects_and_endpoints(api, custom, make_crd, ns, eventually, raw):
    crd = make_crd()
    group = crd["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", widget(group))
    stream = raw("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets?watch=true", stream=True)
    client.ApiextensionsV1Api(api).delete_custom_resource_definition(crd["metadata"]["name"])
    eventually(lambda: raw("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets").status_code == 404)
    assert raw("GET", f"/apis/{group}").status_code == 404
    events = [json.loads(line)["type"] for line in stream.iter_lines()]  # ends when the CRD goes
    assert events == ["ADDED", "DELETED"]


def test_crd_name_conflict_is_not_established(api, crd_doc):
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(crd_doc(group, "widgets", "Widget"))
    ext.create_custom_resource_definition(crd_doc(group, "gadgets", "Widget"))
    got = ext.read_custom_resource_definition(f"gadgets.{group}")
    conds = {c.type: c.status for c in got.status.conditions}
    assert conds == {"NamesAccepted": "False", "Established": "False"}


def test_upstream_antrea_crds_install_and_validate(api, custom, ns):
    if not UPSTREAM.is_dir():
        pytest.skip(f"upstream Antrea CRDs not available at {UPSTREAM} (/work/shared is absent)")
    ext = client.ApiextensionsV1Api(api)
    for path in sorted(UPSTREAM.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                try:
                    ext.create_custom_resource_definition(doc)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
    tier = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": f"t{uuid.uuid4().hex[:6]}"},
            "spec": {"priority": 200, "description": "x"}}
    created = custom.create_cluster_custom_object("crd.antrea.io", "v1beta1", "tiers", tier)
    assert created["spec"]["priority"] == 200
    bad = dict(tier, metadata={"name": f"t{uuid.uuid4().hex[:6]}"}, spec={"priority": "high"})
    with pytest.raises(ApiException) as err:
        custom.create_cluster_custom_object("crd.antrea.io", "v1beta1", "tiers", bad)
    assert err.value.status == 422 and "spec.priority" in err.value.body


def test_deprecated_version_sends_warning(raw, make_crd, crd_doc, ns):
    schema = crd_doc("x.io", "widgets", "Widget")["spec"]["versions"][0]["schema"]
    versions = [{"name": "v1alpha1", "served": True, "storage": False, "schema": schema, "deprecated": True},
                {"name": "v1", "served": True, "storage": True, "schema": schema}]
    group = make_crd(versions=versions)["spec"]["group"]
    old = raw("GET", f"/apis/{group}/v1alpha1/namespaces/{ns}/widgets")
    assert old.status_code == 200 and f"{group}/v1alpha1 Widget is deprecated" in old.headers["Warning"]
    assert "Warning" not in raw("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets").headers
    assert raw("POST", f"/apis/{group}/v1/widgets", json=widget(group, "x")).status_code == 405


def test_selectable_fields_and_unknown_field_selector(custom, make_crd, crd_doc, ns):
    version = crd_doc("x.io", "widgets", "Widget")["spec"]["versions"][0]
    version["selectableFields"] = [{"jsonPath": ".spec.color"}]
    group = make_crd(versions=[version])["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", widget(group, "r"))
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", {**widget(group, "b"),
                                                                        "spec": {"color": "blue"}})
    blue = custom.list_namespaced_custom_object(group, "v1", ns, "widgets", field_selector="spec.color=blue")
    assert [i["metadata"]["name"] for i in blue["items"]] == ["b"]
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object(group, "v1", ns, "widgets", field_selector="spec.size=3")
    assert err.value.status == 400 and "not a known field selector" in err.value.body
