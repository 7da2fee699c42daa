"""Create, read, update, patch and delete through the official client, with real error Statuses."""

from __future__ import annotations

import json
import re

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_create_fills_server_fields(core, ns):
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    md = cm.metadata
    assert md.uid and isinstance(md.resource_version, str) and int(md.resource_version) > 0
    assert md.namespace == ns and md.generation is None  # ConfigMaps carry no generation
    got = core.read_namespaced_config_map("a", ns)
    assert got.metadata.uid == md.uid and got.data == {"k": "v"}


def test_creation_timestamp_is_rfc3339(raw, ns):
    resp = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "ts"}})
    assert resp.status_code == 201
    body = resp.json()
    assert RFC3339.match(body["metadata"]["creationTimestamp"])
    assert (body["kind"], body["apiVersion"]) == ("ConfigMap", "v1")


def test_generate_name_and_generation(api, ns):
    net = client.NetworkingV1Api(api)
    pol = net.create_namespaced_network_policy(ns, {"metadata": {"generateName": "pol-"},
                                                    "spec": {"podSelector": {}}})
    assert pol.metadata.name.startswith("pol-") and len(pol.metadata.name) == 9
    assert pol.metadata.generation == 1


def test_already_exists_is_409_with_reason(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    body = status_of(err.value)
    assert err.value.status == 409 and body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "dup", "kind": "configmaps"}
    assert body["message"] == 'configmaps "dup" already exists'


def test_missing_namespace_is_404_and_not_found_get(core):
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert err.value.status == 404 and status_of(err.value)["details"]["kind"] == "namespaces"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("nope", "default")
    assert status_of(err.value)["message"] == 'configmaps "nope" not found'


def test_invalid_name_is_422_with_cause(core, ns):
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}})
    body = status_of(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')


def test_rbac_names_may_contain_colons(api):
    rbac = client.RbacAuthorizationV1Api(api)
    role = rbac.create_cluster_role({"metadata": {"name": "antrea-nsx:reader"}, "rules": []})
    assert role.metadata.name == "antrea-nsx:reader"


def test_kind_mismatch_is_400(raw, ns):
    resp = raw("POST", f"/api/v1/namespaces/{ns}/configmaps",
               json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}})
    assert resp.status_code == 400


def test_stale_update_is_409_conflict(core, ns):
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("c", ns, cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    cm.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", ns, cm)
    assert err.value.status == 409 and status_of(err.value)["reason"] == "Conflict"


def test_noop_update_keeps_resource_version(core, ns):
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "n"}, "data": {"a": "1"}})
    again = core.replace_namespaced_config_map("n", ns, cm)
    assert again.metadata.resource_version == cm.metadata.resource_version
    patched = core.patch_namespaced_config_map("n", ns, {"data": {"a": "1"}})
    assert patched.metadata.resource_version == cm.metadata.resource_version


def test_generation_bumps_only_on_spec_change(api, ns):
    apps = client.AppsV1Api(api)
    dep = {"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    created = apps.create_namespaced_deployment(ns, dep)
    assert created.metadata.generation == 1
    relabeled = apps.patch_namespaced_deployment("d", ns, {"metadata": {"labels": {"a": "2"}}})
    assert relabeled.metadata.generation == 1
    assert relabeled.metadata.resource_version != created.metadata.resource_version
    scaled = apps.patch_namespaced_deployment("d", ns, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2
    status = apps.patch_namespaced_deployment_status("d", ns, {"status": {"replicas": 3, "observedGeneration": 2}})
    assert status.metadata.generation == 2 and status.status.replicas == 3


def test_strategic_merge_keeps_other_list_entries_and_fields(api, ns):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "smp"}, "spec": {
        "selector": {"matchLabels": {"app": "s"}},
        "template": {"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [
            {"name": "a", "image": "a:1", "envFrom": [{"configMapRef": {"name": "cfg"}}]},
            {"name": "b", "image": "b:1"}]}}}})
    patched = apps.patch_namespaced_deployment("smp", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:2"}]}}}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert containers["a"].image == "a:2" and containers["a"].env_from[0].config_map_ref.name == "cfg"
    assert containers["b"].image == "b:1"


def test_json_patch_and_merge_patch(core, raw, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "p"}, "data": {"a": "1", "b": "2"}})
    out = core.patch_namespaced_config_map("p", ns, [{"op": "remove", "path": "/data/a"},
                                                     {"op": "add", "path": "/data/c", "value": "3"}])
    assert out.data == {"b": "2", "c": "3"}
    resp = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/p", data=json.dumps({"data": {"b": None}}),
               headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200 and resp.json()["data"] == {"c": "3"}
    bad = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/p", data=json.dumps([{"op": "test", "path": "/data/c",
                                                                                  "value": "x"}]),
              headers={"Content-Type": "application/json-patch+json"})
    assert bad.status_code in (409, 422) and bad.json()["kind"] == "Status"
    weird = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/p", data="{}", headers={"Content-Type": "text/plain"})
    assert weird.status_code == 415


def test_resource_version_in_patch_is_a_precondition(core, ns):
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "pre"}, "data": {"a": "1"}})
    rv = cm.metadata.resource_version
    core.patch_namespaced_config_map("pre", ns, {"metadata": {"resourceVersion": rv}, "data": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("pre", ns, {"metadata": {"resourceVersion": rv}, "data": {"a": "3"}})
    assert err.value.status == 409


def test_apply_patch_creates_with_201_then_merges(raw, ns):
    url = f"/api/v1/namespaces/{ns}/configmaps/applied?fieldManager=test"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    first = raw("PATCH", url, data="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n",
                headers=headers)
    assert first.status_code == 201 and first.json()["data"] == {"a": "1"}
    second = raw("PATCH", url, data=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "applied"}, "data": {"b": "2"}}),
                 headers=headers)
    assert second.status_code == 200 and second.json()["data"] == {"a": "1", "b": "2"}
    missing_manager = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/applied", data="{}", headers=headers)
    assert missing_manager.status_code == 400


def test_dry_run_validates_but_stores_nothing(core, ns):
    out = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All")
    assert out.metadata.name == "dry"
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", ns)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "Dry!"}}, dry_run="All")
    assert err.value.status == 422


def test_delete_returns_status_and_honours_preconditions(core, ns):
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "del"}})
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("del", ns, body={"preconditions": {"uid": "not-the-uid"}})
    assert err.value.status == 409 and "Precondition failed" in status_of(err.value)["message"]
    out = core.delete_namespaced_config_map("del", ns, body={"preconditions": {"uid": cm.metadata.uid}})
    assert out["status"] == "Success" and out["details"]["uid"] == cm.metadata.uid
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("del", ns)
    assert err.value.status == 404


def test_pod_status_subresource_and_create_reset(core, ns):
    pod = core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}})
    assert pod.status.phase == "Pending"  # create resets status like the pod strategy
    pod.status.phase = "Failed"
    pod.spec.active_deadline_seconds = 5
    replaced = core.replace_namespaced_pod("p", ns, pod)
    assert replaced.status.phase == "Pending"  # main endpoint ignores status
    st = core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running"}, "spec": {"nodeName": "zzz"}})
    assert st.status.phase == "Running" and st.spec.node_name == "n1"  # /status changes only status


def test_cluster_scoped_and_all_namespace_lists(core, ns):
    core.create_node({"metadata": {"name": f"node-{ns}"}, "status": {"capacity": {"cpu": "2"}}})
    node = core.read_node(f"node-{ns}")
    assert node.status.capacity == {"cpu": "2"}  # nodes keep status on create
    core.create_namespaced_config_map(ns, {"metadata": {"name": "everywhere"}})
    everywhere = core.list_config_map_for_all_namespaces(field_selector="metadata.name=everywhere")
    assert [i.metadata.namespace for i in everywhere.items] == [ns]


def test_deletecollection_with_selector(core, ns):
    for i in range(3):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"dc{i}", "labels": {"drop": str(i < 2)}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="drop=True")
    left = [i.metadata.name for i in core.list_namespaced_config_map(ns).items]
    assert left == ["dc2"]


def test_namespace_update_keeps_spec_finalizers_and_status(core, ns):
    before = core.read_namespace(ns)
    assert before.spec.finalizers == ["kubernetes"] and before.status.phase == "Active"
    before.spec.finalizers = []
    before.status.phase = "Terminating"
    before.metadata.labels = {"team": "a"}
    after = core.replace_namespace(ns, before)
    assert after.spec.finalizers == ["kubernetes"] and after.status.phase == "Active"
    assert after.metadata.labels == {"team": "a", "kubernetes.io/metadata.name": ns}
    again = core.replace_namespace(ns, after)
    assert again.metadata.resource_version == after.metadata.resource_version


def test_nameless_create_is_422(raw):
    resp = raw("POST", "/api/v1/namespaces", json={"metadata": {}})
    assert resp.status_code == 422
    assert resp.json()["details"]["causes"][0] == {"reason": "FieldValueRequired", "field": "metadata.name",
                                                   "message": "Required value: name or generateName is required"}
