"""Kubernetes names, labels and annotations of the objects the CCP adapter writes (mapping.md §3).

Names must be stable across restarts (the adapter is stateless: the name is the only link between an
NSX object and the CRD it produced) and valid DNS labels, so they are derived from NSX ids alone.
"""

from __future__ import annotations

import hashlib
import re

MANAGED_BY_LABEL = "antrea-nsx-adapter.io/managed-by"
MANAGED_BY_VALUE = "ccp-adapter"
NSX_PATH_ANNOTATION = "antrea-nsx-adapter.io/nsx-path"
DISPLAY_NAME_ANNOTATION = "antrea-nsx-adapter.io/display-name"
NSX_REVISION_ANNOTATION = "antrea-nsx-adapter.io/nsx-revision"
PARENT_ANNOTATION = "antrea-nsx-adapter.io/parent"
INTERSECTION_ANNOTATION = "antrea-nsx-adapter.io/intersection-of"
# What an object was translated from (controllers.ccp.source_digest): stamped by the policy
# controller, not by translate, so the translate CLI output is unchanged.
SOURCE_INPUTS_ANNOTATION = "antrea-nsx-adapter.io/source-inputs"
SOURCE_DIGEST_ANNOTATION = "antrea-nsx-adapter.io/source-digest"

ANTREA_API_VERSION = "crd.antrea.io/v1beta1"
NAME_PREFIX = "nsx-"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_MAX_VERBATIM = 50
_MAX_PREFIX = 40

# Display names are free text in NSX; annotations have no length limit worth hitting, but a
# multi-kilobyte display name should not bloat every object.
_MAX_DISPLAY_NAME = 256


def k8s_name(nsx_id: str) -> str:
    """The id itself when it is already a short DNS label, else a readable prefix plus a hash.

    The hash keeps ids that differ only in case or punctuation apart ("Web" vs "web").
    """
    if len(nsx_id) <= _MAX_VERBATIM and _DNS_LABEL.match(nsx_id):
        return nsx_id
    digest = hashlib.sha256(nsx_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    prefix = _NOT_DNS.sub("-", nsx_id.lower()).strip("-")[:_MAX_PREFIX].strip("-")
    return f"{prefix}-{digest}" if prefix else digest


def policy_name(policy_id: str) -> str:
    return NAME_PREFIX + k8s_name(policy_id)


def group_name(group_id: str) -> str:
    return NAME_PREFIX + k8s_name(group_id)


def child_group_name(parent: str, index: int) -> str:
    return f"{parent}-{index}"


def intersection_group_name(a: str, b: str) -> str:
    """Order-independent, so "AT ∩ D" and "D ∩ AT" share one ClusterGroup."""
    first, second = sorted((a, b))
    digest = hashlib.sha256(f"{first}\n{second}".encode()).hexdigest()[:12]
    return f"{NAME_PREFIX}x-{digest}"


def tier_name(category: str) -> str:
    return f"nsx-category-{category.lower()}"


def display_name(value: object, fallback: str) -> str:
    text = value if isinstance(value, str) and value else fallback
    return text[:_MAX_DISPLAY_NAME]


_LABEL_VALUE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def log_label(tag: str) -> str:
    """An NSX rule tag made to fit Antrea's ``logLabel`` pattern (label-value syntax, ≤ 63)."""
    text = _LABEL_VALUE_CHARS.sub("-", tag)[:63]
    return text.strip("-_.")
