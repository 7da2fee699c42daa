"""Paged list results, the same envelope for Policy and Manager (MP) collections."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import Field

from nsx.models.base import NsxModel, wire_name

T = TypeVar("T")


class ListResult(NsxModel, Generic[T]):
    """One page. ``cursor`` is present only when more pages exist; ``result_count`` may be absent."""

    links: list[dict[str, Any]] | None = wire_name("_links")
    schema_: str | None = wire_name("_schema")
    self_: dict[str, Any] | None = wire_name("_self")
    results: list[T] = Field(default_factory=list)
    result_count: int | None = None
    cursor: str | None = None
    sort_by: str | None = None
    sort_ascending: bool | None = None
