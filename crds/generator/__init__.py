"""Builders that produce the CRD manifests in ``crds/manifests/`` (run ``python -m crds.generator``).

The manifests are generated, not hand-written, so the shared shapes (selectors, peers, ports,
conditions) are defined once; a test checks that the checked-in YAML matches these builders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crds.generator.groups import cluster_group, group
from crds.generator.monitoring import antrea_agent_info, antrea_controller_info
from crds.generator.policy import cluster_network_policy, network_policy, tier
from crds.generator.troubleshooting import support_bundle_collection, traceflow

# File stem (the lower-case kind) -> builder, in the order the kustomization lists them.
BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "clusternetworkpolicy": cluster_network_policy,
    "networkpolicy": network_policy,
    "tier": tier,
    "clustergroup": cluster_group,
    "group": group,
    "antreacontrollerinfo": antrea_controller_info,
    "antreaagentinfo": antrea_agent_info,
    "traceflow": traceflow,
    "supportbundlecollection": support_bundle_collection,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every CRD keyed by its file stem."""
    return {stem: builder() for stem, builder in BUILDERS.items()}
