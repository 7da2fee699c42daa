"""Support bundles and log collection: NSX SUPPORT_BUNDLE / LOG_COLLECTION requests → one
``tar.gz`` uploaded through the adapter channel → per-node result (mapping.md §9,
docs/adapter-channel.md §5–§6, antrea.md §5.3).

NSX delivers every request type through one long-poll, so this module does not poll: it registers
handlers on the Traceflow part's :class:`~controllers.mp.traceflow_requests.RequestPoller`. Each
request is collected on a worker thread (collection may take a while and must not hold up
Traceflow requests), one at a time (antrea.md §8.7: bundle requests of a cluster must not overlap).

What goes into the archive (NSX's layout: one tar.gz per Antrea component, plus the adapter's log):

- ``antrea/controller.tar.gz``: antrea-controller's own bundle from ``system.antrea.io/v1beta1``
  ``supportbundles`` through the API server (:mod:`controllers.mp.antrea_bundles`). A cluster
  whose API server does not serve it (404: no Antrea aggregated API) or whose controller does not
  answer (503) still gets an archive: the adapter logs why and carries on with what follows.
- ``antrea/controller/antreacontrollerinfo.json``: the controller's info, computed live
  (``system.antrea.io`` ``controllerinfos``) when served, else the ``AntreaControllerInfo`` CRD.
- per requested Node (all Nodes when the request lists none): ``antrea/agent_<node>.tar.gz``, the
  agent's own bundle fetched from the agent's API (its address, port and CA from the Node and its
  ``AntreaAgentInfo``), and ``antrea/agent_<node>/antreaagentinfo.json``. A Node is a success when
  its agent bundle is in the archive; an unknown Node, a missing ``AntreaAgentInfo`` or an agent
  that cannot be reached, verified or that fails to collect is a per-node failure with the reason,
  so NSX shows a partial success naming the Nodes that failed. Agents collect in parallel; their
  downloads are streamed one after the other into the archive.
- The adapter's own recent log lines, from an in-memory ring fed by a loguru sink this module
  registers. Lines are redacted (:func:`reconciler.logging.redact` plus any literal secrets given
  in the settings) when they enter the ring, so no credential can reach NSX through an archive.
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

from controllers.mp.antrea_bundles import (
    AgentBundleClient,
    AntreaBundleApiUnavailable,
    BundleError,
    agent_endpoint,
    bearer_token,
    controller_bundle,
    controller_info,
)
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
    """Seconds to wait for an Antrea bundle (controller or agent) to be ``Collected``, and for its
    download to stall at most. Defaults to 60 s."""

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
                success, failed = self._nodes(tar, spec_nodes, since)
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
            size = controller_bundle(self.kube, tar, "antrea/controller.tar.gz", since,
                                     self.settings.antrea_bundle_timeout)
            logger.debug("Antrea controller bundle: {} bytes", size)
        except AntreaBundleApiUnavailable:
            logger.info("system.antrea.io supportbundles is not served; collecting AntreaControllerInfo/"
                        "AntreaAgentInfo through the API server instead")
        except Exception as err:
            logger.warning("Antrea's controller support bundle failed ({}); collecting the info CRs only", err)
        info = controller_info(self.kube) or next(
            (i for i in self._list(CONTROLLER_INFO_RES) if i["metadata"].get("name") == CONTROLLER_INFO_NAME), None)
        if info is not None:
            _add(tar, "antrea/controller/antreacontrollerinfo.json", _json(info))
        else:
            _add(tar, "antrea/controller/ERROR.txt", b"AntreaControllerInfo antrea-controller not found\n")

    def _list(self, res: tuple[str, str]) -> list[Mapping[str, Any]]:
        """Every object of ``res`` (list is what the adapter is granted on the info CRDs), [] when
        the CRD is not installed."""
        try:
            return list(self.kube.list(res)["items"])
        except KubeNotFound:
            return []

    def _nodes(self, tar: tarfile.TarFile, wanted: list[str],
               since: int) -> tuple[list[NodeOutcome], list[NodeOutcome]]:
        """Agent bundles per requested Node (ids are Node UIDs, the inventory external ids)."""
        nodes: dict[str, Mapping[str, Any]] = {
            str(n["metadata"].get("uid")): n for n in self.kube.list(("v1", "Node"))["items"]}
        success: list[NodeOutcome] = []
        failed: list[NodeOutcome] = []
        token = bearer_token(self.kube)
        infos = {str(i["metadata"].get("name")): i for i in self._list(AGENT_INFO_RES)}
        started: list[tuple[str, str, AgentBundleClient]] = []
        for uid in wanted or sorted(nodes):
            node = nodes.get(uid)
            if node is None:
                failed.append(NodeOutcome(node_id=uid, error_message="no such Node in the cluster"))
                continue
            name = str(node["metadata"]["name"])
            info = infos.get(name)
            if info is None:
                failed.append(NodeOutcome(node_id=uid, node_display_name=name,
                                          error_message="AntreaAgentInfo not found: is antrea-agent running?"))
                continue
            _add(tar, f"antrea/agent_{name}/antreaagentinfo.json", _json(info))
            try:
                agent = AgentBundleClient(agent_endpoint(node, info), token, self.settings.antrea_bundle_timeout)
            except BundleError as err:
                failed.append(NodeOutcome(node_id=uid, node_display_name=name, error_message=str(err)))
                continue
            try:
                agent.start(since)  # every agent collects while the previous ones download
                started.append((uid, name, agent))
            except BundleError as err:
                agent.close()
                failed.append(NodeOutcome(node_id=uid, node_display_name=name, error_message=str(err)))
        for uid, name, agent in started:
            try:
                size = agent.download_into(tar, f"antrea/agent_{name}.tar.gz")
                logger.debug("antrea-agent {} bundle: {} bytes", name, size)
                success.append(NodeOutcome(node_id=uid, node_display_name=name))
            except BundleError as err:
                failed.append(NodeOutcome(node_id=uid, node_display_name=name, error_message=str(err)))
            finally:
                agent.close()
        for outcome in failed:
            logger.warning("support bundle of Node {}: {}", outcome.node_display_name or outcome.node_id,
                           outcome.error_message)
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
