"""The controller interpreter settings, applied in a child interpreter (the test process keeps its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_tuning_freezes_start_up_objects_spaces_collections_and_shortens_the_switch_interval() -> None:
    code = ("import gc, json, sys; from reconciler.runtime_tuning import tune_for_controller as t; "
            "before = gc.get_threshold(), sys.getswitchinterval(); t(); "
            "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    before, after, frozen, switch = json.loads(out.stdout)
    assert before == [[700, 10, 10], 0.005]
    assert switch == 0.001
    assert after == [50_000, 20, 100]
    assert frozen > 1000  # the imports' objects are out of every later collection
