"""Paged LISTs whose next page is already on its way while the current one is decoded.

A paged LIST is a chain: page k+1 can only be asked for with the ``continue`` token of page k.
Decoding a page (the client's CPU) and encoding the next one (the server's) can still overlap: the
token sits in the list's ``metadata``, which both kube-apiserver and the emulator write before
``items``, so a look at the first bytes of a page finds it before the page is decoded, and the next
request goes out from a helper thread meanwhile. On a restart that is most of the informers'
initial sync. The guess is checked against the decoded page; a wrong one (a ``"continue"`` key
inside an item, a server that writes metadata last) only costs a wasted GET: the page is then
fetched with the real token.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["continue_token", "pages"]

_CONTINUE = re.compile(rb'"continue"\s*:\s*"((?:[^"\\]|\\.)*)"')
_PEEK = 4096
"""Bytes searched for the token: list metadata comes first, and is short."""

Fetch = Callable[[str | None], bytes]


def continue_token(raw: bytes) -> str | None:
    """The ``continue`` token a raw list page seems to carry (None when none is visible early)."""
    match = _CONTINUE.search(raw, 0, _PEEK)
    if match is None:
        return None
    try:
        token = json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return None
    return token if isinstance(token, str) and token else None


class _Ahead:
    """One page requested on a helper thread; :meth:`result` waits for it (and re-raises)."""

    def __init__(self, fetch: Fetch, token: str) -> None:
        self.token = token
        self._raw: bytes = b""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fetch,), name="list-page-ahead", daemon=True)
        self._thread.start()

    def _run(self, fetch: Fetch) -> None:
        try:
            self._raw = fetch(self.token)
        except BaseException as err:  # handed to the consumer, which would have met it anyway
            self._error = err

    def result(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._raw


def pages(fetch: Fetch) -> Iterator[dict[str, Any]]:
    """Decoded pages of one LIST; ``fetch(token)`` returns the raw body of the page at ``token``
    (None: the first page). Errors surface where the page that raised them would have been."""
    raw = fetch(None)
    while True:
        guess = continue_token(raw)
        ahead = _Ahead(fetch, guess) if guess else None
        page: dict[str, Any] = json.loads(raw) if raw else {}
        token = (page.get("metadata") or {}).get("continue") or None
        yield page
        if not token:
            return
        raw = ahead.result() if ahead is not None and ahead.token == token else fetch(token)
