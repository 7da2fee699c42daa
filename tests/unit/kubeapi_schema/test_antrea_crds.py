"""The real Antrea v2.7.0 CRD schemas compile and judge ACNP/Tier/ClusterGroup objects like kube would.

The CRDs are read from /work/shared/upstream (never copied into the project); without that folder
these tests skip.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.kubeapi.schema import FieldError, StructuralSchema

CRD_DIR = Path("/work/shared/upstream/antrea-crds")

pytestmark = pytest.mark.skipif(
    not CRD_DIR.is_dir(), reason=f"Antrea upstream CRDs not available at {CRD_DIR} (shared reference data absent)"
)


def _load(name: str) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((CRD_DIR / name).read_text())
    return crd


def _schema(name: str) -> StructuralSchema:
    version = _load(name)["spec"]["versions"][0]
    return StructuralSchema(version["schema"]["openAPIV3Schema"])


def _crd_files() -> list[str]:
    return sorted(p.name for p in CRD_DIR.glob("*.yaml")) if CRD_DIR.is_dir() else []


@pytest.mark.parametrize("name", _crd_files())
def test_every_served_version_of_every_antrea_crd_is_structural(name: str) -> None:
    crd = _load(name)
    assert crd["kind"] == "CustomResourceDefinition"
    for version in crd["spec"]["versions"]:
        raw = version["schema"]["openAPIV3Schema"]
        compiled = StructuralSchema(raw)
        errs = compiled.validate({"apiVersion": f"crd.antrea.io/{version['name']}", "kind": "X"})
        # a bare object only misses what the root marks required (Traceflow requires spec)
        assert errs == [FieldError("FieldValueRequired", r, "Required value") for r in sorted(raw.get("required", []))]


VALID_ACNP: dict[str, Any] = {
    "apiVersion": "crd.antrea.io/v1beta1",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "nsx-policy-1"},
    "spec": {
        "priority": 5.5,
        "tier": "nsx-category-application",
        "ingress": [
            {
                "name": "rule-1",
                "action": "Allow",
                "appliedTo": [{"group": "nsx-group-a"}],
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"group": "nsx-group-b"}],
                "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "UDP", "port": 53, "endPort": 60}],
                "enableLogging": True,
            }
        ],
        "egress": [
            {
                "name": "rule-2",
                "action": "Drop",
                "appliedTo": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "to": [{"ipBlock": {"cidr": "192.168.0.0/16"}}],
                "protocols": [{"icmp": {"icmpType": 8, "icmpCode": 0}}],
            }
        ],
    },
}


@pytest.fixture(scope="module")
def acnp() -> StructuralSchema:
    return _schema("clusternetworkpolicy.yaml")


def test_valid_acnp_with_named_port_is_accepted(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    assert acnp.prune(obj) == []
    assert obj == VALID_ACNP
    assert acnp.validate(obj) == []


def test_acnp_rule_action_foo_is_rejected(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    obj["spec"]["ingress"][0]["action"] = "Foo"
    assert acnp.validate(obj) == [
        FieldError(
            "FieldValueNotSupported",
            "spec.ingress[0].action",
            'Unsupported value: "Foo": supported values: "Allow", "Drop", "Reject", "Pass"',
        )
    ]


def test_acnp_missing_priority_and_wrong_tier_type(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    del obj["spec"]["priority"]
    obj["spec"]["tier"] = 1
    assert acnp.validate(obj) == [
        FieldError("FieldValueRequired", "spec.priority", "Required value"),
        FieldError(
            "FieldValueTypeInvalid",
            "spec.tier",
            'Invalid value: "integer": spec.tier in body must be of type string: "integer"',
        ),
    ]


def test_acnp_port_bool_and_bad_cidr_are_rejected(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    obj["spec"]["ingress"][0]["ports"][0]["port"] = True
    obj["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] = "10.0.0.300/8"
    assert acnp.validate(obj) == [
        FieldError(
            "FieldValueTypeInvalid",
            "spec.ingress[0].from[0].ipBlock.cidr",
            'Invalid value: "10.0.0.300/8": spec.ingress[0].from[0].ipBlock.cidr in body must be of type cidr: '
            '"10.0.0.300/8"',
        ),
        FieldError(
            "FieldValueTypeInvalid",
            "spec.ingress[0].ports[0].port",
            'Invalid value: "boolean": spec.ingress[0].ports[0].port in body must be of type integer,string: "boolean"',
        ),
    ]


def test_acnp_protocol_entry_must_pick_exactly_one_of_icmp_igmp(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    obj["spec"]["egress"][0]["protocols"] = [{}]
    errs = acnp.validate(obj)
    assert errs[0] == FieldError(
        "FieldValueInvalid",
        "<nil>",
        'Invalid value: "": "spec.egress[0].protocols[0]" must validate one and only one schema (oneOf). '
        "Found none valid",
    )
    assert FieldError("FieldValueRequired", "spec.egress[0].protocols[0].icmp", "Required value") in errs


def test_acnp_unknown_fields_are_pruned_with_paths(acnp: StructuralSchema) -> None:
    obj = copy.deepcopy(VALID_ACNP)
    obj["spec"]["ingress"][0]["ports"][0]["portName"] = "x"
    obj["spec"]["colour"] = "blue"
    assert acnp.prune(obj) == [".spec.colour", ".spec.ingress[0].ports[0].portName"]
    assert obj == VALID_ACNP


def test_tier_priority_bounds() -> None:
    tier = _schema("tier.yaml")
    base = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": "nsx-category-emergency"}}
    assert tier.validate({**base, "spec": {"priority": 1, "description": "NSX Emergency"}}) == []
    assert tier.validate({**base, "spec": {"priority": 256}}) == [
        FieldError(
            "FieldValueInvalid",
            "spec.priority",
            "Invalid value: 256: spec.priority in body should be less than or equal to 255",
        )
    ]
    assert tier.validate({**base, "spec": {"description": "no priority"}}) == [
        FieldError("FieldValueRequired", "spec.priority", "Required value")
    ]


def test_clustergroup_ipblocks_and_selectors() -> None:
    cg = _schema("clustergroup.yaml")
    good = {
        "apiVersion": "crd.antrea.io/v1beta1",
        "kind": "ClusterGroup",
        "metadata": {"name": "g"},
        "spec": {"ipBlocks": [{"cidr": "10.1.0.0/16"}, {"cidr": "fd00::/64"}]},
    }
    assert cg.validate(good) == []
    bad_label = {
        "apiVersion": "crd.antrea.io/v1beta1",
        "kind": "ClusterGroup",
        "metadata": {"name": "g"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "-bad-"}},
            "namespaceSelector": {"matchExpressions": [{"key": "k", "operator": "Like"}]},
        },
    }
    assert cg.validate(bad_label) == [
        FieldError(
            "FieldValueNotSupported",
            "spec.namespaceSelector.matchExpressions[0].operator",
            'Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
        ),
        FieldError(
            "FieldValueInvalid",
            "spec.podSelector.matchLabels.app",
            'Invalid value: "-bad-": spec.podSelector.matchLabels.app in body should match '
            "'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$'",
        ),
    ]


def test_group_matchlabels_preserve_unknown_fields_are_kept() -> None:
    group = _schema("group.yaml")
    obj: dict[str, Any] = {
        "apiVersion": "crd.antrea.io/v1beta1",
        "kind": "Group",
        "metadata": {"name": "g", "namespace": "ns"},
        "spec": {"podSelector": {"matchLabels": {"anything": "kept"}, "junk": 1}},
    }
    assert group.prune(obj) == [".spec.podSelector.junk"]
    assert obj["spec"]["podSelector"] == {"matchLabels": {"anything": "kept"}}


def test_supportbundlecollection_expiration_default_is_applied() -> None:
    sbc = _schema("supportbundlecollection.yaml")
    obj: dict[str, Any] = {
        "apiVersion": "crd.antrea.io/v1alpha1",
        "kind": "SupportBundleCollection",
        "metadata": {"name": "b"},
        "spec": {"sinceTime": "2h"},
    }
    sbc.apply_defaults(obj)
    assert obj["spec"]["expirationMinutes"] == 60
