"""Authentication and authorization as one replaceable step in front of every request.

By default everyone is let in (any or no bearer token), so tests that do not care about identity
never see a 401 or 403. :meth:`KubeApiServer.enable_rbac` swaps in ServiceAccount tokens
(:mod:`.tokens`) and the RBAC authorizer (:mod:`.rbac`); :mod:`.authz_filter` turns each request
into :class:`Attributes` the way kube's RequestInfoFactory does. Tokens are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Attributes:
    """What RBAC decides on, named as in kube's ``authorizer.Attributes``.

    Non-resource requests (``/api``, ``/version``, ``/healthz``…) carry ``path`` and the lower-cased
    HTTP method as ``verb``, with ``resource_request`` False."""

    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection (or get/post/… for paths)
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str
    name: str
    path: str = ""
    resource_request: bool = True


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> UserInfo | None:
        """The caller, or None to reject the request with 401 (header names are lower-case)."""


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason); the reason goes into the 403 message."""


MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ADMIN = UserInfo("system:admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The identity a ServiceAccount token authenticates as (kube's ``serviceaccount.UserInfo``)."""
    return UserInfo(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED), uid)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token of the request, None when there is none."""
    auth = headers.get("authorization") or ""
    if auth[:7].lower() != "bearer ":
        return None
    return auth[7:].strip() or None


class AcceptAnyToken:
    """Any bearer token (or none) is accepted; a token makes you admin, no token anonymous."""

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo | None:
        return ADMIN if bearer_token(headers) else ANONYMOUS


class AllowAll:
    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        return True, ""
