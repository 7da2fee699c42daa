"""Objects built from the pydantic models are accepted as-is, by our CRDs and by Antrea's.

"As-is" matters: a field the schema lacks would be pruned without an error, so the stored spec
must equal the sent spec exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from crds import ACNP, CLUSTER_GROUP, SUPPORT_BUNDLE_COLLECTION, TIER, TRACEFLOW, Resource
from crds.models import (
    BundleFileServer,
    BundleNodes,
    BundleServerAuthConfiguration,
    ClusterGroupSpec,
    ClusterNetworkPolicySpec,
    Destination,
    EgressPeer,
    EgressRule,
    ICMPProtocol,
    IngressPeer,
    IngressRule,
    IngressRuleAppliedTo,
    IPBlock,
    IPHeader,
    LabelSelector,
    LabelSelectorRequirement,
    NetworkPolicyPort,
    NetworkPolicyProtocol,
    OptionalNamespacedName,
    Packet,
    PeerNamespaces,
    PeerService,
    RuleAppliedTo,
    Source,
    SupportBundleCollectionSpec,
    TCPHeader,
    TierSpec,
    TraceflowSpec,
    TransportHeader,
    custom_object,
)

LABELS = {"antrea-nsx-adapter.io/managed-by": "ccp"}


def _objects() -> list[tuple[Resource, dict[str, Any]]]:
    ns_prod = LabelSelector(match_labels={"kubernetes.io/metadata.name": "prod"})
    acnp = ClusterNetworkPolicySpec(
        tier="nsx-category-application",
        priority=1.25,
        ingress=[
            IngressRule(
                name="2025",
                action="Allow",
                applied_to=[IngressRuleAppliedTo(group="cg-dst")],
                from_=[IngressPeer(group="cg-src"), IngressPeer(namespaces=PeerNamespaces(match="Self"))],
                ports=[NetworkPolicyPort(protocol="TCP", port=8080, end_port=8090), NetworkPolicyPort(port="http")],
                log_label="nsx-2025",
                enable_logging=True,
            ),
        ],
        egress=[
            EgressRule(
                name="2026",
                action="Reject",
                applied_to=[RuleAppliedTo(pod_selector=LabelSelector(), namespace_selector=ns_prod)],
                to=[EgressPeer(ip_block=IPBlock(cidr="192.168.0.0/16", except_=["192.168.1.0/24"]))],
                protocols=[NetworkPolicyProtocol(icmp=ICMPProtocol(icmp_type=8, icmp_code=0))],
            ),
            EgressRule(
                name="2027",
                action="Allow",
                applied_to=[RuleAppliedTo(group="cg-dst")],
                to_services=[PeerService(name="db", namespace="prod")],
            ),
        ],
    )
    child = ClusterGroupSpec(
        pod_selector=LabelSelector(match_expressions=[
            LabelSelectorRequirement(key="app", operator="In", values=["web", "api"])]),
        namespace_selector=ns_prod,
    )
    ips = ClusterGroupSpec(ip_blocks=[IPBlock(cidr="10.0.0.0/8"), IPBlock(cidr="fd00::/8")])
    parent = ClusterGroupSpec(child_groups=["cg-child-0", "cg-child-1"])
    trace = TraceflowSpec(
        source=Source(namespace="prod", pod="web-0"),
        destination=Destination(namespace="prod", pod="db-0"),
        packet=Packet(ip_header=IPHeader(protocol=6),
                      transport_header=TransportHeader(tcp=TCPHeader(dst_port=5432, flags=2))),
        timeout=60,
    )
    bundle = SupportBundleCollectionSpec(
        nodes=BundleNodes(node_names=["worker-1"]),
        expiration_minutes=30,
        since_time="2h",
        file_server=BundleFileServer(url="sftp://10.0.0.5/upload"),
        authentication=BundleServerAuthConfiguration(
            auth_type="BasicAuthentication", auth_secret=OptionalNamespacedName(name="s", namespace="kube-system")),
    )
    return [
        (TIER, custom_object(TIER, "nsx-category-application", TierSpec(priority=4, description="NSX"),
                             labels=LABELS)),
        (CLUSTER_GROUP, custom_object(CLUSTER_GROUP, "cg-child-0", child, labels=LABELS)),
        (CLUSTER_GROUP, custom_object(CLUSTER_GROUP, "cg-child-1", ips, labels=LABELS)),
        (CLUSTER_GROUP, custom_object(CLUSTER_GROUP, "cg-dst", parent, labels=LABELS)),
        (ACNP, custom_object(ACNP, "policy-2025", acnp, labels=LABELS)),
        (TRACEFLOW, custom_object(TRACEFLOW, "tf-1", trace)),
        (SUPPORT_BUNDLE_COLLECTION, custom_object(SUPPORT_BUNDLE_COLLECTION, "sbc-1", bundle)),
    ]


OBJECTS = _objects()


IDS = [m["metadata"]["name"] for _, m in OBJECTS]


@pytest.mark.parametrize(("resource", "manifest"), OBJECTS, ids=IDS)
def test_model_built_object_is_stored_unchanged(resource: Resource, manifest: dict[str, Any],
                                                project_cluster: Any, upstream_cluster_if_present: Any) -> None:
    stored = project_cluster.create(manifest, resource, dry_run=False)
    assert stored["spec"] == manifest["spec"]
    assert stored["metadata"].get("labels") == manifest["metadata"].get("labels")
    if upstream_cluster_if_present is not None:
        assert upstream_cluster_if_present.create(manifest, resource)["spec"] == manifest["spec"]
