"""Per-client rate/concurrency limits (nsx-api.md §8.5) and fault injection (Python and admin endpoint)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from nsx_sim_helpers import DOMAIN, PASSWORD, Api

from sim.nsx import NsxSimulator

HEALTH = "/api/v1/reverse-proxy/node/health"


def test_rate_limit_429_with_retry_after(sim: NsxSimulator) -> None:
    apis = [Api(sim) for _ in range(8)]  # one client (admin), eight connections

    seen_429 = threading.Event()

    def burst(i: int) -> list[tuple[int, str]]:
        out = []
        for _ in range(300):  # stop soon after the first 429 (robust on a slow, loaded machine)
            r = apis[i].get(HEALTH)
            out.append((r.status_code, r.headers.get("Retry-After", "")))
            if r.status_code == 429:
                assert r.json()["httpStatus"] == "TOO_MANY_REQUESTS"
                seen_429.set()
            if seen_429.is_set() and len(out) >= 20:
                break
        return out

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = [x for chunk in pool.map(burst, range(8)) for x in chunk]
    elapsed = time.monotonic() - start
    statuses = [s for s, _ in results]
    allowed = statuses.count(200)
    assert statuses.count(429) > 0, (elapsed, allowed)
    assert allowed <= 100 + elapsed * 100 + 1  # never more than the burst plus 100/s
    assert allowed >= 100  # the first 100 of a fresh client always pass
    assert all(ra.isdigit() and int(ra) >= 1 for s, ra in results if s == 429)
    # Another client (a principal identity) has its own bucket.
    cert, key = sim.issue_client_certificate("other")
    sim.register_principal_identity("other", cert)
    s = requests.Session()
    s.trust_env = False
    assert s.get(sim.url + HEALTH, cert=(str(cert), str(key)), verify=str(sim.ca_file)).status_code == 200
    time.sleep(1.1)
    assert apis[0].get(HEALTH).status_code == 200  # refilled after Retry-After


def test_concurrency_limit_503() -> None:
    with NsxSimulator(password=PASSWORD, rate_limit_rps=0) as sim:
        n = 50
        sessions = []
        for _ in range(n):
            s = requests.Session()
            s.trust_env = False
            s.verify = str(sim.ca_file)
            s.auth = ("admin", PASSWORD)
            sessions.append(s)
        barrier = threading.Barrier(n)

        def call(i: int) -> int:
            # Warm the keep-alive connection (TLS handshake) first, then fire all at once.
            assert sessions[i].get(sim.url + "/api/v1/fabric/container-clusters", timeout=30).status_code == 200
            barrier.wait(timeout=30)
            return sessions[i].get(sim.url + HEALTH, timeout=30).status_code

        sim.faults.add_latency(1.5, path="reverse-proxy")
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(call, range(n)))
        assert results.count(503) >= n - 40, results
        assert results.count(200) <= 40
        assert results.count(200) + results.count(503) == n
        assert sim.state.count_requests(path="reverse-proxy", status=503) == results.count(503)
        # Once the burst is over, requests go through again.
        sim.faults.clear()
        assert Api(sim).get(HEALTH).status_code == 200


def test_fail_next_matches_method_and_path(sim: NsxSimulator, api: Api) -> None:
    sim.faults.fail_next(2, 503, method="PATCH", path=r"/groups/", retry_after=3)
    assert api.get(f"{DOMAIN}/groups").status_code == 200  # GET does not match
    r1 = api.patch(f"{DOMAIN}/groups/a", json={})
    r2 = api.patch(f"{DOMAIN}/groups/a", json={})
    r3 = api.patch(f"{DOMAIN}/groups/a", json={})
    assert (r1.status_code, r2.status_code, r3.status_code) == (503, 503, 200)
    assert r1.headers["Retry-After"] == "3" and r1.json()["error_code"] == 503
    assert api.get(f"{DOMAIN}/groups/a").json()["_revision"] == 0  # injected failures changed nothing
    sim.faults.fail_next(1, 500, error_code=607)
    r = api.get(HEALTH)
    assert r.status_code == 500 and r.json()["error_code"] == 607 and r.json()["httpStatus"] == "INTERNAL_SERVER_ERROR"
    sim.faults.fail_next(1, 412, path="security-policies")
    assert api.get(f"{DOMAIN}/security-policies").status_code == 412
    assert sim.count_requests("PATCH", r"/groups/a$") == 3


def test_latency_drop_and_unreachable(sim: NsxSimulator, api: Api) -> None:
    sim.faults.add_latency(1.0, method="GET", path="health")
    t0 = time.monotonic()
    assert api.get(HEALTH).status_code == 200
    assert time.monotonic() - t0 >= 1.0
    t0 = time.monotonic()
    api.get(f"{DOMAIN}/groups")  # does not match the latency rule
    assert time.monotonic() - t0 < 1.0
    sim.faults.clear()
    sim.faults.drop_connections(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(HEALTH)
    assert api.get(HEALTH).status_code == 200
    sim.faults.set_unreachable(True)
    fresh = Api(sim)
    with pytest.raises(requests.exceptions.ConnectionError):
        fresh.get(HEALTH, timeout=5)
    sim.faults.set_unreachable(False)
    assert Api(sim).get(HEALTH).status_code == 200


def test_admin_endpoint(sim: NsxSimulator, api: Api) -> None:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sim.ca_file)
    assert s.get(sim.url + "/__admin/faults").status_code == 403
    assert s.get(sim.url + "/__admin/faults", auth=("admin", "bad")).status_code == 403
    # Session cookies do not open the admin endpoint (Basic with the admin password only).
    r = s.post(sim.url + "/__admin/faults", auth=("admin", PASSWORD), json={
        "fail_next": [{"n": 1, "code": 429, "path": "groups", "retry_after": 2}],
        "latency": [{"seconds": 0.01, "path": "nothing-matches"}]})
    assert r.status_code == 200
    desc = r.json()
    assert desc["fail_next"][0]["remaining"] == 1 and desc["latency"][0]["seconds"] == 0.01
    got = api.get(f"{DOMAIN}/groups")
    assert got.status_code == 429 and got.headers["Retry-After"] == "2"
    assert api.get(f"{DOMAIN}/groups").status_code == 200
    s.post(sim.url + "/__admin/faults", auth=("admin", PASSWORD), json={"drop_connections": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(HEALTH)
    token = s.post(sim.url + "/api/session/create",
                   data={"j_username": "admin", "j_password": PASSWORD}).headers["X-XSRF-TOKEN"]
    assert s.get(sim.url + HEALTH, headers={"X-XSRF-TOKEN": token}).status_code == 200
    s.post(sim.url + "/__admin/faults", auth=("admin", PASSWORD), json={"expire_sessions": True})
    assert s.get(sim.url + HEALTH, headers={"X-XSRF-TOKEN": token}).status_code == 403
    cleared = s.post(sim.url + "/__admin/faults", auth=("admin", PASSWORD), json={"clear": True}).json()
    assert cleared["fail_next"] == [] and cleared["latency"] == []
    stats = s.get(sim.url + "/__admin/stats", auth=("admin", PASSWORD)).json()
    assert stats["by_status"]["429"] == 1


def test_stop_and_restart_keeps_state_and_port(sim: NsxSimulator, api: Api) -> None:
    assert api.patch(f"{DOMAIN}/groups/kept", json={}).status_code == 200
    port, ca = sim.port, sim.ca_file.read_bytes()
    sim.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        Api(sim).get(HEALTH, timeout=5)
    sim.start()
    assert sim.port == port and sim.ca_file.read_bytes() == ca
    assert Api(sim).get(f"{DOMAIN}/groups/kept").json()["_revision"] == 0
    # Existing keep-alive connections of the old server were closed, not left hanging.
    assert api.get(f"{DOMAIN}/groups/kept").status_code == 200  # requests reconnects on its own


def test_unreachable_also_breaks_open_connections(sim: NsxSimulator, api: Api) -> None:
    assert api.get(HEALTH).status_code == 200  # keep-alive connection open
    sim.faults.set_unreachable(True)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(HEALTH, timeout=5)
    sim.faults.set_unreachable(False)
    assert api.get(HEALTH).status_code == 200
