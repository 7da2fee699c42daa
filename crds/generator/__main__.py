"""``python -m crds.generator [--check]``: regenerate crds/manifests and crds/kustomization.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crds.generator.render import stale_files, write_all

CRD_DIR = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crds.generator", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if any generated file is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(CRD_DIR)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(CRD_DIR):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
