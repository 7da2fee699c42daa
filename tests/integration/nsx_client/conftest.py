"""Fixtures: NSX simulators over real HTTPS, and clients built the way the adapter builds them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger

from nsx import BasicAuth, NsxClient, RetryPolicy, TlsSettings
from nsx.auth import Auth
from sim.nsx import NsxSimulator

PASSWORD = "Sup3r-Secr3t-Pa55word!"  # distinctive, so a leak is found by a plain substring search
FAST_RETRY = RetryPolicy(max_tries=6, max_time=30.0, initial_delay=0.05, max_delay=0.5)


@pytest.fixture(scope="module")
def sim() -> Iterator[NsxSimulator]:
    with NsxSimulator(tls=True, username="admin", password=PASSWORD) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").faults.clear()


ClientFactory = Callable[..., NsxClient]


@pytest.fixture
def make_client(sim: NsxSimulator) -> Iterator[ClientFactory]:
    made: list[NsxClient] = []

    def factory(
        auth: Auth | None = None,
        *,
        managers: list[str] | None = None,
        tls: TlsSettings | None = None,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> NsxClient:
        client = NsxClient(
            managers or [sim.url],
            auth or BasicAuth(sim.username, sim.password),
            tls=tls or TlsSettings(ca_file=str(sim.ca_file)),
            retry=retry or FAST_RETRY,
            **kwargs,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> NsxClient:
    return make_client()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Everything the client logs at any level, as formatted text."""
    lines: list[str] = []
    sink_id = logger.add(lambda message: lines.append(str(message)), level="TRACE",
                         format="{level} {message} {exception}")
    yield lines
    logger.remove(sink_id)
