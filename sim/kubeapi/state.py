"""What every verb handler works on: the store, the served types, the background controllers'
inbox, and the per-request call description. Kept apart so handlers are plain functions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request
from .kinds import ResourceType
from .registry import Registry
from .storage import StorageKey, Store, full_json


@dataclass
class State:
    store: Store
    registry: Registry
    # controllers' inbox: ("namespace", name) | ("crd", name) | ("owner", uid) | ("foreground", uid)
    kick: Callable[[tuple[str, str]], None] = lambda task: None

    def type_for_key(self, key: StorageKey) -> ResourceType | None:
        """A served type of this storage (the storage version for CRDs)."""
        candidates = [t for t in self.registry.all() if t.storage_key == key]
        for t in candidates:
            if t.storage_version is None or t.version == t.storage_version:
                return t
        return candidates[0] if candidates else None


@dataclass
class Call:
    """One resource request, already routed."""

    rtype: ResourceType
    namespace: str  # "" for cluster-scoped resources and all-namespace lists
    name: str
    subresource: str
    query: dict[str, str]
    body: bytes = b""
    content_type: str = "application/json"
    warnings: list[str] = field(default_factory=list)
    accept: str = ""

    @property
    def table_include(self) -> str | None:
        """``includeObject`` when the client asked for a Table (kubectl get), else None."""
        if "as=Table" not in self.accept or "g=meta.k8s.io" not in self.accept:
            return None
        return self.query.get("includeObject") or "Metadata"

    @property
    def dry_run(self) -> bool:
        value = self.query.get("dryRun")
        if value is None or value == "":
            return False
        if value != "All":
            raise bad_request(f'Invalid dryRun: "{value}": supported values: "All"')
        return True

    def json_body(self) -> Any:
        if not self.body:
            raise bad_request("the request body is empty")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


@dataclass
class Response:
    code: int
    body: bytes
    warnings: list[str] = field(default_factory=list)


def object_response(code: int, rtype: ResourceType, body: bytes, warnings: list[str] | None = None) -> Response:
    return Response(code, full_json(rtype.api_version, rtype.kind, body), warnings or [])


def typed_response(code: int, api_version: str, kind: str, body: bytes) -> Response:
    return Response(code, full_json(api_version, kind, body))


def error_response(err: ApiError) -> Response:
    return Response(err.code, json.dumps(err.status()).encode())
