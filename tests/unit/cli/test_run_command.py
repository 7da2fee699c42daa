"""`antrea-nsx-adapter run` (both adapters in one process) and `mp`: inventory and health reach NSX,
policies reach the cluster, and SIGTERM is a clean stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import requests

from controllers.ccp import names
from controllers.ccp.translate import cluster_path
from reconciler.errors import NotFound
from tests.unit.cli.conftest import CliWorld, start_cli

DOMAIN = "/policy/api/v1/infra/domains/default"
ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (requests.RequestException, KeyError, NotFound):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: Any) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    return str(output)


def test_run_reports_inventory_and_health_and_applies_policies(world: CliWorld) -> None:
    cluster, cluster_id = "cli-run", "cli-run-id"
    world.kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "shop", "labels": {"team": "web"}}})
    proc = start_cli("run", *world.nsx_flags(), "--cluster-name", cluster, "--cluster-id", cluster_id,
                     "--health-probe-bind-address", "0", "--nsx-poll-interval", "0.5",
                     "--inventory-batch-period", "0.2", "--heartbeat-interval", "1s")
    try:
        project = wait_for(lambda: [o for o in world.nsx.state.inventory(cluster_id, "ContainerProject").values()
                                    if o.get("display_name") == "shop"], "the namespace in NSX inventory")[0]
        assert {"scope": "dis:k8s:team", "tag": "web"} in project["tags"]
        wait_for(lambda: world.nsx_get("/policy/api/v1" + cluster_path(cluster) + "/status").json()
                 .get("status") in ("HEALTHY", "DEGRADED", "FAILED"), "a health report in NSX")
        resp = world.http.patch(world.nsx.url + f"{DOMAIN}/security-policies/run-pol", json={
            "resource_type": "SecurityPolicy", "category": "Application", "sequence_number": 3,
            "scope": [cluster_path(cluster)], "rules": []}, timeout=10)
        assert resp.status_code == 200, resp.text
        wait_for(lambda: world.kube.get(ACNP, "nsx-run-pol"), "the ACNP")
    finally:
        output = _stop(proc) if proc.poll() is None else ""
    assert world.nsx.password not in output
    assert "manager stopped" in output


def test_mp_alone_runs_without_the_ccp_controllers(world: CliWorld) -> None:
    cluster, cluster_id = "cli-mp", "cli-mp-id"
    proc = start_cli("mp", *world.nsx_flags(), "--cluster-name", cluster, "--cluster-id", cluster_id,
                     "--health-probe-bind-address", "0", "--inventory-batch-period", "0.2")
    try:
        wait_for(lambda: world.nsx.state.inventory(cluster_id, "ContainerProject"), "namespaces in NSX inventory")
    finally:
        output = _stop(proc)
    assert "ccp-policy" not in output
