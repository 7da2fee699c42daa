"""reconciler._multiplex against small raw HTTP/1.1 servers on real sockets: answers split across
reads, chunked bodies, connections closed by the server, silence. Each request must end as its
own answer, as "sent, no answer" (status 0) or as "not sent" (None), never as an exception or as
another request's answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler import _multiplex

Answer = Callable[[int, bytes], list[bytes] | None]
"""(request number on this server, request body) -> byte pieces to send (None: close instead)."""


class RawServer:
    """Reads HTTP/1.1 POSTs (Content-Length bodies) and answers each with what ``answer`` says."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(headers["content-length"])
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                with self._lock:
                    number = len(self.received)
                    self.received.append({"line": lines[0], "headers": headers, "body": json.loads(body)})
                pieces = self.answer(number, body)
                if pieces is None:
                    return
                for piece in pieces:
                    conn.sendall(piece)
                    time.sleep(0.002)  # separate reads on the client side

    def close(self) -> None:
        self._sock.close()


class Conn:
    """What post_many needs of a urllib3 connection: ``sock`` and ``close()``."""

    def __init__(self, port: int) -> None:
        self.sock: socket.socket | None = socket.create_connection(("127.0.0.1", port), timeout=5)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Answer) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _requests(n: int) -> list[_multiplex.Request]:
    return [(f"/things?i={i}", json.dumps({"i": i}).encode(), {"Accept": "application/json"}) for i in range(n)]


def _post(server: RawServer, n: int, connections: int = 3, timeout: float = 5.0,
          released: list[bool] | None = None, **kw: Any) -> list[_multiplex.Reply | None]:
    def release(conn: Any, reusable: bool) -> None:
        if released is not None:
            released.append(reusable)
        conn.close()

    return _multiplex.post_many(_requests(n), connect=lambda: Conn(server.port), release=release,
                                host=f"127.0.0.1:{server.port}", connections=connections, timeout=timeout, **kw)


def _json(reply: _multiplex.Reply | None) -> Any:
    assert reply is not None and 200 <= reply.status < 300, reply
    return json.loads(reply.body)


def _created(body: bytes, status: str = "201 Created") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_answers_split_across_reads_are_matched_to_their_requests(serve: Callable[[Answer], RawServer]) -> None:
    def answer(_: int, body: bytes) -> list[bytes]:
        whole = _created(json.dumps({"echo": json.loads(body), "pad": "x" * 3000}).encode())
        return [whole[:7], whole[7:40], whole[40:2000], whole[2000:]]

    server = serve(answer)
    released: list[bool] = []
    results = _post(server, 25, connections=4, released=released)
    assert [_json(r)["echo"]["i"] for r in results] == list(range(25))
    assert all(r is not None and r.headers["Content-Type"] == "application/json" for r in results)
    assert len(server.received) == 25 and server.connections == 4
    assert released == [True] * 4  # every connection idle and fully read: reusable
    first = server.received[0]
    assert first["line"].startswith("POST /things?i=") and first["line"].endswith(" HTTP/1.1")
    assert first["headers"]["accept"] == "application/json"
    assert first["headers"]["host"] == f"127.0.0.1:{server.port}"


def test_chunked_answers_with_trailers_are_decoded(serve: Callable[[Answer], RawServer]) -> None:
    def answer(_: int, body: bytes) -> list[bytes]:
        data = json.dumps({"echo": json.loads(body)}).encode()
        head = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunks = [data[:5], data[5:11], data[11:]]
        encoded = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
        return [head, encoded[:9], encoded[9:], b"0\r\nX-Trailer: 1\r\n\r\n"]

    results = _post(serve(answer), 10)
    assert [_json(r)["echo"]["i"] for r in results] == list(range(10))


def test_error_answers_come_back_with_their_status_and_headers(serve: Callable[[Answer], RawServer]) -> None:
    def answer(number: int, body: bytes) -> list[bytes]:
        if json.loads(body)["i"] % 3 == 0:
            status = json.dumps({"kind": "Status", "code": 429, "reason": "TooManyRequests"}).encode()
            return [b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(status), status)]
        return [_created(body)]

    server = serve(answer)
    observed: list[str] = []
    results = _post(server, 12, connections=2, observe=lambda code, _s: observed.append(code))
    assert [r.status if r else None for r in results] == [429 if i % 3 == 0 else 201 for i in range(12)]
    refused = results[3]
    assert refused is not None and refused.headers["Retry-After"] == "3"
    assert json.loads(refused.body)["reason"] == "TooManyRequests"
    assert [_json(r)["i"] for r in results if r and r.status == 201] == [i for i in range(12) if i % 3]
    assert sorted(observed) == sorted(["429"] * 4 + ["201"] * 8)
    assert server.connections == 2  # an error answer does not cost the connection


def test_a_connection_closed_by_the_server_leaves_its_requests_to_the_caller(
    serve: Callable[[Answer], RawServer],
) -> None:
    def answer(number: int, body: bytes) -> list[bytes] | None:
        return None if number >= 5 else [_created(body)]  # hang up from the sixth request on

    server = serve(answer)
    released: list[bool] = []
    results = _post(server, 20, connections=2, released=released)
    answered = [_json(r)["i"] for r in results if r is not None and r.status]
    lost = [r for r in results if r is not None and not r.status]
    assert len(answered) == 5 and len(set(answered)) == 5
    assert len(lost) == 2 and all(r.reason == "connection closed" for r in lost)  # sent, never answered
    assert results.count(None) == 13  # never sent
    assert len(released) == 2 and not any(released)  # closed connections are never offered for reuse


def test_connection_close_answers_are_not_reused(serve: Callable[[Answer], RawServer]) -> None:
    def answer(_: int, body: bytes) -> list[bytes]:
        return [b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)]

    released: list[bool] = []
    results = _post(serve(answer), 6, connections=3, released=released)
    assert [_json(r)["i"] for r in results[:3]] == [0, 1, 2]  # one answer per connection
    assert results[3:] == [None, None, None]
    assert released == [False, False, False]


def test_silence_ends_within_the_timeout(serve: Callable[[Answer], RawServer]) -> None:
    hold = threading.Event()

    def answer(_: int, body: bytes) -> list[bytes]:
        hold.wait(10)
        return [_created(body)]

    started = time.monotonic()
    results = _post(serve(answer), 4, connections=2, timeout=0.5)
    hold.set()
    assert [r.status if r else None for r in results] == [0, 0, None, None]
    assert all(r.reason == "no answer within 0.5 s" for r in results[:2] if r)
    assert time.monotonic() - started < 3


def test_a_refused_send_is_left_to_the_caller(serve: Callable[[Answer], RawServer]) -> None:
    server = serve(lambda _n, body: [_created(body)])

    def before_send(url: str) -> None:
        if url.endswith(("=1", "=4")):
            raise PermissionError("not the leader")

    results = _post(server, 6, before_send=before_send)
    assert [r is None for r in results] == [i in (1, 4) for i in range(6)]
    assert all(r.status == 201 for r in results if r)
    assert sorted(r["body"]["i"] for r in server.received) == [0, 2, 3, 5]


def test_a_failed_connect_leaves_everything_to_the_caller() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    results = _multiplex.post_many(_requests(3), connect=lambda: Conn(port), release=lambda c, r: c.close(),
                                   host="x", connections=2, timeout=1)
    assert results == [None, None, None]


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",  # body not complete yet
    b"HTTP/1.1 200 OK\r\nContent-Len",  # head not complete yet
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # chunk not complete yet
])
def test_partial_answers_wait_for_more(raw: bytes) -> None:
    with pytest.raises(_multiplex._Incomplete):
        _multiplex._parse(bytearray(raw))


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\n\r\nbody until close",  # no length: not handled here
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_answers_this_module_does_not_handle_are_unusable(raw: bytes) -> None:
    with pytest.raises(_multiplex._Unusable):
        _multiplex._parse(bytearray(raw))


def test_http_1_0_answers_close_the_connection() -> None:
    answer = b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    status, body, headers, consumed, close = _multiplex._parse(bytearray(answer + b"next"))
    assert (status, body, headers, consumed, close) == (201, b"{}", {"Content-Length": "2"}, len(answer), True)


def test_a_header_with_a_line_break_is_never_sent(serve: Callable[[Answer], RawServer]) -> None:
    server = serve(lambda _n, body: [_created(body)])
    requests = _requests(3)
    requests[1] = (requests[1][0], requests[1][1], {"Authorization": "Bearer abc\r\nX-Injected: 1"})
    results = _multiplex.post_many(requests, connect=lambda: Conn(server.port), release=lambda c, r: c.close(),
                                   host="h", connections=1, timeout=5)
    assert [r.status if r else None for r in results] == [201, None, 201]
    assert all("x-injected" not in r["headers"] for r in server.received) and len(server.received) == 2


def test_requests_given_as_builders_are_built_just_before_sending(serve: Callable[[Answer], RawServer]) -> None:
    """Headers with a rotating token must be read when the request leaves, not when a long
    (rate-limited) batch began; a builder that fails leaves its request unsent."""
    server = serve(lambda _n, body: [_created(body)])
    seen_at_build: list[int] = []

    def builder(i: int) -> Callable[[], _multiplex.Request]:
        def build() -> _multiplex.Request:
            if i == 2:
                raise LookupError("no such kind")
            seen_at_build.append(len(server.received))
            return _requests(5)[i]
        return build

    results = _multiplex.post_many([builder(i) for i in range(5)], connect=lambda: Conn(server.port),
                                   release=lambda c, r: c.close(), host="h", connections=1, timeout=5)
    assert [r.status if r else None for r in results] == [201, 201, None, 201, 201]
    assert seen_at_build == [0, 1, 2, 3]  # one connection: each built after the previous answer
