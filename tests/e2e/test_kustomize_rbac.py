"""config/rbac is least privilege, measured: the CCP adapter and `deregister` run as processes against
the emulated API server through a scenario (create, change and delete NSX policies; leader election;
bootstrap objects read through the API), every request they make is mapped to (group, resource,
verb), and each must be granted by the ClusterRole or the namespaced Roles — while the ClusterRole
may grant nothing that was neither used nor is listed in DOCUMENTED with the reason."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from controllers.ccp.translate import cluster_path
from crds import MANIFEST_DIR
from reconciler.envtest import Environment
from sim.nsx import NsxSimulator

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "vmware-system-antrea"
CLUSTER = "rbac-cluster"
DOMAIN = "/policy/api/v1/infra/domains/default"

# Granted but not exercised by the CCP scenario, each with the code that needs it.
DOCUMENTED: dict[tuple[str, str, str], str] = {
    **{("crd.antrea.io", r, "get"): "CCP: re-read after AlreadyExists (controllers/ccp/policy_controller.py)"
       for r in ("tiers", "clustergroups", "clusternetworkpolicies")},
    ("crd.antrea.io", "tiers", "patch"): "CCP: repairs drift of a managed Tier (its priority is fixed)",
    **{("crd.antrea.io", "traceflows", v): "MP: NSX troubleshooting runs as Traceflows (controllers/mp/traceflow*.py)"
       for v in ("watch", "create", "delete")},  # list: deregister uses it
    **{("crd.antrea.io", r, v): "MP: Antrea health, Antrea-native policy inventory (controllers/mp)"
       for r in ("antreacontrollerinfos", "antreaagentinfos", "networkpolicies") for v in ("list", "watch")},
    ("stats.antrea.io", "antreaclusternetworkpolicystats", "list"): "MP: rule statistics (controllers/mp/stats.py)",
    **{("system.antrea.io", r, v): "MP: Antrea support bundles (controllers/mp/antrea_bundles.py)"
       for r, v in (("supportbundles", "get"), ("supportbundles", "create"), ("supportbundles/download", "get"),
                    ("controllerinfos", "get"))},
    **{("controlplane.antrea.io", "networkpolicies", v): "MP: K8s NetworkPolicy realization "
       "(controllers/mp/inventory_realization.py)" for v in ("list", "watch")},
    **{("", r, v): "MP: cluster inventory, Traceflow endpoints (controllers/mp)"
       for r in ("pods", "services", "namespaces", "nodes") for v in ("list", "watch")},
    **{("networking.k8s.io", r, v): "MP: cluster inventory (controllers/mp)"
       for r in ("networkpolicies", "ingresses") for v in ("list", "watch")},
}

DISCOVERY = re.compile(r"^/(version|api|apis|openapi/.*|api/v1|apis/[^/]+(/[^/]+)?)/?$")
RESOURCE = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                      r"(?:/namespaces/(?P<ns>[^/]+)(?=/))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")


@dataclass(frozen=True)
class Access:
    group: str
    resource: str
    verb: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}/{self.name or '*'}{where}"


def to_access(method: str, path: str, query: str) -> Access | None:
    """A request as RBAC sees it (kube's RequestInfoFactory), or None for discovery."""
    if DISCOVERY.match(path):
        return None
    m = RESOURCE.match(path)
    assert m, f"unparsed request path {path}"
    resource = m["resource"] + (f"/{m['sub']}" if m["sub"] else "")
    name = m["name"] or ""
    if method == "GET":
        verb = "get" if name else ("watch" if re.search(r"(^|&)watch=(1|true)", query) else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]
    return Access(m["group"] or "", resource, verb, m["ns"] or "", name)


def granted(rules: list[dict[str, Any]], access: Access) -> bool:
    for rule in rules:
        if access.group not in rule.get("apiGroups", []) and "*" not in rule.get("apiGroups", []):
            continue
        if access.resource not in rule.get("resources", []) or access.verb not in rule.get("verbs", []):
            continue
        names = rule.get("resourceNames") or []
        if names and access.name not in names:  # also: create can never match a resourceNames rule
            continue
        return True
    return False


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def rendered_rbac() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "config" / "default")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in ("ClusterRole", "Role")]


@pytest.fixture(scope="module")
def adapter_requests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Access]]:
    """Every request the CCP adapter and deregister made, through one scenario."""
    workdir = tmp_path_factory.mktemp("rbac")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")
    cfg = env.start()
    if cfg.backend != "emulator":
        env.stop()
        pytest.skip("reads the emulated API server's request log")
    kube = cfg.client(qps=-1)
    server = cfg.server
    with NsxSimulator(tls=True) as nsx:
        kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        kube.create(("v1", "ConfigMap"), {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bootstrap-config"},
            "data": {"bootstrap.conf": f"clusterName: {CLUSTER}\nNSXManagers: ['{nsx.url}']\n"}}, NAMESPACE)
        kube.create(("v1", "Secret"), {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nsx-cert"},
            "data": {"username": base64.b64encode(nsx.username.encode()).decode(),
                     "password": base64.b64encode(nsx.password.encode()).decode()}}, NAMESPACE)
        http = requests.Session()
        http.auth = (nsx.username, nsx.password)
        http.verify = str(nsx.ca_file)
        http.trust_env = False
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith("ANTREA_NSX_ADAPTER_")}
        base = [sys.executable, "-m", "controllers.cli"]
        common = ["--kubeconfig", str(cfg.kubeconfig), "--nsx-ca-file", str(nsx.ca_file)]
        # The log records a request when it is answered, so the setup's last one may land after a
        # clear: keep only requests that arrived after the adapter was started.
        started = time.time()
        proc = subprocess.Popen([*base, "ccp", *common, "--leader-elect", "--leader-election-namespace", NAMESPACE,
                                 "--health-probe-bind-address", "0", "--nsx-poll-interval", "300ms"],
                                cwd=ROOT, env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def count(method: str, plural: str) -> int:
            return int(server.count_requests(method=method, path=rf"^/apis/crd\.antrea\.io/v1beta1/{plural}(/.*)?$"))

        def nsx_patch(path: str, body: dict[str, Any]) -> None:
            resp = http.patch(nsx.url + path, json=body, timeout=10)
            assert resp.status_code == 200, resp.text

        try:
            wait_for(lambda: http.get(nsx.url + "/policy/api/v1" + cluster_path(CLUSTER), timeout=5).ok,
                     "registration")
            for app in ("web", "db"):
                nsx_patch(f"{DOMAIN}/groups/{app}", {"group_type": ["ANTREA"], "expression": [
                    {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                     "value": f"app|{app}"}]})
            rule = {"resource_type": "Rule", "id": "web-db", "source_groups": ["/infra/domains/default/groups/web"],
                    "destination_groups": ["/infra/domains/default/groups/db"], "services": ["ANY"],
                    "action": "ALLOW", "direction": "IN_OUT", "sequence_number": 1,
                    "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "pg",
                                         "l4_protocol": "TCP", "destination_ports": ["5432"]}]}
            nsx_patch(f"{DOMAIN}/security-policies/app", {
                "category": "Application", "sequence_number": 1, "scope": [cluster_path(CLUSTER)], "rules": [rule]})
            wait_for(lambda: count("POST", "clusternetworkpolicies"), "an ACNP created")
            nsx_patch(f"{DOMAIN}/security-policies/app/rules/web-db",
                      {**rule, "service_entries": [{**rule["service_entries"][0], "destination_ports": ["5433"]}]})
            wait_for(lambda: count("PATCH", "clusternetworkpolicies"), "an ACNP patched")
            nsx_patch(f"{DOMAIN}/groups/db", {"group_type": ["ANTREA"], "expression": [
                {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                 "value": "app|postgres"}]})
            wait_for(lambda: count("PATCH", "clustergroups"), "a ClusterGroup patched")
            assert http.delete(nsx.url + f"{DOMAIN}/security-policies/app", timeout=10).ok
            wait_for(lambda: count("DELETE", "clusternetworkpolicies"), "an ACNP deleted")
            wait_for(lambda: server.count_requests(method="PUT", path=r"/leases/"), "a Lease renewal")
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
            assert proc.returncode == 0, output
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        dereg = subprocess.run([*base, "deregister", "--kubeconfig", str(cfg.kubeconfig)], cwd=ROOT, env=env_vars,
                               capture_output=True, text=True, timeout=60, check=False)
        assert dereg.returncode == 0, dereg.stderr
        assert "deleted Tier nsx-category-application" in dereg.stdout
        log = [(r.method, r.path, r.query) for r in server.requests if r.time >= started]
        http.close()
    kube.close()
    env.stop()
    yield [a for a in (to_access(*r) for r in log) if a is not None]


def test_every_request_is_granted(adapter_requests: list[Access], rendered_rbac: list[dict[str, Any]]) -> None:
    cluster_rules = [r for o in rendered_rbac if o["kind"] == "ClusterRole" for r in o["rules"]]
    ns_rules = [r for o in rendered_rbac if o["kind"] == "Role" and o["metadata"]["namespace"] == NAMESPACE
                for r in o["rules"]]
    denied = sorted({str(a) for a in adapter_requests
                     if not granted(cluster_rules, a) and not (a.namespace == NAMESPACE and granted(ns_rules, a))})
    assert not denied, "requests config/rbac does not grant:\n" + "\n".join(denied)
    verbs = {(a.resource, a.verb) for a in adapter_requests}
    # the scenario did exercise what it claims to
    assert {("clusternetworkpolicies", "create"), ("clusternetworkpolicies", "patch"),
            ("clusternetworkpolicies", "delete"), ("tiers", "watch"), ("leases", "update"),
            ("configmaps", "create"), ("secrets", "get")} <= verbs


def test_cluster_role_grants_nothing_unused_or_undocumented(
        adapter_requests: list[Access], rendered_rbac: list[dict[str, Any]]) -> None:
    used = {(a.group, a.resource, a.verb) for a in adapter_requests}
    role = next(o for o in rendered_rbac if o["kind"] == "ClusterRole")
    grants = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
              for v in rule["verbs"]}
    assert "*" not in {x for grant in grants for x in grant}
    extra = sorted(grants - used - DOCUMENTED.keys())
    assert not extra, f"granted but neither used nor documented: {extra}"
    stale = sorted(k for k in DOCUMENTED if k in used)
    assert not stale, f"documented as unexercised but used (move to the scenario): {stale}"


def test_namespaced_roles_are_narrow(rendered_rbac: list[dict[str, Any]]) -> None:
    roles = {o["metadata"]["name"]: o for o in rendered_rbac if o["kind"] == "Role"}
    assert {o["metadata"]["namespace"] for o in roles.values()} == {NAMESPACE}
    secret_rules = [r for o in roles.values() for r in o["rules"] if "secrets" in r["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["nsx-cert"],
                             "verbs": ["get"]}]
    cluster_role = next(o for o in rendered_rbac if o["kind"] == "ClusterRole")
    assert not [r for r in cluster_role["rules"] if {"secrets", "configmaps", "leases"} & set(r["resources"])]
