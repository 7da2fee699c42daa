"""Fixtures: an NSX simulator over real HTTPS and a ``requests`` wrapper against it.

Test modules import their helpers from ``nsx_sim_helpers`` (this directory is put on ``sys.path``:
with ``--import-mode=importlib`` sibling modules are not importable otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nsx_sim_helpers import PASSWORD, Api

from sim.nsx import NsxSimulator


@pytest.fixture
def sim() -> Iterator[NsxSimulator]:
    with NsxSimulator(password=PASSWORD) as s:
        yield s


@pytest.fixture
def api(sim: NsxSimulator) -> Api:
    return Api(sim)
