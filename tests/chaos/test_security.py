"""Security checks on the shipped command (the scenarios of test_chaos_scenarios.py also check that
neither the NSX password nor the client key ever appears in a log line or in ``/metrics``).

* A password NSX refuses at start-up is not echoed (``--nsx-password`` flag, the worst case).
* An NSX Manager whose certificate the adapter does not trust (another CA, the system store, a
  wrong pinned thumbprint) is refused: the command exits 2 naming the TLS failure, and the manager
  never receives a single HTTP request (so no credential was sent).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.nsx import NsxSimulator
from tests.chaos._replica import ADAPTER_NAMESPACE, ROOT
from tests.chaos._world import World, secrets_in

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(240)]


def _run_cli(world: World, *extra: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    slot = world.slots[0]
    cmd = [sys.executable, "-m", "controllers.cli", "run", "--kubeconfig", str(slot.kubeconfig),
           "--cluster-name", "chaos-cluster", "--cluster-id", world.flags.cluster_id,
           "--nsx-manager", world.nsx.url, "--bootstrap-namespace", ADAPTER_NAMESPACE,
           "--health-probe-bind-address", "0", "--log-level", "debug", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREA_NSX_ADAPTER_")}
    env.update(PYTHONPATH=str(ROOT))
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("SSL_CERT_FILE", None)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_refused_password_and_untrusted_certificates(make_world: Callable[..., World], tmp_path: Path) -> None:
    world = make_world(replicas=1)
    password_file = world.slots[0].nsx.password_file
    assert password_file is not None

    wrong = "Wr0ng-but-secret-" + world.nsx.password[:6]
    result = _run_cli(world, "--nsx-ca-file", str(world.nsx.ca_file), "--nsx-username", world.nsx.username,
                      "--nsx-password", wrong)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refused the credentials" in result.stderr
    assert secrets_in(result.stdout + result.stderr, [wrong, world.nsx.password]) == []

    stranger = NsxSimulator(tls=True, data_dir=tmp_path / "stranger")  # never started: only its PKI is used
    for trust, flags in (("another CA", ["--nsx-ca-file", str(stranger.ca_file)]), ("system store", []),
                         ("wrong thumbprint", ["--nsx-thumbprint", stranger.thumbprint])):
        before = len(world.nsx.state.requests)
        result = _run_cli(world, *flags, "--nsx-username", world.nsx.username, "--nsx-password-file",
                          str(password_file))
        assert result.returncode == 2, f"{trust}: {result.stderr[-2000:]}"
        message = result.stderr.lower()
        named = any(word in message for word in ("certificate", "tls", "ssl", "thumbprint"))
        assert "no nsx manager reachable" in message and named, f"{trust}: {result.stderr[-2000:]}"
        assert len(world.nsx.state.requests) == before, f"{trust}: the untrusted manager received a request"
        assert secrets_in(result.stdout + result.stderr, [world.nsx.password]) == []
