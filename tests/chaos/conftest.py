"""Fixtures of the chaos suite (tests/chaos/README.md): each test builds its own world — an emulated
API server, the NSX simulator, the Antrea stand-in and adapter replica slots — so a failing seed
reproduces from the same starting point. Nothing here is autouse: other tests of this folder (the
RBAC checks) are not affected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos._world import World, build_world


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``make_world(replicas=2, flags={...})``: a started world (replicas prepared, not started);
    everything it started is stopped after the test."""
    made: list[World] = []

    def make(**kwargs: Any) -> World:
        world = build_world(tmp_path / f"world-{len(made)}", **kwargs)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()
