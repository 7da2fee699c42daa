"""Test rig of the CCP resilience tests (``tests/integration/ccp_resilience``): kept here, beside the
runner, because pytest's importlib mode does not let a test module import its conftest."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controllers.ccp import names
from hack.bench._ccp_common import (
    ANTREA_OBJECT_PATH,
    KINDS,
    WRITE_VERBS,
    RunnerProcess,
    exact_diff,
    managed_objects,
    nsx_desired,
    wait_until,
)
from nsx.client import NsxClient
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from reconciler.errors import NotFound
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator

CLUSTER = "c1"


@dataclass
class Kube:
    """The directory's emulated API server (with the Antrea CRDs) and the Antrea stand-in."""

    env: EnvConfig
    kube: KubeClient
    antrea: AntreaSimulator

    @property
    def server(self) -> Any:
        return self.env.server

    def writes(self, since: float = 0.0, path: str = ANTREA_OBJECT_PATH) -> list[Any]:
        """Writes of Antrea objects (not /status: the stand-in writes that) arrived at or after
        ``since`` (wall clock), from the server's request log."""
        rx = re.compile(path)
        return [r for r in self.server.requests if r.method in WRITE_VERBS and rx.search(r.path) and r.time >= since]


def purge_managed(kube: KubeClient) -> None:
    selector = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
    for kind in reversed(KINDS):
        for obj in kube.list((names.ANTREA_API_VERSION, kind), label_selector=selector).get("items", []):
            try:
                kube.delete((names.ANTREA_API_VERSION, kind), obj["metadata"]["name"])
            except NotFound:
                pass


@dataclass
class Rig:
    """One test's world: the shared API server, a fresh NSX simulator, runners started by the test."""

    k: Kube
    nsx: NsxSimulator
    nsx_client: NsxClient
    workdir: Path
    password_file: Path
    runners: list[RunnerProcess] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    @property
    def kube(self) -> KubeClient:
        return self.k.kube

    def runner(self, **kwargs: Any) -> RunnerProcess:
        opts: dict[str, Any] = {"poll_interval": 0.3, "kube_qps": 50.0, "kube_burst": 10}
        opts.update(kwargs)
        proc = RunnerProcess(kubeconfig=self.k.env.kubeconfig, nsx_url=self.nsx.url,
                             password_file=self.password_file, ca_file=self.nsx.ca_file, cluster=CLUSTER,
                             stderr=self.workdir / f"runner-{len(self.runners)}.log", **opts)
        self.runners.append(proc)
        return proc

    def diff(self) -> list[str]:
        return exact_diff(nsx_desired(self.nsx_client, CLUSTER), managed_objects(self.kube))

    def wait_exact(self, timeout: float, what: str = "managed objects == translate(NSX)") -> None:
        problems: list[str] = []

        def converged() -> bool:
            problems[:] = self.diff()
            return not problems

        try:
            wait_until(converged, timeout, what, interval=0.2)
        except AssertionError as err:
            raise AssertionError(f"{err}; differences: {problems[:10]}") from None

    def antrea_posts(self, plural: str = "") -> int:
        """POSTs (creates) of Antrea objects since this rig was made, of one kind (plural) or all."""
        path = rf"^/apis/crd\.antrea\.io/v1beta1/{plural or '[a-z]+'}$"
        return sum(1 for r in self.k.writes(self.created, path) if r.method == "POST")

    def runner_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.workdir.glob("runner-*.log")))
