"""ServiceAccount tokens: minted by ``TokenRequest``, checked on every request.

Tokens are JWTs signed with a per-server HMAC key and bound to the ServiceAccount's uid, as the
real bound tokens are: deleting (or recreating) the ServiceAccount invalidates them, and they
expire. They are never stored or logged. The fixed admin token of :meth:`write_kubeconfig`
(``envtest-admin``) stays all-powerful; other unknown tokens are accepted as admin too until
:attr:`TokenAuthenticator.strict` is set (``enable_rbac`` does), after which they get 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import errors
from .auth import ADMIN, ANONYMOUS, UserInfo, bearer_token, service_account_user
from .state import Response, State

ADMIN_TOKEN = "envtest-admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
_SA_KEY = ("", "serviceaccounts")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthenticator:
    """Admin token, minted ServiceAccount tokens, anonymous without a token (see module doc)."""

    def __init__(self, state: State, admin_token: str = ADMIN_TOKEN, strict: bool = False) -> None:
        self.state = state
        self.admin_token = admin_token
        self.strict = strict
        self._key = secrets.token_bytes(32)

    def mint(self, namespace: str, name: str, expiration_seconds: int = DEFAULT_EXPIRATION,
             audiences: list[str] | None = None) -> tuple[str, int]:
        """A token for ServiceAccount ``namespace/name`` and its expiry (epoch seconds);
        404 when the ServiceAccount does not exist."""
        stored = self.state.store.get(_SA_KEY, namespace, name)
        if stored is None:
            raise errors.not_found("", "serviceaccounts", name)
        now = int(time.time())
        expiry = now + expiration_seconds
        claims = {"aud": audiences or [ISSUER], "exp": expiry, "iat": now, "nbf": now,
                  "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {
                      "name": name, "uid": stored.obj["metadata"]["uid"]}}}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{head}.{body}.{self._sign(head, body)}", expiry

    def _sign(self, head: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(parts[2], self._sign(parts[0], parts[1])):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo | None:
        token = bearer_token(headers)
        if token is None:
            return ANONYMOUS
        if token == self.admin_token:
            return ADMIN
        claims = self._claims(token)
        if claims is None:
            return None if self.strict else ADMIN
        if claims.get("exp", 0) < time.time():
            return None
        info = claims.get("kubernetes.io") or {}
        namespace, sa = info.get("namespace", ""), info.get("serviceaccount") or {}
        stored = self.state.store.get(_SA_KEY, namespace, sa.get("name", ""))
        if stored is None or stored.obj["metadata"].get("uid") != sa.get("uid"):
            return None  # the ServiceAccount the token was bound to is gone
        return service_account_user(namespace, sa["name"], sa["uid"])


def token_request(authn: object, namespace: str, name: str, doc: dict[str, Any]) -> Response:
    """``POST …/serviceaccounts/{name}/token`` (what ``kubectl create token`` sends), body decoded."""
    if not isinstance(authn, TokenAuthenticator):
        raise errors.ApiError(404, "the server could not find the requested resource", details={})
    spec = doc.get("spec") or {}
    seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
        raise errors.invalid("authentication.k8s.io", "TokenRequest", name, [errors.cause(
            "FieldValueInvalid", "spec.expirationSeconds", f"Invalid value: {seconds}: "
            "may not specify a duration less than 10 minutes")])
    audiences = spec.get("audiences") or [ISSUER]
    token, expiry = authn.mint(namespace, name, seconds, list(audiences))
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
           "spec": {"audiences": audiences, "expirationSeconds": seconds,
                    "boundObjectRef": spec.get("boundObjectRef")},
           "status": {"token": token,
                      "expirationTimestamp": datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    return Response(201, json.dumps(out).encode())
