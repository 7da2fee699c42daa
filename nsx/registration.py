"""Joining a cluster to NSX: principal identity, cluster control plane, container cluster."""

from __future__ import annotations

from urllib.parse import quote

from nsx.errors import NotFound, RevisionConflict
from nsx.models.clusters import AntreaClusterInfo, AntreaHeartbeatConfig, ClusterControlPlane
from nsx.models.inventory import ContainerCluster
from nsx.models.trust import PrincipalIdentity, PrincipalIdentityWithCertificate
from nsx.paging import iter_models
from nsx.policy_api import POLICY
from nsx.transport import Transport

PRINCIPAL_IDENTITIES = "/api/v1/trust-management/principal-identities"
CONTAINER_CLUSTERS = "/api/v1/fabric/container-clusters"


def enforcement_point_path(site: str = "default", enforcement_point: str = "default") -> str:
    """Policy path (not URL) of the enforcement point the clusters hang under."""
    return f"/infra/sites/{site}/enforcement-points/{enforcement_point}"


def cluster_control_plane_path(
    cluster_name: str, site: str = "default", enforcement_point: str = "default"
) -> str:
    """The cluster's NSX path ``P`` used in policy scopes (mapping.md §1)."""
    return f"{enforcement_point_path(site, enforcement_point)}/cluster-control-planes/{cluster_name}"


class RegistrationApi:
    def __init__(self, transport: Transport, site: str = "default", enforcement_point: str = "default"):
        self._t = transport
        self._ep = enforcement_point_path(site, enforcement_point)

    # -- principal identity (MP) ------------------------------------------------------------------

    def create_principal_identity(self, identity: PrincipalIdentityWithCertificate) -> PrincipalIdentity:
        body = self._t.request("POST", PRINCIPAL_IDENTITIES + "/with-certificate", json=identity.to_wire())
        return PrincipalIdentity.model_validate(body)

    def list_principal_identities(self) -> list[PrincipalIdentity]:
        return list(iter_models(self._t, PRINCIPAL_IDENTITIES, PrincipalIdentity))

    def delete_principal_identity(self, identity_id: str) -> bool:
        return self._delete(f"{PRINCIPAL_IDENTITIES}/{quote(identity_id, safe='')}")

    # -- cluster control plane (Policy) -----------------------------------------------------------

    def put_cluster_control_plane(self, ccp: ClusterControlPlane) -> ClusterControlPlane:
        """Create or update; NSX assigns ``node_id`` on create and keeps it afterwards."""
        if not ccp.id:
            raise ValueError("the cluster control plane needs an id (the cluster name)")
        body = self._t.request("PUT", self._ccp_url(ccp.id), json=ccp.to_wire())
        return ClusterControlPlane.model_validate(body)

    def ensure_cluster_control_plane(self, ccp: ClusterControlPlane) -> ClusterControlPlane:
        """Register, or re-register an existing cluster keeping its ``node_id`` (the cluster's
        identity in NSX): PUT with the ``_revision`` just read, re-reading once on a conflict."""
        if not ccp.id:
            raise ValueError("the cluster control plane needs an id (the cluster name)")
        for _ in range(2):
            current = self.get_cluster_control_plane(ccp.id)
            if current is None:
                return self.put_cluster_control_plane(ccp)
            update: dict[str, object] = {"revision": current.revision}
            if ccp.node_id is None and current.node_id:
                update["node_id"] = current.node_id
            try:
                return self.put_cluster_control_plane(ccp.model_copy(update=update))
            except RevisionConflict:
                continue
        raise RevisionConflict(412, "PUT", self._ccp_url(ccp.id))

    def get_cluster_control_plane(self, cluster_name: str) -> ClusterControlPlane | None:
        try:
            return ClusterControlPlane.model_validate(self._t.request("GET", self._ccp_url(cluster_name)))
        except NotFound:
            return None

    def list_cluster_control_planes(self) -> list[ClusterControlPlane]:
        return list(iter_models(self._t, f"{POLICY}{self._ep}/cluster-control-planes", ClusterControlPlane))

    def delete_cluster_control_plane(
        self, cluster_name: str, *, cascade: bool = False, allow_overwrite: bool = False
    ) -> bool:
        """Deregister. ``cascade`` also strips the cluster from DFW policy scopes; ``allow_overwrite``
        (X-Allow-Overwrite) lets an admin remove what the cluster's protected identity created."""
        params = {"cascade": "true"} if cascade else None
        headers = {"X-Allow-Overwrite": "true"} if allow_overwrite else None
        try:
            self._t.request("DELETE", self._ccp_url(cluster_name), params=params, headers=headers)
        except NotFound:
            return False
        return True

    def cluster_status(self, cluster_name: str) -> AntreaClusterInfo:
        return AntreaClusterInfo.model_validate(
            self._t.request("GET", self._ccp_url(cluster_name) + "/status"))

    def get_heartbeat_config(self, cluster_name: str) -> AntreaHeartbeatConfig:
        return AntreaHeartbeatConfig.model_validate(
            self._t.request("GET", self._ccp_url(cluster_name) + "/heartbeat-config"))

    # -- container cluster (MP inventory root) ----------------------------------------------------

    def create_container_cluster(self, cluster: ContainerCluster) -> ContainerCluster:
        body = self._t.request("POST", CONTAINER_CLUSTERS, json=cluster.to_wire())
        return ContainerCluster.model_validate(body)

    def get_container_cluster(self, external_id: str) -> ContainerCluster | None:
        try:
            body = self._t.request("GET", f"{CONTAINER_CLUSTERS}/{quote(external_id, safe='')}")
        except NotFound:
            return None
        return ContainerCluster.model_validate(body)

    def list_container_clusters(self, *, cluster_type: str | None = None) -> list[ContainerCluster]:
        params = {"cluster_type": cluster_type} if cluster_type else None
        return list(iter_models(self._t, CONTAINER_CLUSTERS, ContainerCluster, params))

    def delete_container_cluster(self, external_id: str) -> bool:
        return self._delete(f"{CONTAINER_CLUSTERS}/{quote(external_id, safe='')}")

    # -- helpers ----------------------------------------------------------------------------------

    def _ccp_url(self, cluster_name: str) -> str:
        return f"{POLICY}{self._ep}/cluster-control-planes/{quote(cluster_name, safe='')}"

    def _delete(self, url: str) -> bool:
        try:
            self._t.request("DELETE", url)
        except NotFound:
            return False
        return True
