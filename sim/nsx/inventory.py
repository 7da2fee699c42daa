"""MP container inventory (nsx-api.md §7): container clusters and the objects reported for them.

Objects are identified by ``external_id`` only (no ``id``/``_revision``), written by
``POST /api/v1/inventory/container/{cluster-id}?action=updates`` (CREATE / sparse UPDATE / DELETE) and
read through ``GET /api/v1/fabric/container-*`` with NSX's filters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sim.nsx.errors import INVENTORY, NsxError, bad_request, not_found
from sim.nsx.paging import paginate, sort_key
from sim.nsx.policy_store import json_copy, now_ms

# resource_type → (list path segment, get-by-id path segment)
KINDS: dict[str, tuple[str, str]] = {
    "ContainerProject": ("container-projects", "container-projects"),
    "ContainerApplication": ("container-applications", "container-applications"),
    "ContainerApplicationInstance": ("container-application-instances", "container-application-instances"),
    "ContainerClusterNode": ("container-cluster-nodes", "container-cluster-nodes"),
    "ContainerNetworkPolicy": ("container-network-policies", "container-network-policies"),
    "ContainerIngressPolicy": ("container-ingress-policies", "container-ingress-policies"),
    "ContainerEgress": ("container-egresses", "container-egress"),
    "ContainerIpPool": ("container-ip-pools", "container-ip-pool"),
    "ContainerGateway": ("container-gateways", "container-gateway"),
}
LIST_SEGMENT = {seg: rt for rt, (seg, _) in KINDS.items()}
ITEM_SEGMENT = {seg: rt for rt, (_, seg) in KINDS.items()}
FILTERS: dict[str, tuple[str, ...]] = {
    "ContainerProject": ("container_cluster_id", "scope_id"),
    "ContainerApplication": ("container_cluster_id", "container_project_id", "scope_id"),
    "ContainerApplicationInstance": ("container_cluster_id", "container_project_id", "container_application_id",
                                     "scope_id"),
    "ContainerClusterNode": ("container_cluster_id", "scope_id"),
    "ContainerNetworkPolicy": ("container_cluster_id", "container_project_id", "scope_id"),
    "ContainerIngressPolicy": ("container_cluster_id", "container_project_id", "scope_id"),
    "ContainerEgress": ("container_cluster_id", "scope_id"),
    "ContainerIpPool": ("container_cluster_id", "scope_id"),
    "ContainerGateway": ("container_cluster_id", "container_project_id", "scope_id"),
}
CLUSTER_TYPES = ("PAS", "PKS", "Kubernetes", "Openshift", "WCP", "WCP_Guest", "AKS", "EKS", "TKGm", "TKGi",
                 "GKE", "Gardener", "Rancher", "TAS", "SupervisorCluster", "WorkloadCluster", "Other")
INFRA_TYPES = ("vSphere", "AWS", "Azure", "Google", "VMC", "KVM", "Baremetal")
ENUMS: dict[str, tuple[str, ...]] = {
    "network_status": ("HEALTHY", "UNHEALTHY"),
    "cni_type": ("NCP", "Antrea", "Other"),
    "cni_agent_status": ("HEALTHY", "UNHEALTHY"),
    "policy_type": ("NETWORK_POLICY", "ASG", "ACNP", "ANP"),
}
STATUS_ENUM = ("UNKNOWN", "HEALTHY", "UP", "DOWN", "DEGRADED")
UPDATE_TYPES = ("CREATE", "UPDATE", "DELETE")
READ_ONLY = ("_last_sync_time", "_links", "_schema", "_self")


def _check_common(obj: dict[str, Any], where: str) -> None:
    for key, allowed in ENUMS.items():
        if key in obj and obj[key] is not None and obj[key] not in allowed:
            raise bad_request(f"{where}: invalid {key} {obj[key]!r}; allowed: {', '.join(allowed)}", 255, INVENTORY)
    if obj.get("resource_type") in ("ContainerApplication", "ContainerApplicationInstance") and obj.get(
            "status") is not None and obj["status"] not in STATUS_ENUM:
        raise bad_request(f"{where}: invalid status {obj['status']!r}", 255, INVENTORY)
    for key in ("tags", "origin_properties", "network_errors", "scope", "container_application_ids",
                "ip_addresses", "pod_cidrs", "cluster_ips"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], list):
            raise bad_request(f"{where}: {key} must be a list", 255, INVENTORY)
    tags = obj.get("tags") or []
    if len(tags) > 30:
        raise bad_request(f"{where}: at most 30 tags are allowed", 255, INVENTORY)
    for t in tags:
        if not isinstance(t, dict) or len(str(t.get("scope", ""))) > 128 or len(str(t.get("tag", ""))) > 256:
            raise bad_request(f"{where}: invalid tag {t!r} (scope <= 128, tag <= 256)", 255, INVENTORY)


@dataclass
class Inventory:
    """Container clusters and their inventory objects."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    max_batch: int = 10000
    batch_count: int = 0
    generation: int = 0
    """Bumped by every write; a cached listing (:meth:`page`) of an older generation is stale."""
    _listings: dict[tuple[Any, ...], tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)

    # ------------------------------------------------------------ clusters
    def create_cluster(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("resource_type") not in (None, "ContainerCluster"):
            raise bad_request("resource_type must be ContainerCluster", 255, INVENTORY)
        ext = body.get("external_id")
        if not isinstance(ext, str) or not ext:
            raise bad_request("external_id is required", 255, INVENTORY)
        if body.get("cluster_type") not in CLUSTER_TYPES:
            raise bad_request(f"cluster_type is required and must be one of {', '.join(CLUSTER_TYPES)}", 255,
                              INVENTORY)
        infra = body.get("infrastructure")
        if not isinstance(infra, dict) or infra.get("infra_type") not in INFRA_TYPES:
            raise bad_request(f"infrastructure.infra_type is required ({', '.join(INFRA_TYPES)})", 255, INVENTORY)
        _check_common(body, "ContainerCluster")
        with self.lock:
            if ext in self.clusters:
                raise bad_request(f"Container cluster with external_id {ext} already exists.", 500127, INVENTORY)
            obj = {k: json_copy(v) for k, v in body.items() if k not in READ_ONLY}
            obj["resource_type"] = "ContainerCluster"
            obj.setdefault("display_name", ext)
            obj["_last_sync_time"] = now_ms()
            self.clusters[ext] = obj
            self.generation += 1
            return json_copy(obj)

    def delete_cluster(self, ext: str) -> None:
        with self.lock:
            if self.clusters.pop(ext, None) is None:
                raise not_found(ext)
            self.generation += 1
            for objs in self.objects.values():
                for key in [k for k, o in objs.items() if o.get("container_cluster_id") == ext]:
                    del objs[key]

    def aliases(self) -> dict[str, str]:
        """Inventory cluster external_id → display_name (the cluster name the adapter registered)."""
        with self.lock:
            return {ext: str(c.get("display_name", "")) for ext, c in self.clusters.items()}

    # ------------------------------------------------------------ batch updates
    def apply_updates(self, cluster_id: str, body: dict[str, Any]) -> None:
        with self.lock:
            if cluster_id not in self.clusters:
                raise NsxError(404, 600, f"The requested object : {cluster_id} could not be found. Object identifiers "
                               "are case sensitive.", "common-services")
        items = body.get("container_inventory_objects")
        if not isinstance(items, list):
            raise bad_request("container_inventory_objects must be a list", 255, INVENTORY)
        if len(items) > self.max_batch:
            raise bad_request(f"at most {self.max_batch} objects per batch, got {len(items)}", 255, INVENTORY)
        for i, item in enumerate(items):
            where = f"container_inventory_objects[{i}]"
            if not isinstance(item, dict) or set(item) - {"object_update_type", "container_object"}:
                raise bad_request(f"{where}: expected object_update_type and container_object", 255, INVENTORY)
            if item.get("object_update_type") not in UPDATE_TYPES:
                raise bad_request(f"{where}: invalid object_update_type {item.get('object_update_type')!r}", 255,
                                  INVENTORY)
            obj = item.get("container_object")
            if not isinstance(obj, dict):
                raise bad_request(f"{where}: container_object is required", 255, INVENTORY)
            rtype = obj.get("resource_type")
            if rtype not in KINDS and rtype != "ContainerCluster":
                raise bad_request(f"{where}: unknown resource_type {rtype!r}", 255, INVENTORY)
            if not isinstance(obj.get("external_id"), str) or not obj["external_id"]:
                raise bad_request(f"{where}: external_id is required", 255, INVENTORY)
            _check_common(obj, where)
            if rtype == "ContainerCluster" and obj["external_id"] != cluster_id:
                raise bad_request(f"{where}: a ContainerCluster update must be for cluster {cluster_id}", 255,
                                  INVENTORY)
        ts = now_ms()
        with self.lock:
            self.batch_count += 1
            self.generation += 1
            for item in items:
                op = item["object_update_type"]
                obj = {k: json_copy(v) for k, v in item["container_object"].items() if k not in READ_ONLY}
                rtype = obj["resource_type"]
                ext = obj["external_id"]
                if rtype == "ContainerCluster":
                    if op == "DELETE":
                        continue
                    merged = dict(self.clusters[cluster_id])
                    merged.update(obj)
                    merged["_last_sync_time"] = ts
                    self.clusters[cluster_id] = merged
                    continue
                store = self.objects[rtype]
                if op == "DELETE":
                    store.pop(ext, None)
                    continue
                existing = store.get(ext)
                new = dict(existing) if existing is not None and op == "UPDATE" else {}
                new.update(obj)
                new.setdefault("container_cluster_id", cluster_id)
                new.setdefault("display_name", ext)
                new["_last_sync_time"] = ts
                store[ext] = new

    # ------------------------------------------------------------ reads
    def list(self, rtype: str, query: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            items = list(self.objects[rtype].values()) if rtype != "ContainerCluster" else list(
                self.clusters.values())
            # Stored objects are replaced on update, never mutated: the page can share them (serialised at once).
        if rtype == "ContainerCluster":
            if query.get("cluster_type"):
                items = [c for c in items if c.get("cluster_type") == query["cluster_type"]]
            if query.get("infra_type"):
                items = [c for c in items if (c.get("infrastructure") or {}).get("infra_type") == query["infra_type"]]
        else:
            for f in FILTERS[rtype]:
                val = query.get(f)
                if not val:
                    continue
                if f == "container_application_id":
                    items = [o for o in items if val in (o.get("container_application_ids") or [])]
                elif f != "scope_id":
                    items = [o for o in items if o.get(f) == val]
        if query.get("scope_id"):
            sid = query["scope_id"]
            items = [o for o in items if any(s.get("scope_id") == sid for s in (o.get("scope") or []))
                     or o.get("container_cluster_id") == sid or o.get("external_id") == sid]
        return items

    def page(self, rtype: str, query: dict[str, str]) -> dict[str, Any]:
        """One ListResult page of :meth:`list`, as ``paginate`` makes it, in O(page size).

        Why: a cursor walk re-requests the same listing once per page (1,000 items). Filtering and
        sorting the whole collection for every page made reading N objects cost O(N²) — a 30,000-Pod
        cluster's start-up read spent seconds in the simulator alone. The filtered, sorted listing is
        kept per (kind, filters, sort) until the next write, so the walk filters and sorts once.
        A write between two pages rebuilds it and the cursor's offset applies to the new listing:
        the same (approximate) paging a fresh ``list`` per page gave."""
        sort_by = query.get("sort_by") or "display_name"
        ascending = query.get("sort_ascending", "true").lower() != "false"
        filters = tuple(sorted((k, v) for k, v in query.items()
                               if k not in ("cursor", "page_size", "included_fields", "sort_by", "sort_ascending")))
        key = (rtype, filters, sort_by, ascending)
        with self.lock:
            cached = self._listings.get(key)
            if cached is not None and cached[0] == self.generation:
                items = cached[1]
            else:
                generation = self.generation
                items = sorted(self.list(rtype, query), key=sort_key(sort_by), reverse=not ascending)
                # Only current listings are kept (a stale one would pin replaced objects), at most 16.
                live = {k: v for k, v in self._listings.items() if v[0] == generation}
                self._listings = live if len(live) < 16 else {}
                self._listings[key] = (generation, items)
        out = paginate(items, {k: v for k, v in query.items() if k not in ("sort_by", "sort_ascending")},
                       default_sort=None)
        out["sort_by"] = sort_by
        out["sort_ascending"] = ascending
        return out

    def get(self, rtype: str, ext: str) -> dict[str, Any]:
        with self.lock:
            obj = self.clusters.get(ext) if rtype == "ContainerCluster" else self.objects[rtype].get(ext)
            if obj is None:
                raise not_found(ext)
            return json_copy(obj)

    def counts(self, cluster_id: str) -> dict[str, int]:
        with self.lock:
            return {rt: sum(1 for o in objs.values() if o.get("container_cluster_id") == cluster_id)
                    for rt, objs in self.objects.items()}
