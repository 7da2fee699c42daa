"""Authentication and authorization as one replaceable step in front of every resource request.

Today everyone is let in (any or no bearer token). A later RBAC step plugs in here: an
:class:`Authenticator` that maps ServiceAccount tokens to users and an :class:`Authorizer` that
evaluates applied Role/ClusterRole objects against :class:`Attributes`. Tokens are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attributes:
    """What RBAC decides on, named as in kube's ``authorizer.Attributes``."""

    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str
    name: str


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> UserInfo | None:
        """The caller, or None to reject the request with 401 (header names are lower-case)."""


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason); the reason goes into the 403 message."""


ADMIN = UserInfo("system:admin", ("system:masters", "system:authenticated"))
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


class AcceptAnyToken:
    """Any bearer token (or none) is accepted; a token makes you admin, no token anonymous."""

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo | None:
        auth = headers.get("authorization") or ""
        return ADMIN if auth.lower().startswith("bearer ") else ANONYMOUS


class AllowAll:
    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        return True, ""
