"""``make demo``: the adapter end to end on the embedded default, with no cluster and no NSX.

Starts the local control plane (the emulated API server, or whatever ``reconciler.envtest`` picks)
with the Antrea CRDs and a few workloads, the NSX Manager simulator, the Antrea stand-in and both
adapters. Shows the inventory and health the MP adapter reported to NSX; then plays an NSX admin:
creates Antrea groups and DFW policies for the cluster, and shows them become Tiers, ClusterGroups
and ClusterNetworkPolicies, get realized, and reported back to NSX; edits a rule and shows the
change flow through; adds a policy Antrea cannot express and shows the error NSX gets; finally
labels a Pod with kubectl and shows the label reach NSX's inventory. Runs until Ctrl-C, or exits
after the scenario with ``--once`` (used by its test).

On a terminal the story is told in a live view (``hack/demo_view.py``): NSX inventory counts,
health, the managed Antrea objects, each NSX policy with its ACNP and realization state, and the
stream of events. When stdout is not a terminal (CI, a pipe) each step is printed as plain lines
and the final view once, without colours; ``--view`` forces either.
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
from loguru import logger
from rich.console import Console

from controllers.ccp import names
from controllers.ccp.adapter import setup_ccp
from controllers.ccp.settings import CcpSettings
from controllers.ccp.translate import cluster_path
from controllers.liveness import HEALTHY, NSX_CONNECTED, LivenessSettings, manager_ready, setup_liveness
from controllers.mp.adapter import MpSettings, setup_mp
from crds import MANIFEST_DIR
from hack.demo_view import EventLog, LiveView, PolicyRow, Snapshot, render
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


MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
ANTREA_KINDS = ("Tier", "ClusterGroup", "ClusterNetworkPolicy")


class Narrator:
    """Tells the story: plain lines on stdout, or events (and the current step) for the live view."""

    def __init__(self, events: EventLog, live: bool) -> None:
        self.events = events
        self.live = live
        self.current = "starting"

    def step(self, title: str) -> None:
        """A new step: its title is a line of its own (after a blank one) in plain mode."""
        self.current = title.rstrip(" .:")
        if self.live:
            self.events.add("step", title)
        else:
            print("\n" + title, flush=True)

    def say(self, text: str = "", source: str = "demo") -> None:
        if self.live:
            for line in text.strip("\n").splitlines():
                if line.strip():
                    self.events.add(source, line.strip())
        else:
            print(text, flush=True)


_narrator = Narrator(EventLog(), live=False)


def _say(text: str = "") -> None:
    _narrator.say(text)


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


def _wait_steady(what: str, check: Callable[[], bool], hold: float = 2.0, timeout: float = 30.0) -> None:
    """Wait until ``check`` has held for ``hold`` seconds: realization reports reach NSX in batches,
    so a state read right after a change may still be the previous revision's."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while True:
        now = time.monotonic()
        if check():
            since = now if since is None else since
            if now - since >= hold:
                return
        else:
            since = None
        if now > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.1)


def _realized_now(kube: Any, acnp: str) -> bool:
    """Antrea reports the ACNP realized at its current generation."""
    obj = kube.get((names.ANTREA_API_VERSION, "ClusterNetworkPolicy"), acnp)
    status = obj.get("status") or {}
    return bool(status.get("phase") == "Realized"
                and status.get("observedGeneration") == obj["metadata"].get("generation"))


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

    def policies(self) -> list[dict[str, Any]]:
        """The security policies whose scope names the cluster."""
        body = self.http.get(f"{self.url}{DOMAIN}/security-policies", timeout=10).json()
        return [p for p in body.get("results", []) if cluster_path(CLUSTER) in (p.get("scope") or [])]

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


WORKLOADS = {  # namespace -> (labels, [(pod, app)])
    "shop": ({"team": "retail", "env": "prod"}, [("web-1", "web"), ("web-2", "web"), ("db-1", "db")]),
    "payments": ({"team": "finance", "env": "prod"}, [("api-1", "payments-api"), ("ledger-1", "ledger")]),
    "monitoring": ({"team": "sre"}, [("prometheus-1", "prometheus")]),
}


def _create_workloads(kube: Any) -> None:
    """A small company: three namespaces, Pods (Running, with IPs) of a few apps, two Services."""
    index = 0
    for namespace, (labels, pods) in WORKLOADS.items():
        kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": namespace, "labels": labels}})
        for name, app in pods:
            index += 1
            kube.create(("v1", "Pod"), {"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
                                        "spec": {"nodeName": f"node-{index % 3 + 1}",
                                                 "containers": [{"name": "main", "image": f"example/{app}:1"}]}})
            kube.patch_status(("v1", "Pod"), name, {"status": {"phase": "Running", "podIP": f"10.10.0.{index + 9}",
                                                               "podIPs": [{"ip": f"10.10.0.{index + 9}"}]}},
                              namespace)
    for namespace, name, app, ip in (("shop", "web", "web", "10.96.0.80"),
                                     ("payments", "payments-api", "payments-api", "10.96.0.81")):
        kube.create(("v1", "Service"), {"apiVersion": "v1", "kind": "Service",
                                        "metadata": {"name": name, "namespace": namespace},
                                        "spec": {"selector": {"app": app}, "ports": [{"port": 80}],
                                                 "clusterIP": ip}})


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


def collect(admin: NsxAdmin, nsx: NsxSimulator, kube: Any, narrator: Narrator, footer: str) -> Snapshot:
    """What the view shows, read as an admin would: NSX's API and inventory, the cluster's objects.
    A part that cannot be read is named in ``problems`` rather than failing the whole picture."""
    snap = Snapshot(step=narrator.current, footer=footer)
    try:
        counts: dict[str, int] = {}
        for obj in nsx.state.inventory(CLUSTER_ID).values():
            rtype = str(obj.get("resource_type"))
            counts[rtype] = counts.get(rtype, 0) + 1
        snap.inventory = counts
    except Exception as err:
        snap.problems.append(f"inventory: {err}")
    try:
        snap.health = admin.cluster_status()
        snap.health_detail = admin.health_detail()
    except Exception as err:
        snap.problems.append(f"health: {err}")
    acnps: list[dict[str, Any]] = []
    try:
        for kind in ANTREA_KINDS:
            items = kube.list((names.ANTREA_API_VERSION, kind), label_selector=MANAGED)["items"]
            snap.antrea[kind] = len(items)
            if kind == "ClusterNetworkPolicy":
                acnps = items
    except Exception as err:
        snap.problems.append(f"Antrea objects: {err}")
    try:
        for policy in sorted(admin.policies(), key=lambda p: (p.get("sequence_number", 0), p.get("id", ""))):
            path = f"/infra/domains/default/security-policies/{policy['id']}"
            mine = [a for a in acnps
                    if ((a.get("metadata") or {}).get("annotations") or {}).get(names.NSX_PATH_ANNOTATION) == path]
            antrea = "\n".join(
                f"acnp/{a['metadata']['name']} (tier {a['spec'].get('tier')}, "
                f"{len(a['spec'].get('ingress') or []) + len(a['spec'].get('egress') or [])} rules)"
                for a in mine) or "-"
            phase = ", ".join(str((a.get("status") or {}).get("phase") or "-") for a in mine) or "-"
            state, reason = admin.state(str(policy["id"]))
            snap.policies.append(PolicyRow(str(policy["id"]), str(policy.get("display_name", "")),
                                           str(policy.get("category", "")), antrea, phase, state, reason))
    except Exception as err:
        snap.problems.append(f"policies: {err}")
    return snap


def _console(view: str) -> tuple[Console, bool]:
    """The console and whether to draw live: on a terminal unless ``--view plain``."""
    console = Console()
    if view == "live" or (view == "auto" and console.is_terminal):
        return console, True
    return Console(width=max(console.width, 140), color_system=None, force_terminal=False), False


def run(once: bool, workdir: Path, view: str = "auto") -> int:
    global _narrator
    console, live = _console(view)
    _narrator = Narrator(EventLog(), live)
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = workdir / "kubeconfig"
    log_file = workdir / "adapter.log"
    log_stream = log_file.open("a", encoding="utf-8")
    setup_logging("info", "text", log_stream)
    stack: list[Any] = []
    try:
        return _scenario(once, workdir, kubeconfig, log_file, console, stack)
    finally:
        for part in reversed(stack):
            part.stop()
        logger.remove()  # a daemon thread still winding down must not write to the closed file
        log_stream.close()


def _scenario(once: bool, workdir: Path, kubeconfig: Path, log_file: Path, console: Console,
              stack: list[Any]) -> int:
    say, step = _narrator.say, _narrator.step
    say("Starting the local control plane with the Antrea CRDs ...")
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=kubeconfig)
    cfg = env.start()
    stack.append(env)
    kube = cfg.client()
    # Loopback InternalIPs (127.0.0.2-4 all reach this host) give each simulated agent its own
    # address, so a support bundle request from NSX reaches every Node's agent API.
    for index, node in enumerate(("node-1", "node-2", "node-3"), start=2):
        kube.create(("v1", "Node"), {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
            "status": {"addresses": [{"type": "InternalIP", "address": f"127.0.0.{index}"}]}})
    say(f"  {cfg.backend} control plane at {cfg.configuration.host}, {len(cfg.crds)} CRDs, 3 Nodes")
    nsx = NsxSimulator(tls=True)
    nsx.start()
    stack.append(nsx)
    password_file = workdir / "nsx-password"
    password_file.write_text(nsx.password + "\n")
    password_file.chmod(0o600)
    say(f"  NSX Manager simulator at {nsx.url}")
    antrea = AntreaSimulator(kubeconfig, realization_delay=0.5, heartbeat_interval=2.0).start()
    stack.append(antrea)
    say("  Antrea stand-in realizing policies on 3 Nodes")
    admin = NsxAdmin(nsx)
    where = textwrap.dedent(f"""\
        export KUBECONFIG={kubeconfig}
        kubectl get tiers,clustergroups,acnp
        NSX Manager simulator: {nsx.url}/  (user {nsx.username}, password in {password_file},
          CA {nsx.ca_file})
        adapter log: {log_file}""")
    view = LiveView(console, lambda: collect(admin, nsx, kube, _narrator, where), _narrator.events)
    if _narrator.live:
        view.__enter__()
        stack.append(_Closing(view))

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
    stack.append(_Joining(manager, runner))
    _wait("registration with NSX", adapter.registered.is_set)
    say(f"  CCP and MP adapters running, cluster registered in NSX as {cluster_path(CLUSTER)}")

    step("[NSX] the cluster's inventory, as the MP adapter reported it:")
    pods = sum(len(p) for _, p in WORKLOADS.values())
    _wait("the inventory in NSX",
          lambda: len(nsx.state.inventory(CLUSTER_ID, "ContainerApplicationInstance")) == pods)
    for rtype in ("ContainerProject", "ContainerApplication", "ContainerApplicationInstance",
                  "ContainerClusterNode"):
        objects = nsx.state.inventory(CLUSTER_ID, rtype)
        shown = ", ".join(sorted(str(o.get("display_name")) for o in objects.values()))
        say(f"  {rtype:<30} {len(objects):>2}  {shown}")
    _wait("a health report", lambda: admin.cluster_status() in ("HEALTHY", "DEGRADED", "FAILED"))
    with contextlib.suppress(SystemExit):  # show what NSX shows; HEALTHY once every part reported
        _wait("a HEALTHY report", lambda: admin.cluster_status() == "HEALTHY", timeout=8.0)
    say(f"  cluster health in NSX: {admin.cluster_status()} ({admin.health_detail()})")

    kube_env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(workdir)}
    step("[NSX admin] creates Antrea groups and DFW policies for the cluster, one per category ...")
    for app in ("frontend", "web", "db", "payments-api", "prometheus", "quarantined"):
        admin.patch(f"{DOMAIN}/groups/{app}", _group(app))
    admin.patch(f"{DOMAIN}/security-policies/quarantine", _policy(
        "Quarantine", "Emergency", 5, _rule("isolate", "ANY", "quarantined", "ANY", action="DROP")))
    admin.patch(f"{DOMAIN}/security-policies/infra-dns", _policy(
        "Allow DNS and monitoring", "Infrastructure", 10, _rule("dns", "ANY", "ANY", "53"),
        {**_rule("scrape", "prometheus", "ANY", "9090"), "sequence_number": 20}))
    admin.patch(f"{DOMAIN}/security-policies/pay-isolate", _policy(
        "Payments isolation", "Environment", 15, _rule("web-to-pay", "web", "payments-api", "8443"),
        {**_rule("deny-to-pay", "ANY", "payments-api", "ANY", action="DROP"), "sequence_number": 20}))
    admin.patch(f"{DOMAIN}/security-policies/web-tier", _policy(
        "Web tier", "Application", 20,
        _rule("fe-to-web", "frontend", "web", "8080"),
        _rule("web-to-db", "web", "db", "5432"),
        {**_rule("deny-to-db", "ANY", "db", "ANY", action="DROP"), "sequence_number": 20}))
    _wait("policies realized", lambda: all(admin.state(p)[0] == "SUCCESS" for p in POLICIES), timeout=60)
    step("[kubectl] what the adapter created:")
    say(textwrap.indent(_kubectl(kube_env, "get", "tiers,clustergroups,acnp", "-l",
                                 "antrea-nsx-adapter.io/managed-by=ccp-adapter").rstrip(), "  "), "kubectl")
    say(textwrap.indent(_kubectl(
        kube_env, "get", "acnp", "-o",
        "custom-columns=NAME:.metadata.name,TIER:.spec.tier,PRIORITY:.spec.priority,"
        "INGRESS:.spec.ingress[*].name,EGRESS:.spec.egress[*].name,PHASE:.status.phase").rstrip(), "  "), "kubectl")
    step("[NSX] realization state per policy:")
    for policy in POLICIES:
        say(f"  {policy:<12} {admin.state(policy)[0]}", "NSX")

    step("[NSX admin] changes the web port 8080 -> 8443 ...")
    admin.patch(f"{DOMAIN}/security-policies/web-tier/rules/fe-to-web",
                _rule("fe-to-web", "frontend", "web", "8443"))
    _wait("the change to reach the ACNP", lambda: "8443" in _kubectl(
        kube_env, "get", "acnp", "nsx-web-tier", "-o", "jsonpath={.spec.ingress[0].ports[0].port}"))
    _wait("Antrea to realize the new ACNP", lambda: _realized_now(kube, "nsx-web-tier"))
    _wait_steady("NSX to show the change realized", lambda: admin.state("web-tier")[0] == "SUCCESS")
    port = _kubectl(kube_env, "get", "acnp", "nsx-web-tier", "-o", "jsonpath={.spec.ingress[0].ports[0].port}")
    say(f"  nsx-web-tier now allows port {port}; NSX shows {admin.state('web-tier')[0]}", "NSX")

    step("[NSX admin] adds a rule with a negated source, which Antrea cannot express ...")
    admin.patch(f"{DOMAIN}/security-policies/not-web", _policy(
        "Everyone but web", "Application", 30, _rule("not-web", "web", "db", "5432", sources_excluded=True)))
    _wait("the error to reach NSX", lambda: admin.state("not-web")[0] == "ERROR")
    say(f"  NSX shows not-web: ERROR ({admin.state('not-web')[1] or 'see adapter log'})", "NSX")

    step("[kubectl] a Pod gets a new label ...")
    _kubectl(kube_env, "label", "pod", "web-1", "-n", "shop", "tier=frontend")
    _wait("the label to reach NSX", lambda: any(
        t == {"scope": "dis:k8s:tier", "tag": "frontend"}
        for o in nsx.state.inventory(CLUSTER_ID, "ContainerApplicationInstance").values()
        if o.get("display_name") == "web-1" for t in o.get("tags", [])))
    say("  NSX inventory now tags web-1 with dis:k8s:tier=frontend", "NSX")

    step("Where to look:")
    if not _narrator.live:  # the live view has it in its footer
        say(textwrap.indent(where, "  "))
    if once:
        if _narrator.live:
            view.refresh_now()
            time.sleep(0.5)  # one more frame with the final state
        else:
            say("")
            console.print(render(collect(admin, nsx, kube, _narrator, ""), []))
        say("demo scenario complete")
        return 0
    say("Running; edit NSX or the cluster and watch the adapter follow. Ctrl-C stops.")
    stopped = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopped.wait(1.0):
        pass
    return 0


POLICIES = ("quarantine", "infra-dns", "pay-isolate", "web-tier")


class _Joining:
    """Stops the adapters' manager and waits for it, so that its informers and writers are gone
    before the servers they talk to stop. The wait is short: the MP adapter's long poll of NSX
    requests is not interrupted by a stop and would hold the demo for up to its 10 s timeout."""

    WAIT = 3.0
    """Seconds; the manager stops in about one when no long poll is in flight."""

    def __init__(self, manager: Manager, runner: threading.Thread) -> None:
        self._manager = manager
        self._runner = runner

    def stop(self) -> None:
        self._manager.stop()
        self._runner.join(self.WAIT)


class _Closing:
    """Stops the live view with the rest of the stack (first, so the last frame stays on screen)."""

    def __init__(self, view: LiveView) -> None:
        self._view = view

    def stop(self) -> None:
        self._view.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run the scenario, then exit")
    parser.add_argument("--workdir", type=Path, default=None, help="where to keep the kubeconfig, logs, NSX files")
    parser.add_argument("--view", choices=("auto", "live", "plain"), default="auto",
                        help="live terminal view or plain lines (default: live on a terminal, plain otherwise)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="antrea-nsx-demo-"))
    started = time.monotonic()
    code = run(args.once, workdir, args.view)
    print(f"(took {time.monotonic() - started:.1f} s)", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
