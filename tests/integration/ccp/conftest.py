"""Shared fixture: an NSX simulator over HTTPS seeded with a small intent (12 policies x 3 rules,
10 groups, for cluster ``c1``), and a client built the way the adapter builds it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hack.bench._ccp_common import make_intent, seed_document
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from sim.nsx import NsxSimulator

SEEDED_CLUSTER = "c1"


@pytest.fixture
def nsx() -> Iterator[tuple[NsxSimulator, NsxClient]]:
    seed = seed_document(make_intent(12, 3, 10, SEEDED_CLUSTER), SEEDED_CLUSTER)
    sim = NsxSimulator(tls=True, seed=seed, rate_limit_rps=0, max_concurrent=0)
    sim.start()
    client = NsxClient([sim.url], BasicAuth(sim.username, sim.password), tls=TlsSettings(ca_file=str(sim.ca_file)))
    try:
        yield sim, client
    finally:
        client.close()
        sim.stop()
