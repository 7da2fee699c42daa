"""NSX ``ApiError`` bodies (nsx-api.md §8.4) raised anywhere in the simulator and rendered once.

Handlers raise :class:`NsxError`; the server turns it into the JSON body real NSX sends, so every error
a client sees has the same shape (``httpStatus``, ``error_code``, ``module_name``, ``error_message``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

COMMON = "common-services"
POLICY = "Policy"
INVENTORY = "InventoryContainerObj"

# Error codes clients key on (nsx-api.md §8.4 table).
NOT_FOUND_CODE = 600
IN_USE_CODE = 500030
BAD_XSRF_CODE = 98
BAD_CREDENTIALS_CODE = 403
STALE_REVISION_CODE = 500087
GENERIC_INVALID_CODE = 255
ALREADY_EXISTS_CODE = 500127


def status_name(status: int) -> str:
    """``404`` → ``"NOT_FOUND"``: the upper-snake reason phrase NSX puts in ``httpStatus``."""
    try:
        return HTTPStatus(status).phrase.upper().replace(" ", "_").replace("-", "_")
    except ValueError:
        return str(status)


class NsxError(Exception):
    """An NSX API error: HTTP status plus the ApiError fields."""

    def __init__(
        self,
        status: int,
        error_code: int,
        message: str,
        module_name: str = POLICY,
        related: list[NsxError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.module_name = module_name
        self.related = related or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "httpStatus": status_name(self.status),
            "error_code": self.error_code,
            "module_name": self.module_name,
            "error_message": self.message,
        }
        if self.related:
            out["related_errors"] = [
                {k: v for k, v in r.body().items() if k != "related_errors"} for r in self.related
            ]
        return out


def not_found(path: str) -> NsxError:
    """The 404 NSX returns both for a missing object and for a missing referenced path."""
    return NsxError(
        404,
        NOT_FOUND_CODE,
        f"The requested object : {path} could not be found. Object identifiers are case sensitive.",
        COMMON,
    )


def bad_request(message: str, code: int = GENERIC_INVALID_CODE, module: str = POLICY) -> NsxError:
    return NsxError(400, code, message, module)


def bad_credentials() -> NsxError:
    return NsxError(
        403,
        BAD_CREDENTIALS_CODE,
        "The credentials were incorrect or the account specified has been locked.",
        COMMON,
    )


def bad_xsrf() -> NsxError:
    return NsxError(403, BAD_XSRF_CODE, "Bad XSRF token", COMMON)


def stale_revision(path: str, given: Any, current: int) -> NsxError:
    return NsxError(
        412,
        STALE_REVISION_CODE,
        f"The object {path} was modified by somebody else (given _revision {given}, current {current}). "
        "Re-read it and retry.",
        POLICY,
    )


def in_use(path: str, users: list[str]) -> NsxError:
    shown = ", ".join(sorted(users)[:5])
    return NsxError(
        400,
        IN_USE_CODE,
        f"The object {path} is in use by {shown} and cannot be deleted.",
        POLICY,
    )


def method_not_allowed(method: str, path: str) -> NsxError:
    return NsxError(405, 405, f"The method {method} is not supported for {path}.", COMMON)
