"""How NSX reports the realization of an intent (``GET /infra/realized-state/status``)."""

from __future__ import annotations

from typing import Literal

from nsx.models.base import NsxModel

ConsolidatedState = Literal[
    "SUCCESS", "IN_PROGRESS", "ERROR", "UNKNOWN", "UNINITIALIZED", "SANDBOXED_REALIZATION_PENDING",
]


class ConsolidatedStatus(NsxModel):
    consolidated_status: ConsolidatedState | None = None


class ConsolidatedStatusPerEnforcementPoint(NsxModel):
    enforcement_point_path: str | None = None
    enforcement_point_id: str | None = None
    consolidated_status: ConsolidatedStatus | None = None
    site_path: str | None = None
    resource_type: str | None = None


class ConsolidatedRealizedStatus(NsxModel):
    intent_path: str | None = None
    consolidated_status: ConsolidatedStatus | None = None
    consolidated_status_per_enforcement_point: list[ConsolidatedStatusPerEnforcementPoint] | None = None
    publish_status: Literal["UNAVAILABLE", "UNREALIZED", "REALIZED", "ERROR"] | None = None
    intent_version: str | int | None = None
    publish_time: int | None = None
    time_taken_for_realization: int | None = None

    @property
    def state(self) -> ConsolidatedState | None:
        """The roll-up state, or None when NSX did not say."""
        return self.consolidated_status.consolidated_status if self.consolidated_status else None
