"""Seeded chaos scenarios against the whole system (tests/chaos/README.md).

Each scenario starts two replicas of ``antrea-nsx-adapter run --leader-elect``, plays a seeded
sequence of NSX edits, Kubernetes churn and faults (one of them a SIGKILL of the leader mid-sync),
lifts the faults, and then requires exactly the right end state: managed Antrea objects equal
``translate(NSX)``, NSX inventory equals the cluster, every policy realized at its revision, unmanaged
objects untouched, nothing twice — and no further write during a quiet window that includes a
global resync; and neither the NSX password (slot 0) nor the client key (slot 1) in any log line or
in ``/metrics``. ``CHAOS_SEED=<n>`` runs one seed; ``CHAOS_SCENARIOS=<k>`` runs seeds 1..k (default 3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from tests.chaos._runner import Scenario
from tests.chaos._world import World, assert_no_secrets

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

CONVERGENCE_TIMEOUT = 90.0
QUIET_WINDOW = 5.0
"""Longer than the replicas' --reconcile-interval (4 s): the window holds a global resync, which must
write nothing."""


def _seeds() -> list[int]:
    if os.environ.get("CHAOS_SEED"):
        return [int(os.environ["CHAOS_SEED"])]
    return list(range(1, int(os.environ.get("CHAOS_SCENARIOS", "3")) + 1))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", _seeds())
def test_scenario_converges_exactly_and_then_stays_quiet(seed: int, make_world: Callable[..., World]) -> None:
    print(f"chaos scenario seed {seed} (reproduce: CHAOS_SEED={seed} .venv/bin/pytest tests/chaos "
          f"-k test_scenario)", flush=True)
    world = make_world()
    scenario = Scenario(world, seed)
    started = time.monotonic()
    try:
        scenario.populate()
        world.supervise()
        scenario.play()
        scenario.heal()
        converged_at = world.wait_converged(CONVERGENCE_TIMEOUT)
        world.assert_quiet(converged_at, QUIET_WINDOW)
        assert not scenario.unexpected_exits(), scenario.unexpected_exits()
        assert_no_secrets(world)
    except AssertionError as err:
        raise AssertionError(f"seed {seed} (CHAOS_SEED={seed} reproduces): {err}\nscenario: "
                             + "\n  ".join(scenario.log)) from None
    print(f"seed {seed}: {len(scenario.log)} events, converged and quiet after "
          f"{time.monotonic() - started:.1f} s", flush=True)
