"""Typed calls on the Policy API objects the CCP side reads (and tests write): policies, groups,
services, their statistics, realization status and traceflows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from nsx.errors import NotFound
from nsx.models.groups import Group
from nsx.models.policy import (
    RuleStatisticsPerCluster,
    SecurityPolicy,
    SecurityPolicyContainerCluster,
    SecurityPolicyStatisticsPerCluster,
)
from nsx.models.realization import ConsolidatedRealizedStatus
from nsx.models.services import Service
from nsx.models.traceflow import AntreaTraceflowConfig, AntreaTraceflowObservation, AntreaTraceflowStatus
from nsx.paging import iter_models, iter_results
from nsx.transport import Transport

POLICY = "/policy/api/v1"
INFRA = POLICY + "/infra"


def _seg(value: str) -> str:
    return quote(value, safe="")


def domain_path(domain: str = "default") -> str:
    return f"{INFRA}/domains/{_seg(domain)}"


class PolicyApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # -- security policies --------------------------------------------------------------------

    def list_security_policies(
        self, domain: str = "default", *, page_size: int | None = None
    ) -> Iterator[SecurityPolicy]:
        """Every policy of the domain with its rules embedded, all pages."""
        return iter_models(self._t, f"{domain_path(domain)}/security-policies", SecurityPolicy,
                           page_size=page_size)

    def spanned_security_policies(
        self,
        cluster_path: str,
        domain: str = "default",
        *,
        include_span_children: bool = False,
        page_size: int | None = None,
    ) -> Iterator[SecurityPolicy]:
        """Policies that span the cluster (mapping.md §2): its path in the policy or a rule scope,
        or, with ``include_span_children``, a ``container-cluster-span`` child naming it (one
        extra GET per policy not already matched by scope)."""
        for policy in self.list_security_policies(domain, page_size=page_size):
            if policy.applies_to(cluster_path) or (
                include_span_children and self._span_names(policy, cluster_path, domain)
            ):
                yield policy

    def list_span_children(
        self, policy_id: str, domain: str = "default"
    ) -> list[SecurityPolicyContainerCluster]:
        path = f"{domain_path(domain)}/security-policies/{_seg(policy_id)}/container-cluster-span"
        try:
            return list(iter_models(self._t, path, SecurityPolicyContainerCluster))
        except NotFound:
            return []

    def _span_names(self, policy: SecurityPolicy, cluster_path: str, domain: str) -> bool:
        return bool(policy.id) and any(
            span.container_cluster_path == cluster_path
            for span in self.list_span_children(_id(policy.id), domain)
        )

    def get_security_policy(self, policy_id: str, domain: str = "default") -> SecurityPolicy:
        return SecurityPolicy.model_validate(self._t.request("GET", self._policy(policy_id, domain)))

    def patch_security_policy(self, policy: SecurityPolicy, domain: str = "default") -> None:
        """Create or merge (rules merged by id; omitted rules are kept). NSX answers with no body."""
        self._t.request("PATCH", self._policy(_id(policy.id), domain), json=policy.to_wire())

    def put_security_policy(self, policy: SecurityPolicy, domain: str = "default") -> SecurityPolicy:
        """Create, or replace with the ``_revision`` just read (stale → ``RevisionConflict``)."""
        body = self._t.request("PUT", self._policy(_id(policy.id), domain), json=policy.to_wire())
        return SecurityPolicy.model_validate(body)

    def delete_security_policy(self, policy_id: str, domain: str = "default") -> bool:
        """Delete; False if it was already gone (404 is success for a delete)."""
        return self._delete(self._policy(policy_id, domain))

    def policy_statistics(
        self,
        policy_id: str,
        *,
        container_cluster_path: str | None = None,
        enforcement_point_path: str | None = None,
        domain: str = "default",
    ) -> list[SecurityPolicyStatisticsPerCluster]:
        params = _drop_none(container_cluster_path=container_cluster_path,
                            enforcement_point_path=enforcement_point_path)
        return list(iter_models(self._t, self._policy(policy_id, domain) + "/statistics",
                                SecurityPolicyStatisticsPerCluster, params))

    def rule_statistics(
        self,
        policy_id: str,
        rule_id: str,
        *,
        container_cluster_path: str | None = None,
        domain: str = "default",
    ) -> list[RuleStatisticsPerCluster]:
        path = f"{self._policy(policy_id, domain)}/rules/{_seg(rule_id)}/statistics"
        params = _drop_none(container_cluster_path=container_cluster_path)
        return list(iter_models(self._t, path, RuleStatisticsPerCluster, params))

    # -- groups ---------------------------------------------------------------------------------

    def list_groups(self, domain: str = "default", *, page_size: int | None = None) -> Iterator[Group]:
        return iter_models(self._t, f"{domain_path(domain)}/groups", Group, page_size=page_size)

    def get_group(self, group_id: str, domain: str = "default") -> Group:
        return Group.model_validate(self._t.request("GET", self._group(group_id, domain)))

    def patch_group(self, group: Group, domain: str = "default") -> None:
        self._t.request("PATCH", self._group(_id(group.id), domain), json=group.to_wire())

    def put_group(self, group: Group, domain: str = "default") -> Group:
        body = self._t.request("PUT", self._group(_id(group.id), domain), json=group.to_wire())
        return Group.model_validate(body)

    def delete_group(self, group_id: str, domain: str = "default") -> bool:
        return self._delete(self._group(group_id, domain))

    # -- services -------------------------------------------------------------------------------

    def list_services(
        self, *, default_service: bool | None = None, page_size: int | None = None
    ) -> Iterator[Service]:
        params = {} if default_service is None else {"default_service": str(default_service).lower()}
        return iter_models(self._t, f"{INFRA}/services", Service, params, page_size=page_size)

    def get_service(self, service_id: str) -> Service:
        return Service.model_validate(self._t.request("GET", f"{INFRA}/services/{_seg(service_id)}"))

    def patch_service(self, service: Service) -> None:
        self._t.request("PATCH", f"{INFRA}/services/{_seg(_id(service.id))}", json=service.to_wire())

    def put_service(self, service: Service) -> Service:
        body = self._t.request("PUT", f"{INFRA}/services/{_seg(_id(service.id))}", json=service.to_wire())
        return Service.model_validate(body)

    def delete_service(self, service_id: str) -> bool:
        return self._delete(f"{INFRA}/services/{_seg(service_id)}")

    # -- search -------------------------------------------------------------------------------

    def search(
        self, query: str, *, included_fields: Sequence[str] = (), page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """``GET /policy/api/v1/search/query`` (nsx-api.md §8.10), every page, as plain JSON: with
        ``included_fields`` a cheap way to read the ``_revision`` of thousands of objects at once.
        NSX's search index is eventually consistent: an object may show an older revision for a
        moment after a write."""
        params = {"query": query}
        if included_fields:
            params["included_fields"] = ",".join(included_fields)
        return iter_results(self._t, f"{POLICY}/search/query", params, page_size=page_size)

    # -- hierarchical API, realization, traceflow -----------------------------------------------

    def patch_infra(self, infra: dict[str, Any], *, enforce_revision_check: bool = False) -> None:
        """H-API: one atomic PATCH of a tree of ``Child*`` wrappers."""
        params = {"enforce_revision_check": "true"} if enforce_revision_check else None
        self._t.request("PATCH", INFRA, params=params, json=infra)

    def realized_status(self, intent_path: str) -> ConsolidatedRealizedStatus:
        body = self._t.request("GET", f"{INFRA}/realized-state/status", params={"intent_path": intent_path})
        return ConsolidatedRealizedStatus.model_validate(body or {})

    def list_traceflows(self) -> Iterator[AntreaTraceflowConfig]:
        return iter_models(self._t, f"{INFRA}/antrea/traceflows", AntreaTraceflowConfig)

    def get_traceflow(self, traceflow_id: str) -> AntreaTraceflowConfig:
        body = self._t.request("GET", f"{INFRA}/antrea/traceflows/{_seg(traceflow_id)}")
        return AntreaTraceflowConfig.model_validate(body)

    def traceflow_observations(self, traceflow_id: str) -> list[AntreaTraceflowObservation]:
        path = f"{INFRA}/antrea/traceflows/{_seg(traceflow_id)}/observations"
        return list(iter_models(self._t, path, AntreaTraceflowObservation))

    def traceflow_status(self, traceflow_id: str) -> AntreaTraceflowStatus:
        body = self._t.request("GET", f"{INFRA}/antrea/traceflows/{_seg(traceflow_id)}/status")
        return AntreaTraceflowStatus.model_validate(body or {})

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _policy(policy_id: str, domain: str) -> str:
        return f"{domain_path(domain)}/security-policies/{_seg(policy_id)}"

    @staticmethod
    def _group(group_id: str, domain: str) -> str:
        return f"{domain_path(domain)}/groups/{_seg(group_id)}"

    def _delete(self, path: str) -> bool:
        try:
            self._t.request("DELETE", path)
        except NotFound:
            return False
        return True


def _id(value: str | None) -> str:
    if not value:
        raise ValueError("the object needs an id to be written")
    return value


def _drop_none(**params: str | None) -> dict[str, str]:
    return {k: v for k, v in params.items() if v is not None}
