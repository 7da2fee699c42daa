"""The scale report's verdicts: the earlier issues' ratios at the largest N, and growth in N.

Growth is judged by the log-log slope of the top segment — between the two largest N measured:
``slope = ln(y(N_max) / y(N_prev)) / ln(N_max / N_prev)``; 1 is linear, 2 quadratic. Target:
``slope <= 1.1``. Why that segment and not a fit through every point: a fixed cost (process start,
imports, the first NSX fetch) dominates the smallest N and flattens any whole-range fit, so an
``N**2`` term that only shows at the top would pass a whole-range test; at the top segment the
fixed cost weighs least and a super-linear term weighs most. The whole-range normalised ratio
``(y(N_max)/y(N_min)) / (N_max/N_min)`` is reported beside it (<= 1 means no worse than linear over
the range) but is not the verdict. With fewer than two points there is no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SLOPE_TARGET = 1.1
CCP_COLD_TARGET = 1.0
CCP_RESTART_TARGET = 2.0


def top_slope(ns: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(ns) < 2 or ys[-1] <= 0 or ys[-2] <= 0 or ns[-1] == ns[-2]:
        return None
    return math.log(ys[-1] / ys[-2]) / math.log(ns[-1] / ns[-2])


def range_ratio(ns: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(ns) < 2 or ys[0] <= 0 or ns[0] == ns[-1]:
        return None
    return (ys[-1] / ys[0]) / (ns[-1] / ns[0])


GROWTH_FIGURES = (("cold_s", "cold convergence time"), ("restart_s", "restart-resync time"),
                  ("peak_rss_mib", "adapter peak RSS"))
# Shown beside the verdicts, not judged: CPU seconds of the adapter process on a cold start are
# much less sensitive than wall time to what else the (shared) machine runs.
INFO_FIGURES = (("adapter_cpu_s_cold", "adapter CPU s, cold (info)"),)


def growth(points: Sequence[dict[str, Any]], figures: Sequence[tuple[str, str]] = GROWTH_FIGURES
           ) -> list[dict[str, Any]]:
    """One row per figure (default :data:`GROWTH_FIGURES`) over the measured points (sorted by N)."""
    rows = []
    for key, label in figures:
        usable = [p for p in points if isinstance(p.get(key), (int, float))]
        ns = [float(p["n"]) for p in usable]
        ys = [float(p[key]) for p in usable]
        slope = top_slope(ns, ys)
        ratio = range_ratio(ns, ys)
        rows.append({"figure": key, "label": label, "n": [int(n) for n in ns], "values": ys,
                     "top_slope": None if slope is None else round(slope, 3),
                     "range_ratio": None if ratio is None else round(ratio, 3),
                     "target": f"top-segment log-log slope <= {SLOPE_TARGET}",
                     "pass": None if slope is None else slope <= SLOPE_TARGET})
    return rows


def _target(name: str, point: dict[str, Any] | None, key: str, target: str, ok: Any) -> dict[str, Any]:
    value = None if point is None else point.get(key)
    verdict = None if value is None else bool(ok(value))
    return {"name": name, "at_n": None if point is None else point["n"], "figure": key, "value": value,
            "target": target, "pass": verdict}


def targets(ccp: Sequence[dict[str, Any]], mp: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 5's and issue 6's ratios at the largest N measured, then the growth verdicts."""
    top_ccp = ccp[-1] if ccp else None
    top_mp = mp[-1] if mp else None
    rows = [
        _target("CCP cold / sequential creates", top_ccp, "cold_ratio", f"<= {CCP_COLD_TARGET}",
                lambda v: v <= CCP_COLD_TARGET),
        _target("CCP restart / bare LIST", top_ccp, "restart_ratio", f"<= {CCP_RESTART_TARGET}",
                lambda v: v <= CCP_RESTART_TARGET),
        _target("CCP restart writes", top_ccp, "restart_writes", "== 0", lambda v: v == 0),
        _target("CCP cold result == translate(NSX)", top_ccp, "cold_exact_match", "True", lambda v: v is True),
        _target("MP restart inventory writes", top_mp, "restart_writes", "== 0", lambda v: v == 0),
        _target("MP restart inventory requests", top_mp, "restart_write_requests", "== 0", lambda v: v == 0),
    ]
    for adapter, points in (("CCP", ccp), ("MP", mp)):
        for g in growth(points):
            rows.append({"name": f"{adapter} {g['label']} grows <= linearly", "at_n": g["n"][-1] if g["n"] else None,
                         "figure": g["figure"], "value": g["top_slope"], "target": g["target"],
                         "pass": g["pass"], "range_ratio": g["range_ratio"]})
    return rows
