"""ClusterGroup spec and status (antrea.md §3).

The schema lets any combination of members through; the webhook then allows one kind of member
(``namespaceSelector`` may pair with ``podSelector`` or ``externalEntitySelector``). These models
follow the schema, and :meth:`ClusterGroupSpec.member_fields` lets callers apply the webhook rule.
"""

from __future__ import annotations

from crds.models.base import ApiModel, ReadModel
from crds.models.selectors import IPBlock, LabelSelector, OptionalNamespacedName


class ClusterGroupSpec(ApiModel):
    child_groups: list[str] | None = None
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    node_selector: LabelSelector | None = None
    external_entity_selector: LabelSelector | None = None
    ip_blocks: list[IPBlock] | None = None
    service_reference: OptionalNamespacedName | None = None

    def member_fields(self) -> list[str]:
        """Wire names of the member fields that are set, e.g. ``["podSelector", "namespaceSelector"]``."""
        return sorted(self.to_dict())


class GroupCondition(ReadModel):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class GroupStatus(ReadModel):
    """Only condition type: ``GroupMembersComputed`` (reason ``ChildGroupsNestingExceeded`` when False)."""

    conditions: list[GroupCondition] | None = None

    def members_computed(self) -> bool | None:
        """True/False from ``GroupMembersComputed``; None while Antrea has not decided yet."""
        for condition in self.conditions or []:
            if condition.type == "GroupMembersComputed":
                return condition.status == "True"
        return None
