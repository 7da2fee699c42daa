"""Write the README's flags table and metrics table from the code, so they cannot drift from it.

``python -m hack.gen_flags_table`` rewrites the text between the ``<!-- flags:begin -->`` /
``<!-- flags:end -->`` and ``<!-- metrics:begin -->`` / ``<!-- metrics:end -->`` markers of
README.md; ``--check`` only says whether the README is up to date (exit 1 when not), which is what
``tests/unit/cli/test_readme.py`` runs. The flags come from the ``run`` command's parser (the
adapter commands share one set), the metrics from the process's Prometheus registry once every
module that registers metrics is imported.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKERS = {"flags": ("<!-- flags:begin -->", "<!-- flags:end -->"),
           "metrics": ("<!-- metrics:begin -->", "<!-- metrics:end -->")}
_ENV_SUFFIX = re.compile(r"\s*\[env (\S+)\]")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(name: str) -> str:
    from controllers.config import FIELDS, format_duration, parse_duration

    info = FIELDS[name]
    value: Any = info.get_default(call_default_factory=True)
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if any(getattr(m, "func", None) is parse_duration for m in info.metadata):
        return f"`{format_duration(float(value))}`"
    return f"`{value}`"


def run_parser() -> argparse.ArgumentParser:
    from controllers.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = subparsers.choices["run"]
    return parser


def flags_table() -> str:
    """One row per flag of ``run`` (= ``ccp`` = ``mp``), in ``--help`` order."""
    from controllers.config import FIELDS

    rows = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for action in run_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        help_text = action.help or ""
        env = _ENV_SUFFIX.search(help_text)
        meaning = _ENV_SUFFIX.sub("", help_text)
        if action.metavar and action.dest in FIELDS and FIELDS[action.dest].annotation is not bool:
            flag += f" {action.metavar}"
        default = _default(action.dest) if action.dest in FIELDS else "—"
        rows.append(f"| `{flag}` | {f'`{env.group(1)}`' if env else '—'} | {default} | {_cell(meaning)} |")
    return "\n".join(rows)


def exported_metrics() -> list[tuple[str, str, tuple[str, ...], str]]:
    """(name as on /metrics, type, label names, help) of every metric the adapter registers."""
    import controllers
    import nsx
    import reconciler
    from reconciler.metrics import REGISTRY

    for package in (reconciler, nsx, controllers):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found: dict[str, tuple[str, str, tuple[str, ...], str]] = {}
    collectors = getattr(REGISTRY, "_collector_to_names", {})
    for collector in list(collectors):
        labels = tuple(getattr(collector, "_labelnames", ()))
        for family in collector.describe() if hasattr(collector, "describe") else collector.collect():
            name = family.name + ("_total" if family.type == "counter" else "")
            found[name] = (name, family.type, labels, family.documentation)
    return [found[name] for name in sorted(found)]


def metrics_table() -> str:
    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for name, kind, labels, doc in exported_metrics():
        label_text = ", ".join(f"`{label}`" for label in labels) or "—"
        rows.append(f"| `{name}` | {kind} | {label_text} | {_cell(doc)} |")
    return "\n".join(rows)


def updated(text: str) -> str:
    """``text`` (the README) with both tables regenerated between their markers."""
    for key, table in (("flags", flags_table()), ("metrics", metrics_table())):
        begin, end = MARKERS[key]
        if begin not in text or end not in text:
            raise SystemExit(f"README.md lacks the markers {begin} ... {end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{table}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date; change nothing")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    fresh = updated(current)
    if args.check:
        if fresh != current:
            print("README.md is out of date with the CLI or the metrics: run python -m hack.gen_flags_table",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        README.write_text(fresh, encoding="utf-8")
        print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
