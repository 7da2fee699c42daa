"""The request and result mappings of :mod:`controllers.mp.traceflow_convert`, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.mp.traceflow_convert import Endpoints, RequestError, ResultContext, observations, traceflow_spec
from nsx.models.traceflow import AntreaTraceflowConfig

Obj = dict[str, Any]
POD: Obj = {"metadata": {"name": "client", "namespace": "shop", "uid": "u-client"}, "spec": {}}
WEB: Obj = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-web"}, "spec": {}}
SVC: Obj = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-svc"}}
HOST: Obj = {"metadata": {"name": "agent", "namespace": "kube-system", "uid": "u-host"}, "spec": {"hostNetwork": True}}
PODS: dict[str, Obj] = {p["metadata"]["uid"]: p for p in (POD, WEB, HOST)}
SERVICES: dict[str, Obj] = {"u-svc": SVC}
ENDPOINTS = Endpoints(pod_by_uid=PODS.get, service_by_uid=SERVICES.get)


def spec(**config: Any) -> dict[str, Any]:
    return traceflow_spec(AntreaTraceflowConfig.model_validate({"source_external_id": "u-client", **config}),
                          ENDPOINTS, 20)


def test_destinations_and_packets() -> None:
    assert spec(destination_external_id="u-web") == {
        "source": {"namespace": "shop", "pod": "client"}, "destination": {"namespace": "shop", "pod": "web-1"},
        "timeout": 20}
    udp = spec(destination_external_id="u-svc", packet={"transport_header": {"udp_header": {"dst_port": 53}}})
    assert udp["destination"] == {"namespace": "shop", "service": "web"}
    assert udp["packet"] == {"ipHeader": {"protocol": 17}, "transportHeader": {"udp": {"dstPort": 53}}}
    tcp = spec(destination_external_id="u-web", packet={"ip_header": {"dst_ip": "10.0.0.9", "ttl": 9},
                                                        "transport_header": {"tcp_header": {"dst_port": 443}}})
    assert tcp["destination"] == {"ip": "10.0.0.9"}  # a packet dst_ip wins, as in NSX
    assert tcp["packet"] == {"ipHeader": {"protocol": 6, "ttl": 9},
                             "transportHeader": {"tcp": {"dstPort": 443, "flags": 2}}}
    icmp = spec(destination_external_id="u-web", packet={"transport_header": {"icmp_echo_request_header": {
        "sequence": 7}}})
    assert icmp["packet"] == {"ipHeader": {"protocol": 1}, "transportHeader": {"icmp": {"sequence": 7}}}


@pytest.mark.parametrize(("config", "reason"), [
    ({"source_external_id": "nope", "destination_external_id": "u-web"}, "source Pod with external id nope"),
    ({"source_external_id": "u-host", "destination_external_id": "u-web"}, "host network"),
    ({"destination_external_id": "ghost"}, "neither a Pod nor a Service"),
    ({}, "no destination"),
    ({"destination_external_id": "u-web", "packet": {"transport_header": {"tcp_header": {"dst_port": 0}}}},
     "invalid traceflow packet"),
])
def test_requests_that_cannot_run(config: dict[str, Any], reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        spec(**config)


def test_observations_use_nsx_enums_node_uids_and_rule_paths() -> None:
    status = {"phase": "Succeeded", "results": [
        {"node": "n2", "role": "Receiver", "timestamp": 2, "observations": [
            {"component": "NetworkPolicy", "componentInfo": "IngressRule", "action": "Rejected",
             "networkPolicy": "AntreaClusterNetworkPolicy:nsx-p", "networkPolicyRule": "r-in"}]},
        {"node": "n1", "role": "Sender", "timestamp": 1, "observations": [
            {"component": "SpoofGuard", "action": "Forwarded"},
            {"component": "Egress", "action": "MarkedForSNAT", "egressIP": "1.2.3.4"}]}]}
    ctx = ResultContext(node_uid={"n1": "uid-1"}.get,
                        rule_path=lambda p, r: f"/infra/domains/default/security-policies/p/rules/{r[:-3]}"
                        if p == "nsx-p" else None)
    got = [o.to_wire() for o in observations(status, ctx)]
    assert got[0] == {"component_type": "ANTREA_SPOOFGUARD", "observation_type": "AntreaTraceflowObservationForwarded",
                      "container_node_id": "uid-1", "timestamp": 1000, "action": "Forwarded"}
    assert got[1]["component_type"] == "UNKNOWN" and got[1]["egress_ip"] == "1.2.3.4"
    assert got[2]["observation_type"] == "AntreaTraceflowObservationDropped" and got[2]["action"] == "Rejected"
    assert got[2]["container_node_id"] == "n2"  # unknown Node: its name
    assert got[2]["rule_path"] == "/infra/domains/default/security-policies/p/rules/r"
