"""One MP point of the scale report: N Pods in the emulated API server -> NSX inventory.

Built from the MP benchmark's parts (``hack/bench/mp.py``: the fixture — Namespaces, Nodes, Services
selecting a fifth of their Namespace's Pods — its ``populate`` child and the simulators' start; the
adapter itself runs as ``_report_mp_child.py``, one process per run so its VmHWM is the adapter's):

* cold convergence: manager start until the inventory is in sync (``mp.py``'s "initial sync"), next
  to the physical limit: one bare LIST of the four collections with the official client plus the
  very batches the adapter sent, replayed as a plain sequential loop of POSTs into a second, empty
  NSX simulator;
* restart with nothing changed (same cluster id): manager start until in sync, next to the bare
  LISTs plus the NSX reads a start-up sync needs (the cluster's ``container-*`` lists);
* writes: inventory objects NSX acknowledged (and batch requests), next to one write per object
  the replay carried; the restart's must be 0;
* NSX requests of each run (reads and writes), next to the replay's requests plus the bare reads';
* peak RSS of the adapter process, next to the bare-LIST process's.

Both adapter times are medians of ``ADAPTER_REPEAT`` runs, as the bare LISTs are medians of
``LIST_REPEAT`` passes.

Fixture shape per N Pods: N/50 Namespaces, N/10 Services (``mp.py``'s default is 10,000 / 200 /
1,000), 20 Nodes.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from hack.bench._ccp_common import run_child
from hack.bench._report_ccp import base_ratios
from hack.bench._report_nsx_count import NsxRequestCounter
from hack.bench.mp import _start, populate
from reconciler.client import KubeClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PODS_PER_NAMESPACE = 50
PODS_PER_SERVICE = 10
BATCH_SIZE = 500
DEFAULT_BATCH_PERIOD = 1.0  # the adapter's default
LIST_REPEAT = 3
ADAPTER_REPEAT = 3
"""Adapter runs per figure, as the bare LISTs: the report's times are medians. On a shared 2-CPU
machine one run's time moved by a fifth from run to run, and a growth slope fitted to single runs
swung between 0.95 and 1.25 with the code unchanged."""


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _nsx_sim(password_file: Path) -> tuple[subprocess.Popen[str], str]:
    proc, ready = _start([sys.executable, "-m", "sim.nsx", "--http", "--rate-limit", "0", "--max-concurrent", "0",
                          "--password-file", str(password_file)], "ready")
    return proc, ready.split("url=", 1)[1].split()[0]


def measure(pods: int, timeout: float, batch_period: float = DEFAULT_BATCH_PERIOD) -> dict[str, Any]:
    namespaces = max(1, pods // PODS_PER_NAMESPACE)
    services = max(namespaces, pods // PODS_PER_SERVICE)
    r: dict[str, Any] = {"n": pods, "pods": pods, "namespaces": namespaces, "services": services,
                         "batch_size": BATCH_SIZE, "batch_period_s": batch_period}
    workdir = Path(tempfile.mkdtemp(prefix="bench-report-mp-"))
    password = uuid.uuid4().hex + "Aa1!"
    password_file = workdir / "nsx-password"
    password_file.write_text(password + "\n")
    kubeconfig = workdir / "kubeconfig"
    procs: list[subprocess.Popen[str]] = []
    try:
        with ThreadPoolExecutor(3) as pool:  # the three start-ups overlap (each waits for its ready line)
            api_f = pool.submit(_start, [sys.executable, "-m", "sim.kubeapi", "--kubeconfig", str(kubeconfig)], "")
            nsx_f = pool.submit(_nsx_sim, password_file)
            base_f = pool.submit(_nsx_sim, password_file)
        procs += [f.result()[0] for f in (api_f, nsx_f, base_f) if f.exception() is None]
        nsx_url, base_url = nsx_f.result()[1], base_f.result()[1]
        api_f.result()
        started = time.monotonic()
        writer = KubeClient.from_kubeconfig(str(kubeconfig), qps=-1)
        try:
            populate(writer, namespaces, pods, services)
        finally:
            writer.close()
        r["fixture_create_s"] = round(time.monotonic() - started, 1)
        _measure(r, workdir, kubeconfig, nsx_url, base_url, password, password_file, timeout, batch_period)
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    return r


def _adapter(kubeconfig: Path, nsx_url: str, password_file: Path, cluster_id: str, timeout: float,
             batch_period: float, batches: Path | None = None) -> dict[str, Any]:
    args = [str(HERE / "_report_mp_child.py"), "--kubeconfig", str(kubeconfig), "--nsx-url", nsx_url,
            "--password-file", str(password_file), "--cluster-id", cluster_id, "--batch-size", str(BATCH_SIZE),
            "--batch-period", str(batch_period)]
    if batches is not None:
        args += ["--batches", str(batches)]
    spawned = time.time()
    out = run_child(args, timeout)
    out["spawn_to_in_sync_s"] = round(out["in_sync"] - spawned, 3)
    return out


def _measure(r: dict[str, Any], workdir: Path, kubeconfig: Path, nsx_url: str, base_url: str, password: str,
             password_file: Path, timeout: float, batch_period: float) -> None:
    cluster_id = str(uuid.uuid4())
    counter = NsxRequestCounter(nsx_url, password)
    batches_file = workdir / "batches.json"
    try:
        before = counter.total()
        cold = _adapter(kubeconfig, nsx_url, password_file, cluster_id, timeout, batch_period, batches_file)
        r["cold_nsx_requests"] = counter.total() - before
        r["cold_s"] = cold["sync_s"]
        r["cold_spawn_to_in_sync_s"] = cold["spawn_to_in_sync_s"]
        r["cold_writes"] = sum(cold["objects"].values())
        r["cold_write_requests"] = cold["requests"]
        r["cold_rejected"] = cold["rejected"]
        r["peak_rss_mib_cold"] = round(cold["peak_rss_kib"] / 1024, 1)
        r["adapter_cpu_s_cold"] = cold["cpu_s"]  # the whole process: imports, sync, the wait after

        before = counter.total()
        listed = run_child([str(HERE / "_report_list_child.py"), "--kubeconfig", str(kubeconfig), "--kind", "mp",
                            "--repeat", str(LIST_REPEAT), "--nsx-url", nsx_url, "--password-file", str(password_file),
                            "--cluster-id", cluster_id], timeout)
        read_requests = (counter.total() - before) // LIST_REPEAT  # the same pages every pass
        r["k8s_objects"] = listed["items"]
        r["nsx_objects"] = listed["nsx_items"]
        r["baseline_list_s"] = listed["list_s"]
        r["baseline_nsx_read_s"] = listed["nsx_read_s"]
        r["baseline_rss_mib"] = round(listed["peak_rss_kib"] / 1024, 1)
        replay = _replay(base_url, password, nsx_url, cluster_id, json.loads(batches_file.read_text()))
        r["baseline_replay_s"] = replay["seconds"]
        r["baseline_writes"] = replay["objects"]
        r["baseline_write_requests"] = replay["requests"]
        r["baseline_cold_s"] = round(r["baseline_list_s"] + replay["seconds"], 3)
        r["baseline_restart_s"] = round(r["baseline_list_s"] + r["baseline_nsx_read_s"], 3)
        r["baseline_nsx_requests"] = replay["requests"] + read_requests
        r["baseline_nsx_read_requests"] = read_requests

        before = counter.total()
        again = _adapter(kubeconfig, nsx_url, password_file, cluster_id, timeout, batch_period)
        r["restart_nsx_requests"] = counter.total() - before
        restarts = [again["sync_s"]] + [
            _adapter(kubeconfig, nsx_url, password_file, cluster_id, timeout, batch_period)["sync_s"]
            for _ in range(ADAPTER_REPEAT - 1)]
        r["restart_runs_s"] = restarts
        r["restart_s"] = statistics.median(restarts)
        r["restart_spawn_to_in_sync_s"] = again["spawn_to_in_sync_s"]
        r["restart_writes"] = sum(again["objects"].values())
        r["restart_write_requests"] = again["requests"]
        r["peak_rss_mib_restart"] = round(again["peak_rss_kib"] / 1024, 1)
        r["adapter_cpu_s_restart"] = again["cpu_s"]
        # Further cold runs, last (their inventory stays in NSX): each registers a cluster of its own,
        # as a cold start is of a cluster NSX holds nothing of. Only their times feed the median;
        # every other cold figure is the first run's.
        colds = [cold["sync_s"]] + [
            _adapter(kubeconfig, nsx_url, password_file, str(uuid.uuid4()), timeout, batch_period)["sync_s"]
            for _ in range(ADAPTER_REPEAT - 1)]
        r["cold_runs_s"] = colds
        r["cold_s"] = statistics.median(colds)
    finally:
        counter.close()
    r["peak_rss_mib"] = max(r["peak_rss_mib_cold"], r["peak_rss_mib_restart"])
    base_ratios(r, "baseline_nsx_read_requests")


def _replay(base_url: str, password: str, source_url: str, cluster_id: str,
            batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The adapter's NSX writes as a plain sequential loop into an empty simulator (the cluster is
    registered there first, untimed, as the adapter registered it)."""
    http = requests.Session()
    http.trust_env = False
    http.auth = ("admin", password)
    try:
        cluster = http.get(f"{source_url}/api/v1/fabric/container-clusters/{cluster_id}", timeout=60).json()
        body = {k: v for k, v in cluster.items() if not k.startswith("_")}
        resp = http.post(f"{base_url}/api/v1/fabric/container-clusters", json=body, timeout=60)
        resp.raise_for_status()
        url = f"{base_url}/api/v1/inventory/container/{cluster_id}"
        started = time.perf_counter()
        for batch in batches:
            resp = http.post(url, params={"action": "updates"}, json={"container_inventory_objects": batch},
                             timeout=300)
            resp.raise_for_status()
        seconds = time.perf_counter() - started
    finally:
        http.close()
    return {"seconds": round(seconds, 3), "requests": len(batches), "objects": sum(len(b) for b in batches)}
