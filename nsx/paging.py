"""Cursor paging: NSX omits ``cursor`` on the last page; every other parameter is repeated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter

from nsx.errors import NsxError
from nsx.transport import Transport

T = TypeVar("T")
MAX_PAGE_SIZE = 1000


def iter_pages(
    transport: Transport,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each page (a ListResult dict) until NSX stops returning a cursor."""
    query: dict[str, Any] = dict(params or {})
    if page_size is not None:
        query["page_size"] = max(1, min(page_size, MAX_PAGE_SIZE))
    seen: set[str] = set()
    while True:
        page = transport.request("GET", path, params=query) or {}
        yield page
        cursor = page.get("cursor")
        if not cursor:
            return
        if cursor in seen:  # a server bug must not become an endless loop
            raise NsxError(f"GET {path}: cursor {cursor!r} returned twice")
        seen.add(cursor)
        query["cursor"] = cursor


def iter_results(
    transport: Transport,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of every page, as decoded JSON."""
    for page in iter_pages(transport, path, params, page_size=page_size):
        yield from page.get("results") or []


def iter_models(
    transport: Transport,
    path: str,
    item_type: type[T] | TypeAdapter[T],
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int | None = None,
) -> Iterator[T]:
    """Every item of every page, parsed into ``item_type`` (a model or a discriminated union)."""
    adapter = item_type if isinstance(item_type, TypeAdapter) else TypeAdapter(item_type)
    for item in iter_results(transport, path, params, page_size=page_size):
        yield adapter.validate_python(item)
