"""Authentication modes of the simulator, over real HTTPS (nsx-api.md §8.1, §9.1–9.2)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nsx_sim_helpers import DOMAIN, PASSWORD, Api

from sim.nsx import NsxSimulator

CRED_BODY = {"httpStatus": "FORBIDDEN", "error_code": 403, "module_name": "common-services",
             "error_message": "The credentials were incorrect or the account specified has been locked."}


def _plain(sim: NsxSimulator) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sim.ca_file)
    return s


def test_basic_auth_and_bad_credentials(sim: NsxSimulator) -> None:
    s = _plain(sim)
    assert s.get(f"{sim.url}{DOMAIN}/groups", auth=("admin", PASSWORD)).status_code == 200
    for auth in (("admin", "wrong"), ("root", PASSWORD), None):
        r = s.get(f"{sim.url}{DOMAIN}/groups", auth=auth)
        assert r.status_code == 403
        assert r.json() == CRED_BODY
    r = s.get(f"{sim.url}{DOMAIN}/groups", headers={"Authorization": "Basic !!notbase64"})
    assert r.status_code == 403 and r.json()["error_code"] == 403


def test_server_certificate_matches_ca_and_thumbprint(sim: NsxSimulator) -> None:
    pem = ssl.get_server_certificate(("127.0.0.1", sim.port))
    der = ssl.PEM_cert_to_DER_cert(pem)
    import hashlib

    assert hashlib.sha256(der).hexdigest() == sim.thumbprint
    # A client that does not trust the CA is refused by TLS verification.
    s = requests.Session()
    s.trust_env = False
    try:
        s.get(sim.url + "/api/v1/reverse-proxy/node/health", verify=True, timeout=5)
        raise AssertionError("an untrusted CA must fail verification")
    except requests.exceptions.SSLError:
        pass


def test_session_cookie_and_xsrf(sim: NsxSimulator) -> None:
    s = _plain(sim)
    r = s.post(f"{sim.url}/api/session/create", data={"j_username": "admin", "j_password": PASSWORD})
    assert r.status_code == 200
    token = r.headers["X-XSRF-TOKEN"]
    assert "JSESSIONID" in s.cookies
    assert "HttpOnly" in r.headers["Set-Cookie"] and "Path=/" in r.headers["Set-Cookie"]
    assert s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token}).status_code == 200
    missing = s.get(f"{sim.url}{DOMAIN}/groups")
    assert missing.status_code == 403 and missing.json()["error_code"] == 98
    wrong = s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": "nope"})
    assert wrong.status_code == 403 and wrong.json()["error_code"] == 98
    # writes are attributed to the session's user
    ok = s.patch(f"{sim.url}{DOMAIN}/groups/g", json={"resource_type": "Group"}, headers={"X-XSRF-TOKEN": token})
    assert ok.status_code == 200
    assert sim.state.groups["/infra/domains/default/groups/g"]["_create_user"] == "admin"
    assert s.post(f"{sim.url}/api/session/destroy", headers={"X-XSRF-TOKEN": token}).status_code == 200
    after = s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token})
    assert after.status_code == 403 and after.json()["error_code"] == 403


def test_session_bad_login_and_expiry(sim: NsxSimulator) -> None:
    s = _plain(sim)
    bad = s.post(f"{sim.url}/api/session/create", data={"j_username": "admin", "j_password": "x"})
    assert bad.status_code == 403 and bad.json() == CRED_BODY
    assert "X-XSRF-TOKEN" not in bad.headers
    r = s.post(f"{sim.url}/api/session/create", data={"j_username": "admin", "j_password": PASSWORD})
    token = r.headers["X-XSRF-TOKEN"]
    assert s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token}).status_code == 200
    sim.faults.expire_sessions()
    expired = s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token})
    assert expired.status_code == 403 and expired.json()["error_code"] == 403


def test_idle_session_timeout() -> None:
    import time

    with NsxSimulator(password=PASSWORD, session_timeout=1.0) as sim:
        s = _plain(sim)
        token = s.post(f"{sim.url}/api/session/create",
                       data={"j_username": "admin", "j_password": PASSWORD}).headers["X-XSRF-TOKEN"]
        assert s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token}).status_code == 200
        time.sleep(1.3)
        assert s.get(f"{sim.url}{DOMAIN}/groups", headers={"X-XSRF-TOKEN": token}).status_code == 403


def _self_signed(tmp: Path, cn: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / f"{cn}.pem", tmp / f"{cn}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_principal_identity_certificate_auth(sim: NsxSimulator, api: Api, tmp_path: Path) -> None:
    cert, key = sim.issue_client_certificate("cluster-a")
    s = _plain(sim)
    # Not registered yet: the TLS handshake succeeds (CA-signed) but there is no principal.
    r = s.get(f"{sim.url}{DOMAIN}/groups", cert=(str(cert), str(key)))
    assert r.status_code == 403 and r.json() == CRED_BODY
    created = api.post("/api/v1/trust-management/principal-identities/with-certificate", json={
        "name": "cluster-a", "node_id": "cluster-a", "certificate_pem": cert.read_text(), "is_protected": True,
        "roles_for_paths": [{"path": "/", "roles": [{"role": "enterprise_admin"}]}]})
    assert created.status_code == 201, created.text
    pi = created.json()
    assert pi["name"] == "cluster-a" and pi["certificate_id"]
    dup = api.post("/api/v1/trust-management/principal-identities/with-certificate", json={
        "name": "cluster-a", "node_id": "cluster-a", "certificate_pem": cert.read_text(), "role": "enterprise_admin"})
    assert dup.status_code == 400
    r = s.patch(f"{sim.url}{DOMAIN}/groups/from-pi", json={"resource_type": "Group"}, cert=(str(cert), str(key)))
    assert r.status_code == 200, r.text
    assert sim.state.groups["/infra/domains/default/groups/from-pi"]["_create_user"] == "cluster-a"
    # Session over the certificate connection: empty body.
    r = s.post(f"{sim.url}/api/session/create", cert=(str(cert), str(key)))
    assert r.status_code == 200 and r.headers["X-XSRF-TOKEN"]
    listed = api.get("/api/v1/trust-management/principal-identities").json()
    assert [p["name"] for p in listed["results"]] == ["cluster-a"]
    # Deleting the PI revokes access.
    assert api.delete(f"/api/v1/trust-management/principal-identities/{pi['id']}").status_code == 200
    s2 = _plain(sim)
    r = s2.get(f"{sim.url}{DOMAIN}/groups", cert=(str(cert), str(key)))
    assert r.status_code == 403


def test_self_signed_principal_certificate(sim: NsxSimulator, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "cluster-b")
    s = _plain(sim)
    try:
        s.get(f"{sim.url}{DOMAIN}/groups", cert=(str(cert), str(key)), timeout=5)
        raise AssertionError("an unknown self-signed client certificate must be refused")
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        pass
    sim.register_principal_identity("cluster-b", cert.read_text())
    s = _plain(sim)
    r = s.get(f"{sim.url}{DOMAIN}/groups", cert=(str(cert), str(key)))
    assert r.status_code == 200


def test_plain_http_mode() -> None:
    with NsxSimulator(tls=False, password=PASSWORD) as sim:
        assert sim.url.startswith("http://")
        r = requests.get(sim.url + "/api/v1/reverse-proxy/node/health", auth=("admin", PASSWORD), timeout=5)
        assert r.status_code == 200 and r.json() == {"healthy": True}
        assert requests.get(sim.url + "/api/v1/reverse-proxy/node/health", timeout=5).status_code == 403
        # Session auth works over plain HTTP too (the cookie is not marked Secure there).
        s = requests.Session()
        r = s.post(sim.url + "/api/session/create", data={"j_username": "admin", "j_password": PASSWORD}, timeout=5)
        assert "Secure" not in r.headers["Set-Cookie"]
        ok = s.get(sim.url + "/api/v1/reverse-proxy/node/health", headers={"X-XSRF-TOKEN": r.headers["X-XSRF-TOKEN"]},
                   timeout=5)
        assert ok.status_code == 200


def test_generated_password_is_random() -> None:
    a, b = NsxSimulator(), NsxSimulator()
    try:
        assert a.password != b.password and len(a.password) >= 16
    finally:
        a.stop()
        b.stop()


def test_protected_principal_objects_need_allow_overwrite(sim: NsxSimulator, api: Api) -> None:
    cert, key = sim.issue_client_certificate("cluster-p")
    sim.register_principal_identity("cluster-p", cert, is_protected=True)
    s = _plain(sim)
    s.cert = (str(cert), str(key))
    assert s.patch(f"{sim.url}{DOMAIN}/groups/owned", json={"resource_type": "Group"}).status_code == 200
    got = api.get(f"{DOMAIN}/groups/owned").json()
    assert got["_protection"] == "REQUIRE_OVERRIDE" and got["_create_user"] == "cluster-p"
    denied = api.patch(f"{DOMAIN}/groups/owned", json={"description": "admin edit"})
    assert denied.status_code == 400 and denied.json()["error_code"] == 289
    assert "doesn't own" in denied.json()["error_message"]
    assert api.delete(f"{DOMAIN}/groups/owned").status_code == 400
    assert api.patch(f"{DOMAIN}/groups/owned", json={"description": "x"},
                     headers={"X-Allow-Overwrite": "true"}).status_code == 200
    # The owner itself needs no header.
    assert s.patch(f"{sim.url}{DOMAIN}/groups/owned", json={"description": "y"}).status_code == 200
    assert api.delete(f"{DOMAIN}/groups/owned", headers={"X-Allow-Overwrite": "true"}).status_code == 200


def test_certificate_rotation(sim: NsxSimulator, api: Api) -> None:
    old_cert, old_key = sim.issue_client_certificate("rot")
    pi = sim.register_principal_identity("rot", old_cert)
    new_cert, new_key = sim.issue_client_certificate("rot-new")
    imported = api.post("/api/v1/trust-management/certificates", params={"action": "import"},
                        json={"display_name": "rot", "pem_encoded": new_cert.read_text()})
    assert imported.status_code == 201
    cert_id = imported.json()["results"][0]["id"]
    s = _plain(sim)
    assert s.get(f"{sim.url}{DOMAIN}/groups", cert=(str(new_cert), str(new_key))).status_code == 403
    r = api.post("/api/v1/trust-management/principal-identities", params={"action": "update_certificate"},
                 json={"principal_identity_id": pi["id"], "certificate_id": cert_id})
    assert r.status_code == 200 and r.json()["certificate_id"] == cert_id
    assert _plain(sim).get(f"{sim.url}{DOMAIN}/groups", cert=(str(new_cert), str(new_key))).status_code == 200
    assert _plain(sim).get(f"{sim.url}{DOMAIN}/groups", cert=(str(old_cert), str(old_key))).status_code == 403
    # The old certificate is free now and can be deleted; the one in use cannot.
    assert api.delete(f"/api/v1/trust-management/certificates/{pi['certificate_id']}").status_code == 200
    assert api.delete(f"/api/v1/trust-management/certificates/{cert_id}").status_code == 400
