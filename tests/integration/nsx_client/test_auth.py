"""The three ways to authenticate: Basic, session cookie + XSRF (with re-login), client certificate."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nsx import (
    AuthenticationError,
    BasicAuth,
    ClientCertificateAuth,
    NsxClient,
    NsxConnectionError,
    SessionAuth,
)
from nsx.models import ClusterControlPlane, ContainerCluster, PrincipalIdentityWithCertificate
from nsx.models.inventory import ContainerInfrastructureInfo
from nsx.registration import cluster_control_plane_path
from sim.nsx import NsxSimulator

ClientFactory = Callable[..., NsxClient]
SERVICES = "/policy/api/v1/infra/services"
SESSION_CREATE = "/api/session/create"


def test_basic_auth(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(BasicAuth(sim.username, sim.password))
    names = {service.id for service in client.policy.list_services()}
    assert {"HTTP", "HTTPS", "SSH"} <= names


def test_basic_auth_wrong_password_is_refused(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(BasicAuth(sim.username, "not-the-password"))
    with pytest.raises(AuthenticationError) as caught:
        client.get(SERVICES)
    assert caught.value.status == 403
    assert caught.value.error_code == 403


def test_session_auth_logs_in_once_and_reuses_the_session(
    make_client: ClientFactory, sim: NsxSimulator
) -> None:
    logins = sim.count_requests("POST", SESSION_CREATE)
    client = make_client(SessionAuth(sim.username, sim.password))
    for _ in range(3):
        assert client.get(SERVICES)["results"]
    assert sim.count_requests("POST", SESSION_CREATE) == logins + 1


def test_session_relogin_after_expiry(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(SessionAuth(sim.username, sim.password))
    client.get(SERVICES)
    logins = sim.count_requests("POST", SESSION_CREATE)
    sim.faults.expire_sessions()
    assert client.get(SERVICES)["results"]
    assert sim.count_requests("POST", SESSION_CREATE) == logins + 1


def test_close_destroys_the_session(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(SessionAuth(sim.username, sim.password))
    client.get(SERVICES)
    destroyed = sim.count_requests("POST", "/api/session/destroy")
    client.close()
    assert sim.count_requests("POST", "/api/session/destroy") == destroyed + 1


def test_session_shared_by_threads_survives_expiry(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(SessionAuth(sim.username, sim.password))
    client.get(SERVICES)
    errors: list[BaseException] = []

    logins = sim.count_requests("POST", SESSION_CREATE)

    def worker(n: int) -> None:
        try:
            for i in range(5):
                client.get(f"{SERVICES}/HTTP")
                if n == 0 and i == 1:
                    sim.faults.expire_sessions()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sim.count_requests("POST", SESSION_CREATE) == logins + 1  # one re-login, not one per thread


def test_session_auth_bad_password(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(SessionAuth(sim.username, "wrong"))
    with pytest.raises(AuthenticationError):
        client.get(SERVICES)


def _self_signed(cn: str, directory: Path) -> tuple[str, str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Antrea Cluster"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path, key_path = directory / f"{cn}.crt", directory / f"{cn}.key"
    cert_path.write_text(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return pem, str(cert_path), str(key_path)


def test_principal_identity_registration_then_certificate_auth(
    make_client: ClientFactory, sim: NsxSimulator, tmp_path: Path
) -> None:
    """The register flow: admin creates the PI from a self-signed cert; the cluster then uses mTLS."""
    name = "cluster-cert-auth"
    pem, cert_file, key_file = _self_signed(name, tmp_path)
    admin = make_client()
    identity = admin.registration.create_principal_identity(PrincipalIdentityWithCertificate(
        name=name, node_id=name, certificate_pem=pem, role="enterprise_admin", is_protected=True))
    assert identity.name == name and identity.id
    assert identity.id in {pi.id for pi in admin.registration.list_principal_identities()}

    cluster = make_client(ClientCertificateAuth(cert_file, key_file))
    ccp = cluster.registration.put_cluster_control_plane(ClusterControlPlane(id=name, certificate=pem))
    assert ccp.node_id  # assigned by NSX
    assert ccp.create_user == name  # the request was authenticated as the principal identity
    again = cluster.registration.put_cluster_control_plane(
        ClusterControlPlane(id=name, certificate=pem, revision=ccp.revision))
    assert again.node_id == ccp.node_id
    assert ccp.path == cluster_control_plane_path(name)

    created = cluster.registration.create_container_cluster(ContainerCluster(
        external_id=ccp.node_id, display_name=name, cluster_type="Kubernetes", cni_type="Antrea",
        infrastructure=ContainerInfrastructureInfo(infra_type="vSphere")))
    assert created.external_id == ccp.node_id
    fetched = cluster.registration.get_container_cluster(ccp.node_id)
    assert fetched is not None and fetched.cni_type == "Antrea"


def test_issued_client_certificate(make_client: ClientFactory, sim: NsxSimulator) -> None:
    cert_file, key_file = sim.issue_client_certificate("issued-cluster")
    sim.register_principal_identity("issued-cluster", Path(cert_file).read_text())
    client = make_client(ClientCertificateAuth(str(cert_file), str(key_file)))
    assert client.get(SERVICES)["results"]


def test_unregistered_certificate_is_refused(
    make_client: ClientFactory, sim: NsxSimulator, tmp_path: Path
) -> None:
    _, cert_file, key_file = _self_signed("stranger", tmp_path)
    client = make_client(ClientCertificateAuth(cert_file, key_file))
    served = sim.state.count_requests("GET", SERVICES, status=200)
    # NSX refuses the handshake (or answers 403) for a certificate no principal identity holds
    with pytest.raises((AuthenticationError, NsxConnectionError)):
        client.get(SERVICES)
    assert sim.state.count_requests("GET", SERVICES, status=200) == served
