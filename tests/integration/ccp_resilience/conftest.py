"""Fixtures of the CCP resilience tests: one emulated API server (with the Antrea CRDs and the Antrea
stand-in) for the directory, a fresh NSX simulator per test, and the adapter as a subprocess
(``hack/bench/_ccp_runner.py``) so that it can be SIGKILLed and restarted.

Every test starts from a cluster without managed objects and checks the end state with
``exact_diff``: the managed Tiers, ClusterGroups and ACNPs equal ``translate(NSX snapshot)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hack.bench._ccp_common import seed_document
from hack.bench._ccp_rig import CLUSTER, Kube, Rig, purge_managed
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator
from tests.worlds import control_plane


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    with control_plane(tmp_path_factory.mktemp("ccp-resilience"), nodes=("n1", "n2"),
                       emulator_only="fault injection and write counting need the emulated API server") as cfg, \
            cfg.client(qps=-1) as client, AntreaSimulator(cfg.kubeconfig, realization_delay=0.1) as antrea:
        yield Kube(cfg, client, antrea)


@pytest.fixture
def make_rig(kube: Kube, tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Rig]]:
    """``make_rig(intent)``: a fresh NSX simulator (HTTPS, no rate limit) seeded with ``intent`` for
    cluster c1, which is registered; the cluster's managed objects are purged first."""
    made: list[Rig] = []

    def make(intent: dict[str, Any]) -> Rig:
        purge_managed(kube.kube)
        kube.server.faults.clear()
        nsx = NsxSimulator(tls=True, seed=seed_document(intent, CLUSTER), rate_limit_rps=0, max_concurrent=0)
        nsx.start()
        password_file = tmp_path / "nsx-password"
        password_file.write_text(nsx.password + "\n")
        client = NsxClient([nsx.url], BasicAuth(nsx.username, nsx.password),
                           tls=TlsSettings(ca_file=str(nsx.ca_file)))
        rig = Rig(kube, nsx, client, tmp_path, password_file)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        for proc in rig.runners:
            proc.kill()
        rig.nsx_client.close()
        rig.nsx.stop()
    kube.server.faults.clear()
