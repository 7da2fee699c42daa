"""MP container inventory: clusters, batch CREATE / sparse UPDATE / DELETE, reads with filters, and the
shape of every read checked against the NSX-T 2.5.1 Manager API swagger definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from nsx_sim_helpers import Api

from sim.nsx import NsxSimulator

SWAGGER = Path("/work/shared/upstream/nsx-t-manager-api-2.5.1.json")
CID = "3f1c2b9e-0000-4000-8000-000000000001"
UPD = f"/api/v1/inventory/container/{CID}?action=updates"


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    if not SWAGGER.is_file():
        pytest.skip(f"{SWAGGER} is absent: the MP API swagger (shared reference docs) is needed for schema checks")
    return dict(json.loads(SWAGGER.read_text())["definitions"])


def _validate(definitions: dict[str, Any], name: str, doc: Any) -> None:
    schema = {"$ref": f"#/definitions/{name}", "definitions": definitions}
    jsonschema.Draft4Validator(schema).validate(doc)


def _cluster(api: Api) -> None:
    r = api.post("/api/v1/fabric/container-clusters", json={
        "resource_type": "ContainerCluster", "display_name": "c1", "external_id": CID, "cluster_type": "Kubernetes",
        "cni_type": "Antrea", "infrastructure": {"infra_type": "vSphere"},
        "scope": [{"scope_type": "CONTAINER_CLUSTER", "scope_id": CID}]})
    assert r.status_code == 201, r.text


def _obj(op: str, **obj: Any) -> dict[str, Any]:
    return {"object_update_type": op, "container_object": obj}


def test_cluster_create_rules(api: Api) -> None:
    assert api.post("/api/v1/fabric/container-clusters", json={"external_id": "x", "resource_type": "ContainerCluster",
                                                                "infrastructure": {"infra_type": "vSphere"}}
                    ).status_code == 400
    assert api.post("/api/v1/fabric/container-clusters", json={"external_id": "x", "cluster_type": "Kubernetes"}
                    ).status_code == 400
    _cluster(api)
    dup = api.post("/api/v1/fabric/container-clusters", json={
        "external_id": CID, "cluster_type": "Kubernetes", "infrastructure": {"infra_type": "vSphere"}})
    assert dup.status_code == 400
    got = api.get(f"/api/v1/fabric/container-clusters/{CID}").json()
    assert got["_last_sync_time"] > 0 and "id" not in got and "_revision" not in got
    assert api.get("/api/v1/fabric/container-clusters/nope").status_code == 404
    assert api.get("/api/v1/fabric/container-clusters", params={"cluster_type": "Openshift"}).json()["results"] == []
    assert api.get("/api/v1/fabric/container-clusters", params={"infra_type": "vSphere"}).json()["result_count"] == 1


def test_batch_updates_and_filters(api: Api, sim: NsxSimulator, definitions: dict[str, Any]) -> None:
    assert api.post(UPD, json={"container_inventory_objects": []}).status_code == 404  # cluster not created yet
    _cluster(api)
    batch = [
        _obj("CREATE", resource_type="ContainerProject", external_id="ns-1", display_name="prod",
             tags=[{"scope": "dis:k8s:team", "tag": "web"}], network_status="HEALTHY", network_errors=[]),
        _obj("CREATE", resource_type="ContainerProject", external_id="ns-2", display_name="dev"),
        _obj("CREATE", resource_type="ContainerClusterNode", external_id="node-1", display_name="w1",
             ip_addresses=["192.168.0.10"], cni_agent_status="HEALTHY"),
        _obj("CREATE", resource_type="ContainerApplication", external_id="svc-1", display_name="web",
             container_project_id="ns-1", status="UP"),
        _obj("CREATE", resource_type="ContainerApplicationInstance", external_id="pod-1", display_name="web-0",
             container_project_id="ns-1", cluster_node_id="node-1", container_application_ids=["svc-1"],
             status="UP", network_status="HEALTHY", network_errors=[],
             origin_properties=[{"key": "ip", "value": "10.244.1.5"}],
             tags=[{"scope": "dis:k8s:app", "tag": "web"}]),
        _obj("CREATE", resource_type="ContainerApplicationInstance", external_id="pod-2", display_name="db-0",
             container_project_id="ns-2", cluster_node_id="node-1", status="UP"),
        _obj("CREATE", resource_type="ContainerNetworkPolicy", external_id="np-1", display_name="deny",
             container_project_id="ns-1", policy_type="NETWORK_POLICY", spec="podSelector: {}\n"),
        _obj("CREATE", resource_type="ContainerIngressPolicy", external_id="ing-1", display_name="ing",
             container_project_id="ns-1", container_application_ids=["svc-1"], spec="{}"),
    ]
    r = api.post(UPD, json={"container_inventory_objects": batch})
    assert r.status_code == 200 and r.content == b""
    pods = api.get("/api/v1/fabric/container-application-instances", params={"container_cluster_id": CID}).json()
    assert pods["result_count"] == 2
    _validate(definitions, "ContainerApplicationInstanceListResult", pods)
    pod = api.get("/api/v1/fabric/container-application-instances/pod-1").json()
    assert pod["container_cluster_id"] == CID and pod["_last_sync_time"] > 0 and "id" not in pod
    _validate(definitions, "ContainerApplicationInstance", pod)
    by_ns = api.get("/api/v1/fabric/container-application-instances", params={"container_project_id": "ns-2"}).json()
    assert [p["external_id"] for p in by_ns["results"]] == ["pod-2"]
    by_svc = api.get("/api/v1/fabric/container-application-instances",
                     params={"container_application_id": "svc-1"}).json()
    assert [p["external_id"] for p in by_svc["results"]] == ["pod-1"]
    for path, listing in [("container-projects", "ContainerProjectListResult"),
                          ("container-applications", "ContainerApplicationListResult"),
                          ("container-cluster-nodes", "ContainerClusterNodeListResult"),
                          ("container-network-policies", "ContainerNetworkPolicyListResult"),
                          ("container-ingress-policies", "ContainerIngressPolicyListResult"),
                          ("container-clusters", "ContainerClusterListResult")]:
        page = api.get(f"/api/v1/fabric/{path}", params={"scope_id": CID} if path == "container-clusters" else
                       {"container_cluster_id": CID}).json()
        assert page["result_count"] >= 1, path
        _validate(definitions, listing, page)
    # Sparse UPDATE: only given fields change; lists replaced wholesale; DELETE removes.
    r = api.post(UPD, json={"container_inventory_objects": [
        _obj("UPDATE", resource_type="ContainerApplicationInstance", external_id="pod-1", status="DOWN",
             network_status="UNHEALTHY", network_errors=[{"error_message": "ContainersNotReady"}]),
        _obj("DELETE", resource_type="ContainerApplicationInstance", external_id="pod-2"),
        _obj("DELETE", resource_type="ContainerApplication", external_id="svc-unknown"),
    ]})
    assert r.status_code == 200
    pod = api.get("/api/v1/fabric/container-application-instances/pod-1").json()
    assert pod["status"] == "DOWN" and pod["network_errors"] == [{"error_message": "ContainersNotReady"}]
    assert pod["display_name"] == "web-0" and pod["tags"] == [{"scope": "dis:k8s:app", "tag": "web"}]
    _validate(definitions, "ContainerApplicationInstance", pod)
    assert api.get("/api/v1/fabric/container-application-instances/pod-2").status_code == 404
    assert sim.state.inventory_counts(CID)["ContainerApplicationInstance"] == 1
    # Deleting the cluster removes its inventory.
    assert api.delete(f"/api/v1/fabric/container-clusters/{CID}").status_code == 200
    assert api.get("/api/v1/fabric/container-application-instances").json()["result_count"] == 0


@pytest.mark.parametrize("item", [
    {"object_update_type": "UPSERT", "container_object": {"resource_type": "ContainerProject", "external_id": "a"}},
    {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerPod", "external_id": "a"}},
    {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerProject"}},
    {"object_update_type": "CREATE", "container_object": {"external_id": "a"}},
    {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerApplicationInstance",
                                                          "external_id": "a", "status": "RUNNING"}},
    {"object_update_type": "CREATE"},
])
def test_invalid_batch_is_rejected_whole(api: Api, sim: NsxSimulator, item: dict[str, Any]) -> None:
    _cluster(api)
    good = _obj("CREATE", resource_type="ContainerProject", external_id="ok")
    r = api.post(UPD, json={"container_inventory_objects": [good, item]})
    assert r.status_code == 400 and r.json()["httpStatus"] == "BAD_REQUEST"
    assert api.get("/api/v1/fabric/container-projects/ok").status_code == 404


def test_inventory_paging(api: Api) -> None:
    _cluster(api)
    items = [_obj("CREATE", resource_type="ContainerProject", external_id=f"ns-{i:04d}") for i in range(1500)]
    assert api.post(UPD, json={"container_inventory_objects": items}).status_code == 200
    first = api.get("/api/v1/fabric/container-projects").json()
    second = api.get("/api/v1/fabric/container-projects", params={"cursor": first["cursor"]}).json()
    ids = [p["external_id"] for p in first["results"] + second["results"]]
    assert len(ids) == 1500 and len(set(ids)) == 1500 and "cursor" not in second
