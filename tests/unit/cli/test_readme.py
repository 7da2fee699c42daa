"""The README stays true to the code: its flags table is the CLI's, it lists every exported metric,
and the two set-up commands stay up front."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"


def test_the_flags_and_metrics_tables_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, "-m", "hack.gen_flags_table", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr + "\n(run: .venv/bin/python -m hack.gen_flags_table)"


def test_every_flag_of_the_adapter_commands_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- flags:begin -->", 1)[1].split("<!-- flags:end -->", 1)[0]
    documented = set(re.findall(r"^\| `(--[a-z0-9-]+)", table, re.MULTILINE))
    for command in ("run", "ccp", "mp"):
        help_text = subprocess.run([sys.executable, "-m", "controllers.cli", command, "--help"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60, check=True).stdout
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", help_text)) - {"--help"}
        # Flags mentioned inside help texts are flags too, so this also catches a stale reference.
        assert flags <= documented, f"{command}: not in the README flags table: {sorted(flags - documented)}"
    assert "--dry-run" in documented and "--inventory-workers" in documented


def test_every_exported_metric_is_in_the_readme() -> None:
    import controllers
    import nsx
    import reconciler
    from reconciler.metrics import REGISTRY

    for package in (reconciler, nsx, controllers):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- metrics:begin -->", 1)[1].split("<!-- metrics:end -->", 1)[0]
    listed = {name: kind for name, kind in re.findall(r"^\| `([a-z_:]+)` \| (\w+) \|", table, re.MULTILINE)}
    exported = {fam.name + ("_total" if fam.type == "counter" else ""): fam.type for fam in REGISTRY.collect()}
    assert exported, "no metric registered: the import walk found nothing"
    missing = sorted(set(exported) - set(listed))
    assert missing == [], f"metrics exported but not in the README: {missing}"
    assert {name: listed[name] for name in exported} == exported  # and with the right type


def test_the_two_set_up_commands_stay_prominent() -> None:
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("The two commands")
    assert "make demo" in first_section and "make test" in first_section
