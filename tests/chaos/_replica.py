"""One adapter replica as the product ships it: ``antrea-nsx-adapter run --leader-elect`` in its own
process, so that a test can SIGKILL it like a node failure and restart it like kubelet would.

Each replica *slot* has its own identities, so that the simulators' request logs say who wrote
what: a Kubernetes bearer token (the emulator logs its fingerprint, ``sim.kubeapi.faults.client_id``)
and an NSX principal (slot 0 logs in with the NSX password, slot 1 with a principal-identity
client certificate, so both kinds of secret are exercised by the log checks).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from sim.kubeapi.faults import client_id

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_NAMESPACE = "vmware-system-antrea"
LEASE_NAME = "antrea-nsx-adapter"  # the `run` command's Lease (controllers/cli.py)

LEASE_DURATION = 6.0
RENEW_DEADLINE = 4.0
RETRY_PERIOD = 1.0
"""Leader-election timings of every replica: controller-runtime's 15 s / 10 s / 2 s scaled down so
a take-over fits the suite's time budget, with the same constraints (lease > renew > 1.2 x retry)
and enough slack that a loaded CI machine does not lose leases spuriously."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class NsxCredentials:
    """How one slot authenticates to NSX: a password file or a client certificate."""

    principal: str
    """The name the NSX simulator logs for this slot's requests."""
    password_file: Path | None = None
    username: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def flags(self) -> list[str]:
        if self.cert_file is not None and self.key_file is not None:
            return ["--nsx-client-cert-file", str(self.cert_file), "--nsx-client-key-file", str(self.key_file)]
        assert self.username and self.password_file
        return ["--nsx-username", self.username, "--nsx-password-file", str(self.password_file)]


@dataclass
class Replica:
    """One running (or dead) incarnation of a slot."""

    slot: int
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_url: str
    started: float = field(default_factory=time.time)
    """Wall clock of the start (the request logs use wall clock too)."""
    ended: float | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful anything (a node dying)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.ended = self.ended or time.time()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.ended = self.ended or time.time()
        return int(self.proc.returncode)

    def metrics(self) -> str:
        return requests.get(self.metrics_url, timeout=5).text

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Slot:
    """What stays the same across incarnations of one replica (its Pod, say)."""

    index: int
    kube_token: str
    kubeconfig: Path
    nsx: NsxCredentials
    incarnations: list[Replica] = field(default_factory=list)

    @property
    def kube_client(self) -> str:
        """This slot's name in the API server's request log and fault rules."""
        return client_id(self.kube_token)

    @property
    def current(self) -> Replica | None:
        return self.incarnations[-1] if self.incarnations else None


def write_kubeconfig(server_url: str, token: str, path: Path) -> Path:
    """A kubeconfig for ``server_url`` authenticating with ``token`` (one per slot)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "chaos", "cluster": {"server": server_url}}],
        "users": [{"name": "chaos", "user": {"token": token}}],
        "contexts": [{"name": "chaos", "context": {"cluster": "chaos", "user": "chaos"}}],
        "current-context": "chaos",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class AdapterFlags:
    """The command line every replica shares (timings scaled down for the suite)."""

    cluster: str
    cluster_id: str
    nsx_url: str
    ca_file: Path | None
    poll_interval: str = "0.5s"
    reconcile_interval: str = "4s"
    batch_period: str = "0.3s"
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        out = ["--cluster-name", self.cluster, "--cluster-id", self.cluster_id, "--nsx-manager", self.nsx_url,
               "--bootstrap-namespace", ADAPTER_NAMESPACE, "--leader-elect",
               "--leader-election-namespace", ADAPTER_NAMESPACE,
               "--leader-elect-lease-duration", f"{LEASE_DURATION}s",
               "--leader-elect-renew-deadline", f"{RENEW_DEADLINE}s",
               "--leader-elect-retry-period", f"{RETRY_PERIOD}s",
               "--nsx-poll-interval", self.poll_interval, "--reconcile-interval", self.reconcile_interval,
               "--realization-timeout", "60s", "--inventory-batch-period", self.batch_period,
               "--heartbeat-interval", "5s", "--stats-interval", "60s",
               "--graceful-shutdown-timeout", "3s", "--kube-api-qps", "100", "--kube-api-burst", "50",
               "--log-level", "debug"]
        if self.ca_file is not None:
            out += ["--nsx-ca-file", str(self.ca_file)]
        return out + list(self.extra)


def start_replica(slot: Slot, flags: AdapterFlags, workdir: Path) -> Replica:
    """A new incarnation of ``slot``: ``python -m controllers.cli run …`` (the console script's
    module, so the suite needs no installed entry point), logs to its own file."""
    n = len(slot.incarnations)
    log = workdir / f"replica-{slot.index}-{n}.log"
    port = free_port()
    cmd = [sys.executable, "-m", "controllers.cli", "run", "--kubeconfig", str(slot.kubeconfig),
           *flags.args(), *slot.nsx.flags(),
           "--health-probe-bind-address", "0", "--metrics-bind-address", f"127.0.0.1:{port}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREA_NSX_ADAPTER_")}
    env.update(PYTHONPATH=str(ROOT), POD_NAMESPACE=ADAPTER_NAMESPACE, PYTHONUNBUFFERED="1")
    env.pop("REQUESTS_CA_BUNDLE", None)
    with log.open("ab") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    replica = Replica(slot.index, proc, log, f"http://127.0.0.1:{port}/metrics")
    slot.incarnations.append(replica)
    return replica
