"""The ``ApiError`` body NSX returns on every failed call (Policy and MP alike)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from nsx.models.base import NsxModel, wire_name


def _lenient_code(value: Any) -> Any:
    # NSX has been seen sending error_code as a string ("98"); accept both.
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


class RelatedApiError(NsxModel):
    http_status: str | None = wire_name("httpStatus")
    error_code: int | None = None
    error_message: str | None = None
    module_name: str | None = None
    details: str | None = None
    error_data: dict[str, Any] | None = None

    _code = field_validator("error_code", mode="before")(_lenient_code)


class ApiError(RelatedApiError):
    related_errors: list[RelatedApiError] | None = None
