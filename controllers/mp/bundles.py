"""Support bundles and log collection: NSX SUPPORT_BUNDLE / LOG_COLLECTION requests → one
``tar.gz`` uploaded through the adapter channel → per-node result (mapping.md §9,
docs/adapter-channel.md §5–§6, antrea.md §5.3).

NSX delivers every request type through one long-poll, so this module does not poll: it registers
handlers on the Traceflow part's :class:`~controllers.mp.traceflow_requests.RequestPoller`. Each
request is collected on a worker thread (collection may take a while and must not hold up
Traceflow requests), one at a time (antrea.md §8.7: bundle requests of a cluster must not overlap).

What goes into the archive:

- Antrea's own controller bundle from the ``system.antrea.io/v1beta1`` ``supportbundles`` API
  (:func:`collect_antrea_controller_bundle`) when the API server serves it. When it is not served
  (404: no Antrea aggregated API, as in the project's emulated API server) the adapter logs that
  and falls back; **the tests exercise the fallback only**.
- What a real adapter can always read through the API server: the ``AntreaControllerInfo`` and,
  per requested Node (all Nodes when the request lists none), its ``AntreaAgentInfo`` as JSON. A
  requested Node without an ``AntreaAgentInfo`` (or unknown) is a per-node failure: the result is
  a partial success naming it.
- The adapter's own recent log lines, from an in-memory ring fed by a loguru sink this module
  registers. Lines are redacted (:func:`reconciler.logging.redact` plus any literal secrets given
  in the settings) when they enter the ring, so no credential can reach NSX through an archive.

Agents' own bundles (``https://<node>:10350`` ``supportbundles/agent``, antrea.md §5.3) need a
ServiceAccount token and each agent's CA; they are not collected yet.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from controllers.mp.traceflow_requests import RequestPoller
from crds.resources import AGENT_INFO, CONTROLLER_INFO
from nsx.channel import AdapterChannel
from nsx.errors import NotFound as NsxNotFound
from nsx.errors import NsxApiError
from nsx.models.channel import CollectionResult, NodeOutcome, PendingRequest, ResultPhase
from reconciler.client import KubeClient
from reconciler.errors import NotFound as KubeNotFound
from reconciler.logging import MASK, redact
from reconciler.manager import Manager

AGENT_INFO_RES = (AGENT_INFO.api_version, AGENT_INFO.kind)
CONTROLLER_INFO_RES = (CONTROLLER_INFO.api_version, CONTROLLER_INFO.kind)
SUPPORT_BUNDLE_API = "/apis/system.antrea.io/v1beta1/supportbundles"
CONTROLLER_INFO_NAME = "antrea-controller"
DEFAULT_SINCE_SECONDS = 3600


@dataclass
class BundleSettings:
    """Settings of bundle and log collection (flags of the ``mp`` command)."""

    log_lines: int = 20000
    """Adapter log lines kept in memory for archives. Defaults to 20000 (a few MiB at most)."""

    log_level: str = "DEBUG"
    """Lowest level kept in the ring. Defaults to DEBUG: an archive is read when something went
    wrong, and the ring is bounded by ``log_lines`` whatever the level."""

    antrea_bundle_timeout: float = 60.0
    """Seconds to wait for Antrea's controller bundle to be ``Collected``. Defaults to 60 s."""

    secrets: list[str] = field(default_factory=list)
    """Literal secrets (the NSX password, …) scrubbed from log lines on top of the pattern-based
    redaction, which only recognises ``key=value``-style secrets."""

    def __post_init__(self) -> None:
        if self.log_lines < 1:
            raise ValueError("log_lines must be >= 1")
        if self.antrea_bundle_timeout <= 0:
            raise ValueError("antrea_bundle_timeout must be > 0")


class LogRing:
    """The adapter's recent log lines, redacted on entry (a loguru sink)."""

    def __init__(self, size: int, secrets: Iterable[str] = (), level: str = "DEBUG") -> None:
        self._level = level
        self._lines: deque[tuple[float, str]] = deque(maxlen=size)
        self._lock = threading.Lock()
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)
        self._sink_id: int | None = None

    def scrub(self, text: str) -> str:
        text = redact(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def write(self, message: Any) -> None:
        """loguru sink: ``message`` is the formatted line; its record carries the time."""
        record = getattr(message, "record", None)
        ts = record["time"].timestamp() if record is not None else time.time()
        line = self.scrub(str(message))
        with self._lock:
            self._lines.append((ts, line))

    def install(self) -> None:
        """Register the sink (after ``setup_logging``, which removes every sink it finds)."""
        if self._sink_id is None:
            self._sink_id = logger.add(
                self.write, level=self._level, colorize=False, backtrace=False, diagnose=False,
                format="{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level} {name}:{line} {message} {extra}\n{exception}")

    def remove(self) -> None:
        if self._sink_id is not None:
            try:
                logger.remove(self._sink_id)
            except ValueError:
                pass  # already removed by a later setup_logging
            self._sink_id = None

    def text(self, since_seconds: float | None = None) -> str:
        cutoff = time.time() - since_seconds if since_seconds else None
        with self._lock:
            return "".join(line for ts, line in self._lines if cutoff is None or ts >= cutoff)


class AntreaBundleApiUnavailable(Exception):
    """The API server does not serve ``system.antrea.io`` supportbundles (404)."""


def collect_antrea_controller_bundle(kube: KubeClient, since_seconds: int, timeout: float) -> bytes:
    """Antrea's controller bundle through ``system.antrea.io/v1beta1`` (antrea.md §5.3): create
    ``controller``, wait for ``Collected``, download, delete. Raises
    :class:`AntreaBundleApiUnavailable` when the API is not served."""
    body = {"apiVersion": "system.antrea.io/v1beta1", "kind": "SupportBundle",
            "metadata": {"name": "controller"}, "since": f"{since_seconds}s"}
    try:
        kube.request("POST", SUPPORT_BUNDLE_API, body=body)
    except KubeNotFound as err:
        raise AntreaBundleApiUnavailable(str(err)) from err
    try:
        deadline = time.monotonic() + timeout
        while True:
            status = kube.request("GET", f"{SUPPORT_BUNDLE_API}/controller").get("status")
            if status == "Collected":
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Antrea controller bundle still {status!r} after {timeout:.0f} s")
            time.sleep(1.0)
        resp = kube.request("GET", f"{SUPPORT_BUNDLE_API}/controller/download", stream=True)
        try:
            return bytes(resp.read())
        finally:
            resp.close()
    finally:
        try:
            kube.request("DELETE", f"{SUPPORT_BUNDLE_API}/controller")
        except Exception as err:  # it expires after 1 h anyway
            logger.debug("deleting Antrea's controller support bundle failed: {}", err)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


@dataclass
class BundleCollector:
    """Runs SUPPORT_BUNDLE / LOG_COLLECTION requests; see the module docstring."""

    kube: KubeClient
    channel: AdapterChannel
    settings: BundleSettings
    ring: LogRing
    completed: int = 0
    _in_flight: set[str] = field(default_factory=set)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _serial: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, request: PendingRequest) -> None:
        """Poller handler: collect on a worker thread (a redelivered request runs once)."""
        with self._guard:
            if request.id in self._in_flight:
                return
            self._in_flight.add(request.id)
        threading.Thread(target=self._run, args=(request,), name=f"bundle-{request.id[:8]}", daemon=True).start()

    def _run(self, request: PendingRequest) -> None:
        try:
            with self._serial:
                self.handle(request)
        except Exception as err:
            logger.warning("{} request {} failed: {}", request.type, request.id, err)
        finally:
            with self._guard:
                self._in_flight.discard(request.id)

    def handle(self, request: PendingRequest) -> CollectionResult:
        """Collect, upload the archive, post the result (synchronously)."""
        if request.type == "SUPPORT_BUNDLE":
            spec_nodes = request.support_bundle.nodes if request.support_bundle else []
            # NSX's log_age_limit is in days (unset = Antrea's/our default of one hour).
            since = (request.support_bundle.log_age_limit or 0) * 86400 if request.support_bundle else 0
            since = since or DEFAULT_SINCE_SECONDS
            per_node = True
        else:
            spec_nodes = request.log_collection.nodes if request.log_collection else []
            since = (request.log_collection.since_seconds if request.log_collection else None) or DEFAULT_SINCE_SECONDS
            per_node = bool(spec_nodes)  # log collection is about the adapter unless nodes are named
        logger.info("collecting {} for request {} (nodes: {})", request.type, request.id,
                    ", ".join(spec_nodes) or "all")
        buf = io.BytesIO()
        success: list[NodeOutcome] = []
        failed: list[NodeOutcome] = []
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            if request.type == "SUPPORT_BUNDLE":
                self._controller(tar, since)
            if per_node:
                success, failed = self._nodes(tar, spec_nodes)
            _add(tar, "adapter/adapter.log", self.ring.text(since).encode())
            _add(tar, "manifest.json", _json({
                "request_id": request.id, "type": request.type, "created": int(time.time() * 1000),
                "success_nodes": [n.to_wire() for n in success], "failed_nodes": [n.to_wire() for n in failed]}))
        phase: ResultPhase = "FAILED" if failed and not success else "SUCCEEDED"
        result = CollectionResult(phase=phase, reason="; ".join(
            f"{n.node_display_name or n.node_id}: {n.error_message}" for n in failed), success_nodes=success,
            failed_nodes=failed)
        try:
            self.channel.upload_archive(request.id, buf.getvalue())
            self.channel.post_result(request.id, result)
        except NsxNotFound:
            logger.info("{} request {} was cancelled in NSX; archive dropped", request.type, request.id)
            return result
        except NsxApiError as err:
            if err.status != 409:  # 409: completed before (redelivered after a restart)
                raise
        self.completed += 1
        logger.info("{} request {} done: {} node(s) collected, {} failed", request.type, request.id,
                    len(success), len(failed))
        return result

    def _controller(self, tar: tarfile.TarFile, since: int) -> None:
        try:
            _add(tar, "antrea/controller.tar.gz",
                 collect_antrea_controller_bundle(self.kube, since, self.settings.antrea_bundle_timeout))
        except AntreaBundleApiUnavailable:
            logger.info("system.antrea.io supportbundles is not served; collecting AntreaControllerInfo/"
                        "AntreaAgentInfo through the API server instead")
        except Exception as err:
            logger.warning("Antrea's controller support bundle failed ({}); collecting the info CRs only", err)
        try:
            info = self.kube.get(CONTROLLER_INFO_RES, CONTROLLER_INFO_NAME)
            _add(tar, "antrea/controller/antreacontrollerinfo.json", _json(info))
        except KubeNotFound:
            _add(tar, "antrea/controller/ERROR.txt", b"AntreaControllerInfo antrea-controller not found\n")

    def _nodes(self, tar: tarfile.TarFile, wanted: list[str]) -> tuple[list[NodeOutcome], list[NodeOutcome]]:
        """Agent info per requested Node (ids are Node UIDs, the inventory external ids)."""
        nodes: dict[str, Mapping[str, Any]] = {
            str(n["metadata"].get("uid")): n for n in self.kube.list(("v1", "Node"))["items"]}
        success: list[NodeOutcome] = []
        failed: list[NodeOutcome] = []
        for uid in wanted or sorted(nodes):
            node = nodes.get(uid)
            if node is None:
                failed.append(NodeOutcome(node_id=uid, error_message="no such Node in the cluster"))
                continue
            name = str(node["metadata"]["name"])
            try:
                info = self.kube.get(AGENT_INFO_RES, name)
            except KubeNotFound:
                failed.append(NodeOutcome(node_id=uid, node_display_name=name,
                                          error_message="AntreaAgentInfo not found: is antrea-agent running?"))
                continue
            _add(tar, f"antrea/agent_{name}/antreaagentinfo.json", _json(info))
            success.append(NodeOutcome(node_id=uid, node_display_name=name))
        return success, failed


def register_bundle_handlers(manager: Manager, poller: RequestPoller,
                             settings: BundleSettings | None = None) -> BundleCollector:
    """Serve SUPPORT_BUNDLE and LOG_COLLECTION requests from ``poller`` (the one of the Traceflow
    part) and start keeping the adapter's log lines. Call after ``setup_logging``."""
    settings = settings or BundleSettings()
    ring = LogRing(settings.log_lines, settings.secrets, settings.log_level)
    ring.install()
    collector = BundleCollector(manager.client, poller.channel, settings, ring)
    poller.handlers["SUPPORT_BUNDLE"] = collector.submit
    poller.handlers["LOG_COLLECTION"] = collector.submit
    return collector
