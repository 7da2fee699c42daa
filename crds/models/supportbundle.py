"""SupportBundleCollection spec and status (antrea.md §5.2; ``crd.antrea.io/v1alpha1``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import model_validator

from crds.models.base import ApiModel, ReadModel
from crds.models.formats import Base64, Duration
from crds.models.selectors import LabelSelector, OptionalNamespacedName

AuthType = Literal["BearerToken", "APIKey", "BasicAuthentication"]


class BundleNodes(ApiModel):
    """Nodes to collect from; both fields empty means every Node."""

    node_names: list[str] | None = None
    node_selector: LabelSelector | None = None


class BundleExternalNodes(BundleNodes):
    namespace: str


class BundleFileServer(ApiModel):
    url: str | None = None
    host_public_key: Base64 | None = None


class BundleServerAuthConfiguration(ApiModel):
    auth_type: AuthType | None = None
    auth_secret: OptionalNamespacedName | None = None


class SupportBundleCollectionSpec(ApiModel):
    """At least one of ``nodes`` or ``external_nodes`` (the schema's ``anyOf``)."""

    nodes: BundleNodes | None = None
    external_nodes: BundleExternalNodes | None = None
    # The schema defaults this to 60; leaving it unset lets the server fill it in.
    expiration_minutes: int | None = None
    since_time: Duration | None = None
    file_server: BundleFileServer
    authentication: BundleServerAuthConfiguration

    @model_validator(mode="after")
    def _some_nodes(self) -> Self:
        if self.nodes is None and self.external_nodes is None:
            raise ValueError("set nodes or externalNodes (or both)")
        return self


class BundleCondition(ReadModel):
    type: str | None = None
    status: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class SupportBundleCollectionStatus(ReadModel):
    collected_nodes: int | None = None
    desired_nodes: int | None = None
    conditions: list[BundleCondition] | None = None

    def condition_true(self, type_: str) -> bool:
        return any(c.type == type_ and c.status == "True" for c in self.conditions or [])

    @property
    def succeeded(self) -> bool:
        """Antrea's success rule: Completed=True and CollectionFailure not True."""
        return self.condition_true("Completed") and not self.condition_true("CollectionFailure")
