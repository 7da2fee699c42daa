"""Fault injection and the request log, driven from Python and over the admin HTTP endpoint."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes.client.exceptions import ApiException


@pytest.mark.parametrize(("code", "reason"), [(429, "TooManyRequests"), (500, "InternalError"),
                                              (503, "ServiceUnavailable"), (409, "Conflict")])
def test_fail_next_returns_status_bodies(kapi, core, ns, code, reason):
    kapi.faults.fail_next(1, code, method="POST", path=r"/configmaps$", retry_after=2 if code == 429 else None)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "f"}})
    body = json.loads(err.value.body)
    assert err.value.status == code and body["reason"] == reason and body["kind"] == "Status"
    if code == 429:
        assert err.value.headers["Retry-After"] == "2" and body["details"]["retryAfterSeconds"] == 2
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f"}})  # only one failure


def test_fail_next_counts_and_filters(kapi, core, ns):
    kapi.faults.fail_next(2, 503, method="GET", path=rf"/namespaces/{ns}/configmaps/x$")
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})  # POST: not matched
    for _ in range(2):
        with pytest.raises(ApiException):
            core.read_namespaced_config_map("x", ns)
    assert core.read_namespaced_config_map("x", ns).metadata.name == "x"


def test_latency(kapi, core, ns):
    kapi.faults.add_latency(0.3, method="GET", path=r"/configmaps$")
    started = time.monotonic()
    core.list_namespaced_config_map(ns)
    assert time.monotonic() - started >= 0.3
    kapi.faults.clear()
    started = time.monotonic()
    core.list_namespaced_config_map(ns)
    assert time.monotonic() - started < 0.3


def test_request_log_counts_writes(kapi, core, ns):
    before = kapi.count_requests("POST", rf"/namespaces/{ns}/configmaps$")
    for i in range(3):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"r{i}"}})
    core.patch_namespaced_config_map("r0", ns, {"data": {"a": "b"}})
    assert kapi.count_requests("POST", rf"/namespaces/{ns}/configmaps$") == before + 3
    patches = [r for r in kapi.requests if r.method == "PATCH" and r.path.endswith(f"{ns}/configmaps/r0")]
    assert len(patches) == 1 and patches[0].status == 200 and patches[0].time > 0


def test_admin_http_endpoint(kapi, raw, core, ns):
    resp = raw("POST", "/__admin/faults", json={"op": "fail_next", "n": 1, "code": 500, "method": "GET",
                                                "path": "/version"})
    assert resp.status_code == 200
    assert raw("GET", "/version").status_code == 500
    assert raw("GET", "/version").status_code == 200
    listed = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a1"}})
    compacted = raw("POST", "/__admin/faults", json={"op": "compact"}).json()
    assert int(compacted["compactedResourceVersion"]) > int(listed.metadata.resource_version)
    old = raw("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={listed.metadata.resource_version}")
    assert json.loads(old.text)["object"]["code"] == 410
    log = raw("GET", "/__admin/requests").json()["requests"]
    assert any(r["path"] == "/version" and r["status"] == 500 for r in log)
    assert raw("POST", "/__admin/faults", json={"op": "nope"}).status_code == 400
    assert raw("POST", "/__admin/faults", json={"op": "clear"}).status_code == 200
