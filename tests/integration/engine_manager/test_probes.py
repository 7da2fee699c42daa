"""The manager's HTTP endpoints: /healthz, /readyz (not ready before the caches sync), /metrics."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from reconciler.controller import Controller
from reconciler.handler import EnqueueRequestForObject
from reconciler.manager import Manager
from reconciler.probes import ProbeServer, parse_bind_address
from reconciler.source import Kind

CM = ("v1", "ConfigMap")


def get(url: str) -> tuple[int, str, str]:
    """(status, body, content type) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers.get("Content-Type", "")


def test_bind_addresses() -> None:
    assert parse_bind_address("0") is None
    assert parse_bind_address("") is None
    assert parse_bind_address(":8081") == ("", 8081)
    assert parse_bind_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_bind_address("[::1]:9443") == ("::1", 9443)
    with pytest.raises(ValueError):
        parse_bind_address("8081")


def test_check_results_and_formats() -> None:
    state = {"healthy": True}

    def flaky() -> bool:
        return state["healthy"]

    def broken() -> None:
        raise RuntimeError("disk on fire")

    srv = ProbeServer("127.0.0.1:0", healthz={"flaky": flaky}, readyz={"broken": broken, "flaky": flaky})
    srv.start()
    try:
        assert get(srv.url + "/healthz") == (200, "ok", "text/plain; charset=utf-8")
        assert get(srv.url + "/healthz?verbose")[1] == "[+]flaky ok\nhealthz check passed\n"
        state["healthy"] = False
        code, body, _ = get(srv.url + "/healthz")
        assert code == 500 and "[-]flaky failed: check returned False" in body
        assert body.endswith("healthz check failed\n")
        code, body, _ = get(srv.url + "/readyz")
        assert code == 500 and "[-]broken failed: disk on fire" in body
        state["healthy"] = True
        code, body, _ = get(srv.url + "/readyz?exclude=broken")
        assert code == 200, body
        assert get(srv.url + "/readyz/flaky")[:2] == (200, "ok")
        assert get(srv.url + "/readyz/broken")[:2] == (500, "internal server error: disk on fire\n")
        assert get(srv.url + "/readyz/missing")[0] == 404
        assert get(srv.url + "/metrics")[0] == 404  # not served by this server
    finally:
        srv.stop()


def test_manager_probes_and_metrics(
    kube_client: Any, kube_server: Any, kube_namespace: str, manager_options: Any, run_manager: Any,
    wait_until: Any, make_cm: Any, sample: Any,
) -> None:
    ns = kube_namespace
    lease = f"probes-{ns}"
    kube_client.create(CM, make_cm("seen", ns))
    # The informer's LIST fails until the faults are cleared: the caches cannot sync.
    kube_server.faults.fail_next(100000, 500, method="GET", path=rf"/namespaces/{ns}/configmaps$")
    mgr = Manager(kube_client, manager_options(
        leader_election=True, leader_election_id=lease,
        health_probe_bind_address="127.0.0.1:0", metrics_bind_address="0.0.0.0:0",
    ))
    ctrl = Controller(f"probed-{ns}", lambda r: None)
    ctrl.watches(Kind(mgr.informer(CM, namespace=ns)), EnqueueRequestForObject())
    mgr.add(ctrl)
    run_manager(mgr)
    urls = wait_until(lambda: mgr.probe_urls)
    assert urls["healthz"] == urls["readyz"] != urls["metrics"]  # two servers: two addresses

    code, body, _ = wait_until(lambda: get(urls["readyz"] + "/readyz?verbose"))
    assert code == 500 and "[-]informers failed: caches not synced" in body, body
    assert get(urls["healthz"] + "/healthz")[:2] == (200, "ok")  # alive while not ready
    time.sleep(0.3)
    assert get(urls["readyz"] + "/readyz")[0] == 500
    assert not mgr.elected.is_set()  # no Lease before the caches synced

    kube_server.faults.clear()
    wait_until(lambda: get(urls["readyz"] + "/readyz")[:2] == (200, "ok"), timeout=15, what="ready")
    assert mgr.elected.wait(10)
    wait_until(lambda: sample("controller_runtime_reconcile_total", controller=f"probed-{ns}", result="success"),
               what="the listed ConfigMap reconciled")
    code, body, _ = get(urls["healthz"] + "/healthz?verbose")
    assert code == 200 and "[+]leaderElection ok" in body and "[+]ping ok" in body

    code, text, ctype = get(urls["metrics"] + "/metrics")
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
    c = f'controller="probed-{ns}"'
    for line in (
        f'controller_runtime_reconcile_total{{{c},result="error"}} 0.0',
        f'controller_runtime_reconcile_total{{{c},result="requeue"}} 0.0',
        f'controller_runtime_reconcile_total{{{c},result="requeue_after"}} 0.0',
        f"controller_runtime_reconcile_errors_total{{{c}}} 0.0",
        f"controller_runtime_max_concurrent_reconciles{{{c}}} 1.0",
        f"controller_runtime_active_workers{{{c}}} 0.0",
        f'leader_election_master_status{{name="{lease}"}} 1.0',
    ):
        assert line in text, line
    for name in ("controller_runtime_reconcile_time_seconds_bucket", f'workqueue_adds_total{{name="probed-{ns}"}}',
                 "workqueue_depth", "rest_client_requests_total"):
        assert name in text, name
    assert get(urls["healthz"] + "/metrics")[0] == 404


def test_shared_and_disabled_servers(kube_client: Any, manager_options: Any, run_manager: Any,
                                     wait_until: Any) -> None:
    mgr = Manager(kube_client, manager_options(health_probe_bind_address="127.0.0.1:0",
                                               metrics_bind_address="127.0.0.1:0"))
    # Equal addresses (even ":0") mean one server for everything.
    run_manager(mgr)
    urls = wait_until(lambda: mgr.probe_urls)
    assert urls["healthz"] == urls["metrics"]
    assert get(urls["metrics"] + "/metrics")[0] == 200
    assert get(urls["healthz"] + "/healthz")[0] == 200

    off = Manager(kube_client, manager_options())
    run_manager(off)
    assert off.elected.wait(10)
    assert off.probe_urls == {}
