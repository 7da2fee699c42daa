"""Several manager addresses: connection errors and 503 move to the next one, which is remembered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nsx import NsxClient, NsxConnectionError, RetryPolicy, TlsSettings
from sim.nsx import NsxSimulator

ClientFactory = Callable[..., NsxClient]
SERVICES = "/policy/api/v1/infra/services"


@pytest.fixture
def second(sim: NsxSimulator) -> Iterator[NsxSimulator]:
    with NsxSimulator(tls=True, username=sim.username, password=sim.password) as other:
        yield other


@pytest.fixture
def both_cas(sim: NsxSimulator, second: NsxSimulator, tmp_path: Path) -> TlsSettings:
    bundle = tmp_path / "managers-ca.pem"
    bundle.write_text(Path(sim.ca_file).read_text() + Path(second.ca_file).read_text())
    return TlsSettings(ca_file=str(bundle))


def test_unreachable_first_manager_fails_over_and_is_remembered(
    make_client: ClientFactory, sim: NsxSimulator, second: NsxSimulator, both_cas: TlsSettings
) -> None:
    client = make_client(managers=[sim.url, second.url], tls=both_cas)
    sim.faults.set_unreachable(True)
    try:
        first_before = sim.count_requests()
        assert client.get(SERVICES)["results"]
        assert client.active_manager == second.url.rstrip("/")
        served = second.count_requests("GET", SERVICES)
        for _ in range(3):
            client.get(SERVICES)
        assert second.count_requests("GET", SERVICES) == served + 3
        assert sim.count_requests() == first_before
    finally:
        sim.faults.set_unreachable(False)


def test_stopped_first_manager_fails_over(
    make_client: ClientFactory, second: NsxSimulator, tmp_path: Path
) -> None:
    with NsxSimulator(tls=True, username=second.username, password=second.password) as doomed:
        url = doomed.url
        bundle = tmp_path / "ca.pem"
        bundle.write_text(Path(doomed.ca_file).read_text() + Path(second.ca_file).read_text())
    client = make_client(managers=[url, second.url], tls=TlsSettings(ca_file=str(bundle)))
    assert client.get(SERVICES)["results"]
    assert client.active_manager == second.url.rstrip("/")


def test_503_moves_to_the_next_manager_without_waiting(
    make_client: ClientFactory, sim: NsxSimulator, second: NsxSimulator, both_cas: TlsSettings
) -> None:
    client = make_client(managers=[sim.url, second.url], tls=both_cas,
                         retry=RetryPolicy(max_tries=3, initial_delay=5.0, max_delay=5.0))
    sim.faults.fail_next(1, 503, method="GET", path=SERVICES)
    served = second.count_requests("GET", SERVICES)
    assert client.get(SERVICES)["results"]
    assert second.count_requests("GET", SERVICES) == served + 1


def test_all_managers_down_is_a_bounded_connection_error(
    make_client: ClientFactory, sim: NsxSimulator, second: NsxSimulator, both_cas: TlsSettings
) -> None:
    client = make_client(managers=[sim.url, second.url], tls=both_cas,
                         retry=RetryPolicy(max_tries=4, max_time=5.0, initial_delay=0.01, max_delay=0.05))
    sim.faults.set_unreachable(True)
    second.faults.set_unreachable(True)
    try:
        with pytest.raises(NsxConnectionError):
            client.get(SERVICES)
    finally:
        sim.faults.set_unreachable(False)
        second.faults.set_unreachable(False)
