"""NSX unreachable for 30 s, the full length issue 8 names (the seeded scenarios cut their NSX outage
to 4 s to fit many faults in the suite's budget; this test pays the 30 s once).

While NSX is down, the replicas must neither exit nor spin: the policy controller keeps enforcing
the last NSX state it read (a kubectl edit of a managed policy is reverted from it), the inventory
changes of the cluster wait, and the poller says once that NSX is unreachable instead of once per
poll. When NSX answers again, everything converges exactly and then stays quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from controllers.ccp import names
from tests.chaos._runner import Scenario
from tests.chaos._world import World, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

OUTAGE = 30.0
ACNP = (names.ANTREA_API_VERSION, "ClusterNetworkPolicy")
POLL_FAILED = "reading NSX intent failed"


@pytest.mark.timeout(300)
def test_thirty_seconds_without_nsx_then_exact_convergence(make_world: Callable[..., World]) -> None:
    world = make_world()
    scenario = Scenario(world, seed=30)
    scenario.populate()
    world.supervise()
    world.wait_converged(90)
    processes = [slot.current for slot in world.slots]
    managed = world.kube.list(ACNP, label_selector={names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE})["items"]
    assert managed, "the scenario's NSX policies are in the cluster"
    name = managed[0]["metadata"]["name"]
    priority = managed[0]["spec"]["priority"]

    down_at = time.time()
    world.nsx.faults.set_unreachable(True)
    try:
        for action in (scenario.new_namespace, scenario.new_pod, scenario.new_pod, scenario.relabel_pod):
            scenario.retrying(action)
        world.kube.patch(ACNP, name, {"spec": {"priority": priority + 7.5}})
        wait_until(lambda: world.kube.get(ACNP, name)["spec"]["priority"] == priority, 20,
                   "a managed policy edited while NSX is down is reverted from the last NSX state")
        time.sleep(max(0.0, down_at + OUTAGE - time.time()))
        assert [slot.current for slot in world.slots] == processes, "a replica was replaced during the outage"
        assert all(p is not None and p.alive for p in processes), world.log_tail(2000)
    finally:
        world.nsx.faults.set_unreachable(False)

    converged_at = world.wait_converged(90)
    world.assert_quiet(converged_at, 5.0)
    assert [slot.current for slot in world.slots] == processes, "a replica was replaced after the outage"
    for slot in world.slots:
        replica = slot.current
        assert replica is not None
        warned = replica.log_text().count(POLL_FAILED)
        assert warned <= 1, f"slot {slot.index} logged {warned} poll failures for one outage (a log storm)"
