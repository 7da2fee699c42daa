"""The restart baseline of the scale report, as its own process: bare LISTs, nothing else.

A restart with nothing changed cannot be faster than reading what it must compare, so the report
measures, in a fresh process, one LIST of every collection the adapter watches with the official
``kubernetes`` client (CCP: the three Antrea kinds, decoded as the client decodes custom objects;
MP: Namespaces, Nodes, Services and Pods, the response body parsed with ``json.loads`` so no
generated model class is built), and for the MP adapter also the NSX reads its start-up sync needs
(the ``container-*`` lists of the cluster). The items of one pass are held together, so the
process's peak RSS (VmHWM) is the memory floor of "every object once, decoded": the report sets the
adapter's peak RSS next to it.

stdout: one JSON object ``{"list_s", "items", "nsx_read_s", "nsx_items", "peak_rss_kib"}``; times
are medians of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

from nsx.auth import BasicAuth  # noqa: E402
from nsx.client import NsxClient  # noqa: E402


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def list_ccp(kubeconfig: Path) -> list[Any]:
    # imported here: the MP floor must not carry the CCP modules (nor the other way round)
    from hack.bench._ccp_common import KINDS, PLURALS
    from hack.bench.ccp import GROUP, VERSION, official_api

    api = official_api(kubeconfig)
    try:
        return [api.list_cluster_custom_object(GROUP, VERSION, PLURALS[kind]) for kind in KINDS]
    finally:
        api.api_client.close()


def list_mp(kubeconfig: Path) -> list[Any]:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg, persist_config=False)
    api_client = k8s.ApiClient(cfg)
    core = k8s.CoreV1Api(api_client)
    try:
        calls: tuple[Callable[..., Any], ...] = (core.list_namespace, core.list_node,
                                                 core.list_service_for_all_namespaces,
                                                 core.list_pod_for_all_namespaces)
        return [json.loads(call(_preload_content=False).data) for call in calls]
    finally:
        api_client.close()


def count(lists: list[Any]) -> int:
    return sum(len(body["items"]) for body in lists)


def nsx_reads(nsx: NsxClient, cluster_id: str) -> list[list[dict[str, Any]]]:
    """What the MP flusher's start-up sync reads: every inventory collection of the cluster."""
    from controllers.mp.inventory_mapping import CLUSTER, RANK
    from nsx.inventory_api import COLLECTIONS, FABRIC

    return [list(nsx.list(f"{FABRIC}/{COLLECTIONS[rtype][0]}", {"container_cluster_id": cluster_id}))
            for rtype in RANK if rtype != CLUSTER]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True, type=Path)
    ap.add_argument("--kind", required=True, choices=("ccp", "mp"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nsx-url", help="MP: also time the NSX inventory reads of --cluster-id")
    ap.add_argument("--password-file", type=Path)
    ap.add_argument("--cluster-id")
    args = ap.parse_args(argv)
    lister = list_ccp if args.kind == "ccp" else list_mp
    times: list[float] = []
    items = 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        held = lister(args.kubeconfig)
        times.append(time.perf_counter() - started)
        items = count(held)
        del held
    out: dict[str, Any] = {"list_s": round(statistics.median(times), 4), "items": items}
    if args.nsx_url:
        password = args.password_file.read_text().splitlines()[0]
        nsx = NsxClient([args.nsx_url], BasicAuth("admin", password))
        reads: list[float] = []
        try:
            for _ in range(args.repeat):
                started = time.perf_counter()
                got = nsx_reads(nsx, args.cluster_id)
                reads.append(time.perf_counter() - started)
                out["nsx_items"] = sum(len(x) for x in got)
                del got
        finally:
            nsx.close()
        out["nsx_read_s"] = round(statistics.median(reads), 4)
    out["peak_rss_kib"] = peak_rss_kib()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
