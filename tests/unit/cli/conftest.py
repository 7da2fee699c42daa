"""A world for running the CLI as a process: its own emulated API server (so cluster-scoped Tiers and
the request log belong to these tests alone) with the Antrea CRDs, and an NSX Manager simulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from crds import MANIFEST_DIR
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment
from sim.nsx import NsxSimulator

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "vmware-system-antrea"


@dataclass
class CliWorld:
    env: EnvConfig
    kube: KubeClient
    nsx: NsxSimulator
    http: requests.Session
    workdir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.env.kubeconfig

    def password_file(self) -> Path:
        path = self.workdir / "nsx-password"
        path.write_text(self.nsx.password + "\n")
        path.chmod(0o600)
        return path

    def nsx_flags(self) -> list[str]:
        return ["--kubeconfig", str(self.kubeconfig), "--nsx-manager", self.nsx.url,
                "--nsx-ca-file", str(self.nsx.ca_file), "--nsx-username", self.nsx.username,
                "--nsx-password-file", str(self.password_file())]

    def nsx_get(self, path: str) -> requests.Response:
        return self.http.get(self.nsx.url + path, timeout=10)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI process: no ANTREA_NSX_ADAPTER_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREA_NSX_ADAPTER_")}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controllers.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=timeout, env=env or cli_env())


def start_cli(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[str]:
    """The CLI in the background; output to a pipe, or to ``log`` when the test follows it live."""
    out = log.open("w") if log is not None else subprocess.PIPE
    try:
        return subprocess.Popen([sys.executable, "-m", "controllers.cli", *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, text=True, env=env or cli_env())
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliWorld]:
    workdir = tmp_path_factory.mktemp("cli")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")
    cfg = env.start()
    kube = cfg.client(qps=-1)
    kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    with NsxSimulator(tls=True) as nsx:
        http = requests.Session()
        http.auth = (nsx.username, nsx.password)
        http.verify = str(nsx.ca_file)
        http.trust_env = False
        yield CliWorld(cfg, kube, nsx, http, workdir)
        http.close()
    kube.close()
    env.stop()
