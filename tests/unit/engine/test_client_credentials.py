"""The kubeconfig reload hook is dropped only where credentials cannot expire."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.client import KubeClient, _static_credentials


def _kubeconfig(tmp_path: Path, user: dict[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": user}],
    }))
    return path


def test_static_token_drops_the_per_request_reload(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"token": "t0k3n"})
    assert _static_credentials(path, None)
    client = KubeClient.from_kubeconfig(path)
    assert client.api_client.configuration.refresh_api_key_hook is None
    client.close()


def test_exec_plugins_and_auth_providers_keep_it(tmp_path: Path) -> None:
    assert not _static_credentials(_kubeconfig(tmp_path, {"exec": {"command": "x", "apiVersion": "v1"}}), None)
    assert not _static_credentials(_kubeconfig(tmp_path, {"auth-provider": {"name": "oidc"}}), None)
    assert not _static_credentials(tmp_path / "missing", None)
