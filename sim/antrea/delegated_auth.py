"""Delegated authentication and authorization, as every Antrea API server does it (the agents'
included): the caller's bearer token goes to the API server in a ``TokenReview``, the user it
names and the request's attributes in a ``SubjectAccessReview``. So whoever may ``create``
``system.antrea.io`` ``supportbundles`` in the cluster's RBAC may do so on an agent, and nobody
else — the same grants the adapter's ClusterRole carries (config/rbac).

Decisions are cached for a few seconds per (token, attributes), as the apiserver library's
delegating authenticator and authorizer cache them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kubernetes import client

from sim.antrea.apiserver import ApiFailure, call

CACHE_TTL = 10.0


@dataclass(frozen=True)
class Access:
    verb: str
    group: str
    version: str
    resource: str
    subresource: str
    name: str


class DelegatedAuth:
    """Checks a bearer token against the API server; see the module docstring."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, tuple[str, list[str]] | None]] = {}
        self._decisions: dict[tuple[str, Access], tuple[float, bool]] = {}
        self.reviews = 0

    def check(self, token: str, access: Access) -> str:
        """The user name when allowed; :class:`ApiFailure` 401/403 otherwise."""
        user = self._user(token)
        if user is None:
            raise ApiFailure(401, "Unauthorized", "Unauthorized")
        name, groups = user
        if not self._allowed(token, name, groups, access):
            what = access.resource + (f"/{access.subresource}" if access.subresource else "")
            raise ApiFailure(403, "Forbidden", f'{what}.{access.group} is forbidden: User "{name}" cannot '
                                               f'{access.verb} resource "{what}" in API group "{access.group}"')
        return name

    def _user(self, token: str) -> tuple[str, list[str]] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._users.get(token)
        if cached is not None and now - cached[0] < CACHE_TTL:
            return cached[1]
        code, doc = call(self._api, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        self.reviews += 1
        status = (doc or {}).get("status") or {}
        user = None
        if code < 300 and status.get("authenticated"):
            info = status.get("user") or {}
            user = (str(info.get("username") or ""), list(info.get("groups") or []))
        with self._lock:
            self._users[token] = (now, user)
        return user

    def _allowed(self, token: str, name: str, groups: list[str], access: Access) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._decisions.get((token, access))
        if cached is not None and now - cached[0] < CACHE_TTL:
            return cached[1]
        code, doc = call(self._api, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": name, "groups": groups, "resourceAttributes": {
                "verb": access.verb, "group": access.group, "version": access.version,
                "resource": access.resource, "subresource": access.subresource, "name": access.name}}})
        self.reviews += 1
        allowed = code < 300 and bool(((doc or {}).get("status") or {}).get("allowed"))
        with self._lock:
            self._decisions[(token, access)] = (now, allowed)
        return allowed
