"""Property: whatever the pydantic models let the adapter build, Antrea's schema accepts unchanged.

Random ClusterNetworkPolicy and ClusterGroup specs are built through the models, dumped, and run
through the emulator's schema engine with ours and (when ../shared is present) Antrea's own CRD
schema: nothing may be pruned (a silently dropped field is a translation bug) and nothing may
fail validation.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crds import ACNP, CLUSTER_GROUP, Resource, load_crds
from crds.models import (
    ClusterGroupSpec,
    ClusterNetworkPolicySpec,
    EgressPeer,
    EgressRule,
    ICMPProtocol,
    IGMPProtocol,
    IngressPeer,
    IngressRule,
    IngressRuleAppliedTo,
    IPBlock,
    LabelSelector,
    LabelSelectorRequirement,
    NamespacedName,
    NetworkPolicyPort,
    NetworkPolicyProtocol,
    OptionalNamespacedName,
    PeerNamespaces,
    PeerService,
    PolicyAppliedTo,
    RuleAppliedTo,
)

names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
label_keys = st.from_regex(r"\A([a-z0-9.-]{1,10}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?\Z")
label_values = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?)?\Z")
selectors = st.builds(
    LabelSelector,
    match_labels=st.none() | st.dictionaries(label_keys, label_values, max_size=3),
    match_expressions=st.none() | st.lists(
        st.builds(LabelSelectorRequirement, key=label_keys,
                  operator=st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
                  values=st.none() | st.lists(label_values, max_size=3)),
        max_size=2),
)
cidrs = st.one_of(
    st.builds(lambda ip, n: f"{ip}/{n}", st.ip_addresses(v=4), st.integers(0, 32)),
    st.builds(lambda ip, n: f"{ip}/{n}", st.ip_addresses(v=6), st.integers(0, 128)),
)
ip_blocks = st.builds(IPBlock, cidr=cidrs, except_=st.none() | st.lists(cidrs, max_size=2))
refs = st.builds(NamespacedName, name=names, namespace=names)
ports = st.builds(
    NetworkPolicyPort,
    protocol=st.none() | st.sampled_from(["TCP", "UDP", "SCTP"]),
    port=st.none() | st.integers(1, 65535) | names,
    end_port=st.none() | st.integers(1, 65535),
    source_port=st.none() | st.integers(1, 65535),
    source_end_port=st.none() | st.integers(1, 65535),
)
icmp = st.builds(NetworkPolicyProtocol, icmp=st.builds(
    ICMPProtocol, icmp_type=st.none() | st.integers(0, 255), icmp_code=st.none() | st.integers(0, 255)))
multicast = st.sampled_from(["224.0.0.251", "239.1.2.3", "ff02::1", "ff05::1:3"])


def igmp(types: list[int]) -> st.SearchStrategy[NetworkPolicyProtocol]:
    return st.builds(NetworkPolicyProtocol, igmp=st.builds(
        IGMPProtocol, igmp_type=st.none() | st.sampled_from(types), group_address=st.none() | multicast))


actions = st.sampled_from(["Allow", "Drop", "Reject", "Pass"])
log_labels = st.none() | st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?\Z")
namespaces = st.builds(PeerNamespaces, match=st.just("Self")) | st.builds(
    PeerNamespaces, same_labels=st.lists(label_keys, min_size=1, max_size=2))
scopes = st.none() | st.sampled_from(["Cluster", "ClusterSet"])


def peer_fields() -> dict[str, Any]:
    return {"pod_selector": st.none() | selectors, "namespace_selector": st.none() | selectors,
            "namespaces": st.none() | namespaces, "ip_block": st.none() | ip_blocks, "group": st.none() | names,
            "service_account": st.none() | refs, "node_selector": st.none() | selectors}


def few(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | st.lists(strategy, max_size=2)


rule_applied_to = {"pod_selector": st.none() | selectors, "namespace_selector": st.none() | selectors,
                   "group": st.none() | names, "service_account": st.none() | refs}
ingress_rules = st.builds(
    IngressRule, name=st.none() | names, action=actions, ports=few(ports), protocols=few(icmp | igmp([0x11])),
    enable_logging=st.booleans(), log_label=log_labels,
    applied_to=few(st.builds(IngressRuleAppliedTo, service=st.none() | refs, **rule_applied_to)),
    from_=few(st.builds(IngressPeer, scope=scopes, **peer_fields())),
)
egress_rules = st.builds(
    EgressRule, name=st.none() | names, action=actions, ports=few(ports),
    protocols=few(icmp | igmp([0x12, 0x16, 0x22])), enable_logging=st.booleans(), log_label=log_labels,
    applied_to=few(st.builds(RuleAppliedTo, **rule_applied_to)),
    to=few(st.builds(EgressPeer, fqdn=st.none() | st.sampled_from(["*.example.com", "db.corp"]), **peer_fields())),
    to_services=few(st.builds(PeerService, name=names, namespace=names, scope=scopes)),
)
acnp_specs = st.builds(
    ClusterNetworkPolicySpec,
    tier=st.none() | names,
    priority=st.floats(1.0, 10000.0, allow_nan=False),
    applied_to=few(st.builds(PolicyAppliedTo, service=st.none() | refs, node_selector=st.none() | selectors,
                             **rule_applied_to)),
    ingress=few(ingress_rules),
    egress=few(egress_rules),
)
group_specs = st.builds(
    ClusterGroupSpec,
    child_groups=st.none() | st.lists(names, max_size=3),
    pod_selector=st.none() | selectors,
    namespace_selector=st.none() | selectors,
    node_selector=st.none() | selectors,
    external_entity_selector=st.none() | selectors,
    ip_blocks=st.none() | st.lists(ip_blocks, max_size=2),
    service_reference=st.none() | st.builds(OptionalNamespacedName, name=st.none() | names,
                                            namespace=st.none() | names),
)


@pytest.fixture(scope="module")
def engines(schema_of: Any, upstream_crds_if_present: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Compiled schemas keyed by (origin, kind); Antrea's only when its files are present."""
    from sim.kubeapi.schema import StructuralSchema
    origins = {"project": load_crds()}
    if upstream_crds_if_present:
        origins["antrea"] = upstream_crds_if_present
    return {
        (origin, resource.kind): StructuralSchema(schema_of(crds, resource))
        for origin, crds in origins.items()
        for resource in (ACNP, CLUSTER_GROUP)
    }


def _admitted_unchanged(engines: dict[tuple[str, str], Any], resource: Resource, spec: dict[str, Any]) -> None:
    manifest = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": "x"}, "spec": spec}
    for (origin, kind), engine in engines.items():
        if kind != resource.kind:
            continue
        obj = copy.deepcopy(manifest)
        assert engine.prune(obj) == [], f"{origin} schema prunes part of a model-built {resource.kind}"
        engine.apply_defaults(obj)
        assert obj == manifest
        assert [str(e) for e in engine.validate(obj)] == [], f"{origin} schema rejects a model-built object"


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


@SETTINGS
@given(spec=acnp_specs)
def test_model_built_acnp_passes_antrea_schema(engines: dict[tuple[str, str], Any],
                                               spec: ClusterNetworkPolicySpec) -> None:
    _admitted_unchanged(engines, ACNP, spec.to_dict())


@SETTINGS
@given(spec=group_specs)
def test_model_built_cluster_group_passes_antrea_schema(engines: dict[tuple[str, str], Any],
                                                        spec: ClusterGroupSpec) -> None:
    _admitted_unchanged(engines, CLUSTER_GROUP, spec.to_dict())
