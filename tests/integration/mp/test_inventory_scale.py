"""10,000 Pods: the initial sync sends every object exactly once, in full batches."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

import pytest

from hack.bench.mp import APPS_PER_NAMESPACE, NODES, namespace_name, pod_name, populate
from tests.integration.mp.conftest import Running, World

PODS = 10_000
NAMESPACES = 200
SERVICES = 1_000


@pytest.mark.slow
def test_initial_sync_of_10000_pods_sends_each_object_once(world: World, cluster_id: str,
                                                          run: Callable[..., Running]) -> None:
    started = time.monotonic()
    populate(world.kube, NAMESPACES, PODS, SERVICES)
    created = time.monotonic() - started
    with run(inventory_batch_size=500, inventory_batch_period=0.5) as adapter:
        adapter.wait_synced(timeout=60)
        synced = time.monotonic() - started - created
        time.sleep(1.0)  # a couple of periods more: nothing else may be sent
        ops = adapter.ops()
        batches = list(adapter.batches)
    counts = world.nsx.state.inventory_counts(cluster_id)
    assert counts["ContainerApplicationInstance"] == PODS
    assert counts["ContainerApplication"] == SERVICES
    assert counts["ContainerClusterNode"] == NODES
    assert counts["ContainerProject"] >= NAMESPACES  # plus the control plane's own namespaces
    ids = Counter(op.external_id for op in ops)
    assert max(ids.values()) == 1, "an object was sent twice"
    assert {op.update_type for op in ops} == {"CREATE"}
    assert len(ops) == sum(counts.values())
    assert len(batches) == world.batch_posts(cluster_id) == math.ceil(len(ops) / 500)
    assert all(len(b) == 500 for b in batches[:-1])

    # Membership spot check: pod i is selected by svc-(i mod 5) of its namespace.
    inv = world.inventory(cluster_id)
    by_name = {(o.get("container_project_id"), o["display_name"]): ext for ext, o in inv.items()}
    ns_uid = next(ext for ext, o in inv.items()
                  if o["resource_type"] == "ContainerProject" and o["display_name"] == namespace_name(7))
    pod = inv[by_name[(ns_uid, pod_name(7))]]
    svc = by_name[(ns_uid, f"svc-{7 % APPS_PER_NAMESPACE}")]
    assert pod["container_application_ids"] == [svc]
    print(f"\n10k fixture created in {created:.1f} s, inventory synced in {synced:.1f} s, {len(batches)} requests")
