"""Many POSTs in flight from one thread, over a few keep-alive HTTP/1.1 connections.

Why: client-go sends a large apply's concurrent requests as streams of one HTTP/2 connection.
Python's HTTP stack has no HTTP/2, and a thread per in-flight request (the planner's writers)
costs each request a few GIL hand-offs plus urllib3's and ``http.client``'s per-request
machinery: at 5,000 creates against a local API server that was half of the adapter's CPU and
made the adapter, not the API server, the bound of a cold start. Here one thread keeps up to
``connections`` requests in flight, one per connection, and parses each answer itself.

This module only moves bytes. Each request ends as a :class:`Reply`: an HTTP answer (any status),
or status 0 when it was sent and no answer came (connection closed or reset, timeout), or as
``None`` when it was never sent (a refused fence, no connection left). The caller turns replies
into results and typed errors and decides, with its own retry policy, what to send again.

Connections come from the client's own urllib3 pool and go back to it when the batch ends (closed
instead when anything about them is uncertain), so TLS verification, client certificates, the CA
bundle and ``tls_server_name`` are exactly those of every other request, and a later batch or
single request reuses them.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

Request = tuple[str, bytes, dict[str, str]]
"""(path with query, body, headers) of one POST."""

_MAX_HEAD = 64 * 1024  # an answer whose head is larger than this is not one we understand


@dataclass(frozen=True)
class Reply:
    """How one sent request ended: ``status`` 0 means no answer (``reason`` says why)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class _Incomplete(Exception):
    """The buffered bytes do not hold a whole answer yet."""


class _Unusable(Exception):
    """The answer cannot be parsed here: the request ends without an answer, the connection closes."""


@dataclass
class _Slot:
    sock: Any
    conn: Any
    index: int = -1  # the request in flight, -1 when idle
    started: float = 0.0
    buf: bytearray = field(default_factory=bytearray)


def post_many(
    requests: Sequence[Request | Callable[[], Request]],
    *,
    connect: Callable[[], Any],
    release: Callable[[Any, bool], None],
    host: str,
    connections: int,
    timeout: float,
    before_send: Callable[[str], None] | None = None,
    observe: Callable[[str, float], None] | None = None,
) -> list[Reply | None]:
    """POST every request; a :class:`Reply` for each one sent, ``None`` for each one not sent.

    A request may be given as a function that builds it: it is then called just before the
    request is sent (headers carrying a rotating token are read then, not when the batch began),
    and when it raises, that request is not sent.

    ``connect()`` returns a connected urllib3 connection (its ``sock`` is used, with the
    timeout it carries); ``release(conn, reusable)`` takes it back, reusable when it is idle with
    nothing unread. ``before_send`` runs before each request (throttling, fencing); when it
    raises, that request is not sent. ``observe(code, seconds)`` is called once per answer
    (metrics). ``timeout`` bounds the wait for any progress: when nothing arrives for that long,
    the requests in flight end without an answer and the rest are not sent."""
    results: list[Reply | None] = [None] * len(requests)
    if not requests:
        return results
    slots: list[_Slot] = []
    try:
        for _ in range(max(1, min(connections, len(requests)))):
            conn = connect()
            slots.append(_Slot(conn.sock, conn))
    except Exception as err:  # connect failed: the ordinary client reports it properly
        logger.debug("multiplexed writes unavailable ({}); falling back to single requests", err)
        for slot in slots:
            release(slot.conn, True)
        return results
    selector = selectors.DefaultSelector()
    for slot in slots:
        selector.register(slot.sock, selectors.EVENT_READ, slot)
    active = list(slots)
    pending = iter(range(len(requests)))

    def drop(slot: _Slot, reusable: bool = False, reason: str = "connection closed") -> None:
        """Give a connection back (closed unless ``reusable``); a request in flight on it ends
        without an answer."""
        reusable = reusable and slot.index < 0 and not slot.buf
        if slot.index >= 0:
            results[slot.index] = Reply(0, reason=reason)
        slot.index = -1
        if slot in active:
            active.remove(slot)
            selector.unregister(slot.sock)
        release(slot.conn, reusable)

    def start(slot: _Slot) -> None:
        """Send the next request on ``slot`` (none left: it stays idle)."""
        for index in pending:
            request = requests[index]
            try:
                url, body, headers = request() if callable(request) else request
            except Exception:
                continue  # left to the caller, whose single request reports the same problem
            if any("\r" in text or "\n" in text for text in (url, *headers, *headers.values())):
                continue  # a line break inside a header (a broken token?): http.client refuses it
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            try:
                if before_send is not None:
                    before_send(url)
            except Exception:
                continue  # left to the caller, which raises the same refusal as a typed error
            data = (f"POST {url} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
                    .encode("latin-1") + body)
            slot.index, slot.started = index, time.monotonic()
            try:
                slot.sock.sendall(data)
            except OSError as err:
                drop(slot, reason=f"sending failed: {err}")
            return

    try:
        for slot in list(active):
            start(slot)
        while any(s.index >= 0 for s in active):
            ready = [s for s in active if s.index >= 0 and _pending(s.sock)]
            if not ready:
                events = selector.select(timeout)
                if not events:
                    for slot in list(active):
                        drop(slot, reason=f"no answer within {timeout} s")
                    break
                ready = [key.data for key, _ in events]
            for slot in ready:
                if slot.index < 0:  # an idle connection became readable: the server closed it
                    drop(slot)
                    continue
                try:
                    chunk = slot.sock.recv(262144)
                except OSError as err:
                    drop(slot, reason=f"receiving failed: {err}")
                    continue
                if not chunk:
                    drop(slot)
                    continue
                slot.buf += chunk
                try:
                    status, body, headers, consumed, close = _parse(slot.buf)
                except _Incomplete:
                    continue
                except _Unusable as err:
                    drop(slot, reason=f"unusable answer: {err}")
                    continue
                del slot.buf[:consumed]
                if observe is not None:
                    observe(str(status), time.monotonic() - slot.started)
                results[slot.index] = Reply(status, body, headers)
                slot.index = -1
                if close or slot.buf:  # closing, or bytes nobody asked for: not reusable
                    drop(slot)
                else:
                    start(slot)
    finally:
        for slot in list(active):
            drop(slot, reusable=True)
        selector.close()
    return results


def _pending(sock: Any) -> bool:
    """Bytes a TLS socket already decrypted and buffered (``select`` does not see them)."""
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())


def _parse(buf: bytearray) -> tuple[int, bytes, dict[str, str], int, bool]:
    """(status, body, headers, bytes consumed, connection closes) of the first whole answer."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > _MAX_HEAD:
            raise _Unusable("answer head too large")
        raise _Incomplete
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _Unusable(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status = int(parts[1])
    if 100 <= status < 200:
        raise _Unusable("interim answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().title()] = value.strip()
    close = parts[0] == "HTTP/1.0" or "close" in headers.get("Connection", "").lower()
    start = end + 4
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        body, consumed = _dechunk(buf, start)
        return status, body, headers, consumed, close
    length = headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise _Unusable("answer without a length")  # read-until-close: not worth handling here
    if len(buf) < start + int(length):
        raise _Incomplete
    return status, bytes(buf[start:start + int(length)]), headers, start + int(length), close


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int]:
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise _Incomplete
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Unusable("bad chunk size") from None
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n", pos)
            while trailer_end >= 0 and trailer_end != pos:  # skip trailer fields
                pos = trailer_end + 2
                trailer_end = buf.find(b"\r\n", pos)
            if trailer_end < 0:
                raise _Incomplete
            return bytes(body), trailer_end + 2
        if len(buf) < pos + size + 2:
            raise _Incomplete
        body += buf[pos:pos + size]
        pos += size + 2
