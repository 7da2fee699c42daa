"""The Watcher's event stream over real HTTP: framing of lists, bookmarks, relist, stop."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from reconciler.client import KubeClient
from reconciler.watcher import Apply, Backoff, Delete, Event, Init, InitApply, InitDone, Watcher

CM = ("v1", "ConfigMap")


class _Running:
    """A Watcher iterated in a thread, its events on a queue."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.events: queue.Queue[Event] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for ev in self.watcher:
            self.events.put(ev)

    def next(self, timeout: float = 10.0) -> Event:
        return self.events.get(timeout=timeout)

    def until(self, cls: type, timeout: float = 10.0) -> list[Event]:
        got: list[Event] = []
        deadline = time.monotonic() + timeout
        while not got or not isinstance(got[-1], cls):
            got.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
        return got


@pytest.fixture
def run_watcher() -> Any:
    running: list[_Running] = []

    def start(watcher: Watcher) -> _Running:
        running.append(_Running(watcher))
        return running[-1]

    yield start
    for r in running:
        r.watcher.stop()
        r.thread.join(5)


@pytest.mark.conformance
def test_stream_frames_the_list_then_live_changes(
    kube_client: KubeClient, kube_namespace: str, make_cm: Any, run_watcher: Any
) -> None:
    ns = kube_namespace
    for i in range(5):
        kube_client.create(CM, make_cm(f"l-{i}", ns))
    w = run_watcher(Watcher(kube_client, CM, ns, page_size=2, backoff=Backoff(initial=0.05, cap=0.2)))
    initial = w.until(InitDone)
    assert isinstance(initial[0], Init)
    assert sorted(e.obj["metadata"]["name"] for e in initial if isinstance(e, InitApply)) == [
        f"l-{i}" for i in range(5)]
    listed_rv = initial[-1].resource_version
    assert listed_rv != ""
    _wait_for(lambda: w.watcher.resource_version == listed_rv, "the resume point moved to the list's version")
    kube_client.create(CM, make_cm("live", ns))
    kube_client.delete(CM, "l-0", ns)
    applied, deleted = w.next(), w.next()
    assert isinstance(applied, Apply) and applied.obj["metadata"]["name"] == "live"
    assert isinstance(deleted, Delete) and deleted.obj["metadata"]["name"] == "l-0"
    assert w.watcher.lists == 1


def _wait_for(cond: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_resume_point_never_runs_ahead_of_the_consumer(
    kube_client: KubeClient, kube_namespace: str, make_cm: Any
) -> None:
    """While the consumer holds an event, the watcher's version still points before it: a reader
    taking the version and then the consumer's store finds every event up to that version stored
    (the CCP policy controller tells "deleted since our write" from "not seen yet" this way)."""
    ns = kube_namespace
    kube_client.create(CM, make_cm("before", ns))
    watcher = Watcher(kube_client, CM, ns, backoff=Backoff(initial=0.05, cap=0.2))
    seen: list[tuple[str, str, str]] = []  # (event, its version, the watcher's version meanwhile)
    done = threading.Event()

    def consume() -> None:
        for ev in watcher:
            if isinstance(ev, InitDone):
                seen.append(("InitDone", ev.resource_version, watcher.resource_version))
            elif isinstance(ev, (Apply, Delete)):
                seen.append((type(ev).__name__, ev.obj["metadata"]["resourceVersion"], watcher.resource_version))
                if ev.obj["metadata"]["name"] == "last":
                    done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: bool(seen), "the initial list arrived")
        for name in ("a", "b", "last"):
            kube_client.create(CM, make_cm(name, ns))
        assert done.wait(10), seen
        assert [s[0] for s in seen] == ["InitDone", "Apply", "Apply", "Apply"]
        for what, version, meanwhile in seen:
            assert meanwhile == "" or int(meanwhile) < int(version), (what, version, meanwhile)
        # and it does catch up once the consumer moves on
        _wait_for(lambda: watcher.resource_version != seen[-1][2], "the version moved past the last event")
    finally:
        watcher.stop()
        thread.join(5)


def test_bookmarks_advance_the_resume_point_of_a_quiet_watch(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, make_cm: Any, run_watcher: Any
) -> None:
    quiet = kube_namespace
    busy = f"{quiet}-busy"
    kube_client.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": busy}})
    try:
        w = run_watcher(Watcher(kube_client, CM, quiet, backoff=Backoff(initial=0.05, cap=0.2)))
        listed_rv = w.until(InitDone)[-1].resource_version
        for i in range(3):
            kube_client.create(CM, make_cm(f"elsewhere-{i}", busy))
        deadline = time.monotonic() + 5  # the emulator sends a bookmark every second
        while int(w.watcher.resource_version) <= int(listed_rv):
            assert time.monotonic() < deadline, "no bookmark advanced the resourceVersion"
            time.sleep(0.05)
        assert w.events.empty()  # bookmarks never leave the watcher
        # History is compacted, but the resume point is recent: no relist is needed.
        kube_server.faults.compact()
        kube_server.faults.drop_watches()
        kube_client.create(CM, make_cm("after", quiet))
        ev = w.next()
        assert isinstance(ev, Apply) and ev.obj["metadata"]["name"] == "after"
        assert w.watcher.lists == 1
    finally:
        kube_client.delete(("v1", "Namespace"), busy)


def test_expired_watch_relists_and_stop_is_prompt(
    kube_client: KubeClient, kube_server: Any, kube_namespace: str, make_cm: Any, run_watcher: Any
) -> None:
    ns = kube_namespace
    kube_client.create(CM, make_cm("a", ns))
    kube_server.faults.add_latency(0.5, method="GET", path=rf"/namespaces/{ns}/configmaps")
    w = run_watcher(Watcher(kube_client, CM, ns, backoff=Backoff(initial=0.05, cap=0.2)))
    w.until(InitDone)
    kube_server.faults.clear()
    # Cut the watch, change things, and compact history while the watcher reconnects slowly.
    kube_server.faults.add_latency(0.5, method="GET", path=rf"/namespaces/{ns}/configmaps")
    kube_server.faults.drop_watches()
    kube_client.create(CM, make_cm("b", ns))
    kube_server.faults.compact()
    kube_server.faults.clear()
    relist = w.until(InitDone)
    assert isinstance(relist[0], Init)
    assert sorted(e.obj["metadata"]["name"] for e in relist if isinstance(e, InitApply)) == ["a", "b"]
    assert w.watcher.lists == 2

    started = time.monotonic()
    w.watcher.stop()  # the open watch asked the server for 300-600 s
    w.thread.join(5)
    assert not w.thread.is_alive()
    assert time.monotonic() - started < 2
