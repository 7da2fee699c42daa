"""Bodies of the adapter channel (docs/adapter-channel.md): the project's stand-in for NSX-RPC."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nsx.models.base import NsxModel
from nsx.models.traceflow import AntreaTraceflowConfig, AntreaTraceflowObservation

RealizationState = Literal["IN_PROGRESS", "REALIZED", "ERROR"]
RequestType = Literal["TRACEFLOW", "SUPPORT_BUNDLE", "LOG_COLLECTION"]
ResultPhase = Literal["SUCCEEDED", "FAILED"]


class HeartbeatAck(NsxModel):
    report_interval: int


class RealizationReason(NsxModel):
    message: str = Field(max_length=2048)
    rule_id: str | None = None


class RealizationReport(NsxModel):
    """State of one NSX policy in this cluster; ``intent_revision`` = the ``_revision`` realized."""

    intent_path: str
    state: RealizationState
    intent_revision: int | None = None
    reasons: list[RealizationReason] | None = None


class StoredRealization(RealizationReport):
    last_update_time: int | None = None


class ReportAck(NsxModel):
    accepted: int = 0
    ignored: list[str] = Field(default_factory=list)


class RuleCounters(NsxModel):
    """Cumulative totals of one rule (``rule_id`` = the NSX rule *id*, not the numeric rule_id)."""

    rule_id: str
    packet_count: int = Field(ge=0)
    byte_count: int = Field(ge=0)
    session_count: int = Field(ge=0)
    hit_count: int | None = Field(default=None, ge=0)


class PolicyStatisticsReport(NsxModel):
    intent_path: str
    rules: list[RuleCounters] = Field(default_factory=list)


class SupportBundleSpec(NsxModel):
    nodes: list[str] = Field(default_factory=list)
    log_age_limit: int | None = None
    content_filters: list[str] | None = None


class LogCollectionSpec(NsxModel):
    nodes: list[str] = Field(default_factory=list)
    components: list[str] | None = None
    since_seconds: int | None = None


class PendingRequest(NsxModel):
    """A troubleshooting request NSX wants this cluster to run; exactly one payload is set."""

    id: str
    type: RequestType
    created_time: int | None = None
    traceflow: AntreaTraceflowConfig | None = None
    support_bundle: SupportBundleSpec | None = None
    log_collection: LogCollectionSpec | None = None


class TraceflowResult(NsxModel):
    phase: ResultPhase
    reason: str | None = None
    observations: list[AntreaTraceflowObservation] = Field(default_factory=list)


class NodeOutcome(NsxModel):
    node_id: str
    node_display_name: str | None = None
    error_message: str | None = None


class CollectionResult(NsxModel):
    """Result of a SUPPORT_BUNDLE or LOG_COLLECTION request (upload the archive first)."""

    phase: ResultPhase
    reason: str | None = None
    success_nodes: list[NodeOutcome] = Field(default_factory=list)
    failed_nodes: list[NodeOutcome] = Field(default_factory=list)


class RequestAck(NsxModel):
    id: str
    type: RequestType
    state: str


class ArchiveAck(NsxModel):
    size: int
    sha256: str
