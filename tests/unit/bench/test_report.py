"""The scale report (``hack/bench/report.py``): its growth verdicts, and one whole run at tiny N.

The whole run starts the real processes (emulated API servers, NSX simulators, both adapters) at
policies 5/10 and pods 20/40 and checks what a reader relies on: the table, the verdicts, the last
line as one JSON object with every figure, ``REPORT.md`` and the two PNG plots. The plots need
matplotlib (in both the ``test`` and ``bench`` extras); an install without it skips that test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hack.bench._report_fit import SLOPE_TARGET, growth, range_ratio, targets, top_slope

ROOT = Path(__file__).resolve().parents[3]


def test_top_slope_tells_linear_from_quadratic() -> None:
    ns = [100.0, 1000.0, 5000.0]
    assert top_slope(ns, [0.01 * n for n in ns]) == pytest.approx(1.0)
    with_fixed_cost = top_slope(ns, [3 + 0.01 * n for n in ns])
    assert with_fixed_cost is not None and 0.8 < with_fixed_cost < 1.0
    assert top_slope(ns, [n * n for n in ns]) == pytest.approx(2.0)
    # a fixed cost hides the quadratic term over the whole range, not at the top segment
    masked = [50 + 4e-5 * n * n for n in ns]
    whole, top = range_ratio(ns, masked), top_slope(ns, masked)
    assert whole is not None and whole < 1.0
    assert top is not None and top > SLOPE_TARGET
    assert top_slope([10.0], [1.0]) is None


def test_targets_judge_the_largest_n() -> None:
    small = {"n": 10, "cold_ratio": 5.0, "restart_ratio": 50.0, "restart_writes": 0, "cold_exact_match": True,
             "cold_s": 2.0, "restart_s": 1.0, "peak_rss_mib": 80.0}
    large = {"n": 1000, "cold_ratio": 0.9, "restart_ratio": 2.5, "restart_writes": 0, "cold_exact_match": True,
             "cold_s": 150.0, "restart_s": 20.0, "peak_rss_mib": 200.0}
    mp = [{"n": 100, "restart_writes": 0, "restart_write_requests": 0, "cold_s": 1.0, "restart_s": 1.0,
           "peak_rss_mib": 60.0},
          {"n": 300, "restart_writes": 3, "restart_write_requests": 1, "cold_s": 9.5, "restart_s": 2.0,
           "peak_rss_mib": 70.0}]
    verdicts = {t["name"]: t["pass"] for t in targets([small, large], mp)}
    assert verdicts["CCP cold / sequential creates"] is True
    assert verdicts["CCP restart / bare LIST"] is False
    assert verdicts["MP restart inventory writes"] is False
    assert verdicts["CCP cold convergence time grows <= linearly"] is True
    assert verdicts["MP cold convergence time grows <= linearly"] is False  # 9.5x for 3x the pods
    assert [g["top_slope"] is None for g in growth([small])] == [True, True, True]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_report_at_tiny_n_writes_table_json_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is missing (pip install -e '.[test]')")
    out = tmp_path / "REPORT.md"
    done = subprocess.run([sys.executable, "hack/bench/report.py", "--policies", "5,10", "--pods", "20,40",
                           "--poll", "1", "--batch-period", "0.25", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])

    assert [p["n"] for p in figures["ccp"]] == [5, 10]
    assert [p["n"] for p in figures["mp"]] == [20, 40]
    assert figures["missing"] == [] and figures["errors"] == {}
    for point in figures["ccp"] + figures["mp"]:
        for key in ("cold_s", "baseline_cold_s", "restart_s", "baseline_restart_s", "peak_rss_mib",
                    "baseline_rss_mib", "cold_nsx_requests", "restart_nsx_requests", "cold_ratio", "restart_ratio"):
            assert isinstance(point[key], (int, float)) and point[key] > 0, (point["n"], key, point[key])
        # every object written once on a cold start, nothing on a restart
        assert point["cold_writes"] == point["baseline_writes"] > 0
        assert point["restart_writes"] == 0
    for point in figures["ccp"]:
        assert point["cold_exact_match"] is True
        assert point["listed_items"] == point["objects"]
    for point in figures["mp"]:
        assert point["nsx_objects"] == point["cold_writes"]
        assert point["restart_write_requests"] == 0
    assert len(figures["targets"]) == 12
    assert all(t["pass"] is not None for t in figures["targets"])

    table = "\n".join(lines[:-1])
    assert "adapter" in table and "cold s" in table and "peak RSS MiB" in table
    assert sum(1 for t in figures["targets"] if (("PASS" if t["pass"] else "FAIL") + "  " + t["name"]) in table) == 12

    report = out.read_text()
    assert "| CCP | 10 |" in report and "| MP | 40 |" in report and "## Targets" in report
    for png in ("scale-time.png", "scale-memory.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        assert f"![{png}]({png})" in report
