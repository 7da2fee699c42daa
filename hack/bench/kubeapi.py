"""Benchmark of the emulated kube-apiserver through the official client (kubernetes 37).

The server runs as its own process (``python -m sim.kubeapi``) so that server and client each get
a core on a 2-core machine, as they would against a real apiserver. Measured:

* creates/s: ConfigMap creates through ``CoreV1Api.create_namespaced_config_map`` from a few
  client processes with a few threads each, one ``ApiClient`` per thread (the figure includes the
  client's own request validation and pydantic deserialization of every response; one client
  process is GIL-bound well below the server's rate, hence several). The load average at the
  start is printed: other work on the machine lowers every figure;
* the same creates as raw HTTP over one keep-alive connection (what the server alone sustains);
* list of 10,000 ConfigMaps: raw HTTP (server + transfer + json.loads) and the typed client call;
* watch latency with 1,000 watched objects: a ``kubernetes.watch.Watch`` on a namespace holding
  1,000 ConfigMaps; each sample is the time from just before a PATCH is sent until the watcher
  thread has the MODIFIED event (so it includes the PATCH round trip).

Usage: ``.venv/bin/python hack/bench/kubeapi.py [--creates N] [--threads T]``. The last line of the
output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from kubernetes import client, config, watch

ROOT = Path(__file__).resolve().parents[2]


def start_server(tmp: Path) -> tuple[subprocess.Popen[str], str, Path]:
    kubeconfig = tmp / "kubeconfig"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kubeconfig)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("kubeapi ready at "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    url = line.split()[3]
    return proc, url, kubeconfig


def _body(doc: dict[str, Any]) -> Any:
    """Plain dicts are what the client is fed here (it accepts them; its stubs want models)."""
    return doc


def cpu_seconds(pid: int) -> float:
    """user+system CPU of a process so far (Linux ``/proc``): load-independent cost figures."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[idx]


def _create_worker(kubeconfig: str, namespace: str, prefix: str, count: int, threads: int,
                   ready: Any, go: Any, results: Any) -> None:
    """One client process: ``threads`` threads, one ApiClient each, ``count`` creates in total."""
    apis = [client.CoreV1Api(config.new_client_from_config(kubeconfig)) for _ in range(threads)]
    for api in apis:  # warm connection pools and the client's lazy model imports
        api.read_namespace(namespace)
    per_thread = count // threads
    failures: list[str] = []

    def work(idx: int) -> None:
        api = apis[idx]
        try:
            for i in range(per_thread):
                api.create_namespaced_config_map(namespace, _body({
                    "metadata": {"name": f"cm-{prefix}-{idx}-{i}", "labels": {"bench": "yes"}},
                    "data": {"k": "v" * 32}}))
        except Exception as exc:  # reported to the parent
            failures.append(repr(exc))

    ready.put(os.getpid())
    go.wait()
    started = time.time()
    cpu_before = time.process_time()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put({"started": started, "ended": time.time(), "done": per_thread * threads, "failures": failures,
                 "cpu": time.process_time() - cpu_before})


def bench_creates(kubeconfig: Path, namespace: str, total: int, processes: int, threads: int,
                  server_pid: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_create_worker, args=(str(kubeconfig), namespace, f"p{i}", total // processes,
                                                       threads, ready, go, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    server_cpu = cpu_seconds(server_pid)
    go.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    server_cpu = cpu_seconds(server_pid) - server_cpu
    for p in procs:
        p.join(30)
    failures = [f for o in outcomes for f in o["failures"]]
    if failures:
        raise SystemExit(f"create failures: {failures[:3]}")
    elapsed = max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)
    done = sum(o["done"] for o in outcomes)
    client_cpu = sum(o["cpu"] for o in outcomes)
    return {"creates": done, "processes": processes, "threads_per_process": threads, "seconds": elapsed,
            "creates_per_s": done / elapsed, "server_cpu_ms_per_create": server_cpu / done * 1000,
            "client_cpu_ms_per_create": client_cpu / done * 1000}


def bench_raw_creates(url: str, namespace: str, total: int, server_pid: int) -> dict[str, Any]:
    """The same creates over one keep-alive connection without the client library: server capacity."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": "application/json"}
    server_cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    for i in range(total):
        body = json.dumps({"metadata": {"name": f"raw-{i}", "labels": {"bench": "yes"}}, "data": {"k": "v" * 32}})
        conn.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise SystemExit(f"raw create failed: {resp.status}")
    elapsed = time.perf_counter() - started
    conn.close()
    return {"creates": total, "seconds": elapsed, "creates_per_s": total / elapsed,
            "server_cpu_ms_per_create": (cpu_seconds(server_pid) - server_cpu) / total * 1000}


def bench_list(url: str, kubeconfig: Path, namespace: str, expected: int) -> dict[str, Any]:
    session = requests.Session()
    raw_times = []
    for _ in range(5):
        started = time.perf_counter()
        resp = session.get(f"{url}/api/v1/namespaces/{namespace}/configmaps", timeout=60)
        items = resp.json()["items"]
        raw_times.append(time.perf_counter() - started)
        assert len(items) == expected, len(items)
    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    typed_times = []
    for _ in range(2):
        started = time.perf_counter()
        typed = api.list_namespaced_config_map(namespace)
        typed_times.append(time.perf_counter() - started)
        assert len(typed.items) == expected
    api.api_client.close()
    return {"items": expected, "raw_http_s_median": statistics.median(raw_times),
            "typed_client_s_median": statistics.median(typed_times), "bytes": len(resp.content)}


def bench_watch(kubeconfig: Path, namespace: str, objects: int, samples: int) -> dict[str, Any]:
    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    writer = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    for i in range(objects):
        writer.create_namespaced_config_map(namespace, _body({"metadata": {"name": f"w-{i}"}, "data": {"n": "0"}}))
    received: dict[str, float] = {}
    initial = threading.Event()
    cond = threading.Condition()
    w = watch.Watch()

    def consume() -> None:
        added = 0
        try:
            for ev in w.stream(api.list_namespaced_config_map, namespace, timeout_seconds=120):
                if ev["type"] == "ADDED":
                    added += 1
                    if added == objects:
                        initial.set()
                elif ev["type"] == "MODIFIED":
                    with cond:
                        received[ev["object"].data["seq"]] = time.perf_counter()
                        cond.notify_all()
        except Exception:  # the server is stopped under the stream at the end
            return

    t = threading.Thread(target=consume, daemon=True)
    started = time.perf_counter()
    t.start()
    if not initial.wait(60):
        raise SystemExit("watch did not deliver the initial objects")
    initial_s = time.perf_counter() - started
    latencies = []
    for i in range(samples):
        seq = str(i)
        sent = time.perf_counter()
        writer.patch_namespaced_config_map(f"w-{i % objects}", namespace, {"data": {"seq": seq}})
        with cond:
            cond.wait_for(lambda s=seq: s in received, timeout=5)  # type: ignore[misc]
        if seq in received:
            latencies.append((received[seq] - sent) * 1000)
    w.stop()
    api.api_client.close()
    writer.api_client.close()
    return {"watched_objects": objects, "samples": len(latencies), "initial_list_s": initial_s,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies)}


def acnp_with_rules(rules: int) -> dict[str, Any]:
    """An ACNP shaped like the CCP adapter's output: ``rules`` NSX rules, each an ingress and an egress rule."""
    def rule(i: int, direction: str) -> dict[str, Any]:
        peer = "from" if direction == "in" else "to"
        return {"name": f"r{i}-{direction}", "action": "Drop" if i % 3 == 2 else "Allow",
                "appliedTo": [{"group": f"nsx-g{2 * i + 1:04d}"}], peer: [{"group": f"nsx-g{2 * i:04d}"}],
                "ports": [{"protocol": "TCP", "port": 1000 + i}], "enableLogging": False}
    return {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "nsx-p0000", "labels": {"antrea-nsx-adapter.io/managed-by": "ccp-adapter"}},
            "spec": {"tier": "nsx-category-application", "priority": 1.0001,
                     "ingress": [rule(i, "in") for i in range(rules)],
                     "egress": [rule(i, "out") for i in range(rules)]}}


def bench_acnp_validate(rules: int = 10, rounds: int = 200) -> dict[str, Any]:
    """In-process cost of ``StructuralSchema.validate`` on a valid ACNP: the full ``jsonschema`` walk
    (fast path disabled) against the compiled fast path that answers for valid objects."""
    sys.path.insert(0, str(ROOT))
    from crds import ACNP, load_crds
    from sim.kubeapi.schema import StructuralSchema

    crd = next(c for c in load_crds() if c["metadata"]["name"] == ACNP.crd_name)
    raw = next(v for v in crd["spec"]["versions"] if v["name"] == ACNP.version)["schema"]["openAPIV3Schema"]
    schema = StructuralSchema(raw)
    obj = acnp_with_rules(rules)
    schema.prune(obj)
    schema.apply_defaults(obj)

    class FullOnly:
        def accepts(self, _obj: Any) -> bool:
            return False

    full = StructuralSchema(raw)
    full._fast = FullOnly()  # type: ignore[assignment]
    assert schema.validate(obj) == full.validate(obj) == [], "the benchmark ACNP must be valid"

    def best_us(fn: Any, n: int) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                fn(obj)
            samples.append((time.perf_counter() - started) / n * 1e6)
        return min(samples)

    full_us = best_us(full.validate, rounds)
    fast_us = best_us(schema.validate, rounds * 10)
    return {"rules": rules, "full_us": full_us, "fast_us": fast_us, "speedup": full_us / fast_us}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=10000, help="objects created (also the list size)")
    parser.add_argument("--processes", type=int, default=2, help="client processes for the create test")
    parser.add_argument("--threads", type=int, default=2, help="client threads per process")
    parser.add_argument("--watch-objects", type=int, default=1000)
    parser.add_argument("--watch-samples", type=int, default=300)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    acnp_validate = bench_acnp_validate()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, kubeconfig = start_server(Path(tmp))
        try:
            core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
            core.create_namespace(_body({"metadata": {"name": "bench"}}))
            core.create_namespace(_body({"metadata": {"name": "bench-watch"}}))
            core.create_namespace(_body({"metadata": {"name": "bench-raw"}}))
            creates = bench_creates(kubeconfig, "bench", args.creates, args.processes, args.threads, proc.pid)
            raw_creates = bench_raw_creates(url, "bench-raw", args.creates // 2, proc.pid)
            listing = bench_list(url, kubeconfig, "bench", creates["creates"])
            watching = bench_watch(kubeconfig, "bench-watch", args.watch_objects, args.watch_samples)
            log = requests.get(f"{url}/__admin/requests", timeout=60).json()["requests"]
            posts = sum(1 for r in log if r["method"] == "POST" and r["status"] == 201)
            served = len(log)
        finally:
            proc.terminate()
            proc.wait(10)
    rows = [
        (f"creates/s (official client, {creates['processes']} proc x {creates['threads_per_process']} threads)",
         f"{creates['creates_per_s']:.0f}", ">= 1000"),
        ("  server CPU per create (ms)", f"{creates['server_cpu_ms_per_create']:.3f}", "(1000/x = server-bound rate)"),
        ("  client CPU per create (ms)", f"{creates['client_cpu_ms_per_create']:.3f}", ""),
        ("creates/s, raw HTTP, 1 keep-alive connection", f"{raw_creates['creates_per_s']:.0f}", "(server capacity)"),
        (f"list {listing['items']}: raw HTTP + json.loads (s)", f"{listing['raw_http_s_median']:.3f}", "<= 1.0"),
        (f"list {listing['items']}: typed CoreV1Api (s)", f"{listing['typed_client_s_median']:.3f}", "(client-bound)"),
        ("watch p50 latency, 1k watched (ms)", f"{watching['p50_ms']:.2f}", ""),
        ("watch p99 latency, 1k watched (ms)", f"{watching['p99_ms']:.2f}", "<= 20"),
        ("watch initial 1k ADDED via client (s)", f"{watching['initial_list_s']:.3f}", ""),
        (f"ACNP ({acnp_validate['rules']} rules) validate: full vs fast path, µs",
         f"{acnp_validate['full_us']:.0f} / {acnp_validate['fast_us']:.0f}", "(in-process, best of 5)"),
        ("server-logged 201 creates / all requests", f"{posts} / {served}", ""),
        ("load average (1 min) at start", f"{load:.2f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    print(json.dumps({"creates": creates, "creates_raw_http": raw_creates, "list": listing, "watch": watching,
                      "acnp_validate": acnp_validate, "server_logged_creates": posts, "server_logged_requests": served,
                      "loadavg_1m_at_start": load}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
