"""``Status`` error bodies worded like kube-apiserver's, because clients branch on code and reason.

The official client maps the HTTP code to an exception class and reads ``reason``/``message``
from the body; controllers match on ``reason`` (``AlreadyExists`` vs ``Conflict`` are both 409).
Messages follow ``k8s.io/apimachinery/pkg/api/errors`` so logs read like a real cluster's.
"""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error that leaves the server as a ``Status`` object with this code and reason."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        out["group"] = group
    return out


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(404, f'{_qualified(resource, group)} "{name}" not found',
                    details=_details(name, group, resource))


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(409, f'{_qualified(resource, group)} "{name}" already exists', reason="AlreadyExists",
                    details=_details(name, group, resource))


def conflict(group: str, resource: str, name: str, why: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    reason="Conflict", details=_details(name, group, resource))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def forbidden(group: str, resource: str, name: str, why: str) -> ApiError:
    return ApiError(403, f'{_qualified(resource, group)} "{name}" is forbidden: {why}',
                    details=_details(name, group, resource))


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, message)


def gone(message: str) -> ApiError:
    """410 with reason Expired, e.g. a ``continue`` token from before a compaction."""
    return ApiError(410, message, reason="Expired")


def invalid(group: str, kind: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 listing every field error, joined the way ``errors.NewInvalid`` does."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details = _details(name, group, kind)
    details["causes"] = causes
    return ApiError(422, f'{qualified} "{name}" is invalid: {joined}', details=details)


def cause(reason: str, field: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}
