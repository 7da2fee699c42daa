"""Strategic merge patch against the built-in kinds' Kubernetes 1.32 patch metadata."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.kubeapi.patch import PatchError, strategic_merge_patch, supports_strategic_merge


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b", "c"]},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:v1",
                            "args": ["--a", "--b"],
                            "envFrom": [{"configMapRef": {"name": "app-config"}}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80}, {"containerPort": 443}],
                        },
                        {"name": "sidecar", "image": "side:v1"},
                    ],
                    "volumes": [{"name": "data", "configMap": {"name": "cfg"}}],
                }
            },
        },
    }


def _smp(patch: dict[str, Any], target: dict[str, Any] | None = None) -> dict[str, Any]:
    return strategic_merge_patch(target or _deployment(), patch, "apps/v1", "Deployment")


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_kubectl_apply_image_change_keeps_envfrom_and_merges_containers_by_name() -> None:
    # What `kubectl apply` sends after only the image changed in the manifest.
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [{"image": "app:v2", "name": "app"}],
                }
            }
        },
    }
    result = _smp(patch)
    containers = _pod_spec(result)["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "app:v2"
    assert containers[0]["envFrom"] == [{"configMapRef": {"name": "app-config"}}]
    assert containers[0]["ports"] == [{"containerPort": 80}, {"containerPort": 443}]
    assert containers[1] == {"name": "sidecar", "image": "side:v1"}
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    assert "$setElementOrder/containers" not in _pod_spec(result)


def test_ports_merge_by_container_port_new_items_first_without_order() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]}}}}
    ports = _pod_spec(_smp(patch))["containers"][0]["ports"]
    assert ports == [{"containerPort": 8080}, {"containerPort": 80}, {"containerPort": 443}]


def test_set_element_order_places_new_port_last() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "$setElementOrder/ports": [
                                {"containerPort": 80},
                                {"containerPort": 443},
                                {"containerPort": 8080},
                            ],
                            "ports": [{"containerPort": 8080, "name": "alt"}],
                        }
                    ]
                }
            }
        }
    }
    ports = _pod_spec(_smp(patch))["containers"][0]["ports"]
    assert ports == [{"containerPort": 80}, {"containerPort": 443}, {"containerPort": 8080, "name": "alt"}]


def test_set_element_order_alone_reorders_the_live_list() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}}}
    assert [c["name"] for c in _pod_spec(_smp(patch))["containers"]] == ["sidecar", "app"]


def test_set_element_order_that_contradicts_the_patch_list_is_rejected() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"name": "sidecar", "image": "x"}],
                }
            }
        }
    }
    with pytest.raises(PatchError, match="doesn't match") as info:
        _smp(patch)
    assert info.value.code == 400


def test_patch_delete_removes_list_item_by_merge_key() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    assert [c["name"] for c in _pod_spec(_smp(patch))["containers"]] == ["app"]


def test_patch_delete_on_a_map_empties_it() -> None:
    result = _smp({"spec": {"strategy": {"$patch": "delete"}}})
    assert result["spec"]["strategy"] == {}


def test_patch_replace_on_a_map_replaces_it() -> None:
    result = _smp({"metadata": {"labels": {"$patch": "replace", "only": "this"}}})
    assert result["metadata"]["labels"] == {"only": "this"}


def test_patch_replace_in_a_list_replaces_the_list() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "solo", "image": "s"}, {"$patch": "replace"}]}}}}
    assert _pod_spec(_smp(patch))["containers"] == [{"name": "solo", "image": "s"}]


def test_patch_merge_directive_in_a_list_is_refused_like_kube() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}
    with pytest.raises(PatchError, match="merging lists cannot yet be specified in the patch"):
        _smp(patch)


def test_unknown_patch_directive_is_refused() -> None:
    with pytest.raises(PatchError, match="Unexpected kind of patch"):
        _smp({"metadata": {"labels": {"$patch": "shuffle"}}})


def test_retain_keys_clears_fields_not_listed() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert _smp(patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_field() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys") as info:
        _smp(patch)
    assert info.value.code == 400


def test_volumes_merge_by_name_with_retain_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "data", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]
                }
            }
        }
    }
    assert _pod_spec(_smp(patch))["volumes"] == [{"name": "data", "secret": {"secretName": "s"}}]


def test_delete_from_primitive_list() -> None:
    result = _smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}})
    assert result["metadata"]["finalizers"] == ["a", "c"]
    assert "$deleteFromPrimitiveList/finalizers" not in result["metadata"]


def test_primitive_merge_list_is_a_deduplicated_union() -> None:
    # Live-only items keep their place relative to live items the patch mentions (mergeSortedSlice);
    # "d" is new, so it lands right after "b", the patch item it follows.
    result = _smp({"metadata": {"finalizers": ["b", "d"]}})
    assert result["metadata"]["finalizers"] == ["a", "b", "d", "c"]


def test_atomic_list_is_replaced() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--c"]}]}}}}
    assert _pod_spec(_smp(patch))["containers"][0]["args"] == ["--c"]


def test_env_merges_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}}}}
    assert _pod_spec(_smp(patch))["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]


def test_null_deletes_keys_and_is_dropped_from_new_values() -> None:
    patch = {
        "metadata": {"labels": {"tier": None}, "annotations": {"a": "1", "b": None}},
        "spec": {"replicas": None},
    }
    result = _smp(patch)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["metadata"]["annotations"] == {"a": "1"}
    assert "replicas" not in result["spec"]


def test_inputs_are_not_mutated() -> None:
    target = _deployment()
    before = copy.deepcopy(target)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}}}
    patch_before = copy.deepcopy(patch)
    strategic_merge_patch(target, patch, "apps/v1", "Deployment")
    assert target == before
    assert patch == patch_before


def test_service_ports_merge_by_port() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]},
    }
    result = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}, "v1", "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 9443}]


def test_configmap_data_merges_as_a_map() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    result = strategic_merge_patch(cm, {"data": {"b": None, "c": "3"}}, "v1", "ConfigMap")
    assert result["data"] == {"a": "1", "c": "3"}


def test_supports_strategic_merge_only_for_built_in_kinds() -> None:
    assert supports_strategic_merge("apps/v1", "Deployment")
    assert supports_strategic_merge("v1", "ConfigMap")
    assert supports_strategic_merge("coordination.k8s.io/v1", "Lease")
    assert not supports_strategic_merge("crd.antrea.io/v1beta1", "ClusterNetworkPolicy")
    assert not supports_strategic_merge("v1", "Deployment")


def test_strategic_merge_on_a_custom_resource_is_unsupported_media_type() -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, "crd.antrea.io/v1beta1", "Tier")
    assert info.value.code == 415


def test_new_values_lose_patch_directives_like_remove_directives() -> None:
    # A field absent from the live object whose patch value carries $patch is not created at all;
    # directive items inside a brand-new list are dropped.
    patch = {
        "metadata": {"annotations": {"$patch": "replace", "a": "1"}},
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "init", "image": "i"}, {"name": "gone", "$patch": "delete"}],
                }
            }
        },
    }
    result = _smp(patch)
    assert "annotations" not in result["metadata"]
    assert _pod_spec(result)["initContainers"] == [{"name": "init", "image": "i"}]


def test_set_element_order_reorders_a_primitive_merge_list() -> None:
    result = _smp({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}})
    assert result["metadata"]["finalizers"] == ["c", "a", "b"]


def test_null_inside_a_merged_list_item_deletes_only_that_field() -> None:
    # kubectl apply's patch after a manifest stopped setting envFrom on one container.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "envFrom": None}]}}}}
    app = _pod_spec(_smp(patch))["containers"][0]
    assert "envFrom" not in app
    assert app["image"] == "app:v1"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_pod_containers_merge_by_name_too() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "a:1", "envFrom": [{"secretRef": {"name": "s"}}]}]},
    }
    result = strategic_merge_patch(pod, {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}, "v1", "Pod")
    assert result["spec"]["containers"] == [{"name": "a", "image": "a:2", "envFrom": [{"secretRef": {"name": "s"}}]}]


def test_list_of_mixed_element_types_is_refused() -> None:
    with pytest.raises(PatchError, match="list element types are not identical"):
        _smp({"metadata": {"finalizers": [1]}})
