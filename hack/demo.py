"""``make demo``: the adapter's world on the embedded default, with no cluster and no NSX.

Starts the local control plane (the emulated API server, or whatever ``reconciler.envtest`` picks)
with the Antrea CRDs installed, the NSX Manager simulator and the Antrea stand-in, shows that an
Antrea policy applied with kubectl gets realized, and prints where to look. Runs until Ctrl-C, or
exits after the scenario with ``--once`` (what the test of this script uses).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from crds import MANIFEST_DIR
from reconciler.envtest import Environment
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator

SAMPLE = """\
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata:
  name: demo-tier
spec:
  priority: 10
  description: created by make demo
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: demo-allow-dns
spec:
  tier: demo-tier
  priority: 5
  appliedTo:
  - podSelector: {}
  egress:
  - name: dns
    action: Allow
    ports:
    - protocol: UDP
      port: 53
"""


def _say(text: str) -> None:
    print(text, flush=True)


def _kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on the PATH; install kubectl v1.32 to run the demo")
    result = subprocess.run([kubectl, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def run(once: bool, workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = workdir / "kubeconfig"
    _say("Starting the local control plane with the Antrea CRDs ...")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=kubeconfig)
    cfg = env.start()
    stack: list[Any] = [env]
    try:
        _say(f"  {cfg.backend} control plane at {cfg.configuration.host}, {len(cfg.crds)} CRDs established")
        nsx = NsxSimulator(tls=True)
        nsx.start()
        stack.append(nsx)
        password_file = workdir / "nsx-password"
        password_file.write_text(nsx.password + "\n")
        password_file.chmod(0o600)
        _say(f"  NSX Manager simulator at {nsx.url} (CA {nsx.ca_file})")
        antrea = AntreaSimulator(kubeconfig, realization_delay=0.3).start()
        stack.append(antrea)
        _say("  Antrea stand-in realizing policies")

        kube_env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(workdir)}
        _say("\nApplying a sample Tier and ClusterNetworkPolicy with kubectl ...")
        _say(textwrap.indent(_kubectl(kube_env, "apply", "-f", "-", stdin=SAMPLE).rstrip(), "  "))
        _kubectl(kube_env, "wait", "--for=jsonpath={.status.phase}=Realized", "acnp/demo-allow-dns", "--timeout=30s")
        _say(textwrap.indent(_kubectl(kube_env, "get", "acnp", "demo-allow-dns", "-o",
                                      "custom-columns=NAME:.metadata.name,TIER:.spec.tier,PHASE:.status.phase,"
                                      "GENERATION:.metadata.generation,OBSERVED:.status.observedGeneration").rstrip(),
                             "  "))
        _say(textwrap.dedent(f"""
            Where to look:
              export KUBECONFIG={kubeconfig}
              kubectl get crds; kubectl get tiers,acnp,cg
              NSX Manager simulator: {nsx.url}/  (user {nsx.username}, password in {password_file}, CA {nsx.ca_file})
            """))
        if once:
            _say("demo scenario complete")
            return 0
        _say("Running; press Ctrl-C to stop.")
        stopped = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stopped.wait(1.0):
            pass
        return 0
    finally:
        for part in reversed(stack):
            part.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run the scenario, then exit")
    parser.add_argument("--workdir", type=Path, default=None, help="where to keep the kubeconfig and NSX files")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="antrea-nsx-demo-"))
    started = time.monotonic()
    code = run(args.once, workdir)
    _say(f"(took {time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
