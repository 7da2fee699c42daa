"""The look-ahead of paged LISTs (``reconciler._paging``): the token guessed from a page's first
bytes, and pages that stay right when the guess is wrong or a fetch fails."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from reconciler._paging import continue_token, pages
from reconciler.errors import Gone


def page(items: list[Any], token: str | None, *, metadata_last: bool = False) -> bytes:
    meta = {"resourceVersion": "7", **({"continue": token} if token else {})}
    body = {"items": items, "metadata": meta} if metadata_last else {"metadata": meta, "items": items}
    return json.dumps({"kind": "List", "apiVersion": "v1", **body}).encode()


def test_the_token_is_read_from_the_first_bytes_and_unescaped() -> None:
    assert continue_token(page([], "eyJydiI6MTJ9")) == "eyJydiI6MTJ9"
    assert continue_token(page([], 'a"b\\c=')) == 'a"b\\c='
    assert continue_token(page([], None)) is None
    far = page([{"data": "x" * 10_000}], "late", metadata_last=True)
    assert continue_token(far) is None  # not looked for beyond the metadata's usual place


def test_pages_follow_the_real_tokens_even_when_the_guess_is_wrong() -> None:
    trap = {"metadata": {"name": "o"}, "spec": {"continue": "not-a-token"}}
    bodies = {None: page([trap], "t1", metadata_last=True), "t1": page([{"n": 2}], "t2"), "t2": page([{"n": 3}], None)}
    asked: list[str | None] = []
    lock = threading.Lock()

    def fetch(token: str | None) -> bytes:
        with lock:
            asked.append(token)
        if token not in bodies:
            raise AssertionError(f"unknown token {token}")
        return bodies[token]

    got = [p["items"] for p in pages(fetch)]
    assert got == [[trap], [{"n": 2}], [{"n": 3}]]
    assert sorted(asked, key=str) == sorted([None, "not-a-token", "t1", "t2"], key=str)  # one wasted guess


def test_an_error_of_a_page_fetched_ahead_surfaces_when_that_page_is_reached() -> None:
    def fetch(token: str | None) -> bytes:
        if token == "expired":
            raise Gone(410, "Expired", "continue token expired")
        return page([{"n": 1}], "expired")

    stream = pages(fetch)
    assert next(stream)["items"] == [{"n": 1}]
    with pytest.raises(Gone):
        next(stream)
