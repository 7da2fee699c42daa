"""What goes to NSX and when: sparse updates, deletes, restarts, outages, batches, selectors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from controllers.mp.inventory_mapping import RANK
from controllers.mp.inventory_outbox import Op
from tests.integration.mp.conftest import NS, POD, SVC, Running, World, wait_for


def uid(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["uid"])


def test_label_change_is_one_sparse_update(world: World, cluster_id: str, run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    pod = world.pod(ns, "p0", {"app": "a", "keep": "x"}, phase="Running", ips=["10.1.1.1"])
    with run() as adapter:
        adapter.wait_synced()
        before = world.batch_posts(cluster_id)
        sent_before = len(adapter.ops())
        world.kube.patch(POD, "p0", {"metadata": {"labels": {"app": "b"}}}, ns)
        wait_for(lambda: {"scope": "dis:k8s:app", "tag": "b"} in world.inventory(cluster_id)[uid(pod)]["tags"],
                 10, "label in NSX")
        adapter.wait_synced()
        time.sleep(0.5)  # two more batch periods: nothing else may follow
        assert world.batch_posts(cluster_id) == before + 1
        ops = adapter.ops()[sent_before:]
    assert [(op.update_type, op.external_id) for op in ops] == [("UPDATE", uid(pod))]
    assert ops[0].body == {"resource_type": "ContainerApplicationInstance", "external_id": uid(pod),
                           "tags": [{"scope": "dis:k8s:app", "tag": "b"}, {"scope": "dis:k8s:keep", "tag": "x"}]}
    stored = world.inventory(cluster_id)[uid(pod)]
    assert stored["origin_properties"] == [{"key": "ip", "value": "10.1.1.1"}]  # untouched by the sparse update


def test_namespace_delete_deletes_it_and_its_pods(world: World, cluster_id: str,
                                                 run: Callable[..., Running]) -> None:
    ns = world.namespace()
    name = ns["metadata"]["name"]
    pods = [world.pod(name, f"p{i}", {"app": "x"}) for i in range(3)]
    svc = world.service(name, "s", {"app": "x"})
    keep = world.namespace()
    with run() as adapter:
        adapter.wait_synced()
        gone = {uid(ns), uid(svc), *(uid(p) for p in pods)}
        assert gone <= set(world.inventory(cluster_id))
        sent_before = len(adapter.ops())
        world.kube.delete(NS, name)  # the emulated namespace controller empties it, then removes it
        wait_for(lambda: not gone & set(world.inventory(cluster_id)), 15, "namespace and pods deleted in NSX")

        def deleted() -> list[Op]:
            return [op for op in adapter.ops()[sent_before:] if op.update_type == "DELETE"]
        # NSX shows the deletes as soon as it answers; the flusher records the batch just after.
        wait_for(lambda: gone <= {op.external_id for op in deleted()}, 5, "the delete batches recorded")
        deletes = deleted()
    assert {op.external_id for op in deletes} == gone
    assert all(set(op.body) == {"resource_type", "external_id"} for op in deletes)
    assert uid(keep) in world.inventory(cluster_id)


def test_restart_with_nothing_changed_writes_nothing(world: World, cluster_id: str,
                                                     run: Callable[..., Running]) -> None:
    ns = world.namespace({"a": "b"})["metadata"]["name"]
    world.service(ns, "s", {"app": "x"})
    world.pod(ns, "p", {"app": "x"}, phase="Running", ips=["10.2.2.2"])
    with run() as adapter:
        adapter.wait_synced()
        first = world.batch_posts(cluster_id)
        assert first >= 1
    clusters_created = world.nsx.state.count_requests("POST", "^/api/v1/fabric/container-clusters$")
    with run() as adapter:
        adapter.wait_synced()
        time.sleep(0.6)
        assert adapter.mp.flusher.stats.syncs == 1
    assert world.batch_posts(cluster_id) == first
    assert world.nsx.state.count_requests("POST", "^/api/v1/fabric/container-clusters$") == clusters_created


def test_objects_deleted_while_down_are_deleted_at_start(world: World, cluster_id: str,
                                                        run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    doomed = world.pod(ns, "doomed", {"app": "x"})
    survivor = world.pod(ns, "survivor", {"app": "x"})
    with run() as adapter:
        adapter.wait_synced()
    world.kube.delete(POD, "doomed", ns)
    world.kube.patch(POD, "survivor", {"metadata": {"labels": {"app": "y"}}}, ns)
    with run() as adapter:
        adapter.wait_synced()
        ops = {(op.update_type, op.external_id) for op in adapter.ops()}
    assert ops == {("DELETE", uid(doomed)), ("UPDATE", uid(survivor))}
    assert uid(doomed) not in world.inventory(cluster_id)


def test_nsx_outage_loses_nothing(world: World, cluster_id: str, run: Callable[..., Running]) -> None:
    namespace = world.namespace()
    ns = namespace["metadata"]["name"]
    pods = [world.pod(ns, f"p{i}", {"v": "0"}) for i in range(5)]
    with run() as adapter:
        adapter.wait_synced()
        world.nsx.faults.set_unreachable(True)
        world.kube.delete(POD, "p0", ns)
        world.kube.patch(POD, "p1", {"metadata": {"labels": {"v": "1"}}}, ns)
        added = world.pod(ns, "new", {"v": "0"})
        wait_for(lambda: adapter.mp.flusher.stats.failures >= 2, 10, "failed attempts while NSX is down")
        assert not adapter.mp.flusher.synced.is_set()
        world.nsx.faults.set_unreachable(False)
        # and a burst of 503s on the first batches after recovery
        world.nsx.faults.fail_next(2, 503, "POST", "/api/v1/inventory/container/")
        wait_for(lambda: adapter.mp.flusher.synced.is_set() and adapter.mp.outbox.in_sync(), 20, "resynced")
        inv = {ext: o for ext, o in world.inventory(cluster_id, "ContainerApplicationInstance").items()
               if o["container_project_id"] == uid(namespace)}
    expected = {uid(p) for p in pods[1:]} | {uid(added)}
    assert set(inv) == expected
    assert {"scope": "dis:k8s:v", "tag": "1"} in inv[uid(pods[1])]["tags"]


def test_failed_batch_is_retried_without_duplicates(world: World, cluster_id: str,
                                                   run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    world.nsx.faults.fail_next(3, 503, "POST", f"/api/v1/inventory/container/{cluster_id}")
    world.pod(ns, "p", {"a": "b"})
    with run() as adapter:
        adapter.wait_synced()
        ops = adapter.ops()
    assert len({op.external_id for op in ops}) == len(ops)  # every object acknowledged once
    assert world.nsx.state.count_requests("POST", f"/api/v1/inventory/container/{cluster_id}", 503) >= 1


def test_batch_size_bounds_requests_and_parents_go_first(world: World, cluster_id: str,
                                                         run: Callable[..., Running]) -> None:
    ns = world.namespace()
    name = ns["metadata"]["name"]
    world.service(name, "s", {"app": "x"})
    for i in range(4):
        world.pod(name, f"p{i}", {"app": "x"})
    with run(inventory_batch_size=3) as adapter:
        adapter.wait_synced()
        batches = [b for b in adapter.batches]
    assert all(len(b) <= 3 for b in batches)
    assert len(batches) == world.batch_posts(cluster_id) >= 3
    ops = [op for b in batches for op in b]
    assert all(op.update_type == "CREATE" for op in ops)
    ranks = [RANK[op.resource_type] for op in ops]
    assert ranks == sorted(ranks)  # cluster-wide: every project before any application before any instance
    position = {op.external_id: i for i, op in enumerate(ops)}
    assert position[uid(ns)] < min(i for i, op in enumerate(ops) if op.resource_type == "ContainerApplication")


def test_service_selector_change_updates_pods(world: World, cluster_id: str, run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    a = world.pod(ns, "a", {"app": "a"})
    b = world.pod(ns, "b", {"app": "b"})
    svc = world.service(ns, "s", {"app": "a"})
    with run() as adapter:
        adapter.wait_synced()

        def app_ids() -> dict[str, list[str]]:
            inv = world.inventory(cluster_id)
            return {p: inv[p]["container_application_ids"] for p in (uid(a), uid(b))}

        assert app_ids() == {uid(a): [uid(svc)], uid(b): []}
        world.kube.patch(SVC, "s", {"spec": {"selector": {"app": "b"}}}, ns)
        wait_for(lambda: app_ids() == {uid(a): [], uid(b): [uid(svc)]}, 10, "selector change followed")
        world.kube.patch(POD, "a", {"metadata": {"labels": {"app": "b"}}}, ns)
        wait_for(lambda: app_ids() == {uid(a): [uid(svc)], uid(b): [uid(svc)]}, 10, "pod label change followed")
        world.kube.delete(SVC, "s", ns)
        wait_for(lambda: app_ids() == {uid(a): [], uid(b): []}, 10, "service delete followed")


def test_create_then_delete_before_a_flush_sends_nothing(world: World, cluster_id: str,
                                                        run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    with run(inventory_batch_period=60.0) as adapter:  # only the start-up flush runs by itself
        adapter.wait_synced()
        sent = world.batch_posts(cluster_id)
        pod = world.pod(ns, "blink", {})
        wait_for(lambda: uid(pod) in adapter.mp.outbox.desired_ids(), 5, "pod recorded")
        world.kube.delete(POD, "blink", ns)
        wait_for(lambda: uid(pod) not in adapter.mp.outbox.desired_ids(), 5, "pod delete recorded")
        assert adapter.mp.flusher.flush() == 0
        assert adapter.mp.outbox.in_sync()
    assert world.batch_posts(cluster_id) == sent


def test_pod_scheduled_before_its_node_exists_gets_the_node_id(world: World, cluster_id: str,
                                                               run: Callable[..., Running]) -> None:
    ns = world.namespace()["metadata"]["name"]
    node_name = f"late-{cluster_id[:8]}"
    pod = world.pod(ns, "p", {}, node=node_name)
    with run() as adapter:
        adapter.wait_synced()
        assert world.inventory(cluster_id)[uid(pod)]["cluster_node_id"] is None
        node = world.kube.create(("v1", "Node"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name}})
        wait_for(lambda: world.inventory(cluster_id)[uid(pod)]["cluster_node_id"] == uid(node), 10, "node id filled")


def test_periodic_resync_repairs_nsx_changed_behind_our_back(world: World, cluster_id: str,
                                                             run: Callable[..., Running]) -> None:
    ns = world.namespace()
    pod = world.pod(ns["metadata"]["name"], "p", {"app": "x"})
    with run(resync_interval=1.0) as adapter:
        adapter.wait_synced()
        # An admin removes the pod and edits the namespace's tags directly in NSX.
        world.nsx.inventory.apply_updates(cluster_id, {"container_inventory_objects": [
            {"object_update_type": "DELETE",
             "container_object": {"resource_type": "ContainerApplicationInstance", "external_id": uid(pod)}},
            {"object_update_type": "UPDATE",
             "container_object": {"resource_type": "ContainerProject", "external_id": uid(ns), "tags": []}}]})
        wait_for(lambda: uid(pod) in world.inventory(cluster_id)
                 and world.inventory(cluster_id)[uid(ns)]["tags"] != [], 10, "NSX repaired")
        assert adapter.mp.flusher.stats.syncs >= 2


def test_a_400_splits_the_batch_and_loses_nothing(world: World, cluster_id: str,
                                                  run: Callable[..., Running]) -> None:
    from controllers.mp import inventory_metrics as metrics

    ns = world.namespace()
    pods = [world.pod(ns["metadata"]["name"], f"p{i}", {}) for i in range(4)]
    created_before = metrics.REGISTRY.get_sample_value("antrea_nsx_adapter_inventory_objects_total",
                                                       {"operation": "CREATE"}) or 0.0
    world.nsx.faults.fail_next(1, 400, "POST", f"/api/v1/inventory/container/{cluster_id}")
    with run() as adapter:
        adapter.wait_synced()
        assert adapter.mp.flusher.stats.rejected == 0
        sizes = [len(b) for b in adapter.batches]
    assert {uid(p) for p in pods} | {uid(ns)} <= set(world.inventory(cluster_id))
    assert len(sizes) >= 2  # the refused batch was sent again in halves
    created = metrics.REGISTRY.get_sample_value("antrea_nsx_adapter_inventory_objects_total", {"operation": "CREATE"})
    assert created is not None and created - created_before == sum(sizes)


def test_only_the_leader_writes_and_a_takeover_resends_nothing(world: World, cluster_id: str,
                                                               run: Callable[..., Running]) -> None:
    from reconciler.manager import ManagerOptions

    ns = world.namespace()["metadata"]["name"]
    pod = world.pod(ns, "p", {"v": "0"})

    def options(identity: str) -> ManagerOptions:
        return ManagerOptions(leader_election=True, leader_election_namespace=ns,
                              leader_election_id=f"mp-{cluster_id[:8]}", leader_election_identity=identity,
                              lease_duration=2.0, renew_deadline=1.2, retry_period=0.2, graceful_shutdown_timeout=5.0)

    with run(options("a")) as a, run(options("b")) as b:
        leader = wait_for(lambda: next((r for r in (a, b) if r.mp.flusher.synced.is_set()), None), 15, "a leader")
        standby = b if leader is a else a
        leader.wait_synced()
        assert not standby.mp.flusher.synced.is_set() and standby.batches == []
        assert uid(pod) in standby.mp.outbox.desired_ids()  # the standby's outbox is warm all the same
        sent = world.batch_posts(cluster_id)
        leader.__exit__(None, None, None)  # releases the Lease on a graceful stop
        standby.wait_synced()
        assert world.batch_posts(cluster_id) == sent  # NSX already has everything: nothing re-sent
        world.kube.patch(POD, "p", {"metadata": {"labels": {"v": "1"}}}, ns)
        wait_for(lambda: {"scope": "dis:k8s:v", "tag": "1"} in world.inventory(cluster_id)[uid(pod)]["tags"], 10,
                 "the new leader sends changes")
        # NSX shows the change as soon as it answers; the flusher records the batch just after.
        wait_for(standby.ops, 5, "the new leader's batch recorded")
        assert [(op.update_type, op.external_id) for op in standby.ops()] == [("UPDATE", uid(pod))]
