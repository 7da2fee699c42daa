"""The flusher drains a backlog back to back: the batch period only bounds how long a partial batch
waits, it never paces full batches (a 30,000-object start-up must not take 60 periods)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

from controllers.mp.inventory_flusher import InventoryFlusher
from controllers.mp.inventory_mapping import RANK, container_cluster, project
from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_settings import InventorySettings
from nsx.client import NsxClient
from nsx.models.inventory import ContainerCluster

CID = "3f1c2b9e-0000-4000-8000-0000000000aa"
PERIOD = 30.0  # far longer than the test: any wait for a period shows as a timeout


class FakeNsx:
    """Just what the flusher calls: the cluster read, the container-* lists, the batch POST."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[dict[str, Any]]]] = []
        self.registration = self
        self.cluster = ContainerCluster.model_validate(container_cluster(CID, "c", "vSphere"))

    def get_container_cluster(self, external_id: str) -> ContainerCluster | None:
        return self.cluster

    def list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        return iter(())

    def request(self, method: str, url: str, *, params: Mapping[str, Any], json: dict[str, Any]) -> None:
        self.batches.append((time.monotonic(), json["container_inventory_objects"]))


def namespace(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"ns-{i}", "uid": f"uid-{i:05d}"}}


def _start(size: int) -> tuple[FakeNsx, Outbox, threading.Event, threading.Thread]:
    settings = InventorySettings(cluster_id=CID, inventory_batch_size=size, inventory_batch_period=PERIOD)
    nsx = FakeNsx()
    outbox = Outbox(wake_at=size)
    flusher = InventoryFlusher(cast(NsxClient, nsx), outbox, lambda: 0, container_cluster(CID, "c", "vSphere"),
                               settings)
    stop = threading.Event()
    thread = threading.Thread(target=flusher.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not flusher.synced.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert flusher.synced.is_set()
    return nsx, outbox, stop, thread


def _wait_sent(nsx: FakeNsx, objects: int, within: float) -> None:
    deadline = time.monotonic() + within
    while sum(len(b) for _, b in nsx.batches) < objects and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_backlog_of_three_full_batches_goes_out_without_waiting_for_periods() -> None:
    nsx, outbox, stop, thread = _start(size=100)
    try:
        time.sleep(0.3)  # the flusher now sleeps in its (30 s) period
        before = len(nsx.batches)
        with outbox.lock:
            for i in range(300):
                outbox.put(project(namespace(i), CID))
        _wait_sent(nsx, 300, within=5.0)
        sent = nsx.batches[before:]
        assert [len(b) for _, b in sent] == [100, 100, 100]
        assert sent[-1][0] - sent[0][0] < 2.0  # back to back, not one batch per period
        ids = [o["container_object"]["external_id"] for _, b in sent for o in b]
        assert len(ids) == len(set(ids)) == 300
        assert outbox.in_sync()
    finally:
        stop.set()
        thread.join(5)


def test_a_partial_batch_waits_for_the_period() -> None:
    nsx, outbox, stop, thread = _start(size=100)
    try:
        time.sleep(0.3)
        before = len(nsx.batches)
        outbox.put(project(namespace(1), CID))
        time.sleep(0.5)
        assert len(nsx.batches) == before  # 1 of 100: it waits (up to the 30 s period)
        assert not outbox.in_sync()
    finally:
        stop.set()
        thread.join(5)


def test_parents_go_first_within_a_backlog() -> None:
    nsx, outbox, stop, thread = _start(size=2)
    try:
        time.sleep(0.3)
        ns = namespace(7)
        with outbox.lock:
            outbox.put({**project(ns, CID), "external_id": "uid-child", "resource_type": "ContainerApplication",
                        "container_project_id": "uid-00007"})
            outbox.put(project(ns, CID))
        _wait_sent(nsx, 2, within=5.0)
        types = [o["container_object"]["resource_type"] for _, b in nsx.batches for o in b
                 if o["container_object"]["resource_type"] != "ContainerCluster"]
        assert [RANK[t] for t in types] == sorted(RANK[t] for t in types)
    finally:
        stop.set()
        thread.join(5)
