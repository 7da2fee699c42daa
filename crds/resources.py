"""Group/version/resource names of the Antrea kinds the adapter uses (antrea.md §1).

Controllers and tests address custom objects through these constants instead of string literals,
so a version bump (e.g. SupportBundleCollection leaving v1alpha1) is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass

API_GROUP = "crd.antrea.io"


@dataclass(frozen=True)
class Resource:
    """One served kind: everything needed for ``CustomObjectsApi`` calls and for building objects."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``apiVersion`` of objects of this kind, e.g. ``crd.antrea.io/v1beta1``."""
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        """``metadata.name`` of the CustomResourceDefinition that serves this kind."""
        return f"{self.plural}.{self.group}"

    @property
    def singular(self) -> str:
        return self.kind.lower()


ACNP = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="clusternetworkpolicies",
    kind="ClusterNetworkPolicy",
    namespaced=False,
    short_names=("acnp",),
)
ANNP = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="networkpolicies",
    kind="NetworkPolicy",
    namespaced=True,
    short_names=("annp", "anp"),
)
TIER = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="tiers",
    kind="Tier",
    namespaced=False,
    short_names=("tr",),
)
CLUSTER_GROUP = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="clustergroups",
    kind="ClusterGroup",
    namespaced=False,
    short_names=("cg",),
)
GROUP = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="groups",
    kind="Group",
    namespaced=True,
    short_names=("grp",),
)
CONTROLLER_INFO = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="antreacontrollerinfos",
    kind="AntreaControllerInfo",
    namespaced=False,
    short_names=("aci",),
)
AGENT_INFO = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="antreaagentinfos",
    kind="AntreaAgentInfo",
    namespaced=False,
    short_names=("aai",),
)
TRACEFLOW = Resource(
    group=API_GROUP,
    version="v1beta1",
    plural="traceflows",
    kind="Traceflow",
    namespaced=False,
    short_names=("tf",),
)
SUPPORT_BUNDLE_COLLECTION = Resource(
    group=API_GROUP,
    version="v1alpha1",
    plural="supportbundlecollections",
    kind="SupportBundleCollection",
    namespaced=False,
    short_names=("sbc",),
)

ALL_RESOURCES: tuple[Resource, ...] = (
    ACNP,
    ANNP,
    TIER,
    CLUSTER_GROUP,
    GROUP,
    CONTROLLER_INFO,
    AGENT_INFO,
    TRACEFLOW,
    SUPPORT_BUNDLE_COLLECTION,
)

_BY_KIND = {resource.kind: resource for resource in ALL_RESOURCES}


def by_kind(kind: str) -> Resource:
    """The resource serving ``kind``; raises ``KeyError`` for kinds the adapter does not use."""
    return _BY_KIND[kind]
