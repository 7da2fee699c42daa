"""Who is calling: HTTP Basic, session cookie + XSRF token, or a principal-identity client certificate.

NSX answers every failure with 403 (credentials body, or ``error_code`` 98 for a bad XSRF token); this
module reproduces that and keeps the principal identities whose certificates map TLS clients to names.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from sim.nsx.errors import COMMON, NsxError, bad_credentials, bad_request, bad_xsrf
from sim.nsx.tls import pem_common_name, pem_thumbprint


@dataclass
class Session:
    user: str
    xsrf: str
    last_used: float


@dataclass
class Sessions:
    """``JSESSIONID`` → session; idle sessions expire after ``timeout`` seconds."""

    timeout: float = 1800.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_id: dict[str, Session] = field(default_factory=dict)

    def create(self, user: str) -> tuple[str, str]:
        sid = secrets.token_hex(16)
        xsrf = str(uuid.uuid4())
        with self._lock:
            self._by_id[sid] = Session(user, xsrf, time.monotonic())
        return sid, xsrf

    def lookup(self, sid: str) -> Session | None:
        with self._lock:
            sess = self._by_id.get(sid)
            if sess is None:
                return None
            now = time.monotonic()
            if now - sess.last_used > self.timeout:
                del self._by_id[sid]
                return None
            sess.last_used = now
            return sess

    def destroy(self, sid: str) -> None:
        with self._lock:
            self._by_id.pop(sid, None)

    def expire_all(self) -> None:
        with self._lock:
            self._by_id.clear()

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)


@dataclass
class PrincipalIdentities:
    """Principal identities (``/api/v1/trust-management/principal-identities``) and their certificates."""

    on_trust: Callable[[str], None]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)  # certificate id → object
    _by_thumbprint: dict[str, str] = field(default_factory=dict)  # thumbprint → PI id

    def import_certificate(self, pem: str, display_name: str = "") -> dict[str, Any]:
        try:
            thumb = pem_thumbprint(pem)
        except ValueError as exc:
            raise bad_request(f"Invalid certificate PEM: {exc}", 2003, "Trust Management") from exc
        cert: dict[str, Any] = {
                "id": str(uuid.uuid4()), "resource_type": "TrustObjectData",
                "display_name": display_name or pem_common_name(pem), "pem_encoded": pem, "sha256_thumbprint": thumb,
                "_create_time": int(time.time() * 1000), "_revision": 0}
        with self._lock:
            self.certificates[str(cert["id"])] = cert
        self.on_trust(pem)
        return cert

    def create_with_certificate(self, body: dict[str, Any], user: str) -> dict[str, Any]:
        name = body.get("name")
        node_id = body.get("node_id")
        pem = body.get("certificate_pem")
        if not isinstance(name, str) or not name or not isinstance(node_id, str) or not node_id:
            raise bad_request("name and node_id are required", 2003, "Trust Management")
        if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
            raise bad_request("certificate_pem is required", 2003, "Trust Management")
        if not body.get("role") and not body.get("roles_for_paths"):
            raise bad_request("role or roles_for_paths is required", 2003, "Trust Management")
        thumb = pem_thumbprint(pem)
        with self._lock:
            for pi in self.by_id.values():
                if pi["name"] == name and pi["node_id"] == node_id:
                    raise bad_request(f"Principal identity {name} with node_id {node_id} already exists.",
                                      2008, "Trust Management")
            if thumb in self._by_thumbprint:
                raise bad_request("The certificate is already used by another principal identity.", 2009,
                                  "Trust Management")
        cert = self.import_certificate(pem, name)
        pi = {
            "resource_type": "PrincipalIdentity", "id": str(uuid.uuid4()), "name": name, "node_id": node_id,
            "certificate_id": cert["id"], "is_protected": bool(body.get("is_protected", False)),
            "display_name": body.get("display_name") or name, "description": body.get("description", ""),
            "_create_user": user, "_create_time": int(time.time() * 1000), "_revision": 0,
        }
        for key in ("role", "roles_for_paths"):
            if body.get(key):
                pi[key] = body[key]
        with self._lock:
            self.by_id[pi["id"]] = pi
            self._by_thumbprint[thumb] = pi["id"]
        return pi

    def update_certificate(self, pi_id: str, cert_id: str) -> dict[str, Any]:
        with self._lock:
            pi = self.by_id.get(pi_id)
            cert = self.certificates.get(cert_id)
            if pi is None or cert is None:
                raise NsxError(404, 600, f"The requested object : {pi_id if pi is None else cert_id} could not "
                               "be found. Object identifiers are case sensitive.", COMMON)
            self._by_thumbprint = {t: p for t, p in self._by_thumbprint.items() if p != pi_id}
            self._by_thumbprint[cert["sha256_thumbprint"]] = pi_id
            updated = dict(pi, certificate_id=cert_id, _revision=int(pi["_revision"]) + 1)
            self.by_id[pi_id] = updated
            return updated

    def delete(self, pi_id: str) -> bool:
        with self._lock:
            pi = self.by_id.pop(pi_id, None)
            if pi is None:
                return False
            self._by_thumbprint = {t: p for t, p in self._by_thumbprint.items() if p != pi_id}
            return True

    def delete_certificate(self, cert_id: str) -> bool:
        with self._lock:
            if any(pi["certificate_id"] == cert_id for pi in self.by_id.values()):
                raise bad_request("The certificate is in use by a principal identity.", 2010, "Trust Management")
            return self.certificates.pop(cert_id, None) is not None

    def is_protected(self, name: str) -> bool:
        with self._lock:
            return any(pi["name"] == name and pi.get("is_protected") for pi in self.by_id.values())

    def name_for_thumbprint(self, thumb: str) -> str | None:
        with self._lock:
            pid = self._by_thumbprint.get(thumb)
            return self.by_id[pid]["name"] if pid else None


def parse_basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, pwd = raw.partition(":")
    return (user, pwd) if sep else None


def cookie_session_id(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:
        return None
    morsel = jar.get("JSESSIONID")
    return morsel.value if morsel else None


@dataclass
class Authenticator:
    """Resolves the principal of one request or raises the 403 NSX would send."""

    username: str
    password: str
    sessions: Sessions
    identities: PrincipalIdentities

    def check_password(self, user: str, pwd: str) -> bool:
        return hmac.compare_digest(user.encode(), self.username.encode()) and hmac.compare_digest(
            pwd.encode(), self.password.encode())

    def authenticate(self, headers: Any, peer_thumbprint: str | None) -> tuple[str, str]:
        """Return (principal, method) where method is ``basic`` / ``session`` / ``certificate``."""
        auth = headers.get("Authorization")
        if auth:
            creds = parse_basic(auth)
            if creds is None or not self.check_password(*creds):
                raise bad_credentials()
            return creds[0], "basic"
        sid = cookie_session_id(headers.get("Cookie"))
        if sid:
            sess = self.sessions.lookup(sid)
            if sess is not None:
                token = headers.get("X-XSRF-TOKEN") or ""
                if not hmac.compare_digest(token.encode(), sess.xsrf.encode()):
                    raise bad_xsrf()
                return sess.user, "session"
        if peer_thumbprint:
            name = self.identities.name_for_thumbprint(peer_thumbprint)
            if name is not None:
                return name, "certificate"
        raise bad_credentials()
