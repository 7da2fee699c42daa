"""Benchmark of the MP inventory controller: emulated API server -> adapter -> NSX simulator.

The API server and the NSX simulator run as subprocesses (so this process's RSS and GIL are the
adapter's); the fixture is created by a child process. The NSX simulator's per-client rate limit and
concurrency cap are turned off (``--rate-limit 0 --max-concurrent 0``): the bench measures the
adapter, not NSX's default 100 requests/s.

1. Initial sync of 10,000 Pods in 200 Namespaces with 1,000 Services (5 per namespace, each
   selecting a fifth of its Pods) and 20 Nodes: seconds from manager start until NSX acknowledged
   everything, the number of batch requests, and objects per operation (each object once).
2. Restart with nothing changed (a new manager, same cluster id): inventory requests (target 0).
3. 100 Pod label changes/s for 10 s: latency from the PATCH's answer to NSX's 200 for the batch that
   carries the change, p50/p99 (target p99 <= batch period + 1 s).
4. Adapter RSS (this process: caches, outbox, acknowledged view) before, after the initial sync and
   at the end. The end figure also holds whatever the first (stopped) adapter left to the allocator:
   CPython rarely gives freed memory back, so "after sync" is the one-adapter figure.

Usage: ``python hack/bench/mp.py [--pods 10000] [--namespaces 200] [--services 1000] [--rate 100]
[--seconds 10] [--batch-size 500] [--batch-period 1.0]``. Last line: one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from controllers.mp.inventory_outbox import Op  # noqa: E402
from controllers.mp.inventory_settings import InventorySettings  # noqa: E402
from controllers.mp.inventory_setup import MpInventory, setup_mp_inventory  # noqa: E402
from nsx.auth import BasicAuth  # noqa: E402
from nsx.client import NsxClient  # noqa: E402
from reconciler.client import KubeClient  # noqa: E402
from reconciler.manager import Manager, ManagerOptions  # noqa: E402

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
POD = ("v1", "Pod")
APPS_PER_NAMESPACE = 5
NODES = 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ------------------------------------------------------------------------------------- fixture

def namespace_name(i: int) -> str:
    return f"bench-{i:03d}"


def pod_name(i: int) -> str:
    return f"app-{i % APPS_PER_NAMESPACE}-{i:05d}"


def pod_namespace(i: int, namespaces: int) -> str:
    return namespace_name(i % namespaces)


def populate(kube: KubeClient, namespaces: int, pods: int, services: int, threads: int = 16) -> None:
    """Namespaces, Nodes, Services (``services / namespaces`` per namespace, selecting ``app-k``) and
    Pods (labelled ``app-<i mod 5>``, spread over the namespaces and the Nodes)."""
    per_ns = max(1, services // namespaces)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: kube.create(("v1", "Namespace"), {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace_name(i), "labels": {"bench": "mp", "index": str(i)}}}), range(namespaces)))
        list(pool.map(lambda i: kube.create(("v1", "Node"), {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i:02d}"},
            "spec": {"podCIDR": f"10.244.{i}.0/24"}}), range(NODES)))
        list(pool.map(lambda j: kube.create(("v1", "Service"), {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{j % per_ns}", "namespace": namespace_name(j // per_ns)},
            "spec": {"clusterIP": f"10.96.{j // 250}.{j % 250}", "selector": {"app": f"app-{j % per_ns}"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
            range(per_ns * namespaces)))
        list(pool.map(lambda i: kube.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(i), "namespace": pod_namespace(i, namespaces),
                         "labels": {"app": f"app-{i % APPS_PER_NAMESPACE}", "tier": "backend"}},
            "spec": {"nodeName": f"node-{i % NODES:02d}",
                     "containers": [{"name": "main", "image": "registry.example.com/app:v1"}]}}), range(pods)))


# ----------------------------------------------------------------------------------- processes

def _start(cmd: Sequence[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"{cmd[2]} did not start: {line!r}")
    return proc, line


class Adapter:
    """One adapter process-equivalent (manager + inventory) in a thread of this process."""

    def __init__(self, kubeconfig: Path, nsx_url: str, password: str, settings: InventorySettings,
                 on_sent: Callable[[Sequence[Op], float], None] | None = None) -> None:
        self.kube = KubeClient.from_kubeconfig(str(kubeconfig))
        self.nsx = NsxClient([nsx_url], BasicAuth("admin", password))
        self.manager = Manager(self.kube, ManagerOptions())
        self.mp: MpInventory = setup_mp_inventory(self.manager, self.nsx, settings, on_sent)
        self.thread = threading.Thread(target=self.manager.start, daemon=True)

    def start(self) -> float:
        """Start and wait for the inventory to be in sync; returns the seconds it took."""
        started = time.monotonic()
        self.thread.start()
        while not (self.mp.flusher.synced.is_set() and self.mp.outbox.in_sync()
                   and all(len(c.queue) == 0 for c in self.mp.controllers.values())):
            time.sleep(0.02)
        return time.monotonic() - started

    def stop(self) -> None:
        self.manager.stop()
        self.thread.join(30)
        self.nsx.close()
        self.kube.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-period", type=float, default=1.0)
    parser.add_argument("--populate", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        populate(KubeClient.from_kubeconfig(args.populate, qps=-1), args.namespaces, args.pods, args.services)
        return
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        password = uuid.uuid4().hex + "Aa1!"
        api, _ = _start([sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kubeconfig)], "")
        nsx, ready = _start([sys.executable, "-m", "sim.nsx", "--http", "--rate-limit", "0", "--max-concurrent", "0",
                             "--password", password], "ready")
        nsx_url = ready.split("url=", 1)[1].split()[0]
        try:
            created = time.monotonic()
            subprocess.run([sys.executable, __file__, "--populate", str(kubeconfig), "--pods", str(args.pods),
                            "--namespaces", str(args.namespaces), "--services", str(args.services)],
                           check=True, cwd=ROOT)
            create_s = time.monotonic() - created
            figures = run(args, kubeconfig, nsx_url, password)
            figures["fixture_create_seconds"] = round(create_s, 1)
        finally:
            for proc in (api, nsx):
                proc.terminate()
                proc.wait(10)
    report(figures, args)


def run(args: argparse.Namespace, kubeconfig: Path, nsx_url: str, password: str) -> dict[str, Any]:
    settings = InventorySettings(cluster_id=str(uuid.uuid4()), cluster_name="bench",
                                 inventory_batch_size=args.batch_size, inventory_batch_period=args.batch_period)
    rss_start = rss_bytes()
    first = Adapter(kubeconfig, nsx_url, password, settings)
    sync_s = first.start()
    rss_synced = rss_bytes()
    stats = first.mp.flusher.stats
    initial = {"initial_sync_seconds": round(sync_s, 2), "initial_requests": stats.requests,
               "initial_objects": dict(stats.objects), "initial_rejected": stats.rejected}
    first.stop()
    del first
    gc.collect()

    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def on_sent(ops: Sequence[Op], answered: float) -> None:
        for op in ops:
            for tag in op.body.get("tags") or []:
                if tag.get("scope") == "dis:k8s:bench-seq":
                    with lock:
                        sent = sent_at.pop(str(tag.get("tag")), None)
                    if sent is not None:
                        latencies.append(answered - sent)

    second = Adapter(kubeconfig, nsx_url, password, settings, on_sent)
    restart_s = second.start()
    time.sleep(2 * args.batch_period)
    restart: dict[str, Any] = {"restart_sync_seconds": round(restart_s, 2),
                               "restart_requests": second.mp.flusher.stats.requests,
                               "restart_objects": dict(second.mp.flusher.stats.objects)}

    writer = KubeClient.from_kubeconfig(str(kubeconfig), qps=-1)
    total = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    began = time.monotonic()
    for n in range(total):
        delay = began + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        i = (n * 7919) % args.pods  # spread over namespaces; never the same Pod twice in a row
        writer.patch(POD, pod_name(i), {"metadata": {"labels": {"bench-seq": str(n)}}},
                     pod_namespace(i, args.namespaces))
        with lock:
            sent_at[str(n)] = time.time()
    achieved = total / (time.monotonic() - began)
    deadline = time.monotonic() + 10
    while len(latencies) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.close()
    rss_end = rss_bytes()
    churn_stats = second.mp.flusher.stats
    second.stop()
    ms = [x * 1000 for x in latencies]
    return {
        "pods": args.pods, "namespaces": args.namespaces, "services": args.services,
        "batch_size": args.batch_size, "batch_period_s": args.batch_period,
        **initial, **restart,
        "changes_sent": total, "changes_per_second": round(achieved, 1), "changes_acknowledged": len(ms),
        "churn_requests": churn_stats.requests - restart["restart_requests"],
        "latency_ms_p50": round(percentile(ms, 0.50), 1), "latency_ms_p99": round(percentile(ms, 0.99), 1),
        "latency_ms_max": round(max(ms), 1) if ms else None,
        "rss_mb_before": round(rss_start / 2**20, 1), "rss_mb_after_sync": round(rss_synced / 2**20, 1),
        "rss_mb_end": round(rss_end / 2**20, 1),
        "target_restart_requests": 0, "target_latency_ms_p99": round((args.batch_period + 1) * 1000),
        "nsx_rate_limit": "off (simulator started with --rate-limit 0 --max-concurrent 0)",
    }


def report(f: dict[str, Any], args: argparse.Namespace) -> None:
    objs = f["initial_objects"]
    rows = [
        ("fixture", f"{f['pods']} Pods, {f['namespaces']} Namespaces, {f['services']} Services", ""),
        ("initial sync", f"{f['initial_sync_seconds']} s, {f['initial_requests']} requests", ""),
        ("initial objects", f"{objs['CREATE']} CREATE / {objs['UPDATE']} UPDATE / {objs['DELETE']} DELETE",
         "each object once"),
        ("restart, nothing changed", f"{f['restart_requests']} requests in {f['restart_sync_seconds']} s", "0"),
        (f"label changes @ {f['changes_per_second']}/s", f"{f['changes_acknowledged']} / {f['changes_sent']} acked, "
         f"{f['churn_requests']} requests", "all"),
        ("change -> NSX p50 / p99", f"{f['latency_ms_p50']} / {f['latency_ms_p99']} ms",
         f"p99 <= {f['target_latency_ms_p99']} ms"),
        ("adapter RSS start / synced / end", f"{f['rss_mb_before']} / {f['rss_mb_after_sync']} / {f['rss_mb_end']} MB",
         ""),
        ("NSX simulator rate limit", "off", "(raised for the bench)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<52}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<52}  {target}")
    print(json.dumps(f))


if __name__ == "__main__":
    main()
