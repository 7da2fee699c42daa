"""Troubleshooting: NSX traceflow requests → Antrea ``Traceflow`` CRs → results back to NSX
(mapping.md §9, docs/adapter-channel.md §5–§6).

Data path: a leader-only runnable long-polls the adapter channel and hands TRACEFLOW requests to
the :class:`TraceflowService`, which turns each into a Traceflow CR (:mod:`traceflow_convert`),
at most ``max_concurrent`` at once (Antrea's data-plane tags allow 14; more would fail in Antrea)
and queues the rest in arrival order. A controller on the adapter's own Traceflow CRs notices the
final phase, posts the result, deletes the CR and starts the next queued request. A CR still
running ``grace`` seconds after its timeout is given up (Antrea only checks every 10 s).

Restarts: the first poll asks for every request without a final result (``include_delivered``);
requests whose CR still exists are adopted, CRs of the adapter that no request wants any more are
deleted, so nothing leaks and nothing runs twice.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from controllers.ccp import names
from controllers.mp.stats_rules import RuleIds
from controllers.mp.traceflow_convert import (
    Endpoints,
    RequestError,
    ResultContext,
    observations,
    traceflow_spec,
)
from controllers.mp.traceflow_requests import RequestPoller
from crds.resources import TRACEFLOW
from nsx.channel import AdapterChannel
from nsx.client import NsxClient
from nsx.errors import NotFound as NsxNotFound
from nsx.errors import NsxApiError
from nsx.models.channel import PendingRequest, TraceflowResult
from reconciler.client import KubeClient
from reconciler.controller import Controller, ControllerOptions
from reconciler.errors import AlreadyExists
from reconciler.errors import NotFound as KubeNotFound
from reconciler.handler import EnqueueRequestForObject
from reconciler.informer import SharedInformer
from reconciler.manager import Manager
from reconciler.reconcile import Request, Result
from reconciler.source import Kind

ANTREA_MAX_TRACEFLOWS = 14
MAX_TIMEOUT = 300
MP_MANAGED_BY = "mp-adapter"
REQUEST_ANNOTATION = "antrea-nsx-adapter.io/nsx-request-id"
TRACEFLOW_RES = (TRACEFLOW.api_version, TRACEFLOW.kind)
MANAGED_ACNPS = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
OURS = {names.MANAGED_BY_LABEL: MP_MANAGED_BY}


@dataclass
class MpTraceflowSettings:
    """Settings of the traceflow service (flags of the ``mp`` command)."""

    cluster_name: str
    """The cluster-control-plane id in NSX whose request channel is polled."""

    max_concurrent: int = ANTREA_MAX_TRACEFLOWS
    """Traceflow CRs in flight at once; further requests wait in a queue. Defaults to 14, Antrea's
    own limit (data-plane tags 7..59 step 4); more is refused."""

    timeout: int = 20
    """``spec.timeout`` of each Traceflow, seconds (1..300). Defaults to 20 s, Antrea's default."""

    grace: float = 15.0
    """Seconds past ``timeout`` before the adapter gives up a trace Antrea has not finished (Antrea
    fails timed-out traces on a 10 s check). Defaults to 15 s."""

    poll_timeout: int = 10
    """Long-poll duration of the request channel, seconds (0..60). Defaults to 10 s: a request
    still arrives at once; the bound is how long a shutdown may wait for the open poll."""

    workers: int = 4
    """Workers of the Traceflow controller (``--traceflow-workers``). Defaults to 4."""

    def __post_init__(self) -> None:
        if not self.cluster_name:
            raise ValueError("cluster_name is required")
        if not 1 <= self.max_concurrent <= ANTREA_MAX_TRACEFLOWS:
            raise ValueError(f"max_concurrent must be 1..{ANTREA_MAX_TRACEFLOWS} (Antrea's limit)")
        if not 1 <= self.timeout <= MAX_TIMEOUT:
            raise ValueError(f"timeout must be 1..{MAX_TIMEOUT} seconds")
        if not 0 <= self.poll_timeout <= 60:
            raise ValueError("poll_timeout must be 0..60 seconds")


def cr_name(request_id: str) -> str:
    """Traceflow CR name of a request (stable, so a restarted adapter finds its CRs again)."""
    return "nsx-tf-" + names.k8s_name(request_id.lower())


@dataclass
class _Active:
    request: PendingRequest
    deadline: float


@dataclass
class TraceflowService:
    """Queue, cap and bookkeeping of the traceflows in flight; see the module docstring."""

    kube: KubeClient
    channel: AdapterChannel
    settings: MpTraceflowSettings
    traceflows: SharedInformer
    endpoints: Endpoints
    results: ResultContext
    active: dict[str, _Active] = field(default_factory=dict)
    """CR name -> request, for every CR that exists (or is being created)."""
    queue: deque[PendingRequest] = field(default_factory=deque)
    completed: int = 0
    failed_early: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: Callable[[str], None] = lambda _name: None

    # ------------------------------------------------------------------------------- requests
    def submit(self, request: PendingRequest) -> None:
        """A TRACEFLOW request from NSX: start it now if a slot is free, else queue it."""
        name = cr_name(request.id)
        with self._lock:
            if name in self.active or any(r.id == request.id for r in self.queue):
                return  # delivered again (include_delivered after a restart)
            self.queue.append(request)
        self._pump()

    def adopt_or_clean(self, pending: list[PendingRequest]) -> None:
        """After a restart: adopt CRs that pending requests own, delete the others of ours."""
        wanted = {cr_name(r.id): r for r in pending if r.type == "TRACEFLOW"}
        for obj in self.traceflows.store.list():
            name = str(obj["metadata"]["name"])
            if name in wanted:
                with self._lock:
                    self.active[name] = _Active(wanted[name], time.monotonic() + self.settings.timeout
                                                + self.settings.grace)
                self._wake(name)
            else:
                self._delete(name)

    def _pump(self) -> None:
        """Start queued requests while slots are free (creation outside the lock)."""
        while True:
            with self._lock:
                if not self.queue or len(self.active) >= self.settings.max_concurrent:
                    return
                request = self.queue.popleft()
                name = cr_name(request.id)
                self.active[name] = _Active(request, time.monotonic() + self.settings.timeout + self.settings.grace)
            try:
                started = self._create(name, request)
            except Exception as err:  # NSX refused the FAILED result: the request stays pending there
                logger.warning("traceflow request {} could not be answered: {}", request.id, err)
                started = False
            if not started:
                with self._lock:
                    self.active.pop(name, None)

    def _create(self, name: str, request: PendingRequest) -> bool:
        """Create the CR; False when the request ended here (FAILED posted)."""
        try:
            if request.traceflow is None:
                raise RequestError("the request carries no traceflow configuration")
            spec = traceflow_spec(request.traceflow, self.endpoints, self.settings.timeout)
        except RequestError as err:
            reason = str(err)
            logger.info("traceflow {} fails before it starts: {}", request.id, reason)
            self.failed_early += 1
            self._post(request, TraceflowResult(phase="FAILED", reason=reason))
            return False
        body = {"apiVersion": TRACEFLOW.api_version, "kind": TRACEFLOW.kind,
                "metadata": {"name": name, "labels": dict(OURS),
                             "annotations": {REQUEST_ANNOTATION: request.id,
                                             names.NSX_PATH_ANNOTATION: str(request.traceflow.path or "")}},
                "spec": spec}
        try:
            self.kube.create(TRACEFLOW_RES, body)
        except AlreadyExists:
            pass  # created before a restart: adopted
        except Exception as err:
            self._post(request, TraceflowResult(phase="FAILED", reason=f"creating the Antrea Traceflow failed: {err}"))
            return False
        self._wake(name)
        return True

    # -------------------------------------------------------------------------------- results
    def reconcile(self, req: Request) -> Result | None:
        """One of our CRs changed (or its deadline came): finish it when it is done."""
        with self._lock:
            active = self.active.get(req.name)
        obj = self.traceflows.store.get(req.name)
        if active is None:
            return None  # not (or no longer) ours to finish; stale CRs are removed at start-up
        if obj is None:
            return Result(requeue_after=0.5) if time.monotonic() < active.deadline else self._finish(
                req.name, active, TraceflowResult(phase="FAILED", reason="the Antrea Traceflow disappeared"))
        status = obj.get("status") or {}
        phase = status.get("phase")
        if phase == "Succeeded":
            return self._finish(req.name, active, TraceflowResult(
                phase="SUCCEEDED", reason="", observations=observations(status, self.results)))
        if phase == "Failed":
            return self._finish(req.name, active, TraceflowResult(
                phase="FAILED", reason=str(status.get("reason") or "failed in Antrea"),
                observations=observations(status, self.results)))
        left = active.deadline - time.monotonic()
        if left <= 0:
            return self._finish(req.name, active, TraceflowResult(
                phase="FAILED", reason=f"Traceflow timeout: Antrea did not finish within {self.settings.timeout} s"))
        return Result(requeue_after=left)

    def _finish(self, name: str, active: _Active, result: TraceflowResult) -> Result | None:
        self._post(active.request, result)  # raises while NSX is unreachable: retried with back-off
        self._delete(name)
        with self._lock:
            self.active.pop(name, None)
            self.completed += 1
        self._pump()
        return None

    def _post(self, request: PendingRequest, result: TraceflowResult) -> None:
        try:
            self.channel.post_result(request.id, result)
        except NsxNotFound:
            logger.info("traceflow request {} was cancelled in NSX; result dropped", request.id)
        except NsxApiError as err:
            if err.status != 409:  # 409: a result is already there (posted before a restart)
                raise

    def _delete(self, name: str) -> None:
        try:
            self.kube.delete(TRACEFLOW_RES, name)
        except KubeNotFound:
            pass


def _uid_index(obj: Mapping[str, Any]) -> list[str]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [str(uid)] if uid else []


def _first(informer: SharedInformer, index: str, value: str) -> Mapping[str, Any] | None:
    found = informer.store.by_index(index, value)
    return found[0] if found else None


@dataclass
class MpTraceflow:
    """Handles on the running parts, for tests and the demo."""

    service: TraceflowService
    poller: RequestPoller
    controller: Controller
    rule_ids: RuleIds


def setup_mp_traceflow(manager: Manager, nsx_client: NsxClient, settings: MpTraceflowSettings) -> MpTraceflow:
    """Register the request poller and the Traceflow controller on ``manager`` (leader-only)."""
    by_uid = {"uid": _uid_index}
    pods = manager.informer(("v1", "Pod"), indexers=by_uid)
    services = manager.informer(("v1", "Service"), indexers=by_uid)
    nodes = manager.informer(("v1", "Node"))
    acnps = manager.informer((names.ANTREA_API_VERSION, "ClusterNetworkPolicy"), label_selector=MANAGED_ACNPS)
    traceflows = manager.informer(TRACEFLOW_RES, label_selector=OURS)
    rule_ids = RuleIds(nsx_client.policy)

    def node_uid(name: str) -> str | None:
        node = nodes.store.get(name)
        return str(node["metadata"].get("uid")) if node else None

    def rule_path(acnp_name: str, rule: str) -> str | None:
        acnp = acnps.store.get(acnp_name)
        annotations = ((acnp or {}).get("metadata") or {}).get("annotations") or {}
        path = annotations.get(names.NSX_PATH_ANNOTATION)
        if not isinstance(path, str):
            return None
        try:
            rule_id = rule_ids.rule_id(path, str(annotations.get(names.NSX_REVISION_ANNOTATION, "")), rule)
        except Exception as err:  # NSX unreachable: the observation goes without a rule path
            logger.debug("resolving rule {} of {} failed: {}", rule, path, err)
            return None
        return f"{path}/rules/{rule_id}" if rule_id else None

    channel = nsx_client.channel(settings.cluster_name)
    service = TraceflowService(
        kube=manager.client,
        channel=channel,
        settings=settings,
        traceflows=traceflows,
        endpoints=Endpoints(pod_by_uid=lambda uid: _first(pods, "uid", uid),
                            service_by_uid=lambda uid: _first(services, "uid", uid)),
        results=ResultContext(node_uid=node_uid, rule_path=rule_path),
    )
    controller = Controller("mp-traceflow", service, ControllerOptions(max_concurrent_reconciles=settings.workers))
    controller.watches(Kind(traceflows), EnqueueRequestForObject())
    service._wake = lambda name: controller.queue.add(Request(name=name))
    poller = RequestPoller(channel, settings.poll_timeout)
    poller.handlers["TRACEFLOW"] = service.submit
    poller.on_first_poll.append(service.adopt_or_clean)
    manager.add(controller)
    manager.add_runnable(poller.run)
    return MpTraceflow(service, poller, controller, rule_ids)
