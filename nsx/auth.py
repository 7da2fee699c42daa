"""How the client proves who it is: Basic, session cookie + XSRF token, or client certificate.

Secrets are held in ``SecretStr`` and excluded from every ``repr``; nothing here logs them.
"""

from __future__ import annotations

import http.cookiejar
from dataclasses import dataclass

import requests
from pydantic import SecretStr

from nsx.errors import error_for

SESSION_CREATE = "/api/session/create"
SESSION_DESTROY = "/api/session/destroy"
XSRF_HEADER = "X-XSRF-TOKEN"


SessionHeaders = dict[str, str]


class Auth:
    """Base strategy: static credentials, nothing to log in to."""

    needs_login = False

    def attach(self, session: requests.Session) -> None:
        """Install static credentials on a manager's session."""

    def login(
        self, session: requests.Session, base_url: str, timeout: float | tuple[float, float]
    ) -> SessionHeaders:
        """Open an authenticated session; returns the headers that carry it on each request."""
        return {}

    def logout(
        self,
        session: requests.Session,
        base_url: str,
        headers: SessionHeaders,
        timeout: float | tuple[float, float],
    ) -> None:
        """Close the session opened by ``login``, best effort."""

    def session_expired(self, status: int, error_code: int | None) -> bool:
        """Whether an error answer means "log in again and replay"."""
        return False


class BasicAuth(Auth):
    def __init__(self, username: str, password: str | SecretStr) -> None:
        self.username = username
        self.password = password if isinstance(password, SecretStr) else SecretStr(password)

    def attach(self, session: requests.Session) -> None:
        session.auth = (self.username, self.password.get_secret_value())

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=**********)"


class SessionAuth(Auth):
    """``POST /api/session/create`` once per manager, then JSESSIONID cookie + X-XSRF-TOKEN.

    Re-login happens on 403 with error_code 98 (bad XSRF token) and on any other 401/403 of a
    request made with a session (an expired or destroyed session is answered like a stranger).
    """

    needs_login = True

    def __init__(self, username: str, password: str | SecretStr) -> None:
        self.username = username
        self.password = password if isinstance(password, SecretStr) else SecretStr(password)

    def attach(self, session: requests.Session) -> None:
        # The session cookie travels in explicit per-request headers (see ``login``), so that a
        # re-login by one thread never changes the cookie under a request of another.
        session.cookies.set_policy(_NoCookies())

    def login(
        self, session: requests.Session, base_url: str, timeout: float | tuple[float, float]
    ) -> SessionHeaders:
        response = session.post(
            base_url + SESSION_CREATE,
            data={"j_username": self.username, "j_password": self.password.get_secret_value()},
            headers={"Accept": "application/json"},
            timeout=timeout,
        )
        if response.status_code not in (200, 201):
            raise error_for(response.status_code, "POST", SESSION_CREATE, _json_or_none(response))
        headers: SessionHeaders = {}
        cookie = "; ".join(f"{c.name}={c.value}" for c in response.cookies)
        if cookie:
            headers["Cookie"] = cookie
        token = response.headers.get(XSRF_HEADER)
        if token:
            headers[XSRF_HEADER] = token
        return headers

    def logout(
        self,
        session: requests.Session,
        base_url: str,
        headers: SessionHeaders,
        timeout: float | tuple[float, float],
    ) -> None:
        try:
            session.post(base_url + SESSION_DESTROY, headers=headers, timeout=timeout)
        except requests.RequestException:
            pass

    def session_expired(self, status: int, error_code: int | None) -> bool:
        return status in (401, 403)

    def __repr__(self) -> str:
        return f"SessionAuth(username={self.username!r}, password=**********)"


@dataclass(frozen=True)
class ClientCertificateAuth(Auth):
    """Principal identity: mutual TLS with the cluster's certificate; no header, no password."""

    cert_file: str
    key_file: str

    def attach(self, session: requests.Session) -> None:
        session.cert = (self.cert_file, self.key_file)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps the shared session's jar empty; the cookie is held by the transport instead."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def _json_or_none(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
