"""Bootstrap objects read through the API (emulated API server): bootstrap-config, nsx-cert, cluster-id."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from controllers.bootstrap import (
    connect_kube,
    ensure_cluster_id,
    parse_bootstrap,
    read_cluster_id,
    resolve,
    resolve_credentials,
)
from controllers.config import ConfigError, load_config
from nsx.auth import BasicAuth, ClientCertificateAuth
from reconciler.client import KubeClient

CM = ("v1", "ConfigMap")
SECRET = ("v1", "Secret")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def put_bootstrap(kube: KubeClient, ns: str, conf: str) -> None:
    kube.create(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bootstrap-config"},
                     "data": {"bootstrap.conf": conf}}, ns)


def put_secret(kube: KubeClient, ns: str, data: dict[str, str], type_: str = "Opaque") -> None:
    kube.create(SECRET, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nsx-cert"}, "type": type_,
                         "data": {k: b64(v) for k, v in data.items()}}, ns)


def test_bootstrap_configmap_supplies_name_and_managers_and_flags_override(
        kube_client: KubeClient, kube_namespace: str) -> None:
    put_bootstrap(kube_client, kube_namespace, "bootstrapFrom: Inline\nclusterName: prod-1\n"
                                               "NSXManagers: [10.0.0.1, 10.0.0.2]\n")
    put_secret(kube_client, kube_namespace, {"username": "svc", "password": "pw"})
    cfg = load_config({"bootstrap_namespace": kube_namespace, "cluster_id": "fixed"}, {})
    boot = resolve(cfg, kube_client)
    assert (boot.cluster_name, boot.nsx_managers) == ("prod-1", ["10.0.0.1", "10.0.0.2"])
    cfg = load_config({"bootstrap_namespace": kube_namespace, "cluster_name": "local",
                       "nsx_managers": ["127.0.0.1:9443"], "cluster_id": "fixed"}, {})
    boot = resolve(cfg, kube_client)
    assert (boot.cluster_name, boot.nsx_managers) == ("local", ["127.0.0.1:9443"])


def test_missing_bootstrap_is_a_config_error_that_says_where_it_looked(
        kube_client: KubeClient, kube_namespace: str) -> None:
    cfg = load_config({"bootstrap_namespace": kube_namespace}, {})
    with pytest.raises(ConfigError, match=f"no cluster name.*{kube_namespace}/bootstrap-config"):
        resolve(cfg, kube_client)


def test_bootstrap_file_rules() -> None:
    proxied = parse_bootstrap("clusterName: c\nNSXManagers: [a]\nproxyEndpoints: {rest-api: [p1, p2]}\n", "f")
    assert proxied.nsx_managers == ["p1", "p2"]  # VMware: rest-api proxies replace NSXManagers
    with pytest.raises(ConfigError, match="SupervisorCluster"):
        parse_bootstrap("bootstrapFrom: SupervisorCluster\n", "f")
    with pytest.raises(ConfigError, match="NSXManagers"):
        parse_bootstrap("clusterName: c\nNSXManagers: {a: b}\n", "f")


def test_tls_secret_becomes_private_certificate_files(kube_client: KubeClient, kube_namespace: str) -> None:
    put_secret(kube_client, kube_namespace, {"tls.crt": "CERT PEM", "tls.key": "KEY PEM"}, "kubernetes.io/tls")
    creds = resolve_credentials(load_config({"bootstrap_namespace": kube_namespace}, {}), kube_client)
    assert isinstance(creds.auth, ClientCertificateAuth)
    cert, key = Path(creds.auth.cert_file), Path(creds.auth.key_file)
    assert cert.read_text() == "CERT PEM" and key.read_text() == "KEY PEM"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert "KEY PEM" not in repr(creds) and kube_namespace in creds.source
    creds.cleanup()
    assert not key.exists()


def test_credentials_precedence_and_errors(kube_client: KubeClient, kube_namespace: str, tmp_path: Path) -> None:
    cfg = load_config({"bootstrap_namespace": kube_namespace}, {})
    with pytest.raises(ConfigError, match="nsx-cert does not exist"):
        resolve_credentials(cfg, kube_client)
    put_secret(kube_client, kube_namespace, {"username": "svc", "password": "from-secret"})
    from_secret = resolve_credentials(cfg, kube_client).auth
    assert isinstance(from_secret, BasicAuth) and from_secret.password.get_secret_value() == "from-secret"
    explicit = resolve_credentials(load_config({"bootstrap_namespace": kube_namespace, "nsx_username": "me"},
                                               {"ANTREA_NSX_ADAPTER_NSX_PASSWORD": "env-pw"}), kube_client).auth
    assert isinstance(explicit, BasicAuth) and explicit.username == "me"
    with pytest.raises(ConfigError, match="no password"):
        resolve_credentials(load_config({"nsx_username": "me"}, {}), kube_client)
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_credentials(load_config({"nsx_client_cert_file": str(tmp_path / "a"),
                                         "nsx_client_key_file": str(tmp_path / "b")}, {}), kube_client)


def test_cluster_id_is_created_once_and_then_kept(kube_client: KubeClient, kube_namespace: str) -> None:
    assert read_cluster_id(kube_client, kube_namespace) is None
    assert ensure_cluster_id(kube_client, kube_namespace, dry_run=True)
    assert read_cluster_id(kube_client, kube_namespace) is None  # a dry run writes nothing
    first = ensure_cluster_id(kube_client, kube_namespace)
    assert len(first) == 36 and ensure_cluster_id(kube_client, kube_namespace) == first
    cm = kube_client.get(CM, "cluster-id", kube_namespace)
    assert cm["data"]["cluster-id.conf"].strip() == f"clusterID: {first}"


def test_cluster_id_needs_the_namespace(kube_client: KubeClient) -> None:
    with pytest.raises(ConfigError, match="namespace no-such-ns does not exist"):
        ensure_cluster_id(kube_client, "no-such-ns")


def test_bad_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        connect_kube(load_config({"kubeconfig": str(tmp_path / "nope")}, {}))
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: 5\n")
    with pytest.raises(ConfigError, match="cannot load"):
        connect_kube(load_config({"kubeconfig": str(garbage)}, {}))
    dead = tmp_path / "dead"
    dead.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: x, cluster: {server: "
                    "'http://127.0.0.1:9'}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
                    "users: [{name: x, user: {}}]\n")
    with pytest.raises(ConfigError, match="does not answer"):
        connect_kube(load_config({"kubeconfig": str(dead)}, {}))


def test_principal_identity_from_the_nsx_cert_secret_authenticates_to_nsx(
        kube_client: KubeClient, kube_namespace: str) -> None:
    """The VMware way: the nsx-cert Secret's tls.crt/tls.key, mutual TLS, no password anywhere."""
    from controllers.bootstrap import connect_nsx
    from sim.nsx import NsxSimulator

    with NsxSimulator(tls=True) as nsx:
        cert, key = nsx.issue_client_certificate("pi-cluster")
        nsx.register_principal_identity("pi-cluster", cert)
        put_secret(kube_client, kube_namespace, {"tls.crt": cert.read_text(), "tls.key": key.read_text()},
                   "kubernetes.io/tls")
        cfg = load_config({"bootstrap_namespace": kube_namespace, "cluster_name": "pi-cluster", "cluster_id": "x",
                           "nsx_managers": [nsx.url], "nsx_ca_file": str(nsx.ca_file)}, {})
        boot = resolve(cfg, kube_client)
        client = connect_nsx(cfg, boot)  # raises ConfigError unless NSX accepted the certificate
        try:
            assert client.registration.get_cluster_control_plane("pi-cluster") is None
        finally:
            client.close()
            boot.credentials.cleanup()
        stranger_cert, stranger_key = nsx.issue_client_certificate("not-registered")
        stranger = load_config({"cluster_name": "c", "cluster_id": "x", "nsx_managers": [nsx.url],
                                "nsx_ca_file": str(nsx.ca_file), "nsx_client_cert_file": str(stranger_cert),
                                "nsx_client_key_file": str(stranger_key)}, {})
        with pytest.raises(ConfigError, match="refused the credentials"):
            connect_nsx(stranger, resolve(stranger, None))


def test_pinned_thumbprint_replaces_the_ca_and_a_wrong_pin_is_refused() -> None:
    from controllers.bootstrap import connect_nsx
    from sim.nsx import NsxSimulator

    with NsxSimulator(tls=True) as nsx:
        base = {"cluster_name": "c", "cluster_id": "x", "nsx_managers": [nsx.url], "nsx_username": nsx.username}
        env = {"ANTREA_NSX_ADAPTER_NSX_PASSWORD": nsx.password}
        pinned = load_config({**base, "nsx_thumbprint": nsx.thumbprint}, env)
        connect_nsx(pinned, resolve(pinned, None)).close()
        wrong = load_config({**base, "nsx_thumbprint": "0" * 64}, env)
        with pytest.raises(ConfigError, match="no NSX Manager reachable"):
            connect_nsx(wrong, resolve(wrong, None))


def test_a_busy_manager_is_waited_for_and_one_that_stays_busy_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """429/503 at start-up is NSX being busy, not a wrong address: a restart must not exit on it."""
    import controllers.bootstrap as bootstrap
    from sim.nsx import NsxSimulator

    with NsxSimulator(tls=True) as nsx:
        cfg = load_config({"cluster_name": "c", "cluster_id": "x", "nsx_managers": [nsx.url],
                           "nsx_username": nsx.username, "nsx_ca_file": str(nsx.ca_file)},
                          {"ANTREA_NSX_ADAPTER_NSX_PASSWORD": nsx.password})
        nsx.faults.fail_next(5, 429)  # more than one probe's three tries
        bootstrap.connect_nsx(cfg, resolve(cfg, None)).close()
        monkeypatch.setattr(bootstrap, "BUSY_WAIT", 1.0)
        nsx.faults.fail_next(1000, 503)
        with pytest.raises(ConfigError, match=r"still busy after 1 s: .*503"):
            bootstrap.connect_nsx(cfg, resolve(cfg, None))
