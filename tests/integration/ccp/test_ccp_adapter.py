"""The CCP adapter end to end: NSX simulator -> adapter -> emulated API server <- Antrea stand-in.

Everything talks over real HTTP: the adapter reads NSX intent with its NSX client, writes Antrea
objects with its Kubernetes client, and reports realization through the adapter channel, which the
simulator reflects in NSX's own ``realized-state`` read API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from controllers.ccp import names
from controllers.ccp.adapter import CcpAdapter, setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from reconciler.client import KubeClient
from reconciler.errors import NotFound
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests import worlds

CLUSTER = "c1"
POLICIES = "/policy/api/v1/infra/domains/default/security-policies"
GROUPS = "/policy/api/v1/infra/domains/default/groups"
ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")
CG = (names.ANTREA_API_VERSION, "ClusterGroup")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ANTREA_PATHS = r"^/apis/crd\.antrea\.io/v1beta1/(tiers|clustergroups|clusternetworkpolicies)(/[^/]+)?$"  # not /status


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    return worlds.wait_for(check, timeout, what, ignore=(NotFound, KeyError))


@dataclass
class World(worlds.World):
    http: requests.Session
    antrea: AntreaSimulator

    def nsx_patch(self, path: str, body: dict[str, Any]) -> None:
        resp = self.http.patch(self.nsx.url + path, json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def nsx_delete(self, path: str) -> None:
        assert self.http.delete(self.nsx.url + path, timeout=10).status_code == 200

    def realized(self, policy_id: str) -> dict[str, Any]:
        resp = self.http.get(self.nsx.url + "/policy/api/v1/infra/realized-state/status",
                             params={"intent_path": f"/infra/domains/default/security-policies/{policy_id}"},
                             timeout=10)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def state(self, policy_id: str) -> str:
        per_cluster = self.realized(policy_id)["consolidated_status_per_enforcement_point"]
        return str(per_cluster[0]["consolidated_status"]["consolidated_status"]) if per_cluster else "NONE"

    def reasons(self, policy_id: str) -> str:
        resp = self.http.get(self.nsx.url + "/policy/api/v1/infra/realized-state/realized-entities",
                             params={"intent_path": f"/infra/domains/default/security-policies/{policy_id}"},
                             timeout=10)
        return resp.text

    def antrea_writes(self) -> int:
        return len(self.antrea_write_log())

    def antrea_write_log(self) -> list[str]:
        rx = re.compile(ANTREA_PATHS)
        return [f"{r.method} {r.path} -> {r.status}" for r in self.env.server.requests
                if r.method in WRITES and rx.search(r.path)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with worlds.control_plane(tmp_path_factory.mktemp("ccp"), nodes=("n1", "n2"),
                              emulator_only="counts writes through the emulated API server's request log") as cfg, \
            cfg.client() as kube, NsxSimulator(tls=True) as nsx, \
            AntreaSimulator(cfg.kubeconfig, realization_delay=0.2) as antrea, worlds.nsx_admin(nsx) as http:
        worlds.register_cluster(http, nsx, CLUSTER)
        yield World(cfg, kube, nsx, http, antrea)


class Running(worlds.ManagerThread):
    """One adapter process-equivalent: a manager with the CCP controllers, in a thread."""

    def __init__(self, world: World, **overrides: Any) -> None:
        super().__init__(world.env.kubeconfig, world.nsx)
        settings = CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=0.3, realization_timeout=3.0,
                               reconcile_interval=60.0, **overrides)
        self.adapter: CcpAdapter = setup_ccp(self.manager, self.nsx, settings)


def tag_group(gid: str, app: str) -> dict[str, Any]:
    return {"resource_type": "Group", "group_type": ["ANTREA"], "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
         "value": f"dis:k8s:app|{app}"}]}


def policy_body(*rules: dict[str, Any], seq: int = 10) -> dict[str, Any]:
    return {"resource_type": "SecurityPolicy", "category": "Application", "sequence_number": seq,
            "scope": [cluster_path(CLUSTER)], "rules": list(rules)}


def allow_rule(rid: str, port: str = "8080", **extra: Any) -> dict[str, Any]:
    return {"resource_type": "Rule", "id": rid, "sequence_number": 1,
            "source_groups": ["/infra/domains/default/groups/fe"],
            "destination_groups": ["/infra/domains/default/groups/web"], "services": ["ANY"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "tcp", "l4_protocol": "TCP",
                                 "destination_ports": [port]}],
            "action": "ALLOW", "direction": "IN", **extra}


def test_policies_appear_change_revert_drift_and_disappear(world: World) -> None:
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p1", policy_body(allow_rule("r1")))
    with Running(world):
        acnp = wait_for(lambda: world.kube.get(ACNP, "nsx-p1"), what="ACNP created")
        assert acnp["metadata"]["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY_VALUE
        assert acnp["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
        for group in ("nsx-web", "nsx-web-0", "nsx-fe", "nsx-fe-0"):
            world.kube.get(CG, group)
        wait_for(lambda: world.state("p1") == "SUCCESS", what="REALIZED in NSX")

        # One rule changed in NSX: exactly one ACNP patch.
        wait_for(lambda: world.kube.get(ACNP, "nsx-p1").get("status", {}).get("phase") == "Realized")
        time.sleep(0.5)  # let the initial sync's own follow-up reconciles settle
        before = world.antrea_writes()
        world.nsx_patch(f"{POLICIES}/p1", policy_body(allow_rule("r1", port="9090")))
        wait_for(lambda: world.kube.get(ACNP, "nsx-p1")["spec"]["ingress"][0]["ports"][0]["port"] == 9090,
                 what="rule change applied")
        time.sleep(0.8)
        writes = world.antrea_write_log()[before:]
        assert writes == ["PATCH /apis/crd.antrea.io/v1beta1/clusternetworkpolicies/nsx-p1 -> 200"], writes
        wait_for(lambda: world.state("p1") == "SUCCESS", what="re-realized at the new revision")

        # Drift: a kubectl-style edit is reverted, a delete is undone.
        world.kube.patch(ACNP, "nsx-p1", {"spec": {"priority": 42.0}})
        wait_for(lambda: world.kube.get(ACNP, "nsx-p1")["spec"]["priority"] != 42.0, what="edit reverted")
        world.kube.delete(ACNP, "nsx-p1")
        wait_for(lambda: world.kube.get(ACNP, "nsx-p1"), what="deleted ACNP recreated")

        # The NSX policy goes away: its ACNP and groups are purged.
        world.nsx_delete(f"{POLICIES}/p1")
        wait_for(lambda: _gone(world.kube, ACNP, "nsx-p1") and _gone(world.kube, CG, "nsx-web")
                 and _gone(world.kube, CG, "nsx-fe-0"), what="stale objects purged")


def _gone(kube: KubeClient, res: tuple[str, str], name: str) -> bool:
    try:
        kube.get(res, name)
    except NotFound:
        return True
    return False


def test_unmanaged_objects_are_never_touched_and_clashes_are_reported(world: World) -> None:
    user = {"apiVersion": names.ANTREA_API_VERSION, "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "nsx-p2"},
            "spec": {"tier": "application", "priority": 3.0, "appliedTo": [{"podSelector": {}}],
                     "ingress": [{"name": "mine", "action": "Drop"}]}}
    created = world.kube.create(ACNP, user)
    other = dict(user, metadata={"name": "user-policy"})
    world.kube.create(ACNP, other)
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p2", policy_body(allow_rule("r1")))
    user_writes = r"/clusternetworkpolicies/(nsx-p2|user-policy)$"  # status writes are Antrea's
    before = sum(world.env.server.count_requests(method=m, path=user_writes) for m in ("PUT", "PATCH", "DELETE"))
    with Running(world):
        wait_for(lambda: world.state("p2") == "ERROR", what="name clash reported")
        assert "not managed by the adapter" in world.reasons("p2")
        time.sleep(0.5)
        mine = world.kube.get(ACNP, "nsx-p2")
        assert mine["spec"] == created["spec"] and mine["metadata"].get("labels") is None
        assert world.kube.get(ACNP, "user-policy")["spec"]["ingress"][0]["name"] == "mine"
    after = sum(world.env.server.count_requests(method=m, path=user_writes) for m in ("PUT", "PATCH", "DELETE"))
    assert after == before
    world.nsx_delete(f"{POLICIES}/p2")
    world.kube.delete(ACNP, "nsx-p2")
    world.kube.delete(ACNP, "user-policy")


def test_translation_errors_reach_nsx_and_hold_the_previous_version(world: World) -> None:
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p3", policy_body(allow_rule("r1")))
    with Running(world):
        wait_for(lambda: world.state("p3") == "SUCCESS", what="p3 realized")
        applied = world.kube.get(ACNP, "nsx-p3")
        world.nsx_patch(f"{POLICIES}/p3", policy_body(allow_rule("r1", sources_excluded=True)))
        wait_for(lambda: world.state("p3") == "ERROR", what="translation error reported")
        assert "sources_excluded" in world.reasons("p3")
        held = world.kube.get(ACNP, "nsx-p3")
        assert held["spec"] == applied["spec"], "a failed policy keeps its last applied version"
    world.nsx_delete(f"{POLICIES}/p3")


def test_realization_failure_and_timeout_are_errors(world: World) -> None:
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.antrea.fail_policy("nsx-p4", message="ovs is down", nodes=["n2"])
    world.antrea.stall_policy("nsx-p5")
    world.nsx_patch(f"{POLICIES}/p4", policy_body(allow_rule("r1")))
    world.nsx_patch(f"{POLICIES}/p5", policy_body(allow_rule("r1"), seq=11))
    with Running(world):
        wait_for(lambda: world.state("p4") == "ERROR", what="failure reported")
        assert "ovs is down" in world.reasons("p4")
        wait_for(lambda: world.state("p5") == "IN_PROGRESS", what="in progress first")
        wait_for(lambda: world.state("p5") == "ERROR", timeout=10, what="timeout reported")
        assert re.search(r"not realized within 3 s", world.reasons("p5"))
    world.antrea.clear_fault("nsx-p4")
    world.antrea.clear_fault("nsx-p5")
    world.nsx_delete(f"{POLICIES}/p4")
    world.nsx_delete(f"{POLICIES}/p5")


def test_restart_with_nothing_changed_writes_nothing(world: World) -> None:
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p6", policy_body(allow_rule("r1")))
    with Running(world):
        wait_for(lambda: world.state("p6") == "SUCCESS", what="p6 realized")
    before = world.antrea_writes()
    reports_before = world.nsx.count_requests(method="POST", path=r".*/antrea-adapter/.*/realization")
    with Running(world) as again:
        wait_for(lambda: again.adapter.outcomes.published.is_set() and again.adapter.policy.last_plan is not None,
                 what="first resync done")
        time.sleep(1.0)
        assert again.adapter.policy.last_plan is not None and again.adapter.policy.last_plan.empty()
    assert world.antrea_writes() == before
    assert world.nsx.count_requests(method="POST", path=r".*/antrea-adapter/.*/realization") == reports_before
    world.nsx_delete(f"{POLICIES}/p6")


def test_a_poll_due_during_a_policy_run_waits_for_its_end(world: World) -> None:
    """Polls (every 0.3 s here) pause while a run is writing: what they would find could only be
    applied after that run, and at scale each one is many search pages."""
    world.nsx_patch(f"{GROUPS}/web", tag_group("web", "web"))
    world.nsx_patch(f"{GROUPS}/fe", tag_group("fe", "frontend"))
    world.nsx_patch(f"{POLICIES}/p7", policy_body(allow_rule("r1")))
    with Running(world) as running:
        wait_for(lambda: world.state("p7") == "SUCCESS", what="p7 realized")
        polls_idle = _searches(world, time.time() - 1.2, time.time())
        world.env.server.faults.add_latency(1.5, method="PATCH", path=r"/clusternetworkpolicies/nsx-p7$")
        try:
            world.nsx_patch(f"{POLICIES}/p7", policy_body(allow_rule("r1", port="8181")))
            patched = wait_for(lambda: [r for r in world.env.server.requests if r.method == "PATCH"
                                        and r.path.endswith("/clusternetworkpolicies/nsx-p7") and r.status == 200],
                               what="the slow ACNP patch answered")[-1]
        finally:
            world.env.server.faults.clear()
        assert running.adapter.policy.idle.wait(5)
    assert polls_idle >= 2, "the poller polls every 0.3 s while nothing runs"
    during = _searches(world, patched.time + 0.1, patched.time + patched.duration - 0.1)
    assert during == 0, f"{during} NSX polls while the run waited 1.5 s for its write"
    world.nsx_delete(f"{POLICIES}/p7")


def _searches(world: World, since: float, until: float) -> int:
    return sum(1 for r in list(world.nsx.state.requests) if r.path.endswith("/search/query")
               and since * 1000 <= r.time_ms <= until * 1000)
