"""The write floor of the CCP benchmark, as its own process: the adapter's write path and nothing else.

The cold start cannot take less than writing what translation produced. This process measures that
with the adapter's own parts: the three informers the policy controller watches (each write comes
back as a watch event to decode and store), the planner's ``apply`` with the CCP dependency rank and
``--concurrency`` writers, and ``KubeClient`` without a QPS limit. It does not read NSX, translate,
plan or report realization, and it does not import the adapter. The ``objects`` file is what
``translate`` produced, as a JSON list, and the API server must hold none of them yet.

The gap between the adapter's cold start and this floor is the part of the cold start that is not
writing: interpreter start-up and imports, the NSX read, translation and planning. That gap is what
the comparison with a sequential loop has left over.

stdout: one JSON object ``{"apply_s", "cached_s", "cpu_s", "written"}``. ``apply_s`` is the time to
the last write's answer, ``cached_s`` the time until the informers hold every object, and
``cpu_s`` this process's CPU over that window.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from controllers.ccp.policy_controller import rank  # noqa: E402
from reconciler.client import KubeClient  # noqa: E402
from reconciler.informer import SharedInformer  # noqa: E402
from reconciler.planner import apply, plan  # noqa: E402
from reconciler.runtime_tuning import tune_for_controller  # noqa: E402

KINDS = ("Tier", "ClusterGroup", "ClusterNetworkPolicy")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True, type=Path)
    ap.add_argument("--objects", required=True, type=Path, help="JSON list of the objects to create")
    ap.add_argument("--concurrency", type=int, default=8, help="planner writers (the adapter's default: 8)")
    args = ap.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    objects = json.loads(args.objects.read_text())
    client = KubeClient.from_kubeconfig(str(args.kubeconfig), qps=0, burst=1000)
    tune_for_controller()  # as the adapter's entry points do
    informers = [SharedInformer(client, ("crd.antrea.io/v1beta1", kind)) for kind in KINDS]
    for informer in informers:
        informer.start()
    deadline = time.monotonic() + 60
    while not all(i.has_synced() for i in informers):
        if time.monotonic() > deadline:
            raise SystemExit("the informers did not sync within 60 s")
        time.sleep(0.01)
    the_plan = plan({(o["kind"], o["metadata"]["name"]): o for o in objects}, {})
    cpu0, started = time.process_time(), time.perf_counter()
    outcomes = apply(the_plan, client.writer(), concurrency=args.concurrency, rank=rank)
    applied = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while sum(len(i.store.list()) for i in informers) < len(objects):
        if time.monotonic() > deadline:
            raise SystemExit("the informers did not see every write within 60 s")
        time.sleep(0.002)
    cached, cpu = time.perf_counter() - started, time.process_time() - cpu0
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"{len(failed)} writes failed, e.g. {failed[0]}")
    print(json.dumps({"apply_s": round(applied, 3), "cached_s": round(cached, 3), "cpu_s": round(cpu, 2),
                      "written": len(outcomes)}), flush=True)
    for informer in informers:
        informer.stop()
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
