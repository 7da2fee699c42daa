"""WATCH: newline-delimited JSON events over a chunked response, never a blank line.

Semantics copied from the apiserver's watch cache:
* resourceVersion absent/""/"0": synthetic ADDED for every existing object, then live events;
  a number N: replay of the retained history after N, then live events; N older than the history:
  HTTP 200 with one ``ERROR`` event carrying a 410 ``Expired`` Status (clients relist on it);
* selectors apply to both sides of a change: leaving the selection is DELETED (the old object,
  stamped with the new resourceVersion), entering it is ADDED;
* ``allowWatchBookmarks``: BOOKMARK events carrying only ``metadata.resourceVersion``, sent only
  when every earlier event has been delivered, so resuming from a bookmark never skips anything;
* ``sendInitialEvents=true``: the initial ADDED events end with a bookmark annotated
  ``k8s.io/initial-events-end``.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import errors, tables
from .kinds import ResourceType
from .selectors import Matcher, matcher, name_from_fields, parse_field_selector, parse_label_selector
from .state import Call, State
from .storage import Event, Stored, encode_body, full_json

_CLOSE = None
_COALESCE_SECONDS = 0.002  # pause after a sent batch, see run_watch
_EXPIRED = "too old resource version: {} ({})"


class Watcher:
    """One open watch: the store pushes events into its queue, the HTTP thread drains it."""

    def __init__(self, rt: ResourceType, namespace: str | None, name: str | None, match: Matcher | None,
                 table_include: str | None = None) -> None:
        self.rt = rt
        self.table_include = table_include
        self.namespace = namespace
        self.name = name
        self.match = match
        self.queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self.dropped = False

    def push(self, event: Event) -> None:
        self.queue.put(event)

    def close(self, dropped: bool = True) -> None:
        self.dropped = dropped
        self.queue.put(_CLOSE)

    def _line(self, etype: str, stored: Stored) -> bytes:
        if self.table_include is not None:
            md = {"resourceVersion": stored.obj["metadata"]["resourceVersion"]}
            obj = json.dumps(tables.table(self.rt, [stored.obj], md, self.table_include)).encode()
        else:
            obj = full_json(self.rt.api_version, self.rt.kind, stored.body)
        return b'{"type":"' + etype.encode() + b'","object":' + obj + b"}\n"

    def wants(self, stored: Stored, namespace: str, name: str) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        if self.name is not None and name != self.name:
            return False
        return self.match is None or self.match(stored.obj)

    def translate(self, event: Event) -> bytes | None:
        """The line this watcher sends for ``event`` (None when it does not concern it)."""
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        if self.name is not None and event.name != self.name:
            return None
        if self.match is None:
            return self._line(event.type, event.new)
        new_in = self.match(event.new.obj)
        if event.type != "MODIFIED":
            return self._line(event.type, event.new) if new_in else None
        old_in = event.old is not None and self.match(event.old.obj)
        if new_in:
            return self._line("MODIFIED" if old_in else "ADDED", event.new)
        if old_in and event.old is not None:
            last = dict(event.old.obj)
            last["metadata"] = dict(last["metadata"], resourceVersion=str(event.rv))
            return self._line("DELETED", Stored(last, encode_body(last)))
        return None

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        md: dict[str, object] = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": md}
        return b'{"type":"BOOKMARK","object":' + json.dumps(obj, separators=(",", ":")).encode() + b"}\n"


@dataclass
class WatchPlan:
    """What to send once the response headers are out."""

    watcher: Watcher
    initial: list[bytes]  # lines to send first (synthetic ADDED / replay / ERROR)
    expired: bool
    bookmarks: bool
    timeout: float | None


def _rv_param(value: str | None) -> int | None:
    if value is None or value in ("", "0"):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f'invalid resource version: "{value}"') from exc


def open_watch(state: State, call: Call) -> WatchPlan:
    """Validate the request and subscribe (raises ApiError before any byte is sent)."""
    rt = call.rtype
    q = call.query
    labels = parse_label_selector(q.get("labelSelector"))
    fields = parse_field_selector(q.get("fieldSelector"), rt)
    since = _rv_param(q.get("resourceVersion"))
    timeout: float | None = None
    if q.get("timeoutSeconds"):
        try:
            timeout = max(0.0, float(q["timeoutSeconds"]))
        except ValueError as exc:
            raise errors.bad_request(f"invalid timeoutSeconds: {q['timeoutSeconds']!r}") from exc
    namespace = call.namespace if rt.namespaced and call.namespace else None
    watcher = Watcher(rt, namespace, call.name or name_from_fields(fields), matcher(labels, fields),
                      call.table_include)
    bookmarks = q.get("allowWatchBookmarks") == "true"
    initial_events = q.get("sendInitialEvents") == "true"
    store = state.store
    initial: list[bytes] = []
    with store.lock:
        if since is None or initial_events:
            for stored in store.items(rt.storage_key, namespace):
                md = stored.obj["metadata"]
                if watcher.wants(stored, md.get("namespace", ""), md["name"]):
                    initial.append(watcher._line("ADDED", stored))
            store.subscribe(rt.storage_key, watcher, None)
            if initial_events:
                initial.append(watcher.bookmark(store.rv, initial_end=True))
            return WatchPlan(watcher, initial, False, bookmarks, timeout)
        replay = store.subscribe(rt.storage_key, watcher, since)
        if replay is None:
            status = errors.status_body(410, "Expired", _EXPIRED.format(since, store.compacted_rv))
            error = b'{"type":"ERROR","object":' + json.dumps(status, separators=(",", ":")).encode() + b"}\n"
            return WatchPlan(watcher, [error], True, False, timeout)
        for event in replay:
            if (line := watcher.translate(event)) is not None:
                initial.append(line)
        return WatchPlan(watcher, initial, False, bookmarks, timeout)


def _peer_closed(sock: socket.socket | None) -> bool:
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def run_watch(state: State, plan: WatchPlan, send: Callable[[bytes], None], sock: socket.socket | None,
              bookmark_interval: float, stopping: Callable[[], bool]) -> None:
    """Stream until timeout, client disconnect, drop or server stop. ``send`` writes one chunk."""
    watcher = plan.watcher
    store = state.store
    try:
        if plan.initial:
            send(b"".join(plan.initial))
        if plan.expired:
            return
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while not stopping():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - now)
            if plan.bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                first = watcher.queue.get(timeout=max(wait, 0.001))
            except queue.Empty:
                if plan.bookmarks and time.monotonic() >= next_bookmark:
                    with store.lock:
                        quiet = watcher.queue.empty()
                        rv = store.rv
                    if quiet:
                        send(watcher.bookmark(rv))
                    next_bookmark = time.monotonic() + bookmark_interval
                elif _peer_closed(sock):
                    return
                continue
            lines: list[bytes] = []
            item: Event | None = first
            while True:
                if item is _CLOSE:
                    if lines:
                        send(b"".join(lines))
                    return
                assert item is not None
                translated = watcher.translate(item)
                if translated is not None:
                    lines.append(translated)
                if len(lines) >= 256:
                    break
                try:
                    item = watcher.queue.get_nowait()
                except queue.Empty:
                    break
            if lines:
                send(b"".join(lines))
                # While writes keep coming, let the next events pile up instead of blocking on the
                # queue at once: a push to a watcher blocked in get() wakes its thread, and that
                # wake-up (~0.1 ms on a busy machine) is paid by the writer, inside the store lock
                # and holding the GIL. Events, their order and batching rules are unchanged.
                time.sleep(_COALESCE_SECONDS)
    finally:
        store.unsubscribe(watcher.rt.storage_key, watcher)
