"""The pydantic models agree with the CRD schema on the whole sample corpus, and dump apply-ready dicts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from crds import ACNP, ANNP, CLUSTER_GROUP, TIER, TRACEFLOW
from crds.models import (
    AntreaAgentInfo,
    AntreaControllerInfo,
    ClusterGroupSpec,
    ClusterNetworkPolicySpec,
    EgressPeer,
    EgressRule,
    GroupStatus,
    IngressPeer,
    IngressRule,
    IPBlock,
    NetworkPolicyPort,
    NetworkPolicyStatus,
    PolicyAppliedTo,
    ReadModel,
    SupportBundleCollectionSpec,
    TierSpec,
    TraceflowSpec,
    TraceflowStatus,
    custom_object,
    wire_name,
)

# kind -> (model, part of the sample body it describes: "spec" or the whole top level)
MODELS: dict[str, tuple[type[BaseModel], str | None]] = {
    "ClusterNetworkPolicy": (ClusterNetworkPolicySpec, "spec"),
    "Tier": (TierSpec, "spec"),
    "ClusterGroup": (ClusterGroupSpec, "spec"),
    "Traceflow": (TraceflowSpec, "spec"),
    "SupportBundleCollection": (SupportBundleCollectionSpec, "spec"),
    "AntreaControllerInfo": (AntreaControllerInfo, None),
    "AntreaAgentInfo": (AntreaAgentInfo, None),
}
# The adapter neither writes nor reads Antrea NetworkPolicies or Groups, so they have no models.
SAMPLE_KINDS = set(MODELS)


def _contained(original: Any, dumped: Any, path: str = "") -> list[str]:
    """Where ``dumped`` loses or changes something of ``original`` (extra defaulted keys are fine)."""
    if isinstance(original, dict):
        if not isinstance(dumped, dict):
            return [path]
        return [p for k, v in original.items() for p in _contained(v, dumped.get(k), f"{path}.{k}")]
    if isinstance(original, list):
        if not isinstance(dumped, list) or len(dumped) != len(original):
            return [path]
        pairs = enumerate(zip(original, dumped, strict=True))
        return [p for i, (a, b) in pairs for p in _contained(a, b, f"{path}[{i}]")]
    return [] if original == dumped else [f"{path}: {original!r} != {dumped!r}"]


def test_model_verdict_matches_schema_verdict(sample: Any) -> None:
    """Accepted samples round-trip and rejected ones fail validation. Fields the server would prune
    fail a write model (the adapter must not send them) and are dropped by a read model."""
    model, part = MODELS[sample.resource.kind]
    data = sample.body.get(part) if part else sample.body
    pruned = [path for path, value in sample.after.items() if value == "<absent>"]
    reads = issubclass(model, ReadModel)

    if not sample.accepted or (pruned and not reads):
        with pytest.raises((ValidationError, TypeError)):
            model.model_validate(data)
        return
    parsed = model.model_validate(data)
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert model.model_validate(dumped) == parsed
    if pruned:
        stored_form = {part: dumped} if part else dumped
        assert sample.after_mismatches(stored_form) == {}
    else:
        assert _contained(data, dumped) == []


def test_wire_names_follow_antrea() -> None:
    assert wire_name("from_") == "from"
    assert wire_name("except_") == "except"
    assert wire_name("api_ca_bundle") == "apiCABundle"
    assert wire_name("transport_interface_mtu") == "transportInterfaceMTU"
    assert wire_name("l7_protocols") == "l7Protocols"
    assert wire_name("end_port") == "endPort"


def test_acnp_built_in_python_dumps_apply_ready() -> None:
    spec = ClusterNetworkPolicySpec(
        tier="nsx-category-application",
        priority=2,
        ingress=[
            IngressRule(
                name="1001",
                action="Allow",
                from_=[IngressPeer(ip_block=IPBlock(cidr="10.0.0.0/8", except_=["10.1.0.0/16"]))],
                ports=[NetworkPolicyPort(protocol="TCP", port=443, end_port=445)],
            )
        ],
        egress=[EgressRule(name="1002", action="Drop", to=[EgressPeer(fqdn="*.example.com")])],
        applied_to=[PolicyAppliedTo(group="dst")],
    )
    obj = custom_object(ACNP, "policy-1", spec, labels={"managed-by": "antrea-nsx-adapter"})
    assert obj == {
        "apiVersion": "crd.antrea.io/v1beta1",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "policy-1", "labels": {"managed-by": "antrea-nsx-adapter"}},
        "spec": {
            "tier": "nsx-category-application",
            "priority": 2.0,
            "appliedTo": [{"group": "dst"}],
            "ingress": [{
                "name": "1001", "action": "Allow", "enableLogging": False,
                "ports": [{"protocol": "TCP", "port": 443, "endPort": 445}],
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
            }],
            "egress": [{"name": "1002", "action": "Drop", "enableLogging": False, "to": [{"fqdn": "*.example.com"}]}],
        },
    }


def test_custom_object_checks_scope() -> None:
    with pytest.raises(ValueError, match="cluster-scoped"):
        custom_object(TIER, "t", TierSpec(priority=1), namespace="default")
    with pytest.raises(ValueError, match="namespaced"):
        custom_object(ANNP, "p", TierSpec(priority=1))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TierSpec(priority=256), "less than or equal to 255"),
        (lambda: ClusterNetworkPolicySpec(priority=0.5), "greater than or equal to 1"),
        (lambda: IPBlock(cidr="10.0.0.1"), "CIDR notation"),
        (lambda: IngressRule(action="Allow", protocols=[{"igmp": {"igmpType": 0x16}}]), "not allowed in ingress"),
        (lambda: EgressRule(action="Allow", protocols=[{"igmp": {"igmpType": 0x11}}]), "not allowed in egress"),
        (lambda: IngressRule(action="Allow", protocols=[{}]), "exactly one of icmp or igmp"),
        (lambda: EgressRule.model_validate({"action": "Allow", "appliedTo": [{"nodeSelector": {}}]}), "Extra inputs"),
        (lambda: ClusterGroupSpec.model_validate({"ipBlock": {"cidr": "10.0.0.0/8"}}), "Extra inputs"),
        (lambda: SupportBundleCollectionSpec.model_validate(
            {"fileServer": {"url": "x"}, "authentication": {"authType": "APIKey"}}), "nodes or externalNodes"),
    ],
)
def test_models_reject_with_a_useful_message(build: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()


def test_status_models_read_what_antrea_writes() -> None:
    status = NetworkPolicyStatus.model_validate(
        {"phase": "Realized", "observedGeneration": 3, "currentNodesRealized": 2, "desiredNodesRealized": 2,
         "conditions": None, "futureField": 1}
    )
    assert status.realized_for(3) and not status.realized_for(4)

    group = GroupStatus.model_validate({"conditions": [
        {"type": "GroupMembersComputed", "status": "False", "reason": "ChildGroupsNestingExceeded",
         "lastTransitionTime": "2026-11-27T03:00:00Z"}]})
    assert group.members_computed() is False
    assert GroupStatus.model_validate({}).members_computed() is None

    trace = TraceflowStatus.model_validate({"phase": "Succeeded", "dataplaneTag": 7, "results": [
        {"node": "n1", "role": "Sender", "timestamp": 1, "observations": [
            {"component": "NetworkPolicy", "componentInfo": "EgressRule", "action": "Forwarded",
             "networkPolicy": "AntreaClusterNetworkPolicy:p1", "networkPolicyRule": "1002"}]}]})
    assert trace.finished
    assert trace.results and trace.results[0].observations
    assert trace.results[0].observations[0].network_policy_rule == "1002"


def test_monitoring_heartbeats() -> None:
    controller = AntreaControllerInfo.model_validate({
        "metadata": {"name": "antrea-controller"}, "version": "v2.7.0", "connectedAgentNum": 2,
        "controllerConditions": [{"type": "ControllerHealthy", "status": "True",
                                  "lastHeartbeatTime": "2026-11-27T03:00:00Z"}]})
    heartbeat = controller.heartbeat()
    assert heartbeat is not None and heartbeat.isoformat() == "2026-11-27T03:00:00+00:00"
    agent = AntreaAgentInfo.model_validate({"metadata": {"name": "worker-1"}})
    assert agent.heartbeat() is None  # the empty object antrea-controller creates per Node


def test_every_kind_the_adapter_writes_has_a_model() -> None:
    written = {ACNP.kind, TIER.kind, CLUSTER_GROUP.kind, TRACEFLOW.kind, "SupportBundleCollection"}
    assert written <= set(MODELS)
