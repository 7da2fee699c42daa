"""Benchmark: converging N ConfigMaps through the planner vs a sequential loop, and a no-op resync.

Measured in one run against the emulated API server (``sim.kubeapi``, started as a subprocess so
server and client do not share a GIL):

1. **baseline** — the N objects created by a plain sequential loop of the official ``kubernetes``
   client (``CoreV1Api.create_namespaced_config_map``), into namespace ``bench-seq``;
2. **converge** — the same N objects (namespace ``bench-plan``) through LIST → :func:`plan` →
   :func:`apply` with ``--workers`` threads; ratio = converge / baseline (target ≤ 0.8);
3. **resync** — LIST → plan → apply again with nothing changed: writes issued, counted from the
   client's own ``rest_client_requests_total`` (target 0), and its time vs one LIST (target ≤ 2×);
4. **client CPU per write** — N creates through ``KubeClient.writer()`` one after the other: the
   adapter's own CPU per write (target < 0.6 ms), next to the official client's in (1). The API
   server's CPU per object (read from ``/proc``) is reported for each side too.

Load from other processes skews wall-clock figures, so the comparison runs in ``--rounds`` pairs
(alternating which side goes first) and reports the median ratio with every raw figure.
Client-side QPS limiting is off for every client (``qps=-1``): this measures the engine, not a
limiter. Usage: ``.venv/bin/python hack/bench/engine.py [--objects 2000] [--workers 8]``.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402

from reconciler import metrics  # noqa: E402
from reconciler.client import KubeClient  # noqa: E402
from reconciler.planner import apply, plan  # noqa: E402
from reconciler.workqueue import WorkQueue  # noqa: E402

MANAGED_BY = "app.kubernetes.io/managed-by"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CM = ("v1", "ConfigMap")
RESYNC_PAIRS = 5
"""(LIST, resync) pairs timed: each is a fraction of a second, so one preempted sample would swing
the median of only three."""


def configmap(namespace: str, i: int) -> dict[str, Any]:
    """A ConfigMap-sized object (~1 KB of data)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{i:05d}",
            "namespace": namespace,
            "labels": {MANAGED_BY: "antrea-nsx-adapter", "bench": "engine"},
            "annotations": {"nsx.vmware.com/path": f"/infra/domains/default/groups/g-{i}"},
        },
        "data": {f"key-{k}": f"value-{i}-{k}-" + "x" * 80 for k in range(10)},
    }


def client_writes() -> float:
    """Writes this process has sent, from the client's own request counter."""
    total = 0.0
    for metric in metrics.REST_REQUESTS.collect():
        for s in metric.samples:
            if s.name.endswith("_total") and s.labels.get("method") in WRITE_METHODS:
                total += s.value
    return total


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (the API server), from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kubeconfig)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"kubeapi did not start: {line!r}")
    # Keep draining its stdout so a chatty server can never block on a full pipe.
    stdout = proc.stdout
    threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
    return proc, kubeconfig


def observed_of(kube: KubeClient, namespace: str) -> dict[str, dict[str, Any]]:
    items = kube.list(CM, namespace, label_selector={"bench": "engine"})["items"]
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in items}


def owned(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == "antrea-nsx-adapter"


def converge(kube: KubeClient, desired: dict[str, dict[str, Any]], namespace: str, workers: int) -> tuple[int, int]:
    """One global resync: LIST, plan, apply. Returns (writes planned, failed writes)."""
    p = plan(desired, observed_of(kube, namespace), owned=owned)
    outcomes = apply(p, kube.writer(field_manager="bench"), concurrency=workers)
    return len(p), sum(1 for o in outcomes if not o.ok)


def queue_throughput(items: int, workers: int) -> float:
    """No-op items/s through a named (metered) WorkQueue with ``workers`` threads: the engine's
    own overhead per reconcile, without any API call."""
    q: WorkQueue[int] = WorkQueue("bench-engine")

    def work() -> None:
        while (item := q.get(timeout=0)) is not None:
            q.done(item)

    for i in range(items):
        q.add(i)
    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return items / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="baseline/planner pairs (default 3)")
    args = parser.parse_args()
    n = args.objects
    queue_items_per_s = queue_throughput(50_000, args.workers)

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmpdir:
        proc, kubeconfig = start_server(Path(tmpdir))
        try:
            kube = KubeClient.from_kubeconfig(kubeconfig, qps=-1, burst=0)
            cfg = kclient.Configuration()
            kconfig.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
            core = kclient.CoreV1Api(kclient.ApiClient(cfg))

            # Client CPU seconds (all threads of this process; the server is another process) per
            # side: far less skewed than wall-clock time by other load on the machine (not immune:
            # caches and cores are shared).
            cpu: dict[str, list[float]] = {"baseline": [], "planner": []}
            server_cpu: dict[str, list[float]] = {"baseline": [], "planner": []}

            def baseline(ns: str) -> float:
                """The official client, one create after the other."""
                objs = [configmap(ns, i) for i in range(n)]
                server_started = process_cpu_s(proc.pid)
                cpu_started = time.process_time()
                started = time.perf_counter()
                for obj in objs:
                    core.create_namespaced_config_map(ns, cast(Any, obj))  # a dict body is accepted as-is
                elapsed = time.perf_counter() - started
                cpu["baseline"].append(time.process_time() - cpu_started)
                server_cpu["baseline"].append(process_cpu_s(proc.pid) - server_started)
                return elapsed

            def through_planner(ns: str) -> float:
                desired = {f"{ns}/cm-{i:05d}": configmap(ns, i) for i in range(n)}
                server_started = process_cpu_s(proc.pid)
                cpu_started = time.process_time()
                started = time.perf_counter()
                planned, failed = converge(kube, desired, ns, args.workers)
                elapsed = time.perf_counter() - started
                cpu["planner"].append(time.process_time() - cpu_started)
                server_cpu["planner"].append(process_cpu_s(proc.pid) - server_started)
                if planned != n or failed:
                    raise SystemExit(f"convergence wrong: planned {planned} writes, {failed} failed")
                return elapsed

            # Rounds of (baseline, planner) pairs, alternating which goes first, so that load from
            # other processes on a shared machine hits both sides alike; the ratio is the median
            # of the per-round ratios.
            baseline_s: list[float] = []
            converge_s: list[float] = []
            for r in range(args.rounds):
                for ns in (f"seq-{r}", f"plan-{r}"):
                    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                    kube.create(("v1", "Namespace"), namespace)
                if r % 2 == 0:
                    baseline_s.append(baseline(f"seq-{r}"))
                    converge_s.append(through_planner(f"plan-{r}"))
                else:
                    converge_s.append(through_planner(f"plan-{r}"))
                    baseline_s.append(baseline(f"seq-{r}"))
            ratios = [c / b for c, b in zip(converge_s, baseline_s, strict=True)]

            # The adapter's client alone: the same creates through KubeClient, one after the other
            # (once per round; the median is reported, as CPU time too rises under outside load).
            writer = kube.writer(field_manager="bench")
            client_cpu: list[float] = []
            for r in range(args.rounds):
                ns = f"client-{r}"
                kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                objs = [configmap(ns, i) for i in range(n)]
                cpu_started = time.process_time()
                for obj in objs:
                    writer.create(obj)
                client_cpu.append((time.process_time() - cpu_started) / n)
            client_cpu_per_write = statistics.median(client_cpu)

            # A resync with nothing changed, interleaved with plain LISTs of the same objects.
            ns = "plan-0"
            desired = {f"{ns}/cm-{i:05d}": configmap(ns, i) for i in range(n)}
            list_times: list[float] = []
            resync_times: list[float] = []
            resync_planned = 0
            writes_before = client_writes()
            for _ in range(RESYNC_PAIRS):
                t = time.perf_counter()
                count = len(observed_of(kube, ns))
                list_times.append(time.perf_counter() - t)
                if count != n:
                    raise SystemExit(f"expected {n} objects, listed {count}")
                t = time.perf_counter()
                planned_now, _ = converge(kube, desired, ns, args.workers)
                resync_times.append(time.perf_counter() - t)
                resync_planned += planned_now
            resync_writes = int(client_writes() - writes_before)
            resync_ratios = [r / li for r, li in zip(resync_times, list_times, strict=True)]
            observed = observed_of(kube, ns)
            plan_times = []
            for _ in range(5):
                t = time.perf_counter()
                plan(desired, observed, owned=owned)
                plan_times.append(time.perf_counter() - t)
            plan_only_s = min(plan_times)
            kube.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    base_med = statistics.median(baseline_s)
    conv_med = statistics.median(converge_s)
    resync_s = statistics.median(resync_times)
    list_s = statistics.median(list_times)
    load1 = os.getloadavg()[0]
    figures = {
        "objects": n,
        "workers": args.workers,
        "rounds": args.rounds,
        "baseline_sequential_s": round(base_med, 3),
        "baseline_sequential_s_all": [round(x, 3) for x in baseline_s],
        "baseline_objects_per_s": round(n / base_med, 1),
        "planner_converge_s": round(conv_med, 3),
        "planner_converge_s_all": [round(x, 3) for x in converge_s],
        "planner_objects_per_s": round(n / conv_med, 1),
        "converge_ratio": round(statistics.median(ratios), 3),
        "converge_ratio_all": [round(x, 3) for x in ratios],
        "converge_ratio_target": 0.8,
        "baseline_client_cpu_ms_per_object": round(statistics.median(cpu["baseline"]) / n * 1e3, 3),
        "planner_client_cpu_ms_per_object": round(statistics.median(cpu["planner"]) / n * 1e3, 3),
        "kubeclient_cpu_ms_per_write": round(client_cpu_per_write * 1e3, 3),
        "kubeclient_cpu_ms_per_write_all": [round(x * 1e3, 3) for x in client_cpu],
        "kubeclient_cpu_ms_per_write_target": 0.6,
        "baseline_server_cpu_ms_per_object": round(statistics.median(server_cpu["baseline"]) / n * 1e3, 3),
        "planner_server_cpu_ms_per_object": round(statistics.median(server_cpu["planner"]) / n * 1e3, 3),
        "resync_writes": resync_writes,
        "resync_planned_writes": resync_planned,
        "resync_writes_target": 0,
        "resync_s": round(resync_s, 3),
        "list_s": round(list_s, 3),
        "resync_vs_list_ratio": round(statistics.median(resync_ratios), 3),
        "resync_vs_list_ratio_all": [round(x, 3) for x in resync_ratios],
        "resync_vs_list_target": 2.0,
        "plan_only_noop_s": round(plan_only_s, 4),
        "plan_only_us_per_object": round(plan_only_s / n * 1e6, 1),
        "queue_noop_items_per_s": round(queue_items_per_s),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(load1, 2),
    }
    rows = [
        ("sequential create loop (official client), median", f"{base_med:.3f} s", f"{n / base_med:.0f} obj/s"),
        (f"planner converge ({args.workers} workers), median", f"{conv_med:.3f} s", f"{n / conv_med:.0f} obj/s"),
        ("converge / sequential (median of rounds)", f"{figures['converge_ratio']:.3f}", "target <= 0.8"),
        (
            "client CPU per object: sequential / planner",
            f"{figures['baseline_client_cpu_ms_per_object']:.2f} / {figures['planner_client_cpu_ms_per_object']:.2f}",
            "ms (less load-sensitive)",
        ),
        (
            "KubeClient sequential creates: client CPU per write, median",
            f"{client_cpu_per_write * 1e3:.3f} ms",
            "target < 0.6",
        ),
        (
            "API server CPU per object: sequential / planner",
            f"{figures['baseline_server_cpu_ms_per_object']:.2f} / {figures['planner_server_cpu_ms_per_object']:.2f}",
            "ms (separate process)",
        ),
        ("no-op resync: writes issued", str(resync_writes), "target 0"),
        (f"no-op resync (LIST+plan+apply, median of {RESYNC_PAIRS})", f"{resync_s:.3f} s", ""),
        (f"one LIST (median of {RESYNC_PAIRS})", f"{list_s:.3f} s", ""),
        ("resync / LIST (median of pairs)", f"{figures['resync_vs_list_ratio']:.3f}", "target <= 2.0"),
        (f"work queue, no-op get/done ({args.workers} threads)", f"{queue_items_per_s:.0f}", "items/s"),
        ("plan() alone, no-op (best of 5)", f"{plan_only_s * 1e3:.1f} ms", f"{plan_only_s / n * 1e6:.1f} us/obj"),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"engine benchmark: {n} ConfigMaps x {args.rounds} rounds against sim.kubeapi (subprocess); "
        f"{os.cpu_count()} CPUs, load average {load1:.2f} (other processes skew wall-clock ratios)"
    )
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>12}  {note}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
