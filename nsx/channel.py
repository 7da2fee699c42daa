"""The adapter channel (docs/adapter-channel.md): heartbeat, realization and statistics reports,
and the long-poll of troubleshooting requests with their results.

Real NSX carries these over NSX-RPC; the project uses this JSON API instead, and NSX's real read
APIs reflect what is sent here. Every call goes through the same transport (auth, TLS, failover,
retries) as the rest of the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from nsx.models.base import NsxModel
from nsx.models.channel import (
    ArchiveAck,
    CollectionResult,
    HeartbeatAck,
    PendingRequest,
    PolicyStatisticsReport,
    RealizationReport,
    ReportAck,
    RequestAck,
    StoredRealization,
    TraceflowResult,
)
from nsx.models.clusters import AntreaClusterInfo
from nsx.transport import Transport

PREFIX = "/api/v1/antrea-adapter/clusters"
MAX_REPORTS_PER_REQUEST = 1000
MAX_POLL_SECONDS = 60
# The channel refuses unknown top-level heartbeat fields, so only these leave the client.
_HEARTBEAT_FIELDS = {
    "status", "controller_status", "agent_info", "mp_adapter_status", "ccp_adapter_status",
    "resource_type", "display_name", "description",
}


class RealizationItemResult(NsxModel):
    """The answer for one item of a realization batch (C9): an HTTP-like ``status`` per item."""

    intent_path: str | None = None
    op: Literal["report", "withdraw"] = "report"
    status: int
    error_code: int | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class RealizationBatchAck(NsxModel):
    results: list[RealizationItemResult] = Field(default_factory=list)
    accepted: int = 0
    failed: int = 0


class AdapterChannel:
    """The channel of one registered cluster (``cluster_id`` = the ClusterControlPlane id)."""

    def __init__(self, transport: Transport, cluster_id: str, *, connect_timeout: float = 10.0) -> None:
        self._t = transport
        self.cluster_id = cluster_id
        self._base = f"{PREFIX}/{quote(cluster_id, safe='')}"
        self._connect_timeout = connect_timeout

    def heartbeat(self, info: AntreaClusterInfo) -> int:
        """Send cluster health; returns the ``report_interval`` (s) before the next one is due."""
        body = {k: v for k, v in info.to_wire().items() if k in _HEARTBEAT_FIELDS}
        ack = HeartbeatAck.model_validate(self._t.request("POST", self._base + "/heartbeat", json=body))
        return ack.report_interval

    def report_realization(self, reports: Sequence[RealizationReport]) -> ReportAck:
        """Replace the reports of these policies (chunked; each chunk is applied atomically)."""
        total = ReportAck()
        for start in range(0, len(reports), MAX_REPORTS_PER_REQUEST):
            chunk = [r.to_wire() for r in reports[start:start + MAX_REPORTS_PER_REQUEST]]
            ack = ReportAck.model_validate(
                self._t.request("POST", self._base + "/realization", json={"reports": chunk}))
            total.accepted += ack.accepted
            total.ignored.extend(ack.ignored)
        return total

    def report_realization_batch(
        self, reports: Sequence[RealizationReport], withdrawals: Sequence[str] = ()
    ) -> RealizationBatchAck:
        """Send reports and withdrawals in one POST (C9), answered item by item.

        Not chunked: a caller that retries failed items needs one answer per request, so more
        than ``MAX_REPORTS_PER_REQUEST`` items is a ``ValueError``. A server that answers the
        C2 way (``accepted``/``ignored``, no ``results``; e.g. the dry-run transport) is read as:
        every item succeeded except the ignored reports (404)."""
        if len(reports) + len(withdrawals) > MAX_REPORTS_PER_REQUEST:
            raise ValueError(f"at most {MAX_REPORTS_PER_REQUEST} reports and withdrawals per request")
        body = {"reports": [r.to_wire() for r in reports], "withdrawals": list(withdrawals)}
        answer = self._t.request("POST", self._base + "/realization/batch", json=body) or {}
        if "results" in answer:
            return RealizationBatchAck.model_validate(answer)
        ignored = set(answer.get("ignored") or [])
        results = [RealizationItemResult(intent_path=r.intent_path, op="report",
                                         status=404 if r.intent_path in ignored else 200) for r in reports]
        results += [RealizationItemResult(intent_path=p, op="withdraw", status=200) for p in withdrawals]
        accepted = sum(1 for r in results if r.ok)
        return RealizationBatchAck(results=results, accepted=accepted, failed=len(results) - accepted)

    def realization_reports(self) -> list[StoredRealization]:
        """What NSX holds for this cluster (compare after a restart before re-sending)."""
        body = self._t.request("GET", self._base + "/realization") or {}
        return [StoredRealization.model_validate(item) for item in body.get("results") or []]

    def withdraw_realization(self, intent_path: str) -> None:
        """Drop the report of a policy that no longer spans this cluster."""
        self._t.request("DELETE", self._base + "/realization", params={"intent_path": intent_path})

    def report_statistics(self, policies: Sequence[PolicyStatisticsReport]) -> ReportAck:
        """Cumulative rule counters; unknown policies/rules come back in ``ignored``."""
        body = {"policies": [p.to_wire() for p in policies]}
        return ReportAck.model_validate(self._t.request("POST", self._base + "/statistics", json=body))

    def poll_requests(self, timeout: int = 30, *, include_delivered: bool = False) -> list[PendingRequest]:
        """Wait up to ``timeout`` s (0–60) for troubleshooting requests; each is delivered once
        unless ``include_delivered`` (after a restart: everything without a final result)."""
        if not 0 <= timeout <= MAX_POLL_SECONDS:
            raise ValueError(f"timeout must be 0..{MAX_POLL_SECONDS} seconds")
        params: dict[str, Any] = {"timeout": timeout}
        if include_delivered:
            params["include_delivered"] = "true"
        body = self._t.request("GET", self._base + "/requests", params=params,
                               timeout=(self._connect_timeout, timeout + 10.0)) or {}
        return [PendingRequest.model_validate(item) for item in body.get("requests") or []]

    def post_result(self, request_id: str, result: TraceflowResult | CollectionResult) -> RequestAck:
        """Final result of a request (for bundles/logs, upload the archive first)."""
        body = self._t.request("POST", f"{self._request(request_id)}/result", json=result.to_wire())
        return RequestAck.model_validate(body)

    def upload_archive(
        self, request_id: str, archive: bytes, *, content_type: str = "application/gzip"
    ) -> ArchiveAck:
        body = self._t.request("PUT", f"{self._request(request_id)}/archive", data=archive,
                               headers={"Content-Type": content_type})
        return ArchiveAck.model_validate(body)

    def _request(self, request_id: str) -> str:
        return f"{self._base}/requests/{quote(request_id, safe='')}"
