"""``antrea-nsx-adapter``: the command line.

Subcommands grow with the adapter; each one is a small function so ``--help`` stays the reference.
Exit codes: 0 success, 1 the command ran and found errors (e.g. untranslatable NSX objects),
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.version import __version__

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2


class _NoAliasDumper(yaml.SafeDumper):
    """Plain YAML for people: no ``&id001`` anchors even where dicts are shared."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml_documents(objects: Sequence[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=120)


def _cmd_translate(args: argparse.Namespace) -> int:
    from controllers.ccp.snapshot import ExportError, load_export
    from controllers.ccp.translate import translate

    try:
        text = Path(args.nsx_export).read_text(encoding="utf-8")
        data = yaml.safe_load(text)  # JSON is YAML
        snapshot = load_export(data)
    except (OSError, UnicodeDecodeError) as err:
        print(f"error: cannot read {args.nsx_export}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except yaml.YAMLError as err:
        print(f"error: {args.nsx_export} is neither JSON nor YAML: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ExportError as err:
        print(f"error: {args.nsx_export}: {err}", file=sys.stderr)
        return EXIT_USAGE
    result = translate(snapshot, args.cluster, tier_priority_base=args.tier_priority_base)
    objects = result.objects()
    if args.output == "json":
        sys.stdout.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")
    else:
        sys.stdout.write(dump_yaml_documents(objects))
    for path in sorted(result.errors):
        for reason in result.errors[path]:
            print(f"error: {path}: {reason}", file=sys.stderr)
    return EXIT_ERRORS if result.errors else EXIT_OK


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"antrea-nsx-adapter {__version__}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="antrea-nsx-adapter",
        description="Joins a Kubernetes cluster running Antrea to an NSX Manager.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tr = sub.add_parser(
        "translate",
        help="preview the Antrea objects an NSX export becomes (no cluster needed)",
        description=(
            "Translate an NSX export (the Infra tree of GET /policy/api/v1/infra?filter=..., or "
            "{groups, security_policies, services}) into the Tiers, ClusterGroups and "
            "ClusterNetworkPolicies the CCP adapter would create for one cluster. Objects go to "
            "stdout; untranslatable NSX objects are listed on stderr and make the exit code 1."
        ),
    )
    tr.add_argument("--nsx-export", required=True, metavar="FILE", help="NSX export, JSON or YAML")
    tr.add_argument("--cluster", required=True, metavar="NAME", help="the cluster-control-plane name in NSX")
    tr.add_argument(
        "--tier-priority-base", type=int, default=0, metavar="N",
        help="priority of the first NSX category Tier; the five Tiers take N..N+4 (default: 0)",
    )
    tr.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")
    tr.set_defaults(func=_cmd_translate)

    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
