"""NSX list results (nsx-api.md §2.2, §8.2): cursor paging, sorting and ``included_fields``.

The cursor is an opaque token (here the offset of the next page, base64-encoded); ``page_size``
defaults to and is capped at 1000; ``cursor`` is omitted on the last page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sim.nsx.errors import bad_request

MAX_PAGE = 1000


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, _, num = text.partition(":")
        if prefix != "offset":
            raise ValueError(text)
        return int(num)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Invalid cursor {cursor!r}", 255, "common-services") from exc


def sort_key(field: str) -> Callable[[dict[str, Any]], tuple[int, Any, str]]:
    def key(obj: dict[str, Any]) -> tuple[int, Any, str]:
        val = obj.get(field)
        tie = str(obj.get("id") or obj.get("external_id") or "")
        if val is None:
            return (1, "", tie)
        if isinstance(val, bool | int | float):
            return (0, float(val), tie)
        return (0, str(val).lower(), tie) if isinstance(val, str) else (0, str(val), tie)

    return key


def paginate(
    items: list[dict[str, Any]],
    query: dict[str, str],
    default_sort: str | None = "display_name",
    render: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """A ListResult page of ``items`` following the standard query parameters. With ``render``, the
    items are sorted and counted as given and only the page's are rendered (``None``: left out)."""
    sort_by = query.get("sort_by") or default_sort
    ascending = query.get("sort_ascending", "true").lower() != "false"
    if sort_by:
        items = sorted(items, key=sort_key(sort_by), reverse=not ascending)
    try:
        size = int(query.get("page_size", MAX_PAGE))
    except ValueError as exc:
        raise bad_request("page_size must be an integer", 255, "common-services") from exc
    if size < 0:
        raise bad_request("page_size must be >= 0", 255, "common-services")
    size = min(size or MAX_PAGE, MAX_PAGE)
    offset = _decode(query["cursor"]) if query.get("cursor") else 0
    page = items[offset: offset + size]
    if render is not None:
        page = [r for r in map(render, page) if r is not None]
    included = query.get("included_fields")
    if included:
        wanted = {f.strip() for f in included.split(",") if f.strip()}
        page = [{k: v for k, v in obj.items() if k in wanted} for obj in page]
    out: dict[str, Any] = {"results": page, "result_count": len(items)}
    if sort_by:
        out["sort_by"] = sort_by
        out["sort_ascending"] = ascending
    if offset + size < len(items):
        out["cursor"] = _encode(offset + size)
    return out
