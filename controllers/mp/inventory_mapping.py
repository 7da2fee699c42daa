"""Kubernetes object (plain dict) → NSX container inventory object (plain dict), mapping.md §7.

Pure and deterministic: the same inputs give the same dict, key for key, so the diff against what
NSX acknowledged is empty when nothing changed (a restart sends nothing). Everything a mapping
needs beyond the object itself (the namespace's UID, the node's UID, the selecting Services) is
passed in by the caller, who reads it from the informer caches.

Every mapping emits *all* the fields the adapter owns for its ``resource_type`` (``OWNED_FIELDS``),
with ``None`` / ``[]`` where there is nothing to say: a field that loses its value is then a change
the sparse diff can see and send, instead of a stale value NSX keeps forever.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

Obj = Mapping[str, Any]
NsxObj = dict[str, Any]

CLUSTER = "ContainerCluster"
PROJECT = "ContainerProject"
APPLICATION = "ContainerApplication"
INSTANCE = "ContainerApplicationInstance"
NODE = "ContainerClusterNode"
NETWORK_POLICY = "ContainerNetworkPolicy"
INGRESS_POLICY = "ContainerIngressPolicy"

TAG_SCOPE_PREFIX = "dis:k8s:"
MAX_TAGS = 30
MAX_TAG_SCOPE = 128
MAX_TAG_VALUE = 256
AGENT_HEARTBEAT_TIMEOUT = 180.0
"""Seconds after which an AntreaAgentInfo heartbeat counts as lost (3 × the agent's 60 s tick,
mapping.md §8); the node's ``cni_agent_status`` then turns UNHEALTHY."""

_COMMON = ("display_name", "tags", "network_status", "network_errors", "origin_properties")
OWNED_FIELDS: dict[str, tuple[str, ...]] = {
    CLUSTER: ("display_name", "cluster_type", "cni_type", "infrastructure"),
    PROJECT: (*_COMMON, "container_cluster_id"),
    APPLICATION: (*_COMMON, "container_cluster_id", "container_project_id", "status", "type", "cluster_ips",
                  "service_ports", "load_balancer_ingress"),
    INSTANCE: (*_COMMON, "container_cluster_id", "container_project_id", "cluster_node_id",
               "container_application_ids", "status"),
    NODE: (*_COMMON, "container_cluster_id", "ip_addresses", "external_ip_addresses", "pod_cidrs", "provider_id",
           "cni_agent_status"),
    NETWORK_POLICY: (*_COMMON, "container_cluster_id", "container_project_id", "policy_type", "spec"),
    INGRESS_POLICY: (*_COMMON, "container_cluster_id", "container_project_id", "container_application_ids",
                     "spec"),
}
"""The fields the adapter writes, per ``resource_type``; only these are compared and sent. Fields
NSX fills itself (``_last_sync_time``, ``_links``…) are never looked at."""

RANK: dict[str, int] = {CLUSTER: 0, PROJECT: 1, NODE: 1, APPLICATION: 2, INSTANCE: 3, NETWORK_POLICY: 3,
                        INGRESS_POLICY: 3}
"""Parents before children: a batch creates the cluster, then projects and nodes, then applications,
then what refers to them; deletes go the other way."""

LIST_FIELDS = frozenset({"tags", "network_errors", "origin_properties", "cluster_ips", "service_ports",
                         "load_balancer_ingress", "container_application_ids", "ip_addresses",
                         "external_ip_addresses", "pod_cidrs"})

_SERVICE_TYPES = {"ClusterIP": "CLUSTER_IP", "NodePort": "NODE_PORT", "LoadBalancer": "LOAD_BALANCER",
                  "ExternalName": "EXTERNAL_NAME"}
_PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("NETWORK_POLICY", "ACNP", "ANP")


# ------------------------------------------------------------------------------------------ helpers

def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def uid_of(obj: Obj) -> str:
    """The object's UID: its ``external_id`` in NSX."""
    return str(_meta(obj).get("uid") or "")


def tags(labels: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Labels as NSX tags ``{scope: "dis:k8s:<key>", tag: <value>}``: sorted by key, at most 30,
    scope cut to 128 and value to 256 characters (NSX's limits; longer would fail the whole batch)."""
    out = []
    for key in sorted(labels or {})[:MAX_TAGS]:
        value = (labels or {})[key]
        out.append({"scope": (TAG_SCOPE_PREFIX + str(key))[:MAX_TAG_SCOPE],
                    "tag": ("" if value is None else str(value))[:MAX_TAG_VALUE]})
    return out


def _base(resource_type: str, obj: Obj, cluster_id: str) -> NsxObj:
    meta = _meta(obj)
    return {
        "resource_type": resource_type,
        "external_id": uid_of(obj),
        "display_name": str(meta.get("name") or ""),
        "tags": tags(meta.get("labels")),
        "container_cluster_id": cluster_id,
        "network_status": "HEALTHY",
        "network_errors": [],
        "origin_properties": [],
    }


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> bool:
    """Service selector semantics: every selector pair is among the labels. An empty or absent
    selector selects nothing (such Services have manually managed endpoints)."""
    if not selector:
        return False
    have = labels or {}
    return all(have.get(k) == v for k, v in selector.items())


def _spec_yaml(obj: Obj) -> str:
    return yaml.safe_dump(dict(obj.get("spec") or {}), sort_keys=True, default_flow_style=False)


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------- mappings

def container_cluster(cluster_id: str, display_name: str, infra_type: str) -> NsxObj:
    """The cluster itself (mapping.md §7 first row)."""
    return {"resource_type": CLUSTER, "external_id": cluster_id, "display_name": display_name or cluster_id,
            "cluster_type": "Kubernetes", "cni_type": "Antrea", "infrastructure": {"infra_type": infra_type}}


def project(namespace: Obj, cluster_id: str) -> NsxObj:
    """Namespace → ContainerProject."""
    return _base(PROJECT, namespace, cluster_id)


def application(service: Obj, cluster_id: str, project_id: str | None) -> NsxObj:
    """Service → ContainerApplication: type, cluster IPs, ports, load-balancer ingress."""
    spec = service.get("spec") or {}
    out = _base(APPLICATION, service, cluster_id)
    ips = [ip for ip in (spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
           if ip and ip != "None"]
    ports = []
    for p in spec.get("ports") or []:
        port: dict[str, Any] = {"name": p.get("name"), "port": p.get("port"),
                                "protocol": p.get("protocol") if p.get("protocol") in _PROTOCOLS else "TCP"}
        if p.get("nodePort") is not None:
            port["node_port"] = p["nodePort"]
        if p.get("targetPort") is not None:
            port["target_port"] = str(p["targetPort"])
        ports.append(port)
    ingress = []
    for ing in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        item = {k: ing[k] for k in ("ip", "hostname") if ing.get(k)}
        if item:
            ingress.append(item)
    out.update({
        "container_project_id": project_id,
        "status": "UP",
        "type": _SERVICE_TYPES.get(str(spec.get("type") or "ClusterIP"), "CLUSTER_IP"),
        "cluster_ips": ips,
        "service_ports": ports,
        "load_balancer_ingress": ingress,
    })
    return out


def pod_status(pod: Obj) -> str:
    """Pod phase Running → UP, Unknown → UNKNOWN, anything else (Pending, Succeeded, Failed) → DOWN."""
    phase = (pod.get("status") or {}).get("phase")
    return "UP" if phase == "Running" else "UNKNOWN" if phase == "Unknown" else "DOWN"


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if isinstance(p, Mapping) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def application_instance(pod: Obj, cluster_id: str, project_id: str | None, node_id: str | None,
                         application_ids: Iterable[str]) -> NsxObj:
    """Pod → ContainerApplicationInstance. ``application_ids``: UIDs of the Services selecting it."""
    out = _base(INSTANCE, pod, cluster_id)
    ips = pod_ips(pod)
    out.update({
        "container_project_id": project_id,
        "cluster_node_id": node_id,
        "container_application_ids": sorted(set(application_ids)),
        "status": pod_status(pod),
        "origin_properties": [{"key": "ip", "value": ",".join(ips)}] if ips else [],
    })
    return out


def agent_status(agent_info: Obj | None, now: float) -> tuple[str | None, float | None]:
    """(``cni_agent_status``, seconds until it turns UNHEALTHY by heartbeat age or None).

    HEALTHY when every agent condition is ``True`` and the freshest heartbeat is younger than
    :data:`AGENT_HEARTBEAT_TIMEOUT`; UNHEALTHY otherwise; None without an AntreaAgentInfo."""
    if agent_info is None:
        return None, None
    conditions = [c for c in agent_info.get("agentConditions") or [] if isinstance(c, Mapping)]
    if not conditions or any(c.get("status") != "True" for c in conditions):
        return "UNHEALTHY", None
    beats = [t for t in (_parse_time(c.get("lastHeartbeatTime")) for c in conditions) if t is not None]
    if not beats:
        return "UNHEALTHY", None
    left = max(beats) + AGENT_HEARTBEAT_TIMEOUT - now
    return ("HEALTHY", left) if left > 0 else ("UNHEALTHY", None)


def cluster_node(node: Obj, cluster_id: str, agent_info: Obj | None, now: float) -> NsxObj:
    """Node → ContainerClusterNode; Pod CIDRs and agent health from its AntreaAgentInfo if present."""
    out = _base(NODE, node, cluster_id)
    status = node.get("status") or {}
    spec = node.get("spec") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, Mapping)]
    internal = [str(a["address"]) for a in addresses if a.get("type") == "InternalIP" and a.get("address")]
    external = [str(a["address"]) for a in addresses if a.get("type") == "ExternalIP" and a.get("address")]
    if not internal and agent_info is not None:
        transport = (agent_info.get("networkInfo") or {}).get("transportInterfaceIPs") or []
        internal = [str(ip).split("/", 1)[0] for ip in transport]
    cidrs = list((agent_info or {}).get("nodeSubnets") or []) or list(
        spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    info = status.get("nodeInfo") or {}
    props = [{"key": k, "value": str(info[src])} for k, src in (("kubelet_version", "kubeletVersion"),
                                                                  ("os_image", "osImage")) if info.get(src)]
    out.update({
        "ip_addresses": internal,
        "external_ip_addresses": external,
        "pod_cidrs": [str(c) for c in cidrs],
        "provider_id": spec.get("providerID"),
        "cni_agent_status": agent_status(agent_info, now)[0],
        "origin_properties": props,
    })
    return out


def network_policy(policy: Obj, cluster_id: str, project_id: str | None, policy_type: str,
                   health: tuple[str, list[dict[str, str]]] | None = None) -> NsxObj:
    """K8s NetworkPolicy / Antrea ACNP / ANNP → ContainerNetworkPolicy with the spec as YAML;
    ``policy_type`` is one of :data:`POLICY_TYPES` (list items carry no ``kind`` to tell them apart).

    The realization is the network status (mapping.md §6): for Antrea policies their own status
    phase ``Failed`` → UNHEALTHY with Antrea's message; K8s NetworkPolicies have no status, their
    ``health`` (``network_status``, ``network_errors``) comes from Antrea's controlplane view
    (:func:`controllers.mp.inventory_realization.network_health`)."""
    out = _base(NETWORK_POLICY, policy, cluster_id)
    if health is not None:
        out["network_status"], out["network_errors"] = health[0], list(health[1])
    status = policy.get("status") or {}
    if status.get("phase") == "Failed":
        failed = [c for c in status.get("conditions") or [] if isinstance(c, Mapping) and (
            (c.get("type"), c.get("status")) in (("Realizable", "False"), ("RealizationFailure", "True")))]
        message = "; ".join(str(c.get("message") or c.get("reason") or "") for c in failed) or "Failed"
        out["network_status"] = "UNHEALTHY"
        out["network_errors"] = [{"error_message": message}]
    if policy_type not in POLICY_TYPES:
        raise ValueError(f"unknown policy_type {policy_type!r}")
    out.update({"container_project_id": project_id, "policy_type": policy_type,
                "spec": _spec_yaml(policy)})
    return out


def ingress_backends(ingress: Obj) -> list[str]:
    """Names of the Services an Ingress sends traffic to (default backend and every path)."""
    spec = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend")]
    for rule in spec.get("rules") or []:
        for path in ((rule or {}).get("http") or {}).get("paths") or []:
            backends.append((path or {}).get("backend"))
    names = {str(((b or {}).get("service") or {}).get("name")) for b in backends
             if ((b or {}).get("service") or {}).get("name")}
    return sorted(names)


def ingress_policy(ingress: Obj, cluster_id: str, project_id: str | None,
                   application_ids: Iterable[str]) -> NsxObj:
    """Ingress → ContainerIngressPolicy; ``application_ids`` = UIDs of its backend Services."""
    out = _base(INGRESS_POLICY, ingress, cluster_id)
    out.update({"container_project_id": project_id, "container_application_ids": sorted(set(application_ids)),
                "spec": _spec_yaml(ingress)})
    return out


# --------------------------------------------------------------------------------------------- diff

def _norm(field: str, value: Any) -> Any:
    """None, a missing field and an empty list mean the same to NSX (a reader may drop either)."""
    if value is None and field in LIST_FIELDS:
        return []
    return value


def owned_view(obj: Mapping[str, Any]) -> NsxObj:
    """Identity plus the owned fields of ``obj``, normalised: what the diff compares. Applied to
    what NSX returns (it adds ``_last_sync_time`` and friends) and to what it acknowledged. A dict
    that already is such a view is returned as is (no copy: 10,000 Pods would cost 10,000 dicts);
    callers must treat the result as read-only."""
    rtype = str(obj.get("resource_type"))
    fields = OWNED_FIELDS.get(rtype, ())
    if isinstance(obj, dict) and len(obj) == len(fields) + 2 and all(
            field in obj and (obj[field] is not None or field not in LIST_FIELDS) for field in fields):
        return obj  # already a view (every mapping output is): share it, objects are never mutated
    out: NsxObj = {"resource_type": rtype, "external_id": obj.get("external_id")}
    for field in fields:
        out[field] = _norm(field, obj.get(field))
    return out


def sparse_update(desired: Mapping[str, Any], acknowledged: Mapping[str, Any]) -> NsxObj | None:
    """The UPDATE body turning ``acknowledged`` into ``desired``: identity plus the changed owned
    fields only; None when nothing changed. A field that lost its value is sent as ``[]`` (lists)
    or ``null``, as nsx-operator sends ``[]`` to clear ``network_errors``."""
    rtype = str(desired.get("resource_type"))
    changed: NsxObj = {}
    for field in OWNED_FIELDS.get(rtype, ()):
        want = _norm(field, desired.get(field))
        if want != _norm(field, acknowledged.get(field)):
            changed[field] = want
    if not changed:
        return None
    return {"resource_type": rtype, "external_id": desired.get("external_id"), **changed}


def delete_body(resource_type: str, external_id: str) -> NsxObj:
    """A DELETE item carries only the identity."""
    return {"resource_type": resource_type, "external_id": external_id}


def sort_key(op: str, resource_type: str) -> tuple[int, int]:
    """Batch order: upserts parents-first, then deletes children-first."""
    rank = RANK.get(resource_type, 3)
    return (0, rank) if op != "DELETE" else (1, -rank)


def application_ids_for(labels: Mapping[str, Any] | None, services: Sequence[Obj]) -> list[str]:
    """UIDs of the Services (of the Pod's namespace) whose selector matches the Pod's labels."""
    return sorted(uid_of(s) for s in services if selects((s.get("spec") or {}).get("selector"), labels))
