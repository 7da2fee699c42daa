"""`antrea-nsx-adapter deregister`: only managed objects go, in dependency order; --nsx removes the
cluster from NSX; --dry-run deletes nothing."""

from __future__ import annotations

import time
from typing import Any

from controllers.ccp import names
from controllers.ccp.translate import cluster_path
from controllers.deregister import delete_managed_objects
from tests.unit.cli.conftest import NAMESPACE, CliWorld, run_cli

V = names.ANTREA_API_VERSION
MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
CLUSTER = "dereg"
CLUSTER_ID = "5b0f2a7e-0000-4000-8000-00000000dead"


def obj(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": V, "kind": kind, "spec": spec,
            "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}


def seed(world: CliWorld) -> None:
    kube = world.kube
    tier = {"priority": 7}
    for item in [
        obj("Tier", "dereg-tier", tier, MANAGED),
        obj("Tier", "someone-elses-tier", {"priority": 8}),
        obj("ClusterGroup", "dereg-child", {"podSelector": {"matchLabels": {"app": "a"}}}, MANAGED,
            {names.PARENT_ANNOTATION: "dereg-parent"}),
        obj("ClusterGroup", "dereg-parent", {"childGroups": ["dereg-child"]}, MANAGED),
        obj("ClusterGroup", "someone-elses-group", {"podSelector": {}}),
        obj("ClusterNetworkPolicy", "dereg-acnp", {"priority": 1, "tier": "dereg-tier",
                                                   "appliedTo": [{"group": "dereg-parent"}], "ingress": []}, MANAGED),
        obj("ClusterNetworkPolicy", "someone-elses-acnp", {"priority": 1, "appliedTo": [{"podSelector": {}}],
                                                           "ingress": []}),
        obj("Traceflow", "dereg-traceflow", {"source": {"namespace": "default", "pod": "a"},
                                             "destination": {"namespace": "default", "pod": "b"}},
            {names.MANAGED_BY_LABEL: "mp-adapter"}),
    ]:
        kube.create((V, item["kind"]), item)
    kube.create(("v1", "ConfigMap"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-id"},
                                      "data": {"cluster-id.conf": f"clusterID: {CLUSTER_ID}\n"}}, NAMESPACE)
    resp = world.http.put(world.nsx.url + "/policy/api/v1" + cluster_path(CLUSTER),
                          json={"resource_type": "ClusterControlPlane", "display_name": CLUSTER}, timeout=10)
    assert resp.status_code == 200, resp.text
    resp = world.http.post(world.nsx.url + "/api/v1/fabric/container-clusters", timeout=10, json={
        "resource_type": "ContainerCluster", "external_id": CLUSTER_ID, "display_name": CLUSTER,
        "cluster_type": "Kubernetes", "infrastructure": {"infra_type": "vSphere"}})
    assert resp.status_code == 201, resp.text


def names_of(world: CliWorld, kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in world.kube.list((V, kind))["items"]}


def test_deregister_dry_run_then_for_real(world: CliWorld) -> None:
    seed(world)
    before = {kind: names_of(world, kind) for kind in ("Tier", "ClusterGroup", "ClusterNetworkPolicy", "Traceflow")}
    dry = run_cli("deregister", "--nsx", "--dry-run", "--cluster-name", CLUSTER, *world.nsx_flags())
    assert dry.returncode == 0, dry.stderr
    assert "would delete ClusterNetworkPolicy dereg-acnp" in dry.stdout
    assert f"would delete NSX cluster-control-plane {CLUSTER}" in dry.stdout
    assert {kind: names_of(world, kind) for kind in before} == before
    assert world.nsx_get("/policy/api/v1" + cluster_path(CLUSTER)).status_code == 200

    server = world.env.server
    started = time.time()  # requests are logged when answered: filter on arrival time
    result = run_cli("deregister", "--nsx", "--cluster-name", CLUSTER, *world.nsx_flags())
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("deleted ")]
    assert lines == [
        "deleted ClusterNetworkPolicy dereg-acnp",
        "deleted ClusterGroup dereg-parent",
        "deleted ClusterGroup dereg-child",
        "deleted Tier dereg-tier",
        "deleted Traceflow dereg-traceflow",
        f"deleted NSX cluster-control-plane {CLUSTER} (cascade)",
        f"deleted NSX container cluster {CLUSTER_ID}",
    ]
    deletes = [r.path.rsplit("/", 2)[-2:] for r in server.requests
               if r.method == "DELETE" and r.time >= started]
    assert deletes == [["clusternetworkpolicies", "dereg-acnp"], ["clustergroups", "dereg-parent"],
                       ["clustergroups", "dereg-child"], ["tiers", "dereg-tier"], ["traceflows", "dereg-traceflow"]]
    assert "someone-elses-tier" in names_of(world, "Tier") and "dereg-tier" not in names_of(world, "Tier")
    assert names_of(world, "ClusterGroup") & {"dereg-parent", "dereg-child"} == set()
    assert "someone-elses-group" in names_of(world, "ClusterGroup")
    assert "someone-elses-acnp" in names_of(world, "ClusterNetworkPolicy")
    assert world.nsx_get("/policy/api/v1" + cluster_path(CLUSTER)).status_code == 404
    assert world.nsx_get(f"/api/v1/fabric/container-clusters/{CLUSTER_ID}").status_code == 404
    assert world.nsx.password not in result.stdout + result.stderr

    assert delete_managed_objects(world.kube, say=lambda _: None) == []  # nothing managed is left
