"""Container inventory: batched CREATE/UPDATE/DELETE upserts and the per-kind reads to diff against."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import TypeAdapter

from nsx.errors import NotFound
from nsx.models.inventory import (
    ContainerApplication,
    ContainerApplicationInstance,
    ContainerClusterNode,
    ContainerIngressPolicy,
    ContainerInventoryObject,
    ContainerNetworkPolicy,
    ContainerObject,
    ContainerProject,
    DiscoveredResource,
)
from nsx.paging import iter_models
from nsx.transport import Transport

FABRIC = "/api/v1/fabric"
DEFAULT_BATCH_SIZE = 500

# resource_type -> (list path, get-by-id path): egress / ip-pool / gateway are singular by id.
COLLECTIONS: dict[str, tuple[str, str]] = {
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
# What the adapter reports (mapping.md §7), parents before children.
REPORTED_KINDS: tuple[type[DiscoveredResource], ...] = (
    ContainerProject, ContainerClusterNode, ContainerApplication, ContainerApplicationInstance,
    ContainerNetworkPolicy, ContainerIngressPolicy,
)
K = TypeVar("K", bound=DiscoveredResource)
_ANY_OBJECT: TypeAdapter[Any] = TypeAdapter(ContainerObject)


def _kind_name(kind: type[DiscoveredResource]) -> str:
    default = kind.model_fields["resource_type"].default
    assert isinstance(default, str)
    return default


class InventoryApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def update(
        self,
        cluster_id: str,
        objects: Iterable[ContainerInventoryObject],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> int:
        """Send the updates in order, ``batch_size`` per request; returns the number of requests.

        Order is kept across batches so a parent CREATE always precedes its children."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        url = f"/api/v1/inventory/container/{quote(cluster_id, safe='')}"
        sent = 0
        batch: list[dict[str, Any]] = []
        for item in objects:
            batch.append(item.to_wire())
            if len(batch) >= batch_size:
                self._post(url, batch)
                sent += 1
                batch = []
        if batch:
            self._post(url, batch)
            sent += 1
        return sent

    def list_kind(
        self, kind: type[K], cluster_id: str | None = None, *, page_size: int | None = None
    ) -> Iterator[K]:
        """Every object of one kind (optionally only the cluster's), all pages."""
        path = f"{FABRIC}/{COLLECTIONS[_kind_name(kind)][0]}"
        params = {"container_cluster_id": cluster_id} if cluster_id else None
        return iter_models(self._t, path, kind, params, page_size=page_size)

    def list_cluster(self, cluster_id: str, *, kinds: Sequence[type[DiscoveredResource]] = REPORTED_KINDS
                     ) -> Iterator[DiscoveredResource]:
        """Everything NSX holds for the cluster, kind by kind (the start-up diff baseline)."""
        for kind in kinds:
            yield from self.list_kind(kind, cluster_id)

    def get(self, kind: type[K], external_id: str) -> K | None:
        path = f"{FABRIC}/{COLLECTIONS[_kind_name(kind)][1]}/{quote(external_id, safe='')}"
        try:
            return kind.model_validate(self._t.request("GET", path))
        except NotFound:
            return None

    @staticmethod
    def parse(obj: dict[str, Any]) -> DiscoveredResource:
        """Any inventory object, picked by its ``resource_type``."""
        parsed: DiscoveredResource = _ANY_OBJECT.validate_python(obj)
        return parsed

    def _post(self, url: str, batch: list[dict[str, Any]]) -> None:
        self._t.request("POST", url, params={"action": "updates"},
                        json={"container_inventory_objects": batch})

