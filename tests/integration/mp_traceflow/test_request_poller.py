"""The troubleshooting request poller (controllers/mp/traceflow_requests.py) against the NSX
simulator: a stop does not wait for the long poll in flight, and a request that an abandoned poll
received is served by the next start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controllers.mp.traceflow_requests import RequestPoller
from nsx import NsxClient, TlsSettings
from nsx.auth import BasicAuth
from nsx.models import AntreaTraceflowConfig, ClusterControlPlane
from nsx.models.channel import PendingRequest
from nsx.models.traceflow import AntreaTraceflowIpHeader, AntreaTraceflowPacketData
from sim.nsx import NsxSimulator

CLUSTER = "poller-cluster"
REQUESTS = rf"/antrea-adapter/clusters/{CLUSTER}/requests$"


@pytest.fixture
def client() -> Iterator[tuple[NsxSimulator, NsxClient]]:
    with NsxSimulator(tls=True) as sim:
        nsx = NsxClient([sim.url], BasicAuth(sim.username, sim.password), tls=TlsSettings(ca_file=str(sim.ca_file)))
        nsx.registration.ensure_cluster_control_plane(ClusterControlPlane(id=CLUSTER))
        try:
            yield sim, nsx
        finally:
            nsx.close()


def traceflow(nsx: NsxClient, tf_id: str) -> None:
    config = AntreaTraceflowConfig(
        id=tf_id, container_cluster_id=CLUSTER, source_external_id="pod-uid-1",
        packet=AntreaTraceflowPacketData(resource_type="FIELDS_PACKET_DATA",
                                         ip_header=AntreaTraceflowIpHeader(dst_ip="10.0.0.9")))
    nsx.put(f"/policy/api/v1/infra/antrea/traceflows/{tf_id}", config.to_wire())


def running(poller: RequestPoller) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def in_long_poll(sim: NsxSimulator) -> None:
    """Once the first (immediate) poll was answered, the poller is in its long poll (the
    simulator logs a request when it answers it)."""
    deadline = time.monotonic() + 10
    while sim.count_requests("GET", REQUESTS) < 1:
        assert time.monotonic() < deadline, "the poller did not poll"
        time.sleep(0.02)
    time.sleep(0.5)


def test_a_stop_does_not_wait_for_the_long_poll_in_flight(client: tuple[NsxSimulator, NsxClient]) -> None:
    sim, nsx = client
    thread, stop = running(RequestPoller(nsx.channel(CLUSTER), poll_timeout=30))
    in_long_poll(sim)  # of 30 s
    stopped = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped < 1.0


def test_a_request_an_abandoned_poll_received_is_served_after_the_restart(
        client: tuple[NsxSimulator, NsxClient]) -> None:
    sim, nsx = client
    first = RequestPoller(nsx.channel(CLUSTER), poll_timeout=30)
    served_by_first: list[str] = []
    first.handlers["TRACEFLOW"] = lambda r: served_by_first.append(r.id)
    thread, stop = running(first)
    in_long_poll(sim)
    stop.set()
    thread.join(5)
    traceflow(nsx, "tf-late")  # answers the abandoned poll: delivered, but to nobody
    time.sleep(0.5)
    assert nsx.channel(CLUSTER).poll_requests(0) == []  # NSX holds it as delivered

    second = RequestPoller(nsx.channel(CLUSTER), poll_timeout=1)
    served: list[PendingRequest] = []
    got = threading.Event()
    second.handlers["TRACEFLOW"] = lambda r: (served.append(r), got.set())
    thread, stop = running(second)
    try:
        assert got.wait(10)
    finally:
        stop.set()
        thread.join(5)
    assert [r.type for r in served] == ["TRACEFLOW"]
    assert served[0].traceflow is not None and served[0].traceflow.source_external_id == "pod-uid-1"
    assert served_by_first == []
