"""Authentication/authorization is one pluggable step: a custom authorizer decides, 401/403 follow."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sim.kubeapi import KubeApiServer
from sim.kubeapi.auth import Attributes, UserInfo


class NoSecrets:
    def __init__(self) -> None:
        self.seen: list[Attributes] = []

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        self.seen.append(attrs)
        return attrs.resource != "secrets", ""


class TokenOnly:
    def authenticate(self, headers):
        auth = headers.get("authorization", "")
        return UserInfo("system:serviceaccount:default:bot") if auth == "Bearer envtest-admin" else None


def test_custom_authorizer_and_authenticator(tmp_path):
    authz = NoSecrets()
    with KubeApiServer(authenticator=TokenOnly(), authorizer=authz) as srv:
        kc = srv.write_kubeconfig(tmp_path / "kc")
        cfg = client.Configuration()
        config.load_kube_config(str(kc), client_configuration=cfg)
        api = client.ApiClient(cfg)
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", {"metadata": {"name": "ok"}})
        with pytest.raises(ApiException) as err:
            core.list_namespaced_secret("default")
        body = json.loads(err.value.body)
        assert err.value.status == 403 and body["reason"] == "Forbidden"
        assert 'User "system:serviceaccount:default:bot" cannot list resource "secrets"' in body["message"]
        verbs = {(a.verb, a.resource, a.namespace) for a in authz.seen}
        assert ("create", "configmaps", "default") in verbs and ("list", "secrets", "default") in verbs
        wrong = client.Configuration(host=srv.url, api_key={"BearerToken": "Bearer wrong"})
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(client.ApiClient(wrong)).list_namespaced_config_map("default")
        assert err.value.status == 401
        api.close()


def test_invalid_label_is_422(core, ns):
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "l", "labels": {"bad key!": "x"}}})
    assert err.value.status == 422 and json.loads(err.value.body)["details"]["causes"][0]["field"] == "metadata.labels"
