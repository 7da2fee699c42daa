"""``antrea-nsx-adapter``: the command line.

Subcommands grow with the adapter; each one is a small function so ``--help`` stays the reference.
Exit codes: 0 success, 1 the command ran and found errors (e.g. untranslatable NSX objects),
2 bad usage or configuration.

The adapter commands (``ccp``, ``deregister``) share one set of settings, defined once in
:class:`controllers.config.AdapterConfig`: every field is a flag here, an environment variable and
a ``--config`` file key, so the three spellings cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from controllers.config import (
    FIELDS,
    LIST_FIELDS,
    AdapterConfig,
    ConfigError,
    env_name,
    flag_name,
    load_config,
    parse_duration,
)
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


# ------------------------------------------------------------------------------------ settings

CONFIG_ENV = "ANTREA_NSX_ADAPTER_CONFIG"
_BOOL_VALUES = ("true", "false", "1", "0", "yes", "no", "on", "off")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`AdapterConfig` field; the field's description is the help text.

    Flags default to None ("not given") so that env and file values show through; booleans take
    an optional value (``--leader-elect`` or ``--leader-elect=false``), as Go flags do."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML file of settings; keys are the flag names without '--' "
                             "(precedence: flag > environment > this file > default) "
                             f"[env {CONFIG_ENV}]")
    groups = {
        "Kubernetes": ("kubeconfig", "kube_api_qps", "kube_api_burst"),
        "bootstrap": ("bootstrap_config", "bootstrap_namespace", "cluster_name", "cluster_id"),
        "NSX": ("nsx_managers", "nsx_ca_file", "nsx_thumbprint", "nsx_insecure", "nsx_client_cert_file",
                "nsx_client_key_file", "nsx_username", "nsx_password", "nsx_password_file"),
    }
    placed = {name for names in groups.values() for name in names}
    groups["behaviour"] = tuple(name for name in FIELDS if name not in placed)
    for title, names in groups.items():
        group = parser.add_argument_group(f"{title} settings (each also ANTREA_NSX_ADAPTER_<FLAG_NAME>)")
        for name in names:
            info = FIELDS[name]
            help_text = f"{info.description} [env {env_name(name)}]"
            if name in LIST_FIELDS:
                group.add_argument(flag_name(name), dest=name, action="append", metavar="ADDRESS",
                                   help=help_text + " (env: comma-separated)")
            elif info.annotation is bool:
                group.add_argument(flag_name(name), dest=name, nargs="?", const="true", metavar="BOOL",
                                   choices=_BOOL_VALUES, help=help_text)
            else:
                group.add_argument(flag_name(name), dest=name, metavar=_metavar(name, info), help=help_text)


def _metavar(name: str, info: Any) -> str:
    if any(getattr(m, "func", None) is parse_duration for m in info.metadata):
        return "DURATION"
    if name.endswith(("_file", "kubeconfig", "_config")):
        return "FILE"
    return name.rsplit("_", maxsplit=1)[-1].upper()


def _config_from_args(args: argparse.Namespace) -> AdapterConfig:
    flags = {name: getattr(args, name, None) for name in FIELDS}
    config_file = args.config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    return load_config(flags, os.environ, config_file)


def _fail(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return EXIT_USAGE


def _start_logging(cfg: AdapterConfig, args: argparse.Namespace) -> None:
    from loguru import logger

    from reconciler.logging import setup_logging

    setup_logging(cfg.log_level, cfg.log_format)
    if getattr(args, "nsx_password", None) is not None:
        logger.warning("--nsx-password is visible to every user in the process list; "
                       "prefer --nsx-password-file or ANTREA_NSX_ADAPTER_NSX_PASSWORD")
    # SecretStr renders as '**********'; the log redaction masks the rest.
    logger.info("configuration: {}", cfg.model_dump_json(exclude_none=True))


# ------------------------------------------------------------------------------------ commands


def _cmd_ccp(args: argparse.Namespace) -> int:
    """Run the CCP adapter until SIGTERM."""
    return _run_adapters(args, ccp=True, mp=False)


def _cmd_mp(args: argparse.Namespace) -> int:
    """Run the MP adapter until SIGTERM."""
    return _run_adapters(args, ccp=False, mp=True)


def _cmd_run(args: argparse.Namespace) -> int:
    """Run both adapters in one process (small setups) until SIGTERM."""
    return _run_adapters(args, ccp=True, mp=True)


def _run_adapters(args: argparse.Namespace, *, ccp: bool, mp: bool) -> int:
    from loguru import logger

    from controllers.bootstrap import connect_kube, connect_nsx, resolve
    from controllers.ccp.adapter import setup_ccp
    from controllers.ccp.settings import CcpSettings
    from controllers.liveness import HEALTHY, NSX_CONNECTED, LivenessSettings, manager_ready, setup_liveness
    from controllers.mp.adapter import MpSettings, setup_mp
    from reconciler.manager import Manager, ManagerOptions
    from reconciler.runtime_tuning import tune_for_controller

    try:
        cfg = _config_from_args(args)
    except ConfigError as err:
        return _fail(err)
    _start_logging(cfg, args)
    kube = None
    try:
        kube = connect_kube(cfg)
        boot = resolve(cfg, kube)
        nsx = connect_nsx(cfg, boot)
        ccp_settings = CcpSettings(
            cluster_name=boot.cluster_name,
            nsx_poll_interval=cfg.nsx_poll_interval,
            reconcile_interval=cfg.reconcile_interval,
            realization_timeout=cfg.realization_timeout,
            max_concurrent_writes=cfg.max_concurrent_reconciles,
            realization_workers=cfg.realization_workers,
            realization_batch_period=cfg.realization_batch_period,
            realization_batch_size=cfg.realization_batch_size,
            dry_run=cfg.dry_run,
        )
        mp_settings = MpSettings(
            cluster_name=boot.cluster_name,
            cluster_id=boot.cluster_id or boot.cluster_name,
            namespace=cfg.bootstrap_namespace,
            inventory_batch_size=cfg.inventory_batch_size,
            inventory_batch_period=cfg.inventory_batch_period,
            stats_interval=cfg.stats_interval,
            heartbeat_interval=cfg.heartbeat_interval,
            inventory_workers=cfg.inventory_workers,
            traceflow_workers=cfg.traceflow_workers,
            dry_run=cfg.dry_run,
            secrets=_nsx_secrets(boot.credentials.auth),
        )
    except (ConfigError, ValueError) as err:
        if kube is not None:
            kube.close()
        return _fail(err)
    component = "adapter" if ccp and mp else ("ccp" if ccp else "mp")
    logger.info("{} for cluster {} (id {}), NSX {} as {}", component.upper(), boot.cluster_name, boot.cluster_id,
                ", ".join(boot.nsx_managers), boot.credentials.source)
    if cfg.dry_run:
        logger.info("dry run: planning and logging only; no write reaches Kubernetes or NSX"
                    + (", and no leader election (a Lease is a write)" if cfg.leader_elect else ""))
    tune_for_controller()  # after imports and set-up: see reconciler/runtime_tuning.py
    manager = Manager(kube, ManagerOptions(
        leader_election=cfg.leader_elect and not cfg.dry_run,
        leader_election_id=f"antrea-nsx-adapter-{component}" if component != "adapter" else "antrea-nsx-adapter",
        leader_election_namespace=cfg.leader_election_namespace,
        lease_duration=cfg.leader_elect_lease_duration,
        renew_deadline=cfg.leader_elect_renew_deadline,
        retry_period=cfg.leader_elect_retry_period,
        health_probe_bind_address=cfg.health_probe_bind_address,
        metrics_bind_address=cfg.metrics_bind_address,
        graceful_shutdown_timeout=cfg.graceful_shutdown_timeout,
    ))
    if ccp:
        adapter = setup_ccp(manager, nsx, ccp_settings)
        if not cfg.dry_run:
            # The MP adapter reports the CCP adapter's health to NSX from this Lease (controllers/liveness.py).
            setup_liveness(manager, LivenessSettings(component="ccp", namespace=cfg.bootstrap_namespace,
                                                     identity=manager.options.leader_election_identity),
                           {HEALTHY: manager_ready(manager), NSX_CONNECTED: lambda: adapter.intent.healthy})
    if mp:
        setup_mp(manager, nsx, mp_settings)
    try:
        return manager.run_until_signal()
    finally:
        nsx.close()
        boot.credentials.cleanup()
        kube.close()


def _nsx_secrets(auth: object) -> list[str]:
    """The NSX password, if any, so that support bundles can blank it out of log lines."""
    reveal = getattr(getattr(auth, "password", None), "get_secret_value", None)
    value = reveal() if callable(reveal) else None
    return [value] if isinstance(value, str) and value else []


def _cmd_deregister(args: argparse.Namespace) -> int:
    """Delete the adapter's objects; with ``--nsx`` also the cluster's registration in NSX."""
    from controllers.bootstrap import connect_kube, connect_nsx, read_cluster_id, resolve
    from controllers.deregister import delete_managed_objects, remove_from_nsx
    from nsx.auth import BasicAuth
    from nsx.errors import NsxError
    from reconciler.errors import ApiError
    from reconciler.logging import setup_logging

    try:
        cfg = _config_from_args(args)
    except ConfigError as err:
        return _fail(err)
    setup_logging(cfg.log_level, cfg.log_format)
    kube = None
    try:
        kube = connect_kube(cfg)
        nsx = None
        cluster_id = cfg.cluster_id
        if args.nsx:
            boot = resolve(cfg, kube, need_cluster_id=False)
            nsx = connect_nsx(cfg, boot)
            if cluster_id is None:
                cluster_id = read_cluster_id(kube, cfg.bootstrap_namespace)
        if cfg.dry_run:
            say("dry run: nothing is deleted")
        deleted = delete_managed_objects(kube, dry_run=cfg.dry_run, say=say)
        say(f"{len(deleted)} Antrea object(s) {'to delete' if cfg.dry_run else 'deleted'}")
        if nsx is not None:
            try:
                remove_from_nsx(nsx, boot.cluster_name, cluster_id, dry_run=cfg.dry_run,
                                allow_overwrite=isinstance(boot.credentials.auth, BasicAuth), say=say)
            finally:
                nsx.close()
                boot.credentials.cleanup()
        else:
            say("the cluster stays registered in NSX (pass --nsx to remove it)")
    except ConfigError as err:
        return _fail(err)
    except (ApiError, NsxError) as err:
        print(f"error: deregistration incomplete: {err}", file=sys.stderr)
        return EXIT_ERRORS
    finally:
        if kube is not None:
            kube.close()
    return EXIT_OK


def say(line: str) -> None:
    """What a command did, for the person running it (stdout; logs go to stderr)."""
    print(line, flush=True)


def source_root() -> Path | None:
    """The source checkout this package runs from, if any (``hack/`` is not installed)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "hack" / "demo.py").is_file() else None


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run ``hack/demo.py`` (``make demo``) from the source checkout; an installed package has no
    demo, and saying so beats a half demo."""
    root = source_root()
    if root is None:
        print("error: the demo runs from a source checkout (it uses the test simulators in hack/ and sim/): "
              "clone the repository and run `make demo`", file=sys.stderr)
        return EXIT_USAGE
    command = [sys.executable, "-m", "hack.demo"]
    if args.once:
        command.append("--once")
    if args.workdir is not None:
        command += ["--workdir", str(args.workdir)]
    if args.view != "auto":
        command += ["--view", args.view]
    try:
        return subprocess.run(command, cwd=root, check=False).returncode
    except KeyboardInterrupt:
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

    ccp = sub.add_parser(
        "ccp",
        help="run the CCP adapter: NSX DFW policies and groups become Antrea objects",
        description=(
            "Run the CCP adapter until SIGTERM: register the cluster with NSX, turn the DFW policies, "
            "groups and services scoped to it into Tiers, ClusterGroups and ClusterNetworkPolicies, and "
            "report their realization back. Exit code 2 for bad configuration (checked at start: "
            "kubeconfig, bootstrap objects, NSX reachable and accepting the credentials)."
        ),
    )
    _add_config_flags(ccp)
    ccp.set_defaults(func=_cmd_ccp)

    mp = sub.add_parser(
        "mp",
        help="run the MP adapter: inventory, statistics, Traceflow and health reported to NSX",
        description=(
            "Run the MP adapter until SIGTERM: report the cluster's inventory to NSX, answer policy "
            "statistics, run NSX's Traceflow requests through Antrea, and send cluster health. Exit code 2 "
            "for bad configuration."
        ),
    )
    _add_config_flags(mp)
    mp.set_defaults(func=_cmd_mp)

    run = sub.add_parser(
        "run",
        help="run both adapters in one process (small setups)",
        description="Run the CCP and MP adapters in one process, with one leader-election Lease, until SIGTERM.",
    )
    _add_config_flags(run)
    run.set_defaults(func=_cmd_run)

    dereg = sub.add_parser(
        "deregister",
        help="delete every object the adapter created; with --nsx also the cluster's NSX registration",
        description=(
            "Delete the ClusterNetworkPolicies, ClusterGroups (parents, then children), Tiers and Traceflows "
            "labelled antrea-nsx-adapter.io/managed-by, in that order, printing each. With --nsx, also delete "
            "the cluster-control-plane (cascade: NSX drops the cluster from policy scopes) and the container "
            "cluster from NSX. Stop the adapter first (scale it to 0), or it re-creates the objects. "
            "--dry-run prints what would be deleted."
        ),
    )
    dereg.add_argument("--nsx", action="store_true",
                       help="also remove the cluster from NSX (needs the NSX settings, as for ccp)")
    _add_config_flags(dereg)
    dereg.set_defaults(func=_cmd_deregister)

    demo = sub.add_parser(
        "demo",
        help="run the end-to-end demo on simulators (source checkout only; same as `make demo`)",
        description=("Start the emulated API server, the NSX simulator, the Antrea stand-in and both adapters, "
                     "and play an NSX admin's changes through them, in a live terminal view. Needs the source "
                     "checkout (hack/, sim/)."),
    )
    demo.add_argument("--once", action="store_true", help="run the scenario, then exit")
    demo.add_argument("--workdir", type=Path, default=None, help="where to keep the kubeconfig, logs, NSX files")
    demo.add_argument("--view", choices=("auto", "live", "plain"), default="auto",
                      help="live terminal view or plain lines (default: live on a terminal, plain otherwise)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
