"""RBAC enforcement over HTTP: ServiceAccount tokens from TokenRequest, decisions from the stored
Roles and bindings, real 401/403 bodies, the review APIs, all through the official client and kubectl.

The module runs its own server with RBAC and TLS on (the session's server stays open to everyone;
kubectl sends tokens only over TLS)."""
# The official client types every body as a model and every field as Optional; these tests pass
# plain dicts (the project's convention) and read fields the server always sets.
# mypy: disable-error-code="arg-type, union-attr, operator, index"

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sim.kubeapi import KubeApiServer

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    with KubeApiServer(rbac=True, tls=True) as server:
        ca = tmp_path_factory.mktemp("rbac-ca") / "ca.pem"
        ca.write_bytes(server.ca_pem)
        server.ca_file = str(ca)  # type: ignore[attr-defined]
        yield server


def ca_file(srv: KubeApiServer) -> str:
    return str(srv.ca_file)  # type: ignore[attr-defined]


def api_for(srv: KubeApiServer, token: str | None) -> client.ApiClient:
    cfg = client.Configuration(host=srv.url)
    cfg.ssl_ca_cert = ca_file(srv)
    if token is not None:
        cfg.api_key = {"BearerToken": token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(cfg)


@pytest.fixture(scope="module")
def admin(srv: KubeApiServer) -> Iterator[client.ApiClient]:
    api = api_for(srv, "envtest-admin")
    yield api
    api.close()


@pytest.fixture
def ns(admin: client.ApiClient) -> str:
    name = f"r-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def bot(admin: client.ApiClient, ns: str) -> str:
    """A ServiceAccount ``bot`` in ``ns`` (no permissions yet)."""
    client.CoreV1Api(admin).create_namespaced_service_account(ns, {"metadata": {"name": "bot"}})
    return f"system:serviceaccount:{ns}:bot"


@pytest.fixture
def as_bot(srv: KubeApiServer, ns: str, bot: str) -> Iterator[client.ApiClient]:
    api = api_for(srv, srv.create_token(ns, "bot"))
    yield api
    api.close()


def grant(admin: client.ApiClient, ns: str, rules: list[dict[str, Any]], scope: str = "Role") -> str:
    """Grant ``rules`` to ServiceAccount ``ns/bot``: a Role bound in ``ns`` (scope "Role"), a
    ClusterRole bound in ``ns`` ("RoleBinding"), or a ClusterRole bound cluster-wide ("Cluster")."""
    rbac = client.RbacAuthorizationV1Api(admin)
    name = f"g-{uuid.uuid4().hex[:6]}"
    subject = {"kind": "ServiceAccount", "name": "bot", "namespace": ns}
    kind = "Role" if scope == "Role" else "ClusterRole"
    ref = {"apiGroup": RBAC, "kind": kind, "name": name}
    if kind == "Role":
        rbac.create_namespaced_role(ns, {"metadata": {"name": name}, "rules": rules})
    else:
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
    if scope == "Cluster":
        rbac.create_cluster_role_binding({"metadata": {"name": name}, "subjects": [subject], "roleRef": ref})
    else:
        rbac.create_namespaced_role_binding(ns, {"metadata": {"name": name}, "subjects": [subject], "roleRef": ref})
    return name


def forbidden(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 403, err.value.body
    body: dict[str, Any] = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Forbidden" and body["code"] == 403
    return body


PODS_READ = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}


def test_no_binding_is_forbidden_with_the_real_message(as_bot: client.ApiClient, bot: str, ns: str) -> None:
    body = forbidden(lambda: client.CoreV1Api(as_bot).list_namespaced_pod(ns))
    assert body["message"] == (f'pods is forbidden: User "{bot}" cannot list resource "pods" in API group "" '
                               f'in the namespace "{ns}"')
    assert body["details"] == {"kind": "pods"}
    body = forbidden(lambda: client.CoordinationV1Api(as_bot).read_namespaced_lease("l", ns))
    assert body["message"] == (f'leases.coordination.k8s.io "l" is forbidden: User "{bot}" cannot get resource '
                               f'"leases" in API group "coordination.k8s.io" in the namespace "{ns}"')
    assert body["details"] == {"kind": "leases", "group": "coordination.k8s.io", "name": "l"}


def test_role_grants_only_its_namespace_and_verbs(admin: client.ApiClient, as_bot: client.ApiClient, bot: str,
                                                  ns: str) -> None:
    other = f"r-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": other}})
    grant(admin, ns, [PODS_READ])
    core = client.CoreV1Api(as_bot)
    assert core.list_namespaced_pod(ns).items == []
    forbidden(lambda: core.list_namespaced_pod(other))
    body = forbidden(core.list_pod_for_all_namespaces)
    assert body["message"].endswith('cannot list resource "pods" in API group "" at the cluster scope')
    body = forbidden(lambda: core.delete_namespaced_pod("p", ns))
    assert f'pods "p" is forbidden: User "{bot}" cannot delete resource "pods"' in body["message"]
    forbidden(lambda: core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": []}}))


def test_cluster_role_binding_grants_everywhere_role_binding_to_cluster_role_only_there(
        admin: client.ApiClient, as_bot: client.ApiClient, ns: str) -> None:
    grant(admin, ns, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}], "RoleBinding")
    core = client.CoreV1Api(as_bot)
    core.list_namespaced_config_map(ns)
    forbidden(lambda: core.list_namespaced_config_map("default"))
    forbidden(core.list_config_map_for_all_namespaces)
    grant(admin, ns, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}], "Cluster")
    core.list_namespaced_config_map("default")
    core.list_config_map_for_all_namespaces()


def test_verb_wildcards_and_watch(admin: client.ApiClient, srv: KubeApiServer, as_bot: client.ApiClient,
                                  ns: str) -> None:
    grant(admin, ns, [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]},
                      {"apiGroups": ["coordination.k8s.io"], "resources": ["*"], "verbs": ["*"]}])
    token = as_bot.configuration.api_key["BearerToken"]
    headers = {"Authorization": f"Bearer {token}"}
    ok = requests.get(f"{srv.url}/api/v1/namespaces/{ns}/services", headers=headers, timeout=10, verify=ca_file(srv))
    assert ok.status_code == 200
    watch = requests.get(f"{srv.url}/api/v1/namespaces/{ns}/services?watch=true&timeoutSeconds=1", headers=headers,
                         timeout=10, verify=ca_file(srv))
    assert watch.status_code == 403 and 'cannot watch resource "services"' in watch.json()["message"]
    leases = client.CoordinationV1Api(as_bot)
    leases.create_namespaced_lease(ns, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    leases.replace_namespaced_lease("l", ns, leases.read_namespaced_lease("l", ns))
    leases.delete_namespaced_lease("l", ns)


def test_resource_names(admin: client.ApiClient, as_bot: client.ApiClient, bot: str, ns: str) -> None:
    core_admin = client.CoreV1Api(admin)
    for name in ("allowed", "other"):
        core_admin.create_namespaced_config_map(ns, {"metadata": {"name": name}})
    grant(admin, ns, [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"],
                       "verbs": ["get", "list", "create"]}])
    core = client.CoreV1Api(as_bot)
    assert core.read_namespaced_config_map("allowed", ns).metadata.name == "allowed"
    body = forbidden(lambda: core.read_namespaced_config_map("other", ns))
    assert body["message"].startswith(f'configmaps "other" is forbidden: User "{bot}" cannot get')
    assert body["details"] == {"kind": "configmaps", "name": "other"}
    assert [c.metadata.name for c in core.list_namespaced_config_map(
        ns, field_selector="metadata.name=allowed").items] == ["allowed"]
    forbidden(lambda: core.list_namespaced_config_map(ns))
    forbidden(lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": "allowed-2"}}))


def test_subresources(admin: client.ApiClient, as_bot: client.ApiClient, ns: str) -> None:
    client.CoreV1Api(admin).create_namespaced_pod(ns, {"metadata": {"name": "p"},
                                                       "spec": {"containers": [{"name": "c", "image": "i"}]}})
    grant(admin, ns, [PODS_READ])
    core = client.CoreV1Api(as_bot)
    core.read_namespaced_pod("p", ns)
    body = forbidden(lambda: core.read_namespaced_pod_status("p", ns))
    assert 'cannot get resource "pods/status" in API group ""' in body["message"]
    body = forbidden(lambda: core.read_namespaced_pod_log("p", ns))
    assert 'cannot get resource "pods/log"' in body["message"]
    grant(admin, ns, [{"apiGroups": [""], "resources": ["pods/status", "pods/log"], "verbs": ["get"]}])
    assert core.read_namespaced_pod_status("p", ns).metadata.name == "p"
    with pytest.raises(ApiException) as err:  # allowed now; the emulator serves no logs
        core.read_namespaced_pod_log("p", ns)
    assert err.value.status == 404


def test_changes_apply_at_once_and_missing_role_is_the_reason(admin: client.ApiClient, as_bot: client.ApiClient,
                                                              ns: str) -> None:
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role_binding(ns, {"metadata": {"name": "dangling"},
                                             "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}],
                                             "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "later"}})
    core = client.CoreV1Api(as_bot)
    body = forbidden(lambda: core.list_namespaced_secret(ns))
    assert body["message"].endswith(': RBAC: role.rbac.authorization.k8s.io "later" not found')
    rbac.create_namespaced_role(ns, {"metadata": {"name": "later"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})
    core.list_namespaced_secret(ns)
    rbac.patch_namespaced_role("later", ns, {"rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]})
    forbidden(lambda: core.list_namespaced_secret(ns))


def test_group_and_user_subjects_and_aggregation(admin: client.ApiClient, as_bot: client.ApiClient, ns: str) -> None:
    rbac = client.RbacAuthorizationV1Api(admin)
    label = f"agg-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role({"metadata": {"name": f"{label}-parts", "labels": {label: "true"}},
                              "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]})
    rbac.create_cluster_role({"metadata": {"name": label}, "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}, "rules": []})
    rbac.create_cluster_role_binding({"metadata": {"name": label}, "subjects": [
        {"kind": "Group", "name": f"system:serviceaccounts:{ns}", "apiGroup": RBAC}],
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": label}})
    client.CoreV1Api(as_bot).list_node()
    forbidden(lambda: client.CoreV1Api(as_bot).list_namespace())
    rbac.create_cluster_role_binding({"metadata": {"name": f"{label}-user"}, "subjects": [
        {"kind": "User", "name": f"system:serviceaccount:{ns}:bot", "apiGroup": RBAC}],
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"}})
    client.CoreV1Api(as_bot).list_namespace()


def test_discovery_is_open_to_the_authenticated_public_info_to_everyone(srv: KubeApiServer,
                                                                        as_bot: client.ApiClient) -> None:
    token = as_bot.configuration.api_key["BearerToken"]
    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/openapi/v3", "/healthz"):
        resp = requests.get(srv.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10,
                            verify=ca_file(srv))
        assert resp.status_code == 200, (path, resp.text)
    assert requests.get(srv.url + "/version", timeout=10, verify=ca_file(srv)).status_code == 200
    assert requests.get(srv.url + "/readyz", timeout=10, verify=ca_file(srv)).status_code == 200
    anonymous = requests.get(srv.url + "/apis", timeout=10, verify=ca_file(srv))
    assert anonymous.status_code == 403
    assert anonymous.json()["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'
    forbidden(lambda: client.RbacAuthorizationV1Api(as_bot).read_cluster_role("system:discovery"))


def test_bootstrap_policy_objects_are_there(admin: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(admin)
    binding = rbac.read_cluster_role_binding("system:discovery")
    assert [(s.kind, s.name) for s in binding.subjects] == [("Group", "system:authenticated")]
    assert "/apis/*" in rbac.read_cluster_role("system:discovery").rules[0].non_resource_urls
    assert rbac.read_cluster_role_binding("cluster-admin").subjects[0].name == "system:masters"


def test_tokens_unknown_expired_and_of_deleted_service_accounts(admin: client.ApiClient, srv: KubeApiServer, ns: str,
                                                                bot: str) -> None:
    core = client.CoreV1Api(admin)
    wrong = api_for(srv, "not-a-token")
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(wrong).list_namespaced_pod(ns)
    assert err.value.status == 401 and json.loads(err.value.body)["reason"] == "Unauthorized"
    minted = core.create_namespaced_service_account_token("bot", ns, {"spec": {"expirationSeconds": 600}})
    assert minted.status.token and minted.status.expiration_timestamp is not None
    grant(admin, ns, [PODS_READ])
    as_bot = api_for(srv, minted.status.token)
    client.CoreV1Api(as_bot).list_namespaced_pod(ns)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token("bot", ns, {"spec": {"expirationSeconds": 60}})
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token("nobody", ns, {"spec": {}})
    assert err.value.status == 404
    core.delete_namespaced_service_account("bot", ns)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "bot"}})  # same name, new uid
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(as_bot).list_namespaced_pod(ns)
    assert err.value.status == 401
    for api in (wrong, as_bot):
        api.close()


def test_minting_a_token_needs_create_on_serviceaccounts_token(admin: client.ApiClient, as_bot: client.ApiClient,
                                                               ns: str) -> None:
    core = client.CoreV1Api(as_bot)
    body = forbidden(lambda: core.create_namespaced_service_account_token("bot", ns, {"spec": {}}))
    assert 'cannot create resource "serviceaccounts/token"' in body["message"]
    grant(admin, ns, [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}])
    assert core.create_namespaced_service_account_token("bot", ns, {"spec": {}}).status.token


def test_access_and_identity_reviews(admin: client.ApiClient, as_bot: client.ApiClient, bot: str, ns: str) -> None:
    grant(admin, ns, [PODS_READ])
    authz = client.AuthorizationV1Api(as_bot)

    def can(verb: str, resource: str, namespace: str = ns) -> bool:
        review = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {
            "verb": verb, "resource": resource, "namespace": namespace}}})
        return bool(review.status.allowed)

    assert can("list", "pods") and can("watch", "pods")
    assert not can("delete", "pods") and not can("list", "pods", "default") and not can("list", "secrets")
    rules = authz.create_self_subject_rules_review({"spec": {"namespace": ns}}).status
    assert {"resources": ["pods"], "verbs": ["get", "list", "watch"]} in [
        {"resources": r.resources, "verbs": r.verbs} for r in rules.resource_rules]
    assert any("/apis/*" in r.non_resource_urls for r in rules.non_resource_rules)
    me = client.AuthenticationV1Api(as_bot).create_self_subject_review({}).status.user_info
    assert me.username == bot
    assert set(me.groups) == {"system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"}
    # the admin asks on the bot's behalf
    sar = client.AuthorizationV1Api(admin).create_subject_access_review({"spec": {
        "user": bot, "groups": me.groups, "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": ns}}})
    assert sar.status.allowed


# -- kubectl --------------------------------------------------------------------------------------------


@pytest.fixture
def kubectl(srv: KubeApiServer, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig")
    env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=str(kubeconfig), KUBECACHEDIR=str(tmp_path / "cache"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    return run


def test_kubectl_create_token_get_forbidden_and_auth_can_i(kubectl: Callable[..., subprocess.CompletedProcess[str]],
                                                           admin: client.ApiClient, bot: str, ns: str) -> None:
    minted = kubectl("create", "token", "bot", "-n", ns)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    denied = kubectl("--token", token, "get", "pods", "-n", ns)
    assert denied.returncode != 0
    assert (f'Error from server (Forbidden): pods is forbidden: User "{bot}" cannot list resource "pods" in API '
            f'group "" in the namespace "{ns}"') in denied.stderr
    can_i = kubectl("--token", token, "auth", "can-i", "list", "pods", "-n", ns)
    assert (can_i.returncode, can_i.stdout.strip()) == (1, "no")
    grant(admin, ns, [PODS_READ])
    can_i = kubectl("--token", token, "auth", "can-i", "list", "pods", "-n", ns)
    assert (can_i.returncode, can_i.stdout.strip()) == (0, "yes")
    assert kubectl("--token", token, "auth", "can-i", "delete", "pods", "-n", ns).stdout.strip() == "no"
    listed = kubectl("--token", token, "get", "pods", "-n", ns)
    assert listed.returncode == 0 and "No resources found" in listed.stderr
    everything = kubectl("--token", token, "auth", "can-i", "--list", "-n", ns)
    assert everything.returncode == 0 and any(
        line.split()[:1] == ["pods"] and "[get list watch]" in line for line in everything.stdout.splitlines())
    whoami = kubectl("--token", token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == bot
    assert kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"  # the admin


def test_standalone_server_with_rbac_and_tls(tmp_path: Path) -> None:
    """``python -m sim.kubeapi --rbac --tls``: the kubeconfig trusts the CA and is the admin's;
    the standalone server mints tokens over HTTP like any other."""
    kc = tmp_path / "kc"
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kc), "--rbac", "--tls"],
                            cwd=root, env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("kubeapi ready at https://127.0.0.1:")
        admin = config.new_client_from_config(str(kc))
        core = client.CoreV1Api(admin)
        core.create_namespaced_service_account("default", {"metadata": {"name": "bot"}})
        token = core.create_namespaced_service_account_token("bot", "default", {"spec": {}}).status.token
        doc = yaml.safe_load(kc.read_text())
        doc["users"][0]["user"]["token"] = token
        (tmp_path / "bot").write_text(yaml.safe_dump(doc))
        with config.new_client_from_config(str(tmp_path / "bot")) as as_bot:
            forbidden(lambda: client.CoreV1Api(as_bot).list_namespaced_pod("default"))
        admin.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
