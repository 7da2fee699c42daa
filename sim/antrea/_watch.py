"""A small list+watch loop over the official client, for the Antrea stand-in.

The simulator must not borrow the product's informers (it would then share their bugs and could
not judge them), so it carries its own: list, watch from the list's resourceVersion, relist on 410
or any failure after a short pause. Events are delivered as plain dicts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client

Handler = Callable[[str, dict[str, Any]], None]  # (event type, object)


class WatchLoop:
    """Streams ADDED/MODIFIED/DELETED for one resource path until ``stop`` is set."""

    def __init__(self, api: client.ApiClient, path: str, handler: Handler, stop: threading.Event) -> None:
        self._api = api
        self._path = path
        self._handler = handler
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name=f"antrea-sim-watch{path}", daemon=True)
        self.synced = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _get(self, query: list[tuple[str, str]], timeout: float) -> Any:
        """The raw urllib3 response (unread), so watch streams can be consumed line by line."""
        _, url, headers, _, _ = self._api.param_serialize(
            "GET", self._path, query_params=query or None, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        resp = self._api.call_api("GET", url, headers, None, None, _request_timeout=timeout)
        if resp.status >= 400:
            raw = resp.response
            body = raw.data
            raw.release_conn()
            raise RuntimeError(f"GET {self._path}: HTTP {resp.status}: {body[:200]!r}")
        return resp.response

    def _run(self) -> None:
        known: dict[str, dict[str, Any]] = {}
        while not self._stop.is_set():
            try:
                raw = self._get([], 30)
                body = json.loads(raw.data)
                raw.release_conn()
                fresh = {_key(o): o for o in body.get("items", [])}
                for key, obj in known.items():
                    if key not in fresh:
                        self._handler("DELETED", obj)
                for obj in fresh.values():
                    self._handler("ADDED", obj)
                known = fresh
                self.synced.set()
                self._stream(body["metadata"].get("resourceVersion", ""), known)
            except Exception:  # any failure: pause, then relist from scratch
                if self._stop.wait(0.5):
                    return

    def _stream(self, resource_version: str, known: dict[str, dict[str, Any]]) -> None:
        while not self._stop.is_set():
            query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                     ("timeoutSeconds", "30")]
            raw = self._get(query, 40)
            try:
                for line in _lines(raw):
                    if self._stop.is_set():
                        return
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object", {})
                    if kind == "ERROR":
                        raise RuntimeError(obj.get("message", "watch error"))
                    resource_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        known.pop(_key(obj), None)
                    else:
                        known[_key(obj)] = obj
                    self._handler(str(kind), obj)
            finally:
                raw.release_conn()


def _lines(raw: Any) -> Any:
    buffer = b""
    for chunk in raw.stream(4096, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
