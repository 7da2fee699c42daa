"""``make demo``: the adapter end to end on the embedded default, with no cluster and no NSX.

Starts the local control plane (the emulated API server, or whatever ``reconciler.envtest`` picks)
with the Antrea CRDs, the NSX Manager simulator, the Antrea stand-in and the CCP adapter. Then it
plays an NSX admin: creates Antrea groups and DFW policies for the cluster, and shows them become
Tiers, ClusterGroups and ClusterNetworkPolicies, get realized, and reported back to NSX; edits a
rule and shows the change flow through; adds a policy Antrea cannot express and shows the error
NSX gets. Runs until Ctrl-C, or exits after the scenario with ``--once`` (used by its test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from controllers.ccp.adapter import setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from crds import MANIFEST_DIR
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from reconciler.envtest import Environment
from reconciler.logging import setup_logging
from reconciler.manager import Manager, ManagerOptions
from sim.antrea import AntreaSimulator
from sim.nsx import NsxSimulator

CLUSTER = "demo-cluster"
DOMAIN = "/policy/api/v1/infra/domains/default"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _kubectl(env: dict[str, str], *args: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on the PATH; install kubectl v1.32 to run the demo")
    result = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.1)


class NsxAdmin:
    """What an NSX admin does in the UI, as the Policy API calls the UI makes."""

    def __init__(self, nsx: NsxSimulator) -> None:
        self.url = nsx.url
        self.http = requests.Session()
        self.http.auth = (nsx.username, nsx.password)
        self.http.verify = str(nsx.ca_file)
        self.http.trust_env = False

    def patch(self, path: str, body: dict[str, Any]) -> None:
        resp = self.http.patch(self.url + path, json=body, timeout=10)
        if resp.status_code != 200:
            raise SystemExit(f"NSX refused PATCH {path}: {resp.text}")

    def state(self, policy_id: str) -> tuple[str, str]:
        params = {"intent_path": f"/infra/domains/default/security-policies/{policy_id}"}
        status = self.http.get(self.url + "/policy/api/v1/infra/realized-state/status", params=params,
                               timeout=10).json()
        per = status.get("consolidated_status_per_enforcement_point") or [{}]
        state = (per[0].get("consolidated_status") or {}).get("consolidated_status", "UNKNOWN")
        entities = self.http.get(self.url + "/policy/api/v1/infra/realized-state/realized-entities",
                                 params=params, timeout=10).json()
        errors = [m.get("message", "") for e in entities.get("results", []) for m in e.get("alarms", [])]
        return state, "; ".join(e for e in errors if e)


def _group(app: str) -> dict[str, Any]:
    return {"resource_type": "Group", "display_name": f"{app} pods", "group_type": ["ANTREA"], "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
         "value": f"dis:k8s:app|{app}"}]}


def _rule(rid: str, src: str, dst: str, port: str, action: str = "ALLOW", **extra: Any) -> dict[str, Any]:
    groups = "/infra/domains/default/groups/"
    return {"resource_type": "Rule", "id": rid, "display_name": rid, "sequence_number": 10,
            "source_groups": ["ANY"] if src == "ANY" else [groups + src],
            "destination_groups": ["ANY"] if dst == "ANY" else [groups + dst],
            "services": ["ANY"], "action": action, "direction": "IN_OUT",
            "service_entries": [] if port == "ANY" else [
                {"resource_type": "L4PortSetServiceEntry", "id": f"tcp-{port}", "l4_protocol": "TCP",
                 "destination_ports": [port]}], **extra}


def _policy(name: str, category: str, seq: int, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"resource_type": "SecurityPolicy", "display_name": name, "category": category, "sequence_number": seq,
            "scope": [cluster_path(CLUSTER)], "rules": list(rules)}


def run(once: bool, workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = workdir / "kubeconfig"
    log_file = workdir / "adapter.log"
    log_stream = log_file.open("a", encoding="utf-8")
    setup_logging("info", "text", log_stream)
    stack: list[Any] = []
    try:
        _say("Starting the local control plane with the Antrea CRDs ...")
        env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=kubeconfig)
        cfg = env.start()
        stack.append(env)
        kube = cfg.client()
        for node in ("node-1", "node-2", "node-3"):
            kube.create(("v1", "Node"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        _say(f"  {cfg.backend} control plane at {cfg.configuration.host}, {len(cfg.crds)} CRDs, 3 Nodes")
        nsx = NsxSimulator(tls=True)
        nsx.start()
        stack.append(nsx)
        password_file = workdir / "nsx-password"
        password_file.write_text(nsx.password + "\n")
        password_file.chmod(0o600)
        _say(f"  NSX Manager simulator at {nsx.url}")
        antrea = AntreaSimulator(kubeconfig, realization_delay=0.5).start()
        stack.append(antrea)
        _say("  Antrea stand-in realizing policies on 3 Nodes")

        nsx_client = NsxClient([nsx.url], BasicAuth(nsx.username, nsx.password),
                               tls=TlsSettings(ca_file=str(nsx.ca_file)))
        manager = Manager(cfg.client(), ManagerOptions())
        adapter = setup_ccp(manager, nsx_client, CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=1.0,
                                                             realization_timeout=20.0))
        runner = threading.Thread(target=manager.start, name="ccp-adapter", daemon=True)
        runner.start()
        stack.append(manager)
        _wait("registration with NSX", adapter.registered.is_set)
        _say(f"  CCP adapter running, cluster registered in NSX as {cluster_path(CLUSTER)}")

        admin = NsxAdmin(nsx)
        kube_env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(workdir)}
        _say("\n[NSX admin] creates Antrea groups and DFW policies for the cluster ...")
        for app in ("frontend", "web", "db"):
            admin.patch(f"{DOMAIN}/groups/{app}", _group(app))
        admin.patch(f"{DOMAIN}/security-policies/infra-dns", _policy(
            "Allow DNS", "Infrastructure", 10, _rule("dns", "ANY", "ANY", "53")))
        admin.patch(f"{DOMAIN}/security-policies/web-tier", _policy(
            "Web tier", "Application", 20,
            _rule("fe-to-web", "frontend", "web", "8080"),
            _rule("web-to-db", "web", "db", "5432"),
            {**_rule("deny-to-db", "ANY", "db", "ANY", action="DROP"), "sequence_number": 20}))
        _wait("policies realized", lambda: all(admin.state(p)[0] == "SUCCESS" for p in ("infra-dns", "web-tier")))
        _say("\n[kubectl] what the adapter created:")
        _say(textwrap.indent(_kubectl(kube_env, "get", "tiers,clustergroups,acnp", "-l",
                                      "antrea-nsx-adapter.io/managed-by=ccp-adapter").rstrip(), "  "))
        _say(textwrap.indent(_kubectl(
            kube_env, "get", "acnp", "-o",
            "custom-columns=NAME:.metadata.name,TIER:.spec.tier,PRIORITY:.spec.priority,"
            "INGRESS:.spec.ingress[*].name,EGRESS:.spec.egress[*].name,PHASE:.status.phase").rstrip(), "  "))
        _say("\n[NSX] realization state per policy:")
        for policy in ("infra-dns", "web-tier"):
            _say(f"  {policy:<12} {admin.state(policy)[0]}")

        _say("\n[NSX admin] changes the web port 8080 -> 8443 ...")
        admin.patch(f"{DOMAIN}/security-policies/web-tier/rules/fe-to-web",
                    _rule("fe-to-web", "frontend", "web", "8443"))
        _wait("the change to reach the ACNP", lambda: "8443" in _kubectl(
            kube_env, "get", "acnp", "nsx-web-tier", "-o", "jsonpath={.spec.ingress[0].ports[0].port}"))
        _wait("the change to be realized", lambda: admin.state("web-tier")[0] == "SUCCESS")
        port = _kubectl(kube_env, "get", "acnp", "nsx-web-tier", "-o", "jsonpath={.spec.ingress[0].ports[0].port}")
        _say(f"  nsx-web-tier now allows port {port}; NSX shows {admin.state('web-tier')[0]}")

        _say("\n[NSX admin] adds a rule with a negated source, which Antrea cannot express ...")
        admin.patch(f"{DOMAIN}/security-policies/not-web", _policy(
            "Everyone but web", "Application", 30, _rule("not-web", "web", "db", "5432", sources_excluded=True)))
        _wait("the error to reach NSX", lambda: admin.state("not-web")[0] == "ERROR")
        _say(f"  NSX shows not-web: ERROR ({admin.state('not-web')[1] or 'see adapter log'})")

        _say(textwrap.dedent(f"""
            Where to look:
              export KUBECONFIG={kubeconfig}
              kubectl get tiers,clustergroups,acnp
              NSX Manager simulator: {nsx.url}/  (user {nsx.username}, password in {password_file},
                CA {nsx.ca_file})
              adapter log: {log_file}
            """))
        if once:
            _say("demo scenario complete")
            return 0
        _say("Running; edit NSX or the cluster and watch the adapter follow. Ctrl-C stops.")
        stopped = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stopped.wait(1.0):
            pass
        return 0
    finally:
        for part in reversed(stack):
            part.stop()
        log_stream.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run the scenario, then exit")
    parser.add_argument("--workdir", type=Path, default=None, help="where to keep the kubeconfig, logs, NSX files")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="antrea-nsx-demo-"))
    started = time.monotonic()
    code = run(args.once, workdir)
    _say(f"(took {time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
