"""`antrea-nsx-adapter ccp` as a process: bootstrap from the API, registration with NSX, Antrea objects
written, probes served, SIGTERM is a clean stop, and the NSX password never reaches the log."""

from __future__ import annotations

import base64
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import requests

from controllers.ccp import names
from controllers.ccp.translate import cluster_path
from tests.unit.cli.conftest import NAMESPACE, CliWorld, cli_env, free_port, start_cli

DOMAIN = "/policy/api/v1/infra/domains/default"
TIER = (names.ANTREA_API_VERSION, "Tier")
ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")


def probe(url: str) -> int:
    with requests.Session() as http:
        http.trust_env = False  # no proxy for loopback
        return http.get(url, timeout=2).status_code


def kube_names(world: CliWorld, res: tuple[str, str], nsx_id: str) -> list[str]:
    return [o["metadata"]["name"] for o in world.kube.list(res)["items"]
            if (o["metadata"].get("annotations") or {}).get(names.NSX_PATH_ANNOTATION, "").endswith("/" + nsx_id)]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (requests.RequestException, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_ccp_runs_from_the_bootstrap_objects_until_sigterm(world: CliWorld) -> None:
    cluster = "cli-ccp"
    kube = world.kube
    kube.create(("v1", "ConfigMap"), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bootstrap-config"},
        "data": {"bootstrap.conf": f"bootstrapFrom: Inline\nclusterName: {cluster}\n"
                                   f"NSXManagers: ['{world.nsx.url}']\n"}},
        NAMESPACE)
    kube.create(("v1", "Secret"), {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nsx-cert"}, "type": "Opaque",
        "data": {"username": base64.b64encode(world.nsx.username.encode()).decode(),
                 "password": base64.b64encode(world.nsx.password.encode()).decode()}}, NAMESPACE)
    health, metrics = free_port(), free_port()
    proc = start_cli("ccp", "--kubeconfig", str(world.kubeconfig), "--nsx-ca-file", str(world.nsx.ca_file),
                     "--health-probe-bind-address", f"127.0.0.1:{health}", "--log-format", "json",
                     "--metrics-bind-address", f"127.0.0.1:{metrics}",
                     env=cli_env(ANTREA_NSX_ADAPTER_NSX_POLL_INTERVAL="500ms"))
    try:
        wait_for(lambda: world.nsx_get("/policy/api/v1" + cluster_path(cluster)).status_code == 200,
                 "the cluster-control-plane in NSX")
        resp = world.http.patch(world.nsx.url + f"{DOMAIN}/security-policies/allow-dns", json={
            "resource_type": "SecurityPolicy", "category": "Infrastructure", "sequence_number": 1,
            "scope": [cluster_path(cluster)], "rules": [
                {"resource_type": "Rule", "id": "dns", "source_groups": ["ANY"], "destination_groups": ["ANY"],
                 "services": ["ANY"], "action": "ALLOW", "direction": "OUT", "sequence_number": 1}]}, timeout=10)
        assert resp.status_code == 200, resp.text
        acnp = wait_for(lambda: [o for o in kube.list(ACNP)["items"]
                                 if o["metadata"]["annotations"].get(names.NSX_PATH_ANNOTATION, "").endswith(
                                     "/allow-dns")], "the ACNP of allow-dns")[0]
        assert acnp["spec"]["tier"] == "nsx-category-infrastructure"
        assert acnp["metadata"]["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY_VALUE
        assert wait_for(lambda: probe(f"http://127.0.0.1:{health}/readyz") == 200,
                        "readiness")
        assert probe(f"http://127.0.0.1:{health}/healthz") == 200
        with requests.Session() as http:
            http.trust_env = False
            exposed = http.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
        assert 'controller_runtime_reconcile_total{controller="ccp-policy"' in exposed
        lease = wait_for(lambda: kube.get(("coordination.k8s.io/v1", "Lease"), "antrea-nsx-adapter-ccp-liveness",
                                          NAMESPACE), "the CCP liveness Lease")
        assert lease["spec"]["holderIdentity"]  # published by the running adapter, for the MP health report
        cluster_id_conf = kube.get(("v1", "ConfigMap"), "cluster-id", NAMESPACE)["data"]["cluster-id.conf"]
        assert cluster_id_conf.startswith("clusterID: ")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert time.monotonic() - started < 10
    assert "received SIGTERM" in output and "manager stopped" in output
    assert f"user from Secret {NAMESPACE}/nsx-cert" in output  # how it authenticated, without the secret
    assert world.nsx.password not in output
    released = world.kube.get(("coordination.k8s.io/v1", "Lease"), "antrea-nsx-adapter-ccp-liveness", NAMESPACE)
    assert released["spec"]["holderIdentity"] == ""  # a clean stop says so at once


def test_dry_run_plans_but_writes_nothing_to_kubernetes_or_nsx(world: CliWorld) -> None:
    cluster = "cli-dry"
    server = world.env.server
    # A dry run does not register the cluster: an admin did (NSX refuses policies for unknown clusters).
    resp = world.http.put(world.nsx.url + "/policy/api/v1" + cluster_path(cluster), json={
        "resource_type": "ClusterControlPlane", "display_name": cluster}, timeout=10)
    assert resp.status_code == 200, resp.text
    started = time.time()  # requests are logged when answered: filter on arrival time, not by clearing
    log = world.workdir / "dry-run.log"
    proc = start_cli("ccp", *world.nsx_flags(), "--cluster-name", cluster, "--cluster-id", "dry-id",
                     "--dry-run", "--health-probe-bind-address", "0", "--nsx-poll-interval", "0.5", log=log)
    try:
        resp = world.http.patch(world.nsx.url + f"{DOMAIN}/security-policies/dry-pol", json={
            "resource_type": "SecurityPolicy", "category": "Emergency", "sequence_number": 1,
            "scope": [cluster_path(cluster)], "rules": []}, timeout=10)
        assert resp.status_code == 200, resp.text
        planned = wait_for(lambda: re.search(r"policy sync: \{'create': ([1-9]\d*)", log.read_text()),
                           "a sync that plans creates")
        assert int(planned.group(1)) >= 1  # at least the ACNP of dry-pol
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        output = log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    writes = [r for r in server.requests if r.time >= started and r.method in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes == [], writes
    # The only write NSX saw is the test's own PATCH of the policy.
    nsx_writes = [(r.method, r.path) for r in world.nsx.state.requests
                  if r.time_ms >= started * 1000 and r.method != "GET"]
    assert [w for w in nsx_writes if not w[1].endswith("/security-policies/dry-pol")] == []
    assert kube_names(world, ACNP, "dry-pol") == []
