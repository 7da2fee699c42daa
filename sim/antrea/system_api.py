"""``system.antrea.io/v1beta1``: the on-demand support bundle API and ``controllerinfos`` (antrea.md §5.3, §4.3).

One :class:`SupportBundles` per component: antrea-controller serves the name ``controller``, each
antrea-agent the name ``agent``; any other name is refused with 403, as Antrea does. A POST starts a
collection (``status`` ``None`` → ``Collecting`` → ``Collected``, with ``sum`` (sha256), ``size`` and
``since``), ``GET <name>/download`` returns the tar.gz, ``DELETE`` forgets it, and a collected bundle
expires after an hour. A POST while collecting is refused with 409 (one collection at a time).

The archive holds what the stand-in knows (its own log of events, the objects it serves, the
component's info object); it is small but a real tar.gz whose checksum matches ``sum``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sim.antrea.apiserver import ApiFailure, ApiReply, ApiRequest, GroupVersion, ResourceSpec, status

GROUP = "system.antrea.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
BUNDLE_TTL = 3600.0
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

Contents = Callable[[int | None], dict[str, bytes]]
"""The files of a bundle, given ``since`` in seconds (None: everything)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(value: Any) -> int | None:
    """A Go duration (``1h``, ``90m``, ``3600s``) in seconds; None when absent or unparsable."""
    m = _DURATION.match(str(value or ""))
    if not value or not m or not any(m.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class SupportBundles:
    """The ``supportbundles`` resource of one component; see the module docstring."""

    def __init__(self, name: str, contents: Contents, collect_time: float = 0.2) -> None:
        self.name = name
        self._contents = contents
        self.collect_time = collect_time
        self._lock = threading.Lock()
        self._status = "None"
        self._since = ""
        self._data = b""
        self._created = ""
        self._collected_at = 0.0
        self._generation = 0
        self.collections = 0

    def spec(self) -> ResourceSpec:
        return ResourceSpec("supportbundles", "SupportBundle", ("create", "get", "delete"), self.handle,
                            subresources=(("download", ("get",)),))

    def _object(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": "SupportBundle", "apiVersion": API_VERSION,
                               "metadata": {"name": self.name, "creationTimestamp": self._created or None},
                               "status": self._status}
        if self._status == "Collected":
            doc.update(sum=hashlib.sha256(self._data).hexdigest(), size=len(self._data))
        if self._since:
            doc["since"] = self._since
        return doc

    def _expire(self) -> None:
        """Lock held."""
        if self._status == "Collected" and time.monotonic() - self._collected_at > BUNDLE_TTL:
            self._status, self._data, self._since = "None", b"", ""

    def handle(self, req: ApiRequest) -> ApiReply:
        if req.method == "POST" and not req.name:
            return self._create(req)
        if not req.name:
            raise ApiFailure(405, "MethodNotAllowed", f"{req.method} on the supportbundles collection is not supported")
        if req.name != self.name:
            raise ApiFailure(404, "NotFound", f'supportbundles.{GROUP} "{req.name}" not found')
        with self._lock:
            self._expire()
            if req.subresource == "download" and req.method == "GET":
                if self._status != "Collected":
                    raise ApiFailure(404, "NotFound", f"support bundle {self.name} is not collected yet")
                return ApiReply(200, self._data, "application/tar+gzip")
            if req.subresource:
                raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
            if req.method == "GET":
                return ApiReply.of(self._object())
            if req.method == "DELETE":
                self._generation += 1
                self._status, self._data, self._since, self._created = "None", b"", "", ""
                return ApiReply.of(status(200, "", "deleted") | {"status": "Success"})
        raise ApiFailure(405, "MethodNotAllowed", f"{req.method} is not supported")

    def _create(self, req: ApiRequest) -> ApiReply:
        body = req.json()
        name = str((body.get("metadata") or {}).get("name") or "")
        if name != self.name:
            raise ApiFailure(403, "Forbidden", f'only the name "{self.name}" is allowed, got "{name}"')
        since_seconds = parse_since(body.get("since"))
        with self._lock:
            if self._status == "Collecting":
                raise ApiFailure(409, "Conflict", f"support bundle {self.name} is being collected")
            self._generation += 1
            generation = self._generation
            self._status, self._data = "Collecting", b""
            self._since = str(body.get("since") or "")
            self._created = _now()
            doc = self._object()
        threading.Thread(target=self._collect, args=(generation, since_seconds), daemon=True,
                         name=f"antrea-sim-bundle-{self.name}").start()
        return ApiReply.of(doc, 201)

    def _collect(self, generation: int, since_seconds: int | None) -> None:
        time.sleep(self.collect_time)
        try:
            data = tar_gz(self._contents(since_seconds))
        except Exception as err:  # a failed collection leaves an archive that says so
            data = tar_gz({"ERROR.txt": f"collection failed: {err}\n".encode()})
        with self._lock:
            if generation != self._generation:  # deleted or restarted meanwhile
                return
            self._status, self._data, self._collected_at = "Collected", data, time.monotonic()
            self.collections += 1


class ControllerInfos:
    """``controllerinfos``: the controller's ``AntreaControllerInfo`` computed live (one item)."""

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self._read = read

    def spec(self) -> ResourceSpec:
        return ResourceSpec("controllerinfos", "AntreaControllerInfo", ("get", "list"), self.handle,
                            singular="controllerinfo")

    def _info(self) -> dict[str, Any]:
        info = self._read() or {}
        meta = info.get("metadata") or {}
        out = {k: v for k, v in info.items() if k not in ("apiVersion", "kind", "metadata")}
        out["controllerConditions"] = [{"type": "ControllerHealthy", "status": "True", "lastHeartbeatTime": _now()}]
        return {"kind": "AntreaControllerInfo", "apiVersion": API_VERSION,
                "metadata": {"name": "antrea-controller", "creationTimestamp": meta.get("creationTimestamp")}, **out}

    def handle(self, req: ApiRequest) -> ApiReply:
        if req.method != "GET" or req.subresource:
            raise ApiFailure(405, "MethodNotAllowed", f"{req.method} is not supported")
        if not req.name:
            return ApiReply.of({"kind": "AntreaControllerInfoList", "apiVersion": API_VERSION, "metadata": {},
                                "items": [self._info()]})
        if req.name != "antrea-controller":
            raise ApiFailure(404, "NotFound", f'controllerinfos.{GROUP} "{req.name}" not found')
        return ApiReply.of(self._info())


def serve(gv: GroupVersion, *parts: SupportBundles | ControllerInfos) -> GroupVersion:
    for part in parts:
        gv.add(part.spec())
    return gv


def json_file(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()
