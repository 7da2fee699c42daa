"""The MP inventory adapter as its own process, for the scale report (``hack/bench/report.py``).

``hack/bench/mp.py`` runs the adapter in a thread of the benchmark itself, so its RSS holds the
benchmark too. The report wants the peak RSS (VmHWM) of the adapter alone at every N, so this
process runs exactly one adapter (``mp.Adapter``: manager + inventory, unchanged) until it is in
sync, waits two batch periods for stray writes, and exits. Run once for the cold start and once more
(same cluster id) for the restart with nothing changed.

stdout: one JSON object — seconds from manager start to in sync, the flusher's stats (requests,
objects per update type), VmHWM, and wall-clock marks so the parent can count NSX requests.
With ``--batches FILE`` every acknowledged batch (its wire items) is written there, so the parent
can replay the very same NSX writes as a plain sequential loop (the cold baseline).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from controllers.mp.inventory_outbox import Op  # noqa: E402
from controllers.mp.inventory_settings import InventorySettings  # noqa: E402
from hack.bench.mp import Adapter  # noqa: E402
from reconciler.runtime_tuning import tune_for_controller  # noqa: E402


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True, type=Path)
    ap.add_argument("--nsx-url", required=True)
    ap.add_argument("--password-file", required=True, type=Path)
    ap.add_argument("--cluster-id", required=True)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--batch-period", type=float, default=1.0)
    ap.add_argument("--batches", type=Path, help="write every acknowledged batch here (JSON list of lists)")
    args = ap.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    spawned_import_done = time.time()
    batches: list[list[dict[str, Any]]] = []

    def on_sent(ops: Sequence[Op], answered: float) -> None:
        if args.batches is not None:
            batches.append([op.wire() for op in ops])

    settings = InventorySettings(cluster_id=args.cluster_id, cluster_name="bench-report",
                                 inventory_batch_size=args.batch_size, inventory_batch_period=args.batch_period)
    password = args.password_file.read_text().splitlines()[0]
    adapter = Adapter(args.kubeconfig, args.nsx_url, password, settings, on_sent)
    tune_for_controller()  # as the antrea-nsx-adapter command does
    started = time.time()
    sync_s = adapter.start()
    synced = time.time()
    time.sleep(2 * args.batch_period)  # anything still to send would go out now (and be counted)
    stats = adapter.mp.flusher.stats
    out = {"imports_done": spawned_import_done, "manager_started": started, "in_sync": synced,
           "sync_s": round(sync_s, 3), "requests": stats.requests, "objects": dict(stats.objects),
           "rejected": stats.rejected, "failures": stats.failures, "peak_rss_kib": peak_rss_kib(),
           "cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2)}
    adapter.stop()
    if args.batches is not None:
        args.batches.write_text(json.dumps(batches))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
