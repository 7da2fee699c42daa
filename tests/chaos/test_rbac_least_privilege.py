"""The adapter runs with only the RBAC of ``config/rbac``, enforced: the emulated API server evaluates
the applied Roles and ClusterRoles for the adapter's ServiceAccount token (sim/kubeapi/rbac.py).

``config/default`` is applied with kubectl, the token is minted with ``kubectl create token``, and
``antrea-nsx-adapter run`` gets a kubeconfig holding only that token. It must converge — bootstrap
objects read and the cluster id created, policies become Antrea objects and are realized, the
inventory and health reach NSX, statistics are read, the leader Lease is renewed — without a
single 401 or 403. And a ClusterRole missing one verb must show: a 403 in the server's log and an
adapter log line naming the permission."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controllers.ccp import names
from controllers.ccp.translate import cluster_path
from tests.chaos._rbac_world import (
    CLUSTER,
    NAMESPACE,
    PODS,
    SERVICE_ACCOUNT,
    WORKLOAD_NS,
    RbacWorld,
    antrea_policy,
    build_rbac_world,
    realization,
    rendered_config,
    wait_for,
    without_verb,
)

ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"


def _accessed(world: RbacWorld, method: str, pattern: str) -> bool:
    return any(r.method == method and re.search(pattern, r.path) and r.status < 300
               for r in world.adapter_requests())


def _refused(world: RbacWorld) -> list[str]:
    return [f"{r.status} {r.method} {r.path}?{r.query}" for r in world.kube.requests if r.status in (401, 403)]


def test_adapter_converges_with_only_config_rbac(tmp_path: Path) -> None:
    world = build_rbac_world(tmp_path, rendered_config())
    try:
        world.start_adapter()
        cluster_id = wait_for(world.cluster_id, "the adapter to create the cluster-id ConfigMap")
        wait_for(lambda: len(world.nsx.state.inventory(cluster_id, "ContainerApplicationInstance")) == len(PODS),
                 "the Pods in NSX inventory")
        wait_for(lambda: any(p.get("display_name") == WORKLOAD_NS for p in
                             world.nsx.state.inventory(cluster_id, "ContainerProject").values()),
                 "the workload namespace in NSX inventory")
        wait_for(lambda: len(world.nsx.state.inventory(cluster_id, "ContainerClusterNode")) == 2, "the Nodes in NSX")
        antrea_policy(world, "rbac-app")
        wait_for(lambda: world.admin.get(ACNP, "nsx-rbac-app"), "the ACNP of the NSX policy")
        wait_for(lambda: realization(world, "rbac-app") == "SUCCESS", "the policy realized in NSX")
        status_path = f"/policy/api/v1{cluster_path(CLUSTER)}/status"
        wait_for(lambda: (world.nsx_get(status_path) or {}).get("status") == "HEALTHY", "a HEALTHY report in NSX")
        wait_for(lambda: _accessed(world, "PUT", rf"/namespaces/{NAMESPACE}/leases/"), "a Lease renewal")
        wait_for(lambda: _accessed(world, "GET", r"/apis/stats\.antrea\.io/"), "a statistics read")
        assert world.stop_adapter() == 0, world.adapter_log()[-3000:]
    except AssertionError as err:  # say why: a refused request is the likely cause
        raise AssertionError(f"{err}\nrefused requests: {_refused(world)}\nadapter log (tail):\n"
                             f"{world.adapter_log()[-3000:]}") from None
    finally:
        world.close()
    assert not _refused(world), "requests refused by RBAC:\n" + "\n".join(_refused(world))
    # the adapter did run as its ServiceAccount, through the namespaced Roles too
    assert _accessed(world, "GET", rf"/namespaces/{NAMESPACE}/configmaps/bootstrap-config$")
    assert _accessed(world, "GET", rf"/namespaces/{NAMESPACE}/secrets/nsx-cert$")
    assert _accessed(world, "POST", rf"/namespaces/{NAMESPACE}/configmaps$")
    assert _accessed(world, "POST", r"/clusternetworkpolicies$")
    log = world.adapter_log()
    assert "Forbidden" not in log and "is forbidden" not in log and "Unauthorized" not in log


@pytest.mark.parametrize(("group", "resource", "verb"), [
    ("crd.antrea.io", "clusternetworkpolicies", "create"),  # a write of the CCP adapter
    ("", "pods", "watch"),  # an informer of the MP adapter
])
def test_a_missing_verb_is_a_clear_error(tmp_path: Path, group: str, resource: str, verb: str) -> None:
    world = build_rbac_world(tmp_path, without_verb(rendered_config(), resource, verb))
    needed = f'User "{USER}" cannot {verb} resource "{resource}" in API group "{group}" at the cluster scope'
    try:
        world.start_adapter()
        if resource == "clusternetworkpolicies":
            wait_for(lambda: world.nsx_get("/policy/api/v1" + cluster_path(CLUSTER)), "the cluster's registration")
            antrea_policy(world, "rbac-app")
            state = wait_for(lambda: _nsx_error(world, "rbac-app"), "the realization error in NSX")
            assert needed in state, state
        line = wait_for(lambda: next((line for line in world.adapter_log().splitlines() if needed in line), None),
                        "an adapter log line naming the missing permission")
        assert re.search(r"\b(ERROR|WARNING)\b", line) and "403 Forbidden" in line, line
    finally:
        world.close()
    refused = [r for r in world.adapter_requests() if r.status == 403]
    assert refused and all(f"/{resource}" in r.path for r in refused), [(r.method, r.path) for r in refused]
    assert {r.method for r in refused} == {"POST" if verb == "create" else "GET"}


def _nsx_error(world: RbacWorld, policy_id: str) -> str | None:
    """The realization error messages NSX shows for the policy, once it is in ERROR."""
    if realization(world, policy_id) != "ERROR":
        return None
    entities = world.nsx_get("/policy/api/v1/infra/realized-state/realized-entities?intent_path="
                             f"/infra/domains/default/security-policies/{policy_id}") or {}
    return "; ".join(str(a.get("message", "")) for e in entities.get("results", []) for a in e.get("alarms", []))
