"""Schemas of ClusterGroup and Group (antrea.md §3).

Both share Go's ``GroupSpec`` but not their schema: Group has no ``nodeSelector``, does not check
selector values against the label-value pattern, and keeps unknown fields under ``matchLabels``.
The "only one kind of member per group" rule lives in Antrea's webhook, not here (§3.2).
"""

from __future__ import annotations

from typing import Any

from crds.generator import blocks as b
from crds.generator.crd import custom_resource_definition

Schema = b.Schema


def _group_schema(*, cluster_scoped: bool) -> Schema:
    def selector(text: str) -> Schema:
        return b.described(
            b.label_selector(checked_values=cluster_scoped, typed_match_labels=cluster_scoped), text
        )

    properties: dict[str, Schema] = {
        "childGroups": b.described(
            b.string_list(), "Names of member groups (one level of nesting); exclusive with the rest."
        ),
        "podSelector": selector("Member Pods; may be paired with namespaceSelector."),
        "namespaceSelector": selector("Member Namespaces, or the Namespaces of podSelector/externalEntitySelector."),
    }
    if cluster_scoped:
        properties["nodeSelector"] = selector("Member Nodes; exclusive with the rest.")
    properties["externalEntitySelector"] = selector("Member ExternalEntities; may be paired with namespaceSelector.")
    properties["ipBlocks"] = b.described(
        b.array(b.ip_block()), "Member IP ranges; exclusive with the rest (all unicast or all multicast)."
    )
    properties["serviceReference"] = b.described(
        b.name_namespace(), "The backends of a selector-based Service; exclusive with the rest."
    )
    status = b.obj({"conditions": b.conditions()})
    return b.obj({"spec": b.obj(properties), "status": status})


def cluster_group() -> dict[str, Any]:
    """``ClusterGroup``: a reusable, cluster-scoped set of workloads or addresses."""
    return custom_resource_definition(
        kind="ClusterGroup",
        plural="clustergroups",
        short_names=["cg"],
        namespaced=False,
        version="v1beta1",
        schema=_group_schema(cluster_scoped=True),
        description="An Antrea ClusterGroup: members chosen by selectors, IP blocks, a Service or child groups.",
        status_subresource=True,
    )


def group() -> dict[str, Any]:
    """``Group``: the Namespace-scoped counterpart of ClusterGroup."""
    return custom_resource_definition(
        kind="Group",
        plural="groups",
        short_names=["grp"],
        namespaced=True,
        version="v1beta1",
        schema=_group_schema(cluster_scoped=False),
        description="An Antrea Group: a Namespace-scoped set of workloads or addresses.",
        status_subresource=True,
    )
