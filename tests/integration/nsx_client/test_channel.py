"""The adapter channel (docs/adapter-channel.md), checked through NSX's real read APIs."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time

import pytest

from nsx import NotFound, NsxClient, cluster_control_plane_path
from nsx.models import (
    AntreaAdapterStatus,
    AntreaAgentsInfo,
    AntreaClusterInfo,
    AntreaControllerStatus,
    AntreaTraceflowConfig,
    AntreaTraceflowObservation,
    ClusterControlPlane,
    ComponentConditionItem,
    Rule,
    SecurityPolicy,
)
from nsx.models.channel import (
    CollectionResult,
    NodeOutcome,
    PolicyStatisticsReport,
    RealizationReason,
    RealizationReport,
    RuleCounters,
    TraceflowResult,
)
from nsx.models.clusters import ComponentStatus
from nsx.models.traceflow import AntreaTraceflowIpHeader, AntreaTraceflowPacketData

CLUSTER = "chan-cluster"
P = cluster_control_plane_path(CLUSTER)
POLICY_PATH = "/infra/domains/default/security-policies/chan-policy"


@pytest.fixture
def registered(client: NsxClient) -> NsxClient:
    client.registration.ensure_cluster_control_plane(ClusterControlPlane(id=CLUSTER))
    client.policy.patch_security_policy(SecurityPolicy(
        id="chan-policy", category="Application", scope=[P], rules=[
            Rule(id="allow-web", action="ALLOW", source_groups=["ANY"], destination_groups=["ANY"],
                 services=["ANY"]),
            Rule(id="deny-rest", action="DROP", source_groups=["ANY"], destination_groups=["ANY"],
                 services=["ANY"])]))
    return client


def _health(status: ComponentStatus = "HEALTHY") -> AntreaClusterInfo:
    return AntreaClusterInfo(
        status=status,
        controller_status=AntreaControllerStatus(status=status, connected_agent_num=3, conditions=[
            ComponentConditionItem(condition_type="CONTROLLER_HEALTHY", status="HEALTHY",
                                   last_heartbeat_time=int(time.time() * 1000))]),
        agent_info=AntreaAgentsInfo(healthy_agent_num=2, degraded_agent_num=1, failed_agent_num=0),
        mp_adapter_status=AntreaAdapterStatus(status="HEALTHY", conditions=[
            ComponentConditionItem(condition_type="MP_ADAPTER_HEALTHY", status="HEALTHY"),
            ComponentConditionItem(condition_type="MP_CONNECTED", status="HEALTHY")]),
        ccp_adapter_status=AntreaAdapterStatus(status="HEALTHY", conditions=[
            ComponentConditionItem(condition_type="CCP_ADAPTER_HEALTHY", status="HEALTHY")]),
    )


def test_heartbeat_shows_in_cluster_status(registered: NsxClient) -> None:
    channel = registered.channel(CLUSTER)
    assert channel.heartbeat(_health("DEGRADED")) == 60
    status = registered.registration.cluster_status(CLUSTER)
    assert status.status == "DEGRADED"
    assert status.agent_info == AntreaAgentsInfo(healthy_agent_num=2, degraded_agent_num=1, failed_agent_num=0)
    assert status.controller_status and status.controller_status.connected_agent_num == 3


def test_heartbeat_of_a_status_read_back_sends_only_allowed_fields(registered: NsxClient) -> None:
    channel = registered.channel(CLUSTER)
    channel.heartbeat(_health())
    read_back = registered.registration.cluster_status(CLUSTER)  # carries id, path, _last_modified_time…
    assert read_back.path
    assert channel.heartbeat(read_back) == 60


def test_unregistered_cluster_is_not_found(client: NsxClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.channel("never-registered").heartbeat(_health())
    assert caught.value.error_code == 600


def test_realization_reports(registered: NsxClient) -> None:
    channel = registered.channel(CLUSTER)
    revision = registered.policy.get_security_policy("chan-policy").revision
    ack = channel.report_realization([
        RealizationReport(intent_path=POLICY_PATH, state="ERROR", intent_revision=revision,
                          reasons=[RealizationReason(rule_id="allow-web", message="not expressible")]),
        RealizationReport(intent_path="/infra/domains/default/security-policies/gone", state="REALIZED"),
    ])
    assert ack.accepted == 1
    assert ack.ignored == ["/infra/domains/default/security-policies/gone"]
    status = registered.policy.realized_status(POLICY_PATH)
    assert status.state == "ERROR"
    assert [(e.enforcement_point_path, e.consolidated_status and e.consolidated_status.consolidated_status)
            for e in status.consolidated_status_per_enforcement_point or []] == [(P, "ERROR")]
    held = {r.intent_path: r for r in channel.realization_reports()}
    assert held[POLICY_PATH].state == "ERROR"
    assert held[POLICY_PATH].reasons == [RealizationReason(rule_id="allow-web", message="not expressible")]

    channel.report_realization([RealizationReport(intent_path=POLICY_PATH, state="REALIZED",
                                                  intent_revision=revision)])
    assert registered.policy.realized_status(POLICY_PATH).state == "SUCCESS"
    channel.withdraw_realization(POLICY_PATH)
    assert POLICY_PATH not in {r.intent_path for r in channel.realization_reports()}


def test_statistics_reports(registered: NsxClient) -> None:
    channel = registered.channel(CLUSTER)
    ack = channel.report_statistics([PolicyStatisticsReport(intent_path=POLICY_PATH, rules=[
        RuleCounters(rule_id="allow-web", packet_count=120, byte_count=9800, session_count=4),
        RuleCounters(rule_id="no-such-rule", packet_count=1, byte_count=1, session_count=1)])])
    assert ack.accepted == 1
    assert ack.ignored == [f"{POLICY_PATH}/rules/no-such-rule"]
    per_cluster = registered.policy.policy_statistics("chan-policy", container_cluster_path=P)
    assert [s.container_cluster_path for s in per_cluster] == [P]
    stats = per_cluster[0].statistics
    assert stats is not None
    by_rule = {r.rule: r for r in stats.results}
    web = by_rule[f"{POLICY_PATH}/rules/allow-web"]
    assert (web.packet_count, web.byte_count, web.session_count, web.hit_count) == (120, 9800, 4, 4)
    assert by_rule[f"{POLICY_PATH}/rules/deny-rest"].packet_count == 0
    rule_stats = registered.policy.rule_statistics("chan-policy", "allow-web", container_cluster_path=P)
    assert rule_stats[0].statistics and rule_stats[0].statistics.byte_count == 9800


def test_traceflow_request_long_poll_and_result(registered: NsxClient) -> None:
    channel = registered.channel(CLUSTER)
    channel.poll_requests(0, include_delivered=False)  # drain anything older
    config = AntreaTraceflowConfig(
        id="tf-1", container_cluster_id=CLUSTER, source_external_id="pod-uid-1",
        packet=AntreaTraceflowPacketData(resource_type="FIELDS_PACKET_DATA",
                                         ip_header=AntreaTraceflowIpHeader(dst_ip="10.0.0.9")))
    timer = threading.Timer(0.5, lambda: registered.put("/policy/api/v1/infra/antrea/traceflows/tf-1",
                                                        config.to_wire()))
    started = time.monotonic()
    timer.start()
    try:
        requests = channel.poll_requests(10)
    finally:
        timer.join()
    waited = time.monotonic() - started
    assert 0.4 <= waited < 8.0, waited  # answered when the request appeared, not at the timeout
    assert [r.type for r in requests] == ["TRACEFLOW"]
    request = requests[0]
    assert request.traceflow and request.traceflow.source_external_id == "pod-uid-1"
    assert channel.poll_requests(0) == []  # delivered once
    assert [r.id for r in channel.poll_requests(0, include_delivered=True)] == [request.id]

    ack = channel.post_result(request.id, TraceflowResult(phase="SUCCEEDED", observations=[
        AntreaTraceflowObservation.model_validate({
            "component_type": "ANTREA_DFW", "observation_type": "AntreaTraceflowObservationDropped",
            "container_node_id": "node-1", "timestamp": 1, "rule_path": f"{POLICY_PATH}/rules/deny-rest"})]))
    assert ack.state == "DONE"
    assert registered.policy.traceflow_status("tf-1").phase == "SUCCEEDED"
    stored = registered.policy.get_traceflow("tf-1")
    assert stored.packet and stored.packet.ip_header and stored.packet.ip_header.dst_ip == "10.0.0.9"
    assert "tf-1" in {t.id for t in registered.policy.list_traceflows()}
    observations = registered.policy.traceflow_observations("tf-1")
    assert [o.component_type for o in observations] == ["ANTREA_DFW"]
    assert observations[0].model_extra == {"rule_path": f"{POLICY_PATH}/rules/deny-rest"}


def test_support_bundle_archive_and_result(registered: NsxClient) -> None:
    """NSX's collect call waits while the adapter polls, uploads the archive and posts the result."""
    channel = registered.channel(CLUSTER)
    channel.poll_requests(0)
    collected: dict[str, object] = {}

    def collect() -> None:
        collected["result"] = registered.post(
            "/api/v1/administration/support-bundles",
            {"nodes": [], "container_nodes": [{"container_type": "ANTREA", "clusters": [
                {"cluster_id": CLUSTER, "nodes": ["node-1"]}]}]},
            params={"action": "collect"})

    nsx_side = threading.Thread(target=collect)
    nsx_side.start()
    try:
        requests = channel.poll_requests(5)
        assert [r.type for r in requests] == ["SUPPORT_BUNDLE"]
        assert requests[0].support_bundle and requests[0].support_bundle.nodes == ["node-1"]
        archive = gzip.compress(b"logs of node-1\n" * 100)
        uploaded = channel.upload_archive(requests[0].id, archive)
        assert (uploaded.size, uploaded.sha256) == (len(archive), hashlib.sha256(archive).hexdigest())
        ack = channel.post_result(requests[0].id, CollectionResult(
            phase="SUCCEEDED", success_nodes=[NodeOutcome(node_id="node-1", node_display_name="worker-1")]))
        assert ack.state == "DONE"
    finally:
        nsx_side.join(timeout=15)
    result = collected["result"]
    assert isinstance(result, dict)
    assert [n["node_id"] for n in result["success_nodes"]] == ["node-1"]
