"""/version, health, discovery and OpenAPI, as the v37 client and kubectl read them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kubernetes import client, dynamic


def test_version_has_all_fields_with_and_without_slash(api, raw):
    info = client.VersionApi(api).get_code()  # GET /version/ (trailing slash)
    assert (info.major, info.minor) == ("1", "32")
    assert info.git_version.startswith("v1.32.")
    plain = raw("GET", "/version").json()
    assert set(plain) >= {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                          "compiler", "platform"}


def test_health_endpoints(raw):
    for path in ("/healthz", "/readyz", "/livez", "/readyz?verbose"):
        resp = raw("GET", path)
        assert resp.status_code == 200 and resp.text == "ok"


def test_core_and_group_discovery(api):
    versions = client.CoreApi(api).get_api_versions()
    assert versions.versions == ["v1"] and versions.server_address_by_client_cidrs
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "networking.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io", "rbac.authorization.k8s.io",
            "policy", "scheduling.k8s.io"} <= set(groups)
    assert groups["networking.k8s.io"].preferred_version.group_version == "networking.k8s.io/v1"
    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["pods"].kind == "Pod" and core["pods"].namespaced and "po" in core["pods"].short_names
    assert "watch" in core["pods"].verbs and "all" in core["pods"].categories
    assert core["pods/status"].verbs == ["get", "patch", "update"]
    assert not core["nodes"].namespaced and core["namespaces"].short_names == ["ns"]
    assert "configmaps/status" not in core
    ext = {r.name: r for r in client.ApiextensionsV1Api(api).get_api_resources().resources}
    assert ext["customresourcedefinitions"].short_names == ["crd", "crds"]


def test_unknown_group_and_resource_are_404(raw):
    assert raw("GET", "/apis/nope.example.com").status_code == 404
    resp = raw("GET", "/api/v1/nopes")
    assert resp.status_code == 404 and resp.json()["reason"] == "NotFound"


def test_crd_appears_in_discovery_at_once(api, make_crd):
    crd = make_crd(short_names=["wdg"], categories=["things"])
    group = crd["spec"]["group"]
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert group in groups
    resp = api.call_api(*api.param_serialize("GET", f"/apis/{group}/v1", auth_settings=["BearerToken"]))
    resp.read()
    doc = api.deserialize(resp.data.decode(), "V1APIResourceList", "application/json")
    names = {r.name: r for r in doc.resources}
    assert names["widgets"].short_names == ["wdg"] and names["widgets"].categories == ["things"]
    assert names["widgets"].singular_name == "widget" and "widgets/status" in names


def test_dynamic_client_discovers_new_crd(kubeconfig, make_crd):
    with tempfile.TemporaryDirectory() as tmp:
        from kubernetes import config

        api_client = config.new_client_from_config(str(kubeconfig))
        dyn = dynamic.DynamicClient(api_client, cache_file=str(Path(tmp) / "discovery.json"))
        crd = make_crd()
        res = dyn.resources.get(api_version=f"{crd['spec']['group']}/v1", kind="Widget")
        created = res.create(body={"apiVersion": f"{crd['spec']['group']}/v1", "kind": "Widget",
                                   "metadata": {"name": "d1"}, "spec": {"color": "red"}}, namespace="default")
        assert created.spec.size == 3  # schema default applied
        assert res.get(name="d1", namespace="default").metadata.uid == created.metadata.uid
        api_client.close()


def test_table_output_on_request(raw, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "tab"}})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = raw("GET", f"/api/v1/namespaces/{ns}/configmaps", headers={"Accept": accept}).json()
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"][0] == "tab"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    one = raw("GET", f"/api/v1/namespaces/{ns}/configmaps/tab?includeObject=Object", headers={"Accept": accept}).json()
    assert one["rows"][0]["object"]["kind"] == "ConfigMap"
    plain = raw("GET", f"/api/v1/namespaces/{ns}/configmaps/tab").json()
    assert plain["kind"] == "ConfigMap"


def test_openapi_v3_lists_patch_with_field_validation(raw, make_crd):
    crd = make_crd()
    root = raw("GET", "/openapi/v3").json()["paths"]
    assert "api/v1" in root and f"apis/{crd['spec']['group']}/v1" in root
    doc = raw("GET", root["api/v1"]["serverRelativeURL"]).json()
    op = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert "fieldValidation" in {p["name"] for p in op["parameters"]}
    crd_doc = raw("GET", root[f"apis/{crd['spec']['group']}/v1"]["serverRelativeURL"]).json()
    kinds = {op["patch"]["x-kubernetes-group-version-kind"]["kind"] for op in crd_doc["paths"].values()
             if "patch" in op}
    assert kinds == {"Widget"}


def test_aggregated_discovery_on_request(raw, make_crd):
    group = make_crd(short_names=["agw"])["spec"]["group"]
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    resp = raw("GET", "/apis", headers={"Accept": accept})
    assert resp.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    items = {i["metadata"]["name"]: i for i in resp.json()["items"]}
    widgets = items[group]["versions"][0]["resources"][0]
    assert widgets["resource"] == "widgets" and widgets["shortNames"] == ["agw"] and widgets["scope"] == "Namespaced"
    assert widgets["subresources"][0]["subresource"] == "status"
    core = raw("GET", "/api", headers={"Accept": accept}).json()["items"]
    assert [i["metadata"]["name"] for i in core] == [""]
    assert raw("GET", "/apis").json()["kind"] == "APIGroupList"  # plain clients still get the legacy document


def test_kubectl_uses_aggregated_discovery(kapi, kubectl):
    before = kapi.count_requests("GET", r"^/apis/[^/]+/[^/]+$")
    kubectl("get", "deploy,leases,netpol", "-A", "--cache-dir", str(kubectl.env["HOME"]) + "/fresh-cache")
    assert kapi.count_requests("GET", r"^/apis/[^/]+/[^/]+$") == before  # no per-group-version documents
