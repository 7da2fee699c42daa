"""Benchmark of the shared informer against the emulated API server (run as a subprocess, so the
server does not share this process's GIL or memory).

1. Initial sync of 10,000 realistic Pods (paged LIST, 500/page, into the cache). Target <= 10 s.
2. Memory per cached Pod: RSS growth of this process from before the informer starts to after the
   sync (gc'd; the informer runs in this process, the Pods were created by a child process), divided
   by the count. This is resident memory, so it includes allocator slack and interned strings — the
   figure an operator sees. Target <= 20 KB.
3. Event-to-handler latency under 200 changes/s for 10 s: a writer thread merge-patches Pods at a
   fixed rate with the send time in an annotation; the handler records (receipt - send). This
   includes the PATCH round trip and the watch fan-out, so it overstates the informer's own share.
   Target p99 <= 100 ms.

Usage: ``python hack/bench/informer.py [--pods 10000] [--rate 200] [--seconds 10]``.
Last line of output: one JSON object with every figure.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reconciler.client import KubeClient  # noqa: E402
from reconciler.informer import SharedInformer  # noqa: E402

POD = ("v1", "Pod")
NAMESPACE = "bench"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def realistic_pod(i: int, owner_uids: dict[str, str] | None = None) -> dict[str, Any]:
    """A Deployment-owned Pod with the fields a real one carries (~3 KB of JSON without status).

    Its ReplicaSet must exist: the API server's garbage collector deletes Pods whose owners are gone.
    """
    app = f"app-{i % 50}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{i:05d}-x7k2p",
            "namespace": NAMESPACE,
            "labels": {"app": app, "pod-template-hash": "5d8f9c7b6d", "tier": "backend",
                       "version": "v1.4.2"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z",
                            "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-5d8f9c7b6d",
                                 "uid": (owner_uids or {}).get(app, f"0c8f1a2e-9b7d-4c3e-8f6a-{i:012d}"),
                                 "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "nodeName": f"node-{i % 20}",
            "serviceAccountName": "default",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "containers": [{
                "name": "main",
                "image": f"registry.example.com/team/{app}:v1.4.2",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP_NAME", "value": app},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "512Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
        },
    }


def start_server(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kubeconfig)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the ready line
    return proc, kubeconfig


def populate(kubeconfig: Path, count: int) -> float:
    """Create the Pods from a child process (so this process's RSS stays a clean baseline)."""
    started = time.monotonic()
    subprocess.run([sys.executable, __file__, "--populate", str(kubeconfig), "--pods", str(count)],
                   check=True, cwd=ROOT)
    return time.monotonic() - started


def _populate_child(kubeconfig: str, count: int) -> None:
    client = KubeClient.from_kubeconfig(kubeconfig, qps=-1)
    client.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    owners: dict[str, str] = {}
    for n in range(50):
        app = f"app-{n}"
        rs = client.create(("apps/v1", "ReplicaSet"), {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{app}-5d8f9c7b6d", "namespace": NAMESPACE},
            "spec": {"selector": {"matchLabels": {"app": app}}, "template": {"metadata": {"labels": {"app": app}}}}})
        owners[app] = rs["metadata"]["uid"]
    res = client.resource(*POD)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.create(res, realistic_pod(i, owners)), range(count)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--populate", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        _populate_child(args.populate, args.pods)
        return

    with tempfile.TemporaryDirectory() as tmp:
        server, kubeconfig = start_server(Path(tmp))
        try:
            create_s = populate(kubeconfig, args.pods)
            client = KubeClient.from_kubeconfig(kubeconfig, qps=-1)
            res = client.resource(*POD)
            latencies: list[float] = []
            lock = threading.Lock()

            def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
                sent = (new["metadata"].get("annotations") or {}).get("bench/sent")
                if sent:
                    with lock:
                        latencies.append(time.time() - float(sent))

            gc.collect()
            rss_before = rss_bytes()
            informer = SharedInformer(client, res, namespace=NAMESPACE)
            informer.add_event_handler(on_update=on_update)
            started = time.monotonic()
            informer.start()
            synced = informer.wait_for_cache_sync(120)
            sync_s = time.monotonic() - started
            cached = len(informer.store.list())
            gc.collect()
            rss_per_pod = (rss_bytes() - rss_before) / max(1, cached)

            names = [o["metadata"]["name"] for o in informer.store.list()]
            interval = 1.0 / args.rate
            total = int(args.rate * args.seconds)
            writer_started = time.monotonic()
            for n in range(total):
                target = writer_started + n * interval
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                client.patch(res, names[n % len(names)],
                             {"metadata": {"annotations": {"bench/sent": repr(time.time())}}}, NAMESPACE)
            achieved_rate = total / (time.monotonic() - writer_started)
            deadline = time.monotonic() + 10
            while len(latencies) < total and time.monotonic() < deadline:
                time.sleep(0.05)
            informer.stop()
            client.close()
        finally:
            server.terminate()
            server.wait(10)

    ms = [x * 1000 for x in latencies]
    figures = {
        "pods": cached,
        "synced": synced,
        "create_seconds": round(create_s, 2),
        "initial_sync_seconds": round(sync_s, 3),
        "initial_sync_pods_per_second": round(cached / sync_s) if sync_s else None,
        "rss_bytes_per_cached_pod": round(rss_per_pod),
        "changes_sent": total,
        "changes_per_second": round(achieved_rate, 1),
        "changes_seen": len(ms),
        "latency_ms_p50": round(percentile(ms, 0.50), 2),
        "latency_ms_p99": round(percentile(ms, 0.99), 2),
        "latency_ms_max": round(max(ms), 2) if ms else None,
        "target_sync_seconds": 10, "target_bytes_per_pod": 20_000, "target_latency_ms_p99": 100,
    }
    rows = [
        ("initial sync", f"{figures['initial_sync_seconds']} s for {cached} Pods", "<= 10 s"),
        ("memory per cached Pod (RSS)", f"{rss_per_pod / 1024:.1f} KB", "<= 20 KB"),
        (f"event->handler p50 / p99 @ {achieved_rate:.0f}/s",
         f"{figures['latency_ms_p50']} / {figures['latency_ms_p99']} ms", "p99 <= 100 ms"),
        ("changes seen / sent", f"{len(ms)} / {total}", "all"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<28}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<28}  {target}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
