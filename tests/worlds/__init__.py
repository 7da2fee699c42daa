"""Small builders for the test "worlds" the integration suites run in: a control plane (the emulated
API server unless envtest's variables pick another), the NSX simulator, the Antrea stand-in, and
adapters (a :class:`~reconciler.manager.Manager` in a thread).

Each suite composes the pieces it needs in its own module-scoped fixture, so a world is spelled out
where its tests are, while how a piece is started, reached and stopped is written once::

    @dataclass
    class World(worlds.World):                         # env, kube, nsx, and what this suite adds
        http: requests.Session

    @pytest.fixture(scope="module")
    def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
        with control_plane(tmp_path_factory.mktemp("x")) as cfg, cfg.client() as kube, \\
                NsxSimulator(tls=True) as nsx, nsx_admin(nsx) as http, \\
                AntreaSimulator(cfg.kubeconfig, heartbeat_interval=0.3):
            register_cluster(http, nsx, "c1")
            yield World(cfg, kube, nsx, http)

    class Adapter(ManagerThread):                      # one adapter process-equivalent
        def __init__(self, world: World) -> None:
            super().__init__(world.env.kubeconfig, world.nsx)
            setup_ccp(self.manager, self.nsx, CcpSettings(cluster_name="c1"))

    with Adapter(world) as adapter:                    # started; stopped (and checked) on exit
        ...

A plain package (``tests/worlds``), not a conftest: a conftest serves only its own folder, and
these are builders, not fixtures (each suite decides scope and what its world holds).
"""

from tests.worlds.adapter import ManagerThread
from tests.worlds.kube import (
    ADAPTER_NAMESPACE,
    ADAPTER_ROLE,
    control_plane,
    create_node,
    install_adapter_role,
    official_api,
    service_account_kubeconfig,
)
from tests.worlds.nsx import adapter_nsx_client, nsx_admin, register_cluster
from tests.worlds.waiting import wait_for
from tests.worlds.world import World

__all__ = [
    "ADAPTER_NAMESPACE",
    "ADAPTER_ROLE",
    "ManagerThread",
    "World",
    "adapter_nsx_client",
    "control_plane",
    "create_node",
    "install_adapter_role",
    "nsx_admin",
    "official_api",
    "register_cluster",
    "service_account_kubeconfig",
    "wait_for",
]
