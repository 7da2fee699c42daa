"""Fixtures of the batched realization tests: a fresh NSX simulator (HTTPS) per test, seeded with
``POLICIES`` policies spanning cluster ``c1`` (registered), and the product's NSX client to it.

Test modules import shared names from ``ccp_realization_helpers`` (this directory is put on
``sys.path``: with ``--import-mode=importlib`` sibling modules are not importable otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ccp_realization_helpers import CLUSTER, POLICIES, MakeClient

from hack.bench._ccp_common import make_intent, seed_document
from nsx.client import NsxClient
from nsx.transport import RetryPolicy
from sim.nsx import NsxSimulator
from tests import worlds


@pytest.fixture
def nsx() -> Iterator[NsxSimulator]:
    intent = make_intent(policies=POLICIES, rules=1, groups=4, cluster=CLUSTER)
    with NsxSimulator(tls=True, seed=seed_document(intent, CLUSTER)) as sim:
        yield sim


@pytest.fixture
def make_client(nsx: NsxSimulator) -> Iterator[MakeClient]:
    """``make_client(retry=RetryPolicy(...))``: the product's client, TLS verified against the sim CA."""
    made: list[NsxClient] = []

    def make(retry: RetryPolicy | None = None) -> NsxClient:
        client = worlds.adapter_nsx_client(nsx, retry=retry)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
