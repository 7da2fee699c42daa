"""`antrea-nsx-adapter run --dry-run`: both adapters plan and log, and not one write request reaches
the NSX simulator or the API server (their request logs), while the log says what would be written."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from controllers.ccp.names import ANTREA_API_VERSION
from controllers.ccp.translate import cluster_path
from tests.unit.cli.conftest import NAMESPACE, CliWorld, start_cli

DOMAIN = "/policy/api/v1/infra/domains/default"
READS = {"GET", "HEAD", "OPTIONS"}
CLUSTER = "cli-dry"


def _wait_for_log(log: Path, patterns: list[str], timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if all(re.search(p, text) for p in patterns):
            return text
        time.sleep(0.3)
    missing = [p for p in patterns if not re.search(p, text)]
    raise AssertionError(f"the log never showed {missing}:\n{text[-4000:]}")


def test_dry_run_writes_nothing_to_nsx_or_kubernetes_and_logs_each_write(world: CliWorld, tmp_path: Path) -> None:
    server = world.env.server
    if server is None:
        pytest.skip("needs the emulated API server's request log (not a real cluster)")
    world.kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "dry-shop", "labels": {"team": "dry"}}})
    # The cluster is registered already (NSX refuses policies scoped to an unknown cluster).
    resp = world.http.put(world.nsx.url + f"/policy/api/v1{cluster_path(CLUSTER)}", json={
        "resource_type": "ClusterControlPlane", "display_name": CLUSTER}, timeout=10)
    assert resp.status_code == 200, resp.text
    resp = world.http.patch(world.nsx.url + f"{DOMAIN}/security-policies/dry-pol", json={
        "resource_type": "SecurityPolicy", "category": "Application", "sequence_number": 7,
        "scope": [cluster_path(CLUSTER)], "rules": [
            {"resource_type": "Rule", "id": "r1", "sequence_number": 1, "source_groups": ["ANY"],
             "destination_groups": ["ANY"], "services": ["ANY"], "action": "ALLOW", "direction": "IN"}]},
        timeout=10)
    assert resp.status_code == 200, resp.text
    started = time.time()
    log = tmp_path / "adapter.log"
    # No --cluster-id: the cluster-id ConfigMap would be created; --leader-elect: a Lease would be.
    proc = start_cli("run", *world.nsx_flags(), "--cluster-name", CLUSTER, "--dry-run", "--leader-elect",
                     "--health-probe-bind-address", "0", "--nsx-poll-interval", "0.5",
                     "--inventory-batch-period", "0.2", "--heartbeat-interval", "1s", "--stats-interval", "1s",
                     "--realization-workers", "3", "--inventory-workers", "1", "--traceflow-workers", "2",
                     log=log)
    try:
        text = _wait_for_log(log, [
            rf"would create ConfigMap {NAMESPACE}/cluster-id",
            rf"dry run: would POST NSX /api/v1/antrea-adapter/clusters/{CLUSTER}/realization\S* \(realization of "
            r"\d+ policies: .*/security-policies/dry-pol=",
            r"dry run: would POST NSX /api/v1/inventory/container/\S+ \(\d+ inventory objects: .*CREATE "
            r"ContainerProject",
            rf"dry run: would POST NSX /api/v1/antrea-adapter/clusters/{CLUSTER}/heartbeat \(health status \w+\)",
            r"policy sync: \{'create': [1-9]",
        ])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, text[-4000:]
    assert "no leader election" in text
    # Worker counts come from their flags.
    assert "controller ccp-realization started with 3 workers" in text
    assert "controller mp-traceflow started with 2 workers" in text
    assert "controller mp-inventory-pod started with 1 workers" in text
    assert "controller ccp-policy started with 1 workers" in text
    assert world.nsx.password not in text

    nsx_writes = [f"{r.method} {r.path} -> {r.status}" for r in world.nsx.state.requests
                  if r.time_ms >= started * 1000 and r.method not in READS]
    kube_writes = [f"{r.method} {r.path}?{r.query} -> {r.status}" for r in server.requests
                   if r.time >= started and r.method not in READS]
    assert nsx_writes == []
    assert kube_writes == []
    # Reads did go out: the adapter really planned against both.
    assert any(r.time_ms >= started * 1000 and "/security-policies" in r.path for r in world.nsx.state.requests)
    assert any(r.time >= started and "clusternetworkpolicies" in r.path for r in server.requests)
    # And nothing changed where a real run would have written.
    acnps = world.kube.list((ANTREA_API_VERSION, "ClusterNetworkPolicy"))["items"]
    assert [o["metadata"]["name"] for o in acnps if "dry-pol" in o["metadata"]["name"]] == []
    match = re.search(r"would create ConfigMap \S+ with clusterID (\S+)", text)
    assert match is not None
    assert world.nsx.state.inventory(match.group(1)) == {}


def test_dry_run_client_refuses_registration_and_answers_like_nsx(world: CliWorld) -> None:
    """In-process: the wrapped client's writes are logged, answered, and never sent; reads are."""
    from nsx.auth import BasicAuth
    from nsx.client import NsxClient
    from nsx.dry_run import DryRunNsxClient, dry_run_client
    from nsx.models.channel import RealizationReport
    from nsx.models.clusters import ClusterControlPlane
    from nsx.tls import TlsSettings

    started = time.time()
    inner = NsxClient([world.nsx.url], BasicAuth(world.nsx.username, world.nsx.password),
                      tls=TlsSettings(ca_file=str(world.nsx.ca_file)))
    with dry_run_client(inner) as nsx:
        assert isinstance(nsx, DryRunNsxClient) and dry_run_client(nsx) is nsx
        created = nsx.registration.ensure_cluster_control_plane(ClusterControlPlane(id="never-registered"))
        assert created.id == "never-registered"
        ack = nsx.channel("never-registered").report_realization([
            RealizationReport(intent_path="/infra/domains/default/security-policies/p", state="REALIZED")])
        assert ack.accepted == 1
        assert nsx.registration.get_cluster_control_plane("never-registered") is None
        written = [(w.method, w.path) for w in nsx.journal.entries()]
    assert [m for m, _ in written] == ["PUT", "POST"]
    assert written[0][1].endswith("/cluster-control-planes/never-registered")
    assert [r for r in world.nsx.state.requests if r.time_ms >= started * 1000 and r.method not in READS] == []


def test_a_skipped_write_is_described_by_counts_and_ids_never_by_its_content() -> None:
    from nsx.dry_run import answer_for, describe_write

    inventory = {"container_inventory_objects": [
        {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerProject", "id": "a"}},
        {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerProject", "id": "b"}},
        {"object_update_type": "DELETE", "container_object": {"resource_type": "ContainerApplicationInstance"}}]}
    assert describe_write("POST", "/api/v1/inventory/container/x", {"action": "updates"}, inventory, None) == (
        "3 inventory objects: 2 CREATE ContainerProject, 1 DELETE ContainerApplicationInstance")
    identity = {"name": "cluster-a", "certificate_pem": "-----BEGIN CERTIFICATE-----SECRETISH", "password": "pw"}
    text = describe_write("POST", "/api/v1/trust-management/principal-identities/with-certificate", None,
                          identity, None)
    assert "SECRETISH" not in text and "pw" not in text.split()
    assert describe_write("PUT", "/x/archive", None, None, b"\x1f\x8b" * 10) == "20 bytes"
    assert answer_for("PUT", "/x/requests/r1/archive", None, b"abc")["size"] == 3
    assert answer_for("POST", "/api/v1/antrea-adapter/clusters/c/requests/r%2F1/result", {"phase": "FAILED"},
                      None) == {"id": "r/1", "type": "LOG_COLLECTION", "state": "FAILED"}
    assert answer_for("DELETE", "/anything", None, None) is None
