"""The CCP adapter end to end with batched realization: NSX simulator (300 policies) -> adapter ->
emulated API server <- Antrea stand-in, all over HTTP(S). Counts come from the simulator's request
log and its history of stored reports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from ccp_realization_helpers import BATCH_POSTS, CLUSTER, POLICIES, history, policy_path

from controllers.ccp.adapter import CcpAdapter, setup_ccp
from controllers.ccp.settings import CcpSettings
from hack.bench._ccp_common import wait_until
from reconciler.envtest import EnvConfig
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests import worlds

pytestmark = pytest.mark.slow

ANY_REPORT_POSTS = r"/antrea-adapter/clusters/[^/]+/realization(/batch)?$"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvConfig]:
    reason = "creates Nodes for the Antrea stand-in: needs the emulated API server"
    with worlds.control_plane(tmp_path_factory.mktemp("ccp-real"), nodes=("n1", "n2"), emulator_only=reason) as cfg, \
            AntreaSimulator(cfg.kubeconfig, realization_delay=0.1):
        yield cfg


class Running(worlds.ManagerThread):
    """The adapter's CCP half in a thread, as ``antrea-nsx-adapter`` runs it."""

    def __init__(self, kube: EnvConfig, nsx: NsxSimulator) -> None:
        super().__init__(kube.kubeconfig, nsx, kube_qps=-1)
        settings = CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=0.5, reconcile_interval=600.0)
        self.adapter: CcpAdapter = setup_ccp(self.manager, self.nsx, settings)


def test_300_policies_realized_in_a_handful_of_posts(kube: EnvConfig, nsx: NsxSimulator) -> None:
    paths = [policy_path(n) for n in range(POLICIES)]

    def all_realized() -> Any:
        held = nsx.state.realization(CLUSTER)
        return all((held.get(p) or {}).get("state") == "REALIZED" for p in paths)

    started = time.monotonic()
    with Running(kube, nsx) as first:
        wait_until(all_realized, 150, "every policy REALIZED in NSX", interval=0.2)
        took = time.monotonic() - started
        time.sleep(1.0)  # let anything late show up
        reports = first.adapter.realization.reports_sent
    seen = history(nsx)
    sent = sum(len(states) for states in seen.values())
    batches = nsx.state.count_requests(method="POST", path=BATCH_POSTS, status=200)
    attempts = nsx.state.count_requests(method="POST", path=BATCH_POSTS)
    figures = f"{POLICIES} policies realized in {took:.1f} s: {sent} reports in {batches} POSTs ({attempts} tries)"
    print("\n" + figures)
    assert set(seen) == set(paths)
    assert all(states[-1] == "REALIZED" for states in seen.values())
    assert all(a != b for states in seen.values() for a, b in zip(states, states[1:], strict=False)), \
        "only on change: never the same state twice in a row"
    assert sent <= reports, "nothing arrives that was not handed over (a change replaced inside a window never does)"
    assert nsx.state.count_requests(method="POST", path=ANY_REPORT_POSTS) == attempts, "no single-report POST"
    # One POST per 0.5 s window at most while reports trickle in, and far fewer than one per report.
    assert batches <= took / 0.5 + 4, figures
    assert batches * 10 <= sent, figures

    # A restart with nothing changed: NSX already holds every report, nothing is POSTed.
    before = nsx.state.count_requests(method="POST", path=ANY_REPORT_POSTS)
    with Running(kube, nsx) as again:
        wait_until(again.adapter.outcomes.published.is_set, 60, "first translation published")
        time.sleep(2.0)  # the realization pass over every policy, and a few windows
    assert nsx.state.count_requests(method="POST", path=ANY_REPORT_POSTS) == before
