"""Typed API errors built from the server's ``Status`` body.

Controllers branch on *what* went wrong (not found, conflict, expired, throttled), exactly as Go code
does with ``apierrors.IsNotFound`` & co. A class per outcome keeps those branches as ``except``
clauses, and the original ``Status`` dict stays attached for logging.

Classification follows k8s.io/apimachinery/pkg/api/errors: the ``reason`` decides first (a 409 may
be ``Conflict`` or ``AlreadyExists``; a 410 may be ``Expired`` or ``Gone``), the HTTP code second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "ConnectionFailure",
    "Forbidden",
    "Gone",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_from_response",
    "error_from_status",
    "is_transient",
    "parse_retry_after",
]


class ApiError(Exception):
    """A request the API server answered with a failure ``Status`` (or never answered at all)."""

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        status: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        # Seconds the server asked us to wait (Retry-After header or details.retryAfterSeconds).
        self.retry_after = retry_after
        self.status: dict[str, Any] = dict(status or {})

    @property
    def causes(self) -> list[dict[str, Any]]:
        """``details.causes``: per-field reasons, mostly set on 422 Invalid."""
        causes = self.details.get("causes") or []
        return [c for c in causes if isinstance(c, dict)]


class BadRequest(ApiError):
    """400: malformed request (bad selector, kind/apiVersion mismatch, strict field validation)."""


class Unauthorized(ApiError):
    """401: credentials missing or rejected."""


class Forbidden(ApiError):
    """403: RBAC denied, or creation in a terminating namespace."""


class NotFound(ApiError):
    """404: the object, its namespace, or the resource type does not exist."""


class MethodNotAllowed(ApiError):
    """405: the resource does not support the verb."""


class Conflict(ApiError):
    """409 reason Conflict: a stale resourceVersion or a failed precondition; re-read and retry."""


class AlreadyExists(ApiError):
    """409 reason AlreadyExists: a create of a name that is taken. Not a Conflict: re-reading helps
    nobody, so it is deliberately not a subclass of :class:`Conflict`."""


class Gone(ApiError):
    """410 (reason Expired or Gone): the resourceVersion or continue token is too old; relist."""


class UnsupportedMediaType(ApiError):
    """415: e.g. a strategic merge patch sent to a custom resource."""


class Invalid(ApiError):
    """422: the object failed validation; :attr:`causes` names the fields."""


class TooManyRequests(ApiError):
    """429: throttled by API Priority and Fairness; :attr:`retry_after` says how long to wait."""


class ServerError(ApiError):
    """5xx: the server failed (internal error, unavailable, timeout)."""


class ConnectionFailure(ApiError):
    """No HTTP answer at all (refused, reset, timed out). ``code`` is 0.

    ``sent`` tells whether the request may have reached the server: a refused or timed-out
    *connect* is safe to retry for every verb, a reset after sending is ambiguous.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(0, "ConnectionError", message)
        self.sent = sent


_BY_REASON: dict[str, type[ApiError]] = {
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Expired": Gone,
    "Gone": Gone,
    "Invalid": Invalid,
    "NotFound": NotFound,
    "TooManyRequests": TooManyRequests,
    "Forbidden": Forbidden,
    "Unauthorized": Unauthorized,
    "BadRequest": BadRequest,
    "MethodNotAllowed": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
    "InternalError": ServerError,
    "ServiceUnavailable": ServerError,
    "Timeout": ServerError,
    "ServerTimeout": ServerError,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_status(
    status: Mapping[str, Any], http_code: int | None = None, retry_after: float | None = None
) -> ApiError:
    """The typed error for a ``Status`` dict (an HTTP error body or a watch ERROR event object)."""
    code = int(status.get("code") or http_code or 0)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    details = status.get("details") if isinstance(status.get("details"), Mapping) else None
    if retry_after is None and details and details.get("retryAfterSeconds") is not None:
        try:
            retry_after = float(details["retryAfterSeconds"])
        except (TypeError, ValueError):
            retry_after = None
    cls = _BY_REASON.get(reason)
    # A reason that contradicts the code (e.g. a 500 "NotFound") is not trusted.
    if cls is None or (code and cls is not ServerError and code >= 500):
        cls = _BY_CODE.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(code, reason, message, details, retry_after, status)


def error_from_response(code: int, body: bytes, headers: Mapping[str, str] | None = None) -> ApiError:
    """The typed error for a failed HTTP response; tolerates bodies that are not a ``Status``."""
    retry_after = parse_retry_after((headers or {}).get("Retry-After"))
    status: dict[str, Any]
    try:
        decoded = json.loads(body) if body else {}
        status = decoded if isinstance(decoded, dict) else {}
    except ValueError:
        status = {}
    if status.get("kind") != "Status":
        text = body.decode("utf-8", "replace")[:512] if body else ""
        status = {"kind": "Status", "code": code, "message": text}
    status.setdefault("code", code)
    return error_from_status(status, http_code=code, retry_after=retry_after)


def is_transient(err: BaseException) -> bool:
    """Whether waiting and repeating the same request can succeed without changing it.

    True for throttling (429), server failures (5xx except 501 Not Implemented) and lost
    connections. Conflicts are not transient in this sense: the caller must re-read first.
    """
    if isinstance(err, TooManyRequests | ConnectionFailure):
        return True
    if isinstance(err, ServerError):
        return err.code != 501
    return False
