"""The resource types the server knows: the built-in table and the shape CRDs are turned into.

One :class:`ResourceType` per served group/version/plural. Per-kind quirks of the real registry
strategies (which kinds carry ``metadata.generation``, which reset ``status`` on create, which field
selectors they accept, how names are validated) live here as data so the verb code stays generic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import meta

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")

# create-time status handling of the real strategies (PrepareForCreate)
STATUS_KEEP = "keep"
STATUS_DROP = "drop"


@dataclass
class ResourceType:
    """A served resource. CRD-backed types share storage across versions (``storage_key``)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    has_generation: bool = False
    name_rule: str = meta.SUBDOMAIN
    create_status: str | dict[str, Any] = STATUS_KEEP
    field_labels: tuple[str, ...] = ()
    return_deleted_object: bool = False
    # CRD-backed only
    crd_name: str | None = None
    storage_version: str | None = None
    schema: Any = None  # StructuralSchema of this version, if any
    deprecated: bool = False
    deprecation_warning: str | None = None
    served_versions: tuple[str, ...] = field(default=())
    printer_columns: tuple[dict[str, Any], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def storage_key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return self.crd_name is not None

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_api_version(self) -> str:
        version = self.storage_version or self.version
        return f"{self.group}/{version}" if self.group else version

    def supported_field_labels(self) -> tuple[str, ...]:
        return ("metadata.name", "metadata.namespace", *self.field_labels)


_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
               "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                 "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                 "reason", "reportingComponent", "source", "type")


_STATUS_COL: dict[str, Any] = {"name": "Status", "type": "string", "format": "", "priority": 0,
                               "description": "The status of the namespace", "jsonPath": ".status.phase"}
_AGE_COL: dict[str, Any] = {"name": "Age", "type": "date", "format": "", "priority": 0,
                            "description": "CreationTimestamp is a timestamp representing the server time when this "
                                           "object was created.", "jsonPath": ".metadata.creationTimestamp"}


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, singular=kind.lower(), kind=kind,
                        namespaced=namespaced, **kw)


def builtin_types() -> list[ResourceType]:
    """A fresh table of the built-in kinds (fresh so servers in one process never share state)."""
    return [
        _rt("", "v1", "namespaces", "Namespace", False, short_names=("ns",), status_subresource=True,
            name_rule=meta.LABEL, create_status={"phase": "Active"}, field_labels=("status.phase",),
            return_deleted_object=True, printer_columns=(_STATUS_COL, _AGE_COL)),
        _rt("", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status_subresource=True,
            create_status={"phase": "Pending"}, field_labels=_POD_FIELDS, return_deleted_object=True),
        _rt("", "v1", "services", "Service", short_names=("svc",), categories=("all",), status_subresource=True,
            name_rule=meta.DNS1035, create_status={"loadBalancer": {}}, return_deleted_object=True),
        _rt("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
        _rt("", "v1", "nodes", "Node", False, short_names=("no",), status_subresource=True,
            field_labels=("spec.unschedulable",)),
        _rt("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
        _rt("", "v1", "secrets", "Secret", field_labels=("type",)),
        _rt("", "v1", "events", "Event", short_names=("ev",), field_labels=_EVENT_FIELDS),
        _rt("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
        _rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",),
            has_generation=True),
        _rt("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), status_subresource=True,
            has_generation=True, create_status=STATUS_DROP),
        _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
        _rt("coordination.k8s.io", "v1", "leases", "Lease"),
        _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
            short_names=("crd", "crds"), categories=("api-extensions",), status_subresource=True,
            has_generation=True, create_status=STATUS_DROP, return_deleted_object=True),
        _rt("rbac.authorization.k8s.io", "v1", "roles", "Role", name_rule=meta.PATH_SEGMENT),
        _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, name_rule=meta.PATH_SEGMENT),
        _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", name_rule=meta.PATH_SEGMENT),
        _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
            name_rule=meta.PATH_SEGMENT),
        _rt("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
            status_subresource=True, has_generation=True, create_status=STATUS_DROP),
        _rt("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
            status_subresource=True, has_generation=True, create_status=STATUS_DROP),
        _rt("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",),
            status_subresource=True, has_generation=True, create_status=STATUS_DROP),
        _rt("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
            status_subresource=True, has_generation=True, create_status=STATUS_DROP),
        _rt("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
        _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
            status_subresource=True, has_generation=True, create_status=STATUS_DROP),
        _rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
        _rt("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, status_subresource=True,
            categories=("api-extensions",)),
        # create-only reviews, answered by authz_reviews.py and never stored
        _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
        _rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
        _rt("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False),
        _rt("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False),
        _rt("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False),
    ]


def field_value(obj: dict[str, Any], label: str) -> str:
    """The string a field selector compares for ``label`` (absent fields compare as "")."""
    if label == "source":  # events: source means source.component
        label = "source.component"
    cur: Any = obj
    for part in label.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)
