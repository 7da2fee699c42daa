"""Label selectors, IP blocks and name references shared by policies and groups (antrea.md §2.3)."""

from __future__ import annotations

from typing import Literal

from crds.models.base import ApiModel
from crds.models.formats import Cidr, LabelValue

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


class LabelSelectorRequirement(ApiModel):
    key: str
    operator: Operator
    values: list[LabelValue] | None = None


class LabelSelector(ApiModel):
    """A metav1.LabelSelector; an empty selector (``{}``) selects everything."""

    match_labels: dict[str, LabelValue] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class IPBlock(ApiModel):
    """A CIDR with carve-outs. (That each ``except`` is a strict subset is a webhook rule.)"""

    cidr: Cidr
    except_: list[Cidr] | None = None


class NamespacedName(ApiModel):
    """A ``{name, namespace}`` reference where the schema requires both (ServiceAccount, Service)."""

    name: str
    namespace: str


class OptionalNamespacedName(ApiModel):
    """A ``{name, namespace}`` reference where the schema requires neither (Secret, ServiceReference)."""

    name: str | None = None
    namespace: str | None = None

