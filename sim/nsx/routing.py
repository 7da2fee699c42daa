"""Request/response values and a tiny regex router shared by every API module of the simulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.nsx.errors import bad_request, method_not_allowed


@dataclass
class Request:
    """One parsed HTTP request, after authentication."""

    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    principal: str = ""
    auth_method: str = ""
    peer_thumbprint: str | None = None

    def json(self, default: Any = None) -> Any:
        if not self.body.strip():
            if default is not None:
                return default
            raise bad_request("A JSON request body is required", 255, "common-services")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"Invalid JSON in request body: {exc}", 255, "common-services") from exc

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object", 255, "common-services")
        return body

    def flag(self, name: str, default: bool = False) -> bool:
        val = self.query.get(name)
        if val is None:
            return default
        return val.lower() in ("true", "1", "yes")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON; bytes/str → raw; None → empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def ok(body: Any = None, status: int = 200) -> Response:
    return Response(status=status, body=body)


Handler = Callable[[Request, "re.Match[str]"], Response]


class Router:
    """Ordered (methods, regex) → handler table; a path known for other verbs answers 405."""

    def __init__(self) -> None:
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        self._routes.append((frozenset(methods.split()), re.compile(f"^{pattern}$"), handler))

    def dispatch(self, req: Request) -> Response | None:
        known = False
        for methods, regex, handler in self._routes:
            m = regex.match(req.path)
            if m is None:
                continue
            if req.method in methods:
                return handler(req, m)
            known = True
        if known:
            raise method_not_allowed(req.method, req.path)
        return None
