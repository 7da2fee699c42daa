"""Finalizers, namespace termination and garbage collection, observed through the API only."""

from __future__ import annotations

import json

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException


def gone(read):
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def test_finalizers_hold_deletion_until_removed(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("f", ns)
    held = core.read_namespaced_config_map("f", ns)
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == ["example.com/hold"]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": ["example.com/hold", "new"]}})
    assert err.value.status == 422 and "no new finalizers" in json.loads(err.value.body)["message"]
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})
    assert gone(lambda: core.read_namespaced_config_map("f", ns))


def test_deletion_bumps_generation_of_cr(custom, make_crd, ns):
    group = make_crd()["spec"]["group"]
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", {
        "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "g", "finalizers": ["x/y"]},
        "spec": {"color": "red"}})
    custom.delete_namespaced_custom_object(group, "v1", ns, "widgets", "g")
    obj = custom.get_namespaced_custom_object(group, "v1", ns, "widgets", "g")
    assert obj["metadata"]["generation"] == 2 and obj["metadata"]["deletionTimestamp"]


def test_last_finalizer_removal_emits_modified_then_deleted(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "ev", "finalizers": ["a/b"]}})
    listed = core.list_namespaced_config_map(ns)
    core.delete_namespaced_config_map("ev", ns)
    core.patch_namespaced_config_map("ev", ns, [{"op": "remove", "path": "/metadata/finalizers"}])
    w = watch.Watch()
    types = [e["type"] for e in w.stream(core.list_namespaced_config_map, ns,
                                         resource_version=listed.metadata.resource_version, timeout_seconds=1)]
    assert types == ["MODIFIED", "MODIFIED", "DELETED"]


def test_namespace_deletion_removes_contents(core, ns, eventually):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "held", "finalizers": ["x/y"]}})
    core.delete_namespace(ns)
    terminating = core.read_namespace(ns)
    assert terminating.status.phase == "Terminating"
    with pytest.raises(ApiException) as again:
        core.delete_namespace(ns)
    assert again.value.status == 409
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "late"}})
    assert err.value.status == 403
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("c", ns)))
    assert core.read_namespace(ns).status.phase == "Terminating"  # waits for the finalizer
    core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})
    eventually(lambda: gone(lambda: core.read_namespace(ns)))


def _owned(name, owner, ns=None):
    md = {"name": name, "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
                                             "uid": owner.metadata.uid}]}
    return {"metadata": md}


def test_background_garbage_collection(core, ns, eventually):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    other = core.create_namespaced_config_map(ns, {"metadata": {"name": "other"}})
    core.create_namespaced_config_map(ns, _owned("dep", owner))
    both = _owned("both", owner)
    both["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "ConfigMap", "name": "other",
                                                "uid": other.metadata.uid})
    core.create_namespaced_config_map(ns, both)
    core.delete_namespaced_config_map("owner", ns)
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dep", ns)))

    def one_owner_left():
        obj = core.read_namespaced_config_map("both", ns)
        return obj if len(obj.metadata.owner_references) == 1 else None

    survivor = eventually(one_owner_left)
    assert survivor.metadata.owner_references[0].name == "other"


def test_orphan_policy_keeps_dependents(core, ns):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "o"}})
    core.create_namespaced_config_map(ns, _owned("kept", owner))
    core.delete_namespaced_config_map("o", ns, propagation_policy="Orphan")
    kept = core.read_namespaced_config_map("kept", ns)
    assert not kept.metadata.owner_references


def test_foreground_deletion_waits_for_dependents(core, ns, eventually):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "fg"}})
    dep = _owned("fgdep", owner)
    dep["metadata"]["finalizers"] = ["x/y"]
    core.create_namespaced_config_map(ns, dep)
    core.delete_namespaced_config_map("fg", ns, propagation_policy="Foreground")
    held = core.read_namespaced_config_map("fg", ns)
    assert "foregroundDeletion" in held.metadata.finalizers
    eventually(lambda: core.read_namespaced_config_map("fgdep", ns).metadata.deletion_timestamp)
    assert core.read_namespaced_config_map("fg", ns).metadata.deletion_timestamp
    core.patch_namespaced_config_map("fgdep", ns, {"metadata": {"finalizers": None}})
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("fg", ns)))


def test_dependent_of_absent_owner_is_collected(core, ns, eventually):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dangling", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}]}})
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dangling", ns)))
