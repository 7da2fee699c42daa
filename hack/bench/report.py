"""Scale report: both adapters over a series of N, each figure next to its physical limit.

Series (defaults): CCP adapter at 100, 1,000 and 5,000 NSX policies of 10 rules (NSX simulator
seeded with N policies over 2N groups -> Antrea Tiers, ClusterGroups and ClusterNetworkPolicies in
the emulated API server); MP adapter at 1,000, 10,000 and 30,000 Pods (Pods, Services, Namespaces
and Nodes in the emulated API server -> NSX container inventory). For every N, measured in the
same run: cold convergence time, restart-resync time (nothing changed), writes issued (K8s writes
for CCP, NSX inventory writes for MP), peak RSS of the adapter process and NSX requests, each next
to a baseline (plain sequential creates of the same objects / bare LISTs of the same collections)
and as a ratio. How each point is measured: ``_report_ccp.py`` and ``_report_mp.py``; the verdicts
and the growth criterion: ``_report_fit.py``.

Writes ``--out`` (default ``hack/bench/REPORT.md``) with the table, the verdicts and two PNG plots
(time and memory against N, log-log) beside it — rewritten after every point, so a run stopped
early still leaves a report that names the points it lacks. Prints the table and, as the last
line, one JSON object with every figure. Points run smallest first, alternating the adapters.

Usage: ``.venv/bin/python hack/bench/report.py [--policies 100,1000,5000] [--pods 1000,10000,30000]
[--out hack/bench/REPORT.md] [--quick]``; an empty list (``--pods ''``) skips that adapter.
The plots need matplotlib (``pip install -e '.[bench]'``; ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from hack.bench import _report_ccp, _report_mp  # noqa: E402
from hack.bench._report_fit import GROWTH_FIGURES, INFO_FIGURES, growth, targets  # noqa: E402
from hack.bench._report_render import markdown, plots, text_table  # noqa: E402

DEFAULT_POLICIES = "100,1000,5000"
DEFAULT_PODS = "1000,10000,30000"
QUICK_POLICIES = "10,30,100"
QUICK_PODS = "100,300,1000"
RULES = 10

METHOD = f"""
* **CCP cold** — the adapter process (`hack/bench/_ccp_runner.py`, kube QPS unlimited as in
  `ccp.py`) spawned on an empty API server until its first successful reconcile that wrote; then
  checked equal to `translate(NSX)`. The time is the median of 3 cold starts (`cold_runs_s`; the
  second and third each on an API server of their own, after the restart runs); every other cold
  figure is the first run's. **Baseline**: the same translated objects created one after the
  other with `CustomObjectsApi.create_cluster_custom_object` into a second fresh API server.
  Writes: POST/PUT/PATCH/DELETE of Antrea objects in the API server's request log, next to one
  create per object.
* **CCP restart** — a new adapter process, nothing changed, from its start ("ready": interpreter and
  imports done, as `ccp.py` measures issue 5's figure) until in sync: the start-up source-digest
  check, or else the first reconcile that found nothing to write; median of 3 restarts
  (`restart_runs_s`). Writes counted, from the first restart, until one poll interval + 1 s after
  the full translate-and-compare that follows. **Baseline**: one LIST of each
  of the three kinds with the official client (median of 3, own process). The full compare (from
  "ready") is also set against LIST + one bare NSX read, since it must read both.
* **MP cold** — the adapter (`mp.Adapter`, alone in `_report_mp_child.py`) from manager start until
  the inventory is in sync (as `mp.py`'s "initial sync"; unlike the CCP figure this leaves out the
  ~1-2 s of process start-up, which the JSON has as `cold_spawn_to_in_sync_s`), then two batch
  periods more for stray writes. The time is the median of 3 runs (`cold_runs_s`; the second and
  third register clusters of their own, after the restart runs); every other cold figure is the
  first run's.
  **Baseline**: one bare LIST of Namespaces, Nodes, Services and Pods with the official client (body
  parsed with `json.loads`) plus the very batches the adapter sent replayed as a sequential loop of
  POSTs into a second, empty NSX simulator. Writes: inventory objects NSX acknowledged, next to the
  objects the replay carried. Fixture per N Pods: N/50 Namespaces, N/10 Services, 20 Nodes.
* **MP restart** — a new adapter process, same cluster id, nothing changed, until in sync; median of
  3 runs (`restart_runs_s`).
  **Baseline**: the bare LISTs plus the NSX reads of a start-up sync (the cluster's `container-*`
  lists), median of 3.
* **Peak RSS** — VmHWM of the adapter process, the larger of its cold and restart runs; baseline:
  VmHWM of the bare-LIST process, which holds one decoded copy of every object (the floor for a
  process that caches them; it carries the `kubernetes` package's ~60 MiB of imports too, so at
  small N it can exceed the adapter's).
* **NSX requests** — every request the NSX simulator answered during the run (its `/__admin/stats`,
  the counter's own calls taken off); CCP from spawn to in sync, next to one bare fetch of the intent
  (three paged lists); MP next to the replay's requests plus the bare reads' (restart: the reads').
* **Targets** — issue 5 (CCP cold / sequential <= 1.0, restart / LIST <= 2, restart writes 0) and
  issue 6 (MP restart writes 0) at the largest N. The per-change latencies of those issues (one NSX
  rule change, MP label churn) are not part of this series: `ccp.py` and `mp.py` measure them.
* **Growth** — log-log slope between the two largest N (1 = linear, 2 = quadratic), target <= 1.1;
  a fixed start-up cost flattens the small-N end, so the top segment is where a super-linear term
  shows. The whole-range normalised ratio (y(N_max)/y(N_min))/(N_max/N_min) is listed beside it,
  and so is the slope of the adapter's CPU seconds on a cold start (not judged): wall time on a
  shared machine grows with whatever else runs during the larger points, CPU time much less.
* The simulators run with their rate limits off or raised (as in `ccp.py` / `mp.py`): the adapter
  is measured, not a limiter. CCP: {RULES} rules per policy, 2 groups per policy, poll interval as
  given (`--poll`).
"""


def sizes(text: str) -> list[int]:
    return sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", default=None, help=f"CCP series: NSX policies (default {DEFAULT_POLICIES})")
    ap.add_argument("--pods", default=None, help=f"MP series: Pods (default {DEFAULT_PODS})")
    ap.add_argument("--out", type=Path, default=ROOT / "hack" / "bench" / "REPORT.md",
                    help="the Markdown report; the PNGs go beside it")
    ap.add_argument("--quick", action="store_true",
                    help=f"small series (policies {QUICK_POLICIES}, pods {QUICK_PODS}) unless given explicitly")
    ap.add_argument("--poll", type=float, default=5.0, help="CCP adapter NSX poll interval, s (its default: 5)")
    ap.add_argument("--batch-period", type=float, default=_report_mp.DEFAULT_BATCH_PERIOD,
                    help="MP adapter inventory batch period, s (its default: 1)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="longest wait for one phase of one point, s")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNGs (no matplotlib needed)")
    ap.add_argument("--from-json", type=Path, metavar="FILE",
                    help="measure nothing: rewrite the report from a run's last output line saved in FILE")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    policies = sizes(args.policies if args.policies is not None
                     else QUICK_POLICIES if args.quick else DEFAULT_POLICIES)
    pods = sizes(args.pods if args.pods is not None else QUICK_PODS if args.quick else DEFAULT_PODS)
    if args.from_json is not None:
        saved: dict[str, Any] = json.loads(args.from_json.read_text().strip().splitlines()[-1])
        for point in saved["ccp"]:
            _report_ccp.ratios(point)  # derived figures added since that run
        pending = [(a, n) for a, ns in (("ccp", policies), ("mp", pods)) for n in ns
                   if n not in {p["n"] for p in saved[a]}] if args.policies or args.pods else []
        finish(saved, pending, args, time.monotonic() - saved["context"]["duration_s"], measured=False)
        print(text_table(saved))
        print(json.dumps(saved, sort_keys=True, default=str))
        return 0
    plan: list[tuple[str, int]] = []
    for i in range(max(len(policies), len(pods))):  # smallest first, alternating
        plan += [("ccp", policies[i])] if i < len(policies) else []
        plan += [("mp", pods[i])] if i < len(pods) else []
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "series": {"ccp_policies": policies, "mp_pods": pods}, "rules_per_policy": RULES, "poll_s": args.poll,
        "mp_batch_period_s": args.batch_period,
        "ccp": [], "mp": [], "errors": {},
        "context": {"command": f"hack/bench/report.py {argv_text}".strip(), "cpus": os.cpu_count(),
                    "started_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
                    "loadavg_start": round(os.getloadavg()[0], 2)}}
    began = time.monotonic()
    for done, (adapter, n) in enumerate(plan):
        print(f"== {adapter.upper()} N={n} ({done + 1}/{len(plan)}) ...", flush=True)
        started = time.monotonic()
        load_before = round(os.getloadavg()[0], 2)
        try:
            point = (_report_ccp.measure(n, RULES, args.poll, args.timeout) if adapter == "ccp"
                     else _report_mp.measure(n, args.timeout, args.batch_period))
        except Exception as err:  # one failed point must not lose the others
            traceback.print_exc()
            results["errors"][f"{adapter.upper()} N={n}"] = f"{type(err).__name__}: {err}"[:500]
        else:
            point["point_wall_s"] = round(time.monotonic() - started, 1)
            point["loadavg_1m"] = [load_before, round(os.getloadavg()[0], 2)]  # what else ran, before / after
            results[adapter].append(point)
            results[adapter].sort(key=lambda p: p["n"])
            print(f"   done in {point['point_wall_s']} s: cold {point.get('cold_s')} s, restart "
                  f"{point.get('restart_s')} s, peak RSS {point.get('peak_rss_mib')} MiB", flush=True)
        finish(results, plan[done + 1:], args, began)
    print(text_table(results))
    print(json.dumps(results, sort_keys=True, default=str))
    return 1 if results["errors"] else 0


def finish(results: dict[str, Any], pending: list[tuple[str, int]], args: argparse.Namespace, began: float,
           measured: bool = True) -> None:
    """Verdicts, the Markdown and the plots for what is measured so far."""
    shown = (*GROWTH_FIGURES, *INFO_FIGURES)
    results["growth"] = {"ccp": growth(results["ccp"], shown), "mp": growth(results["mp"], shown)}
    results["targets"] = targets(results["ccp"], results["mp"])
    missing = [f"{name}: failed ({err})" for name, err in results["errors"].items()]
    missing += [f"{a.upper()} N={n}: not measured (the run ended before this point)" for a, n in pending]
    results["missing"] = missing
    if measured:
        results["context"]["duration_s"] = round(time.monotonic() - began, 1)
        results["context"]["loadavg_end"] = round(os.getloadavg()[0], 2)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    pngs: list[str] = []
    if not args.no_plots:
        try:
            pngs = plots(results, out.parent)
        except ImportError:
            print("matplotlib is not installed (pip install -e '.[bench]'): no plots", file=sys.stderr)
    results["plots"] = [str(out.parent / p) for p in pngs]
    out.write_text(markdown(results, METHOD, pngs))
    results["report"] = str(out)


if __name__ == "__main__":
    raise SystemExit(main())
