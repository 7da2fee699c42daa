"""The project's CRDs install into the emulated API server and serve their kinds."""

from __future__ import annotations

from typing import Any

from crds import ACNP, ALL_RESOURCES, SUPPORT_BUNDLE_COLLECTION, TIER, load_crds

WITH_STATUS = {"ClusterNetworkPolicy", "NetworkPolicy", "ClusterGroup", "Group", "Traceflow",
               "SupportBundleCollection"}


def test_every_crd_is_established_and_served(project_cluster: Any) -> None:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(project_cluster.api_client)
    names = {crd.metadata.name for crd in ext.list_custom_resource_definition().items}
    assert {r.crd_name for r in ALL_RESOURCES} <= names
    for resource in ALL_RESOURCES:
        crd = ext.read_custom_resource_definition(resource.crd_name)
        established = [c for c in crd.status.conditions or [] if c.type == "Established"]
        assert established and established[0].status == "True", resource.crd_name
        assert crd.spec.names.kind == resource.kind
        assert crd.spec.scope == ("Namespaced" if resource.namespaced else "Cluster")

    custom = client.CustomObjectsApi(project_cluster.api_client)
    for group, version in sorted({(r.group, r.version) for r in ALL_RESOURCES}):
        served = {r.name: r for r in custom.get_api_resources(group, version).resources}
        for resource in (r for r in ALL_RESOURCES if (r.group, r.version) == (group, version)):
            entry = served[resource.plural]
            assert (entry.kind, entry.namespaced) == (resource.kind, resource.namespaced)
            assert tuple(entry.short_names or ()) == resource.short_names
            assert (f"{resource.plural}/status" in served) == (resource.kind in WITH_STATUS)


def test_installed_crds_keep_their_schema(project_cluster: Any) -> None:
    """The server stores our schemas unchanged (nothing dropped on the way in)."""
    import json

    from kubernetes import client

    ext = client.ApiextensionsV1Api(project_cluster.api_client)
    for crd in load_crds():
        response = ext.read_custom_resource_definition(crd["metadata"]["name"], _preload_content=False)
        stored = json.loads(response.data)
        assert [v["name"] for v in stored["spec"]["versions"]] == [v["name"] for v in crd["spec"]["versions"]]
        assert stored["spec"]["versions"][0]["schema"] == crd["spec"]["versions"][0]["schema"]
        assert stored["spec"]["names"]["shortNames"] == crd["spec"]["names"]["shortNames"]


def test_objects_round_trip_with_status_and_defaults(project_cluster: Any) -> None:
    """A real (non dry-run) create stores defaults; the status subresource is honoured."""
    tier = {"apiVersion": TIER.api_version, "kind": TIER.kind, "metadata": {"name": "roundtrip-tier"},
            "spec": {"priority": 42, "description": "round trip"}}
    stored = project_cluster.create(tier, TIER, dry_run=False)
    assert stored["spec"] == {"priority": 42, "description": "round trip"}
    assert stored["metadata"]["generation"] == 1

    sbc = {"apiVersion": SUPPORT_BUNDLE_COLLECTION.api_version, "kind": SUPPORT_BUNDLE_COLLECTION.kind,
           "metadata": {"name": "roundtrip-sbc"},
           "spec": {"nodes": {"nodeNames": ["n1"]}, "fileServer": {"url": "sftp://h/p"},
                    "authentication": {"authType": "BearerToken"}}}
    stored = project_cluster.create(sbc, SUPPORT_BUNDLE_COLLECTION, dry_run=False)
    assert stored["spec"]["expirationMinutes"] == 60

    acnp = {"apiVersion": ACNP.api_version, "kind": ACNP.kind, "metadata": {"name": "roundtrip-acnp"},
            "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}], "ingress": [{"action": "Allow"}]},
            "status": {"phase": "Realized"}}
    stored = project_cluster.create(acnp, ACNP, dry_run=False)
    assert "status" not in stored or stored["status"].get("phase") != "Realized", (
        "status must be ignored on create when the status subresource is enabled"
    )
