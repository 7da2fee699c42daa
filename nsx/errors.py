"""Exceptions of the NSX client.

Every exception text is built from the HTTP method, the URL path and NSX's own error fields only:
never from request headers or bodies, so credentials cannot leak through an error message.
"""

from __future__ import annotations

from typing import Any

from nsx.models.errors import ApiError, RelatedApiError


class NsxError(Exception):
    """Root of everything the client raises."""


class NsxConnectionError(NsxError):
    """No manager could be reached (after failover and retries)."""


class TlsVerificationError(NsxConnectionError):
    """The server's certificate did not verify (CA, hostname or pinned thumbprint); never retried."""


class NsxApiError(NsxError):
    """NSX answered with an error status; carries the fields of its ``ApiError`` body."""

    def __init__(self, status: int, method: str, path: str, body: ApiError | None = None) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.api_error = body or ApiError()
        super().__init__(self._describe())

    @property
    def error_code(self) -> int | None:
        return self.api_error.error_code

    @property
    def error_message(self) -> str | None:
        return self.api_error.error_message

    @property
    def module_name(self) -> str | None:
        return self.api_error.module_name

    @property
    def related_errors(self) -> list[RelatedApiError]:
        return list(self.api_error.related_errors or [])

    def _describe(self) -> str:
        text = f"{self.method} {self.path}: HTTP {self.status}"
        if self.error_code is not None:
            text += f" error_code={self.error_code}"
        if self.error_message:
            text += f": {self.error_message}"
        for related in self.related_errors:
            text += f" [related {related.error_code}: {related.error_message}]"
        return text


class BadRequest(NsxApiError):
    """400: validation failed; not retried."""


class AuthenticationError(NsxApiError):
    """401/403: credentials refused (after one re-login for session auth)."""


class NotFound(NsxApiError):
    """404: the object (or an object it references) does not exist."""


class RevisionConflict(NsxApiError):
    """412 (or NSX's other stale-revision answers): re-GET the object and try again."""


class RateLimited(NsxApiError):
    """429 after all retries."""


class ServiceUnavailable(NsxApiError):
    """503 (or 500/607) after all retries and every manager."""


# Stale-revision answers other than 412 that NSX clients treat the same way (nsx-api.md §8.3).
_STALE_REVISION_CODES: dict[int, set[int]] = {400: {500087, 500232, 100148}, 404: {500090}}


def error_for(status: int, method: str, path: str, payload: Any) -> NsxApiError:
    """Build the most specific exception for an error response."""
    body: ApiError | None = None
    if isinstance(payload, dict):
        try:
            body = ApiError.model_validate(payload)
        except ValueError:
            body = None
    code = body.error_code if body else None
    cls: type[NsxApiError] = NsxApiError
    if status in (409, 412) or (code is not None and code in _STALE_REVISION_CODES.get(status, set())):
        cls = RevisionConflict
    elif status == 400:
        cls = BadRequest
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 404:
        cls = NotFound
    elif status == 429:
        cls = RateLimited
    elif status == 503 or (status == 500 and code == 607):
        cls = ServiceUnavailable
    return cls(status, method, path, body)
