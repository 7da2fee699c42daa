"""Principal identities: how a cluster's client certificate becomes an NSX user."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nsx.models.base import NsxModel, wire_name


class RoleForPath(NsxModel):
    role: str
    role_display_name: str | None = None


class RolesForPath(NsxModel):
    path: str
    roles: list[RoleForPath] = Field(default_factory=list)
    delete_path: bool | None = None


class PrincipalIdentity(NsxModel):
    links: list[dict[str, Any]] | None = wire_name("_links")
    self_: dict[str, Any] | None = wire_name("_self")
    revision: int | None = wire_name("_revision")
    id: str | None = None
    name: str
    node_id: str
    certificate_id: str | None = None
    role: str | None = None
    roles_for_paths: list[RolesForPath] | None = None
    is_protected: bool | None = None
    description: str | None = None
    display_name: str | None = None


class PrincipalIdentityWithCertificate(PrincipalIdentity):
    """The create body: the certificate is public (PEM of the cert only, never the key)."""

    certificate_pem: str
