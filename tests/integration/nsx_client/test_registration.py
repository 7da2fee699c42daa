"""Registration objects beyond the happy path: re-registration keeps node_id, status, heartbeat
config, listing and deregistration with cascade."""

from __future__ import annotations

from nsx import NsxClient, cluster_control_plane_path
from nsx.models import ClusterControlPlane, Rule, SecurityPolicy


def test_reregistration_keeps_node_id(client: NsxClient) -> None:
    first = client.registration.ensure_cluster_control_plane(ClusterControlPlane(id="re-reg"))
    again = client.registration.ensure_cluster_control_plane(
        ClusterControlPlane(id="re-reg", description="second run of the register job"))
    assert first.node_id and again.node_id == first.node_id
    assert again.revision == (first.revision or 0) + 1
    assert "re-reg" in {c.id for c in client.registration.list_cluster_control_planes()}


def test_status_before_any_heartbeat_and_heartbeat_config(client: NsxClient) -> None:
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id="quiet"))
    status = client.registration.cluster_status("quiet")
    assert status.status == "UNKNOWN"
    assert client.registration.get_heartbeat_config("quiet").report_interval == 60


def test_deregistration_with_cascade_strips_policy_scopes(client: NsxClient) -> None:
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id="leaving"))
    path = cluster_control_plane_path("leaving")
    client.policy.patch_security_policy(SecurityPolicy(id="leaving-policy", category="Application",
                                                       scope=[path], rules=[Rule(
        id="r", action="ALLOW", source_groups=["ANY"], destination_groups=["ANY"], services=["ANY"])]))
    assert client.registration.delete_cluster_control_plane("leaving", cascade=True) is True
    assert client.registration.get_cluster_control_plane("leaving") is None
    assert path not in (client.policy.get_security_policy("leaving-policy").scope or [])
