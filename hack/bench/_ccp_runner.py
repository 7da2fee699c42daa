"""The CCP adapter as its own process: ``Manager`` + ``NsxClient`` + ``setup_ccp`` from flags.

Used by the CCP benchmark (``hack/bench/ccp.py``) and the resilience tests
(``tests/integration/ccp_resilience``), which need a process they can SIGKILL and restart.

Usage::

    python hack/bench/_ccp_runner.py --kubeconfig KC --nsx-url URL --nsx-password-file F \
        [--nsx-ca-file CA] --cluster c1 [--poll-interval 1] [--kube-qps 20] ...

stdout carries one JSON object per line, nothing else (logs go to stderr):

* ``{"event": "ready", "pid": …, "t": wall}`` once the manager is built (imports done);
* ``{"event": "reconcile", "ok": bool, "create": n, "update": n, "delete": n, "writes": total,
  "t0": wall, "t1": wall}`` after every run of the policy controller (``ok`` false when it raised,
  i.e. some writes failed transiently and the run will be retried);
* ``{"event": "in_sync", "how": "digest", "objects": n, "t": wall}`` when the start-up check found
  every object's source digest current (before the full translation of that run);
* ``{"event": "revision_search", "mode": "process", "cpu_s": s, "peak_rss_kib": n, "t": wall}`` once
  the process that ran the start-up check's NSX search was reaped (its figures are not the
  adapter's own).

The events come from wrapping ``PolicyReconciler.reconcile`` in this process only; the adapter code
is unchanged. SIGTERM/SIGINT stop the manager gracefully.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger

from controllers.ccp.adapter import setup_ccp
from controllers.ccp.policy_controller import PolicyReconciler
from controllers.ccp.revision_prefetch import RevisionPrefetch
from controllers.ccp.settings import CcpSettings
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from reconciler.client import KubeClient
from reconciler.manager import Manager, ManagerOptions
from reconciler.reconcile import Request, Result
from reconciler.runtime_tuning import tune_for_controller

_out_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def _instrument() -> None:
    """Report every policy-controller run on stdout (the only way a parent can see "in sync")."""
    original = PolicyReconciler.reconcile

    @functools.wraps(original)
    def reconcile(self: PolicyReconciler, request: Request) -> Result:
        t0 = time.time()
        before = self.writes
        try:
            result = original(self, request)
        except Exception:
            summary = self.last_plan.summary() if self.last_plan is not None else {}
            emit("reconcile", ok=False, t0=t0, t1=time.time(), writes=self.writes - before, **summary)
            raise
        summary = self.last_plan.summary() if self.last_plan is not None else {}
        emit("reconcile", ok=True, t0=t0, t1=time.time(), writes=self.writes - before, **summary)
        return result

    PolicyReconciler.reconcile = reconcile  # type: ignore[method-assign]
    announced = PolicyReconciler.started_in_sync

    @functools.wraps(announced)
    def started_in_sync(self: PolicyReconciler, objects: int) -> None:
        announced(self, objects)
        emit("in_sync", how="digest", objects=objects, t=time.time())

    PolicyReconciler.started_in_sync = started_in_sync  # type: ignore[method-assign]
    collect = RevisionPrefetch._collect

    @functools.wraps(collect)
    def collected(self: RevisionPrefetch, read_end: int, pid: int) -> None:
        collect(self, read_end, pid)
        if self.child_usage is not None:
            emit("revision_search", mode=self.mode, cpu_s=round(self.child_usage[0], 3),
                 peak_rss_kib=self.child_usage[1], t=time.time())

    RevisionPrefetch._collect = collected  # type: ignore[method-assign]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--nsx-url", required=True)
    ap.add_argument("--nsx-username", default="admin")
    ap.add_argument("--nsx-password-file", required=True, type=Path, help="first line = password")
    ap.add_argument("--nsx-ca-file", help="CA bundle of the NSX Manager (default: system store)")
    ap.add_argument("--cluster", required=True, help="cluster-control-plane name")
    ap.add_argument("--poll-interval", type=float, default=5.0, help="--nsx-poll-interval (s)")
    ap.add_argument("--reconcile-interval", type=float, default=600.0, help="global resync period (s)")
    ap.add_argument("--realization-timeout", type=float, default=60.0)
    ap.add_argument("--max-concurrent-writes", type=int, default=8)
    ap.add_argument("--kube-qps", type=float, default=20.0, help="client-side QPS limit (client-go default 20)")
    ap.add_argument("--kube-burst", type=int, default=30)
    ap.add_argument("--log-level", default="WARNING")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    _instrument()
    password = args.nsx_password_file.read_text().splitlines()[0]
    tls = TlsSettings(ca_file=args.nsx_ca_file) if args.nsx_ca_file else TlsSettings()
    nsx = NsxClient([args.nsx_url], BasicAuth(args.nsx_username, password), tls=tls)
    kube = KubeClient.from_kubeconfig(args.kubeconfig, qps=args.kube_qps, burst=args.kube_burst)
    tune_for_controller()  # as the antrea-nsx-adapter command does
    manager = Manager(kube, ManagerOptions(graceful_shutdown_timeout=5.0))
    settings = CcpSettings(cluster_name=args.cluster, nsx_poll_interval=args.poll_interval,
                           reconcile_interval=args.reconcile_interval,
                           realization_timeout=args.realization_timeout,
                           max_concurrent_writes=args.max_concurrent_writes)
    setup_ccp(manager, nsx, settings)
    emit("ready", pid=os.getpid(), t=time.time())
    try:
        return manager.run_until_signal()
    finally:
        nsx.close()
        kube.close()


if __name__ == "__main__":
    raise SystemExit(main())
