"""The MP inventory end to end: emulated API server -> adapter -> NSX simulator, over real HTTP.

One control plane and one NSX simulator per module; every test gets its own inventory cluster id
(``cluster_id`` fixture) and its own namespaces, so NSX-side counts and contents are per test even
though the K8s side is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controllers.mp.inventory_outbox import Op
from controllers.mp.inventory_settings import InventorySettings
from controllers.mp.inventory_setup import MpInventory, setup_mp_inventory
from nsx.transport import RetryPolicy
from reconciler.manager import ManagerOptions
from sim.nsx import NsxSimulator
from tests import worlds

FAST_RETRY = RetryPolicy(max_tries=2, max_time=2.0, initial_delay=0.05, max_delay=0.2)
NS = ("v1", "Namespace")
POD = ("v1", "Pod")
SVC = ("v1", "Service")
NODE = ("v1", "Node")


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    return worlds.wait_for(check, timeout, what)


class World(worlds.World):
    def inventory(self, cluster_id: str, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        return self.nsx.state.inventory(cluster_id, resource_type)

    def batch_posts(self, cluster_id: str) -> int:
        """Inventory update requests NSX answered 200 for this cluster."""
        return int(self.nsx.state.count_requests("POST", f"^/api/v1/inventory/container/{cluster_id}$", 200))

    def namespace(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        name = f"mp-{uuid.uuid4().hex[:8]}"
        return self.kube.create(NS, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name, "labels": labels or {}}})

    def pod(self, namespace: str, name: str, labels: dict[str, str] | None = None, node: str | None = None,
            phase: str | None = None, ips: list[str] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
        if node:
            spec["nodeName"] = node
        pod = self.kube.create(POD, {"apiVersion": "v1", "kind": "Pod", "spec": spec,
                                     "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}})
        if phase or ips:
            status: dict[str, Any] = {"phase": phase or "Pending"}
            if ips:
                status.update(podIP=ips[0], podIPs=[{"ip": ip} for ip in ips])
            pod = self.kube.patch_status(POD, name, {"status": status}, namespace)
        return pod

    def service(self, namespace: str, name: str, selector: dict[str, str] | None,
                cluster_ip: str = "10.96.0.10") -> dict[str, Any]:
        spec: dict[str, Any] = {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                                                    "targetPort": 8080}]}
        if selector is not None:
            spec["selector"] = selector
        return self.kube.create(SVC, {"apiVersion": "v1", "kind": "Service", "spec": spec,
                                      "metadata": {"name": name, "namespace": namespace}})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with worlds.control_plane(tmp_path_factory.mktemp("mp")) as cfg, cfg.client(qps=-1) as kube, \
            NsxSimulator(tls=True, rate_limit_rps=0) as nsx:
        yield World(cfg, kube, nsx)


@pytest.fixture(autouse=True)
def _clear_faults(world: World) -> Iterator[None]:
    yield
    world.nsx.faults.clear()
    world.nsx.faults.set_unreachable(False)


@pytest.fixture
def cluster_id() -> str:
    return str(uuid.uuid4())


class Running(worlds.ManagerThread):
    """One adapter process-equivalent: a manager with the inventory controller, in a thread."""

    def __init__(self, world: World, settings: InventorySettings, options: ManagerOptions | None = None) -> None:
        super().__init__(world.env.kubeconfig, world.nsx, options, kube_qps=-1, nsx_retry=FAST_RETRY)
        self.world, self.settings = world, settings
        self.batches: list[list[Op]] = []
        self.mp: MpInventory = setup_mp_inventory(self.manager, self.nsx, self.settings,
                                                  on_sent=lambda ops, _t: self.batches.append(list(ops)))

    def wait_synced(self, timeout: float = 20.0) -> None:
        """The first sync ran and everything it found to send was acknowledged."""
        wait_for(lambda: self.mp.flusher.synced.is_set() and self.mp.outbox.in_sync()
                 and all(len(c.queue) == 0 for c in self.mp.controllers.values()), timeout, "inventory in sync")

    def ops(self) -> list[Op]:
        return [op for batch in self.batches for op in batch]


@pytest.fixture
def run(world: World, cluster_id: str) -> Callable[..., Running]:
    def start(options: ManagerOptions | None = None, **overrides: Any) -> Running:
        """An adapter with test timings; ``overrides`` are InventorySettings fields."""
        values: dict[str, Any] = {"cluster_id": cluster_id, "cluster_name": "mp-test", "inventory_batch_period": 0.2,
                                  "retry_initial_delay": 0.1, "retry_max_delay": 0.5}
        values.update(overrides)
        return Running(world, InventorySettings(**values), options or ManagerOptions())
    return start
