"""The Antrea stand-in writes policy and group status as antrea-controller does (antrea.md §2.7, §3.3)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from crds import load_crds
from sim.antrea import AntreaSimulator
from sim.kubeapi import KubeApiServer

G, V = "crd.antrea.io", "v1beta1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, client.ApiClient]]:
    with KubeApiServer() as srv:
        kubeconfig = srv.write_kubeconfig(tmp_path_factory.mktemp("antrea") / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ext = client.ApiextensionsV1Api(api)
        crds = load_crds()
        for crd in crds:
            ext.create_custom_resource_definition(crd)
        wait_for(lambda: all(_established(ext, c["metadata"]["name"]) for c in crds))
        core = client.CoreV1Api(api)
        for node in ("n1", "n2", "n3"):
            core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        yield kubeconfig, api
        api.close()


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def antrea(cluster: tuple[Path, client.ApiClient]) -> Iterator[AntreaSimulator]:
    with AntreaSimulator(cluster[0], realization_delay=0.4) as sim:
        yield sim


@pytest.fixture
def objects(cluster: tuple[Path, client.ApiClient]) -> Iterator[client.CustomObjectsApi]:
    api = client.CustomObjectsApi(cluster[1])
    created: list[tuple[str, str]] = []
    original = api.create_cluster_custom_object

    def create(group: str, version: str, plural: str, body: dict[str, Any]) -> Any:
        created.append((plural, body["metadata"]["name"]))
        return original(group, version, plural, body)

    api.create_cluster_custom_object = create  # type: ignore[method-assign]
    yield api
    for plural, name in reversed(created):
        try:
            api.delete_cluster_custom_object(G, V, plural, name)
        except client.ApiException as err:
            assert err.status == 404


def acnp(name: str, priority: float = 5.0) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "ClusterNetworkPolicy", "metadata": {"name": name},
            "spec": {"tier": "application", "priority": priority, "appliedTo": [{"podSelector": {}}],
                     "ingress": [{"name": "r", "action": "Allow"}]}}


def status_of(api: client.CustomObjectsApi, plural: str, name: str) -> dict[str, Any]:
    return api.get_cluster_custom_object(G, V, plural, name).get("status") or {}


def test_policy_goes_pending_realizing_realized_at_its_generation(
    antrea: AntreaSimulator, objects: client.CustomObjectsApi
) -> None:
    objects.create_cluster_custom_object(G, V, "clusternetworkpolicies", acnp("p-phases"))
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        phase = status_of(objects, "clusternetworkpolicies", "p-phases").get("phase")
        if phase and (not seen or seen[-1] != phase):
            seen.append(phase)
        if phase == "Realized":
            break
        time.sleep(0.01)
    assert seen[-1] == "Realized" and "Realizing" in seen
    status = status_of(objects, "clusternetworkpolicies", "p-phases")
    assert (status["observedGeneration"], status["currentNodesRealized"], status["desiredNodesRealized"]) == (1, 3, 3)

    objects.patch_cluster_custom_object(G, V, "clusternetworkpolicies", "p-phases", {"spec": {"priority": 7.0}})
    wait_for(lambda: status_of(objects, "clusternetworkpolicies", "p-phases").get("observedGeneration") == 2
             and status_of(objects, "clusternetworkpolicies", "p-phases")["phase"] == "Realized")


def test_injected_failure_reports_failed_nodes(antrea: AntreaSimulator, objects: client.CustomObjectsApi) -> None:
    antrea.fail_policy("p-fail", message="ovs flow install failed", nodes=["n2"])
    objects.create_cluster_custom_object(G, V, "clusternetworkpolicies", acnp("p-fail"))
    status = wait_for(lambda: (s := status_of(objects, "clusternetworkpolicies", "p-fail")).get("phase") == "Failed"
                      and s)
    failure = next(c for c in status["conditions"] if c["type"] == "RealizationFailure")
    assert failure["status"] == "True" and failure["reason"] == "NetworkPolicyRealizationFailedOnNode"
    assert failure["message"] == 'Failed Nodes count 1: "n2":"ovs flow install failed"'
    assert (status["currentNodesRealized"], status["desiredNodesRealized"]) == (2, 3)
    antrea.clear_fault("p-fail")
    wait_for(lambda: status_of(objects, "clusternetworkpolicies", "p-fail").get("phase") == "Realized")


def test_stalled_policy_stays_realizing(antrea: AntreaSimulator, objects: client.CustomObjectsApi) -> None:
    antrea.stall_policy("p-stall")
    objects.create_cluster_custom_object(G, V, "clusternetworkpolicies", acnp("p-stall"))
    wait_for(lambda: status_of(objects, "clusternetworkpolicies", "p-stall").get("phase") == "Realizing")
    time.sleep(1.0)  # well past the 0.4 s realization delay
    assert status_of(objects, "clusternetworkpolicies", "p-stall")["phase"] == "Realizing"


def test_parent_group_is_computed_only_once_its_children_are(
    antrea: AntreaSimulator, objects: client.CustomObjectsApi
) -> None:
    def cg(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": f"{G}/{V}", "kind": "ClusterGroup", "metadata": {"name": name}, "spec": spec}

    objects.create_cluster_custom_object(G, V, "clustergroups", cg("parent", {"childGroups": ["parent-0"]}))
    time.sleep(0.8)
    assert status_of(objects, "clustergroups", "parent").get("conditions") in (None, [])
    objects.create_cluster_custom_object(G, V, "clustergroups", cg("parent-0", {"podSelector": {}}))

    def computed(name: str) -> str | None:
        conds = status_of(objects, "clustergroups", name).get("conditions") or []
        return next((c["status"] for c in conds if c["type"] == "GroupMembersComputed"), None)

    wait_for(lambda: computed("parent-0") == "True" and computed("parent") == "True")
    objects.create_cluster_custom_object(G, V, "clustergroups", cg("top", {"childGroups": ["parent"]}))
    wait_for(lambda: computed("top") == "False")
    conds = status_of(objects, "clustergroups", "top")["conditions"]
    assert conds[0]["reason"] == "ChildGroupsNestingExceeded"


def test_restart_with_nothing_changed_writes_no_status(
    cluster: tuple[Path, client.ApiClient], objects: client.CustomObjectsApi
) -> None:
    with AntreaSimulator(cluster[0], realization_delay=0.2):
        objects.create_cluster_custom_object(G, V, "clusternetworkpolicies", acnp("p-restart"))
        wait_for(lambda: status_of(objects, "clusternetworkpolicies", "p-restart").get("phase") == "Realized")
    with AntreaSimulator(cluster[0], realization_delay=0.2) as again:
        time.sleep(0.6)
        assert again.realizer.status_writes == 0
