"""Watch semantics through ``kubernetes.watch.Watch`` and the raw NDJSON stream."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from kubernetes import watch
from kubernetes.client.exceptions import ApiException


def collect(stream, n, timeout=5.0):
    out = []
    deadline = time.monotonic() + timeout
    for ev in stream:
        out.append(ev)
        if len(out) >= n or time.monotonic() > deadline:
            break
    return out


def test_initial_added_then_live_events(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "pre"}})
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5)
    first = next(stream)
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "pre")

    def writer():
        core.create_namespaced_config_map(ns, {"metadata": {"name": "live"}, "data": {"a": "1"}})
        core.patch_namespaced_config_map("live", ns, {"data": {"a": "2"}})
        core.delete_namespaced_config_map("live", ns)

    threading.Thread(target=writer).start()
    events = collect(stream, 3)
    w.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "live"), ("MODIFIED", "live"), ("DELETED", "live")]
    rvs = [int(e["object"].metadata.resource_version) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3  # DELETED carries the deletion's resourceVersion


def test_resume_from_resource_version_replays_history(core, ns):
    listed = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "r1"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "r2"}})
    w = watch.Watch()
    events = collect(w.stream(core.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version,
                              timeout_seconds=2), 2)
    w.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "r1"), ("ADDED", "r2")]


def test_bookmarks_carry_only_resource_version(kapi, raw, ns):
    resp = raw("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1",
               stream=True)
    lines = [line for line in resp.iter_lines(chunk_size=1)]
    assert resp.status_code == 200 and resp.headers["Transfer-Encoding"] == "chunked"
    assert lines and all(lines)  # never a blank line
    bookmarks = [json.loads(x) for x in lines]
    assert bookmarks[0]["type"] == "BOOKMARK"
    assert set(bookmarks[0]["object"]["metadata"]) == {"resourceVersion"}


def test_timeout_seconds_ends_stream(core, ns):
    w = watch.Watch()
    started = time.monotonic()
    events = list(w.stream(core.list_namespaced_config_map, ns, timeout_seconds=1))
    assert events == [] and 0.9 < time.monotonic() - started < 3


def test_selector_transitions(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "s", "labels": {"sel": "yes"}}})
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, ns, label_selector="sel=yes", timeout_seconds=5)
    assert next(stream)["type"] == "ADDED"
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"sel": "no"}}})
    left = next(stream)
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"sel": "yes"}}})
    entered = next(stream)
    w.stop()
    assert left["type"] == "DELETED" and entered["type"] == "ADDED"
    assert int(left["object"].metadata.resource_version) < int(entered["object"].metadata.resource_version)


def test_expired_resource_version_is_error_event(core, raw, kapi, ns):
    listed = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "e1"}})
    kapi.faults.compact()
    resp = raw("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion="
               f"{listed.metadata.resource_version}")
    assert resp.status_code == 200
    event = json.loads(resp.text.strip())
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    with pytest.raises(ApiException) as err:  # the client retries once, then raises 410
        list(watch.Watch().stream(core.list_namespaced_config_map, ns,
                                  resource_version=listed.metadata.resource_version))
    assert err.value.status == 410


def test_legacy_watch_prefix_and_named_watch(kapi, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "one"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "two"}})
    resp = requests.get(f"{kapi.url}/api/v1/watch/namespaces/{ns}/configmaps/two?timeoutSeconds=1", timeout=5)
    events = [json.loads(x) for x in resp.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "two")]


def test_drop_watches_makes_client_resume(kapi, core, ns):
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
    assert next(stream)["object"].metadata.name == "before"
    before = kapi.count_requests("GET", rf"/namespaces/{ns}/configmaps$")
    assert kapi.faults.drop_watches() >= 1
    core.create_namespaced_config_map(ns, {"metadata": {"name": "after"}})
    ev = next(stream)
    w.stop()
    assert (ev["type"], ev["object"].metadata.name) == ("ADDED", "after")
    assert kapi.count_requests("GET", rf"/namespaces/{ns}/configmaps$") == before + 1
    resumed = [r for r in kapi.requests if r.path.endswith(f"/namespaces/{ns}/configmaps")][-1]
    assert "resourceVersion=" in resumed.query and "watch=true" in resumed.query


def test_send_initial_events_ends_with_annotated_bookmark(raw, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "i1"}})
    resp = raw("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true"
               "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
    events = [json.loads(x) for x in resp.text.splitlines()]
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_concurrent_writers_every_event_once_in_order(api, core, ns):
    from kubernetes import client

    names = [f"c{i}" for i in range(4)]
    for name in names:
        core.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"n": "0"}})
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    writes = 30

    def writer(name):
        own = client.CoreV1Api(api)
        for i in range(1, writes + 1):
            own.patch_namespaced_config_map(name, ns, {"data": {"n": str(i)}})

    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    w = watch.Watch()
    events = collect(w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=10),
                     len(names) * writes, timeout=10)
    w.stop()
    for t in threads:
        t.join()
    rvs = [int(e["object"].metadata.resource_version) for e in events]
    assert len(events) == len(names) * writes and rvs == sorted(set(rvs))
    for name in names:
        seen = [int(e["object"].data["n"]) for e in events if e["object"].metadata.name == name]
        assert seen == list(range(1, writes + 1))
