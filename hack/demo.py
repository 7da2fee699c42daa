"""``make demo``: the adapter end to end on the embedded default, with no cluster and no NSX.

Starts the local control plane (the emulated API server, or whatever ``reconciler.envtest`` picks)
with the Antrea CRDs and a few workloads, the NSX Manager simulator, the Antrea stand-in and both
adapters. Shows the inventory and health the MP adapter reported to NSX; then plays an NSX admin:
creates Antrea groups and DFW policies for the cluster, and shows them become Tiers, ClusterGroups
and ClusterNetworkPolicies, get realized, and reported back to NSX; edits a rule and shows the
change flow through; adds a policy Antrea cannot express and shows the error NSX gets; finally
labels a Pod with kubectl and shows the label reach NSX's inventory. Runs until Ctrl-C, or exits
after the scenario with ``--once`` (used by its test).
"""

from __future__ import annotations

import argparse
import contextlib
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
from controllers.liveness import HEALTHY, NSX_CONNECTED, LivenessSettings, manager_ready, setup_liveness
from controllers.mp.adapter import MpSettings, setup_mp
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
CLUSTER_ID = "demo-cluster-id"
ADAPTER_NAMESPACE = "vmware-system-antrea"
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

    def cluster_status(self) -> str:
        path = f"/policy/api/v1{cluster_path(CLUSTER)}/status"
        return str(self.http.get(self.url + path, timeout=10).json().get("status", "UNKNOWN"))

    def health_detail(self) -> str:
        info = self.http.get(f"{self.url}/policy/api/v1{cluster_path(CLUSTER)}/status", timeout=10).json()
        agents = info.get("agent_info") or {}
        parts = [f"controller {(info.get('controller_status') or {}).get('status')}",
                 f"agents healthy/degraded/failed {agents.get('healthy_agent_num')}/"
                 f"{agents.get('degraded_agent_num')}/{agents.get('failed_agent_num')}",
                 f"MP {(info.get('mp_adapter_status') or {}).get('status')}",
                 f"CCP {(info.get('ccp_adapter_status') or {}).get('status')}"]
        return ", ".join(parts)

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


def _create_workloads(kube: Any) -> None:
    """A small shop: a namespace, web and db Pods (Running, with IPs), a web Service."""
    kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "shop", "labels": {"team": "retail"}}})
    for index, (name, app) in enumerate((("web-1", "web"), ("web-2", "web"), ("db-1", "db"))):
        kube.create(("v1", "Pod"), {"apiVersion": "v1", "kind": "Pod",
                                    "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
                                    "spec": {"nodeName": f"node-{index % 3 + 1}",
                                             "containers": [{"name": "main", "image": f"example/{app}:1"}]}})
        kube.patch_status(("v1", "Pod"), name, {"status": {"phase": "Running", "podIP": f"10.10.0.{index + 10}",
                                                           "podIPs": [{"ip": f"10.10.0.{index + 10}"}]}}, "shop")
    kube.create(("v1", "Service"), {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "web", "namespace": "shop"},
                                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}],
                                             "clusterIP": "10.96.0.80"}})


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
        antrea = AntreaSimulator(kubeconfig, realization_delay=0.5, heartbeat_interval=2.0).start()
        stack.append(antrea)
        _say("  Antrea stand-in realizing policies on 3 Nodes")

        nsx_client = NsxClient([nsx.url], BasicAuth(nsx.username, nsx.password),
                               tls=TlsSettings(ca_file=str(nsx.ca_file)))
        kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": ADAPTER_NAMESPACE}})
        _create_workloads(kube)
        manager = Manager(cfg.client(), ManagerOptions())
        adapter = setup_ccp(manager, nsx_client, CcpSettings(cluster_name=CLUSTER, nsx_poll_interval=1.0,
                                                             realization_timeout=20.0))
        # The CCP adapter's liveness Lease, which the MP adapter reports to NSX (the CLI does the same).
        setup_liveness(manager, LivenessSettings(component="ccp", namespace=ADAPTER_NAMESPACE, renew_interval=1.0,
                                                 identity=manager.options.leader_election_identity),
                       {HEALTHY: manager_ready(manager), NSX_CONNECTED: lambda: adapter.intent.healthy})
        setup_mp(manager, nsx_client, MpSettings(cluster_name=CLUSTER, cluster_id=CLUSTER_ID,
                                                 namespace=ADAPTER_NAMESPACE, inventory_batch_period=0.5,
                                                 heartbeat_interval=2.0, secrets=[nsx.password]))
        runner = threading.Thread(target=manager.start, name="ccp-adapter", daemon=True)
        runner.start()
        stack.append(manager)
        _wait("registration with NSX", adapter.registered.is_set)
        admin = NsxAdmin(nsx)
        _say(f"  CCP and MP adapters running, cluster registered in NSX as {cluster_path(CLUSTER)}")

        _say("\n[NSX] the cluster's inventory, as the MP adapter reported it:")
        _wait("the inventory in NSX", lambda: len(nsx.state.inventory(CLUSTER_ID, "ContainerApplicationInstance")) == 3)
        for rtype in ("ContainerProject", "ContainerApplication", "ContainerApplicationInstance",
                      "ContainerClusterNode"):
            objects = nsx.state.inventory(CLUSTER_ID, rtype)
            shown = ", ".join(sorted(str(o.get("display_name")) for o in objects.values()))
            _say(f"  {rtype:<30} {len(objects):>2}  {shown}")
        _wait("a health report", lambda: admin.cluster_status() in ("HEALTHY", "DEGRADED", "FAILED"))
        with contextlib.suppress(SystemExit):  # show what NSX shows; HEALTHY once every part reported
            _wait("a HEALTHY report", lambda: admin.cluster_status() == "HEALTHY", timeout=8.0)
        _say(f"  cluster health in NSX: {admin.cluster_status()} ({admin.health_detail()})")

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

        _say("\n[kubectl] a Pod gets a new label ...")
        _kubectl(kube_env, "label", "pod", "web-1", "-n", "shop", "tier=frontend")
        _wait("the label to reach NSX", lambda: any(
            t == {"scope": "dis:k8s:tier", "tag": "frontend"}
            for o in nsx.state.inventory(CLUSTER_ID, "ContainerApplicationInstance").values()
            if o.get("display_name") == "web-1" for t in o.get("tags", [])))
        _say("  NSX inventory now tags web-1 with dis:k8s:tier=frontend")

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
