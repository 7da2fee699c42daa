"""``antrea-nsx-adapter deregister``: remove what the adapter created, and optionally the cluster
from NSX — what VMware's ``deregister`` Job does (antrea.md §8.2).

Only objects carrying the ``antrea-nsx-adapter.io/managed-by`` label are touched. Deletion runs in
the reverse of the order things depend on each other, because Antrea's admission webhook refuses
to delete a Tier a policy still uses, or a ClusterGroup a parent group or policy still names:

    ClusterNetworkPolicies → parent ClusterGroups → child ClusterGroups → Tiers → Traceflows

The adapter must be stopped first (scaled to 0), or it re-creates everything on its next resync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controllers.ccp import names
from nsx.client import NsxClient
from reconciler.client import KubeClient
from reconciler.errors import NotFound

ANTREA = names.ANTREA_API_VERSION
MANAGED_SELECTOR = names.MANAGED_BY_LABEL  # existence: any component of the adapter


@dataclass
class Step:
    """One kind of object to delete; ``select`` picks this step's share of the listed objects."""

    api_version: str
    kind: str
    plural: str
    select: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda objs: objs


def _child_names(groups: list[dict[str, Any]]) -> set[str]:
    """ClusterGroups that are members of another group: annotated by the CCP adapter as children,
    or named in some group's ``childGroups``."""
    children = {
        g["metadata"]["name"] for g in groups
        if names.PARENT_ANNOTATION in ((g["metadata"].get("annotations")) or {})
    }
    for g in groups:
        children.update(str(c) for c in (g.get("spec") or {}).get("childGroups") or [])
    return children


def _parents(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    children = _child_names(groups)
    return [g for g in groups if g["metadata"]["name"] not in children]


def _children(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    children = _child_names(groups)
    return [g for g in groups if g["metadata"]["name"] in children]


STEPS = [
    Step(ANTREA, "ClusterNetworkPolicy", "clusternetworkpolicies"),
    Step(ANTREA, "ClusterGroup", "clustergroups", _parents),
    Step(ANTREA, "ClusterGroup", "clustergroups", _children),
    Step(ANTREA, "Tier", "tiers"),
    Step(ANTREA, "Traceflow", "traceflows"),
]


@dataclass
class DeregisterResult:
    """What was (or, in a dry run, would have been) deleted."""

    deleted: list[str] = field(default_factory=list)
    nsx: list[str] = field(default_factory=list)


def delete_managed_objects(kube: KubeClient, *, dry_run: bool = False,
                           say: Callable[[str], None] = print) -> list[str]:
    """Delete every managed Antrea object, in :data:`STEPS` order; returns ``plural/name`` of each."""
    done: list[str] = []
    verb = "would delete" if dry_run else "deleted"
    for step in STEPS:
        try:
            listed = kube.list((step.api_version, step.kind), label_selector=MANAGED_SELECTOR)["items"]
        except NotFound:  # the CRD is not installed: nothing of this kind can exist
            continue
        for obj in sorted(step.select(listed), key=lambda o: str(o["metadata"]["name"])):
            name = obj["metadata"]["name"]
            if not dry_run:
                try:
                    kube.delete((step.api_version, step.kind), name, propagation_policy="Background")
                except NotFound:
                    continue
            done.append(f"{step.plural}/{name}")
            say(f"{verb} {step.kind} {name}")
    return done


def remove_from_nsx(nsx: NsxClient, cluster_name: str, cluster_id: str | None, *, dry_run: bool = False,
                    allow_overwrite: bool = False, say: Callable[[str], None] = print) -> list[str]:
    """Delete the cluster-control-plane (``cascade``: NSX also strips the cluster from DFW policy
    scopes) and the container cluster that roots the cluster's inventory."""
    done: list[str] = []
    prefix = "would delete" if dry_run else "deleted"
    if dry_run:
        exists = nsx.registration.get_cluster_control_plane(cluster_name) is not None
    else:
        exists = nsx.registration.delete_cluster_control_plane(cluster_name, cascade=True,
                                                                allow_overwrite=allow_overwrite)
    if exists:
        done.append(f"cluster-control-plane/{cluster_name}")
        say(f"{prefix} NSX cluster-control-plane {cluster_name} (cascade)")
    else:
        say(f"NSX cluster-control-plane {cluster_name} was not registered")
    if cluster_id is None:
        say("no cluster id known (ConfigMap cluster-id absent): no NSX container cluster to delete")
        return done
    if dry_run:
        exists = nsx.registration.get_container_cluster(cluster_id) is not None
    else:
        exists = nsx.registration.delete_container_cluster(cluster_id)
    if exists:
        done.append(f"container-cluster/{cluster_id}")
        say(f"{prefix} NSX container cluster {cluster_id}")
    else:
        say(f"NSX container cluster {cluster_id} did not exist")
    return done
