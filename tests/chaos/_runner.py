"""Seeded chaos scenarios: a random but reproducible sequence of NSX edits, Kubernetes inventory churn
and faults, played against a :class:`~tests.chaos._world.World` with two adapter replicas running.

The seed fixes every choice (what is edited, which fault, when the leader is killed); thread and
process timing is not fixed, so a seed reproduces the same sequence of events, not the same
interleaving. Faults are bounded (a burst is a handful of requests; NSX is unreachable for
:data:`NSX_OUTAGE` seconds, not NSX's 30 s, to keep the suite within its time budget) and all are
lifted at the end; then the checks of the world must pass and stay quiet.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controllers.ccp.translate import cluster_path
from reconciler.errors import ApiError, NotFound
from tests.chaos._world import CLUSTER, DOMAIN, NODES, World

APPS = ("web", "db", "api", "cache")
CATEGORIES = ("Infrastructure", "Environment", "Application")
NSX_OUTAGE = 4.0
"""Seconds NSX stays unreachable in the scenarios' "NSX down" fault: 4 s exercises the code path —
every request fails, the poller keeps the last state, resyncs on recovery — within the suite's
budget; ``test_nsx_outage.py`` runs the full 30 s the issue names once."""
ANTREA_OUTAGE = 2.0
ANTREA_PATH = r"^/apis/crd\.antrea\.io/"


@dataclass
class Model:
    """What the scenario created, so that every edit it generates is one NSX and the API server accept."""

    groups: dict[str, str] = field(default_factory=dict)  # group id -> app it selects
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # policy id -> {category, seq, rules}
    namespaces: dict[str, list[str]] = field(default_factory=dict)  # namespace -> pod names
    services: dict[str, str] = field(default_factory=dict)  # "ns/name" -> app selected
    serial: int = 0

    def next(self, prefix: str) -> str:
        """A name never used before in this scenario (so a double create is always a bug)."""
        self.serial += 1
        return f"{prefix}{self.serial}"

    def referenced(self) -> set[str]:
        return {g for p in self.policies.values() for r in p["rules"].values() for g in (r["src"], r["dst"])}


def group_body(app: str) -> dict[str, Any]:
    return {"resource_type": "Group", "display_name": f"{app} pods", "group_type": ["ANTREA"],
            "expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                            "value": f"dis:k8s:app|{app}"}]}


def rule_body(rid: str, rule: dict[str, Any]) -> dict[str, Any]:
    def groups(gid: str) -> list[str]:
        return ["ANY"] if gid == "ANY" else [f"{DOMAIN}/groups/{gid}"]
    return {"resource_type": "Rule", "id": rid, "display_name": rid, "sequence_number": rule["seq"],
            "source_groups": groups(rule["src"]), "destination_groups": groups(rule["dst"]), "services": ["ANY"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "tcp", "l4_protocol": "TCP",
                                 "destination_ports": [str(rule["port"])]}],
            "action": rule["action"], "direction": rule["direction"]}


def policy_body(pid: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {"resource_type": "SecurityPolicy", "display_name": pid, "category": policy["category"],
            "sequence_number": policy["seq"], "scope": [cluster_path(CLUSTER)],
            "rules": [rule_body(rid, r) for rid, r in policy["rules"].items()]}


class Scenario:
    """One seeded scenario. ``log`` lists what was done, in order, for the failure message."""

    def __init__(self, world: World, seed: int, steps: int = 8) -> None:
        self.world = world
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.model = Model()
        self.log: list[str] = []
        self.killed: set[int] = set()  # id() of incarnations this scenario killed on purpose
        self.nsx_down: list[tuple[float, float]] = []  # wall-clock windows NSX was unreachable
        self._timers: list[threading.Timer] = []

    # ---------------------------------------------------------------------------------- setup
    def populate(self) -> None:
        """The starting state: a few namespaces, Pods and a Service; groups and policies in NSX."""
        for _ in range(2):
            self.new_namespace()
        for _ in range(5):
            self.new_pod()
        self.new_service()
        for _ in range(3):
            self.new_group()
        for _ in range(3):
            self.new_policy()

    # ---------------------------------------------------------------------------- NSX edits
    def new_group(self) -> None:
        gid = self.model.next("g")
        app = self.rng.choice(APPS)
        self.world.admin.patch(f"{DOMAIN}/groups/{gid}", group_body(app))
        self.model.groups[gid] = app
        self.log.append(f"nsx: create group {gid} ({app})")

    def edit_group(self) -> None:
        if not self.model.groups:
            return self.new_group()
        gid = self.rng.choice(sorted(self.model.groups))
        app = self.rng.choice([a for a in APPS if a != self.model.groups[gid]])
        self.world.admin.patch(f"{DOMAIN}/groups/{gid}", group_body(app))
        self.model.groups[gid] = app
        self.log.append(f"nsx: edit group {gid} -> {app}")

    def delete_group(self) -> None:
        free = sorted(set(self.model.groups) - self.model.referenced())
        if not free:
            return self.new_group()
        gid = self.rng.choice(free)
        self.world.admin.delete(f"{DOMAIN}/groups/{gid}")
        del self.model.groups[gid]
        self.log.append(f"nsx: delete group {gid}")

    def _rule(self) -> dict[str, Any]:
        choices = [*sorted(self.model.groups), "ANY"]
        return {"seq": self.rng.randint(1, 50), "src": self.rng.choice(choices), "dst": self.rng.choice(choices),
                "port": self.rng.choice((22, 53, 80, 443, 5432, 8080)), "action": self.rng.choice(("ALLOW", "DROP")),
                "direction": self.rng.choice(("IN", "OUT", "IN_OUT"))}

    def new_policy(self) -> None:
        if not self.model.groups:
            self.new_group()
        pid = self.model.next("p")
        rules = {self.model.next("r"): self._rule() for _ in range(self.rng.randint(1, 3))}
        policy: dict[str, Any] = {"category": self.rng.choice(CATEGORIES), "seq": self.rng.randint(1, 100),
                                  "rules": rules}
        self.world.admin.patch(f"{DOMAIN}/security-policies/{pid}", policy_body(pid, policy))
        self.model.policies[pid] = policy
        self.log.append(f"nsx: create policy {pid} ({policy['category']}, {len(rules)} rules)")

    def _policy(self) -> str | None:
        return self.rng.choice(sorted(self.model.policies)) if self.model.policies else None

    def edit_rule(self) -> None:
        pid = self._policy()
        if pid is None:
            return self.new_policy()
        rules = self.model.policies[pid]["rules"]
        rid = self.rng.choice(sorted(rules))
        rule = dict(rules[rid], port=self.rng.choice((23, 54, 81, 444, 5433, 8081)),
                    action=self.rng.choice(("ALLOW", "DROP")))
        self.world.admin.patch(f"{DOMAIN}/security-policies/{pid}/rules/{rid}", rule_body(rid, rule))
        rules[rid] = rule
        self.log.append(f"nsx: edit rule {pid}/{rid} (port {rule['port']}, {rule['action']})")

    def add_rule(self) -> None:
        pid = self._policy()
        if pid is None:
            return self.new_policy()
        rid = self.model.next("r")
        rule = self._rule()
        self.world.admin.patch(f"{DOMAIN}/security-policies/{pid}/rules/{rid}", rule_body(rid, rule))
        self.model.policies[pid]["rules"][rid] = rule
        self.log.append(f"nsx: add rule {pid}/{rid}")

    def delete_rule(self) -> None:
        pid = self._policy()
        if pid is None or len(self.model.policies[pid]["rules"]) < 2:
            return self.add_rule()
        rid = self.rng.choice(sorted(self.model.policies[pid]["rules"]))
        self.world.admin.delete(f"{DOMAIN}/security-policies/{pid}/rules/{rid}")
        del self.model.policies[pid]["rules"][rid]
        self.log.append(f"nsx: delete rule {pid}/{rid}")

    def move_policy(self) -> None:
        pid = self._policy()
        if pid is None:
            return self.new_policy()
        policy = self.model.policies[pid]
        policy["seq"] = self.rng.randint(1, 100)
        self.world.admin.patch(f"{DOMAIN}/security-policies/{pid}", policy_body(pid, policy))
        self.log.append(f"nsx: move policy {pid} to sequence {policy['seq']}")

    def delete_policy(self) -> None:
        pid = self._policy()
        if pid is None or len(self.model.policies) < 2:
            return self.new_policy()
        self.world.admin.delete(f"{DOMAIN}/security-policies/{pid}")
        del self.model.policies[pid]
        self.log.append(f"nsx: delete policy {pid}")

    # ------------------------------------------------------------------ Kubernetes churn
    def new_namespace(self) -> None:
        ns = self.model.next("ns")
        self.world.kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": ns, "labels": {"team": self.rng.choice(("red", "blue"))}}})
        self.model.namespaces[ns] = []
        self.log.append(f"k8s: create namespace {ns}")

    def _namespace(self) -> str:
        if not self.model.namespaces:
            self.new_namespace()
        return self.rng.choice(sorted(self.model.namespaces))

    def new_pod(self) -> None:
        ns = self._namespace()
        name = self.model.next("pod")
        kube = self.world.kube
        kube.create(("v1", "Pod"), {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": ns, "labels": {"app": self.rng.choice(APPS)}},
            "spec": {"nodeName": self.rng.choice(NODES), "containers": [{"name": "main", "image": "example/app:1"}]}})
        ip = f"10.{self.rng.randint(1, 250)}.{self.rng.randint(0, 250)}.{self.rng.randint(2, 250)}"
        kube.patch_status(("v1", "Pod"), name, {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}},
                          ns)
        self.model.namespaces[ns].append(name)
        self.log.append(f"k8s: create pod {ns}/{name}")

    def _pod(self) -> tuple[str, str] | None:
        pods = [(ns, p) for ns, names in sorted(self.model.namespaces.items()) for p in names]
        return self.rng.choice(pods) if pods else None

    def relabel_pod(self) -> None:
        found = self._pod()
        if found is None:
            return self.new_pod()
        ns, name = found
        app = self.rng.choice(APPS)
        rev = str(self.rng.randint(1, 9))
        self.world.kube.patch(("v1", "Pod"), name, {"metadata": {"labels": {"app": app, "rev": rev}}}, ns)
        self.log.append(f"k8s: relabel pod {ns}/{name} app={app}")

    def delete_pod(self) -> None:
        found = self._pod()
        if found is None:
            return self.new_pod()
        ns, name = found
        self.world.kube.delete(("v1", "Pod"), name, ns)
        self.model.namespaces[ns].remove(name)
        self.log.append(f"k8s: delete pod {ns}/{name}")

    def label_namespace(self) -> None:
        ns = self._namespace()
        self.world.kube.patch(("v1", "Namespace"), ns, {"metadata": {"labels": {"team": self.rng.choice(
            ("red", "blue", "green"))}}})
        self.log.append(f"k8s: relabel namespace {ns}")

    def delete_namespace(self) -> None:
        if len(self.model.namespaces) < 2:
            return self.new_namespace()
        ns = self.rng.choice(sorted(self.model.namespaces))
        self.world.kube.delete(("v1", "Namespace"), ns)
        del self.model.namespaces[ns]
        self.model.services = {k: v for k, v in self.model.services.items() if not k.startswith(ns + "/")}
        self.log.append(f"k8s: delete namespace {ns}")

    def new_service(self) -> None:
        ns = self._namespace()
        name = self.model.next("svc")
        app = self.rng.choice(APPS)
        cluster_ip = f"10.96.{self.rng.randint(0, 250)}.{self.rng.randint(2, 250)}"
        self.world.kube.create(("v1", "Service"), {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": name, "namespace": ns}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}],
                                                     "clusterIP": cluster_ip}})
        self.model.services[f"{ns}/{name}"] = app
        self.log.append(f"k8s: create service {ns}/{name} -> app={app}")

    def reselect_service(self) -> None:
        if not self.model.services:
            return self.new_service()
        key = self.rng.choice(sorted(self.model.services))
        ns, name = key.split("/")
        app = self.rng.choice(APPS)
        self.world.kube.patch(("v1", "Service"), name, {"spec": {"selector": {"app": app}}}, ns)
        self.model.services[key] = app
        self.log.append(f"k8s: service {key} selects app={app}")

    # --------------------------------------------------------------------------------- faults
    def kube_watch_drop(self) -> None:
        self.world.server.faults.drop_watches()
        self.log.append("fault: API server drops every watch")

    def kube_410(self) -> None:
        self.world.server.faults.compact()
        self.world.server.faults.drop_watches()
        self.log.append("fault: API server compacts its history and drops watches (resumes get 410)")

    def kube_409(self) -> None:
        n = self.rng.randint(1, 3)
        self.world.server.faults.fail_next(n, 409, method=self.rng.choice(("PATCH", "PUT")), path=ANTREA_PATH)
        self.log.append(f"fault: next {n} Antrea updates get 409")

    def kube_429(self) -> None:
        n = self.rng.randint(2, 3)
        self.world.server.faults.fail_next(n, 429, retry_after=1)
        self.log.append(f"fault: next {n} API requests get 429")

    def kube_5xx(self) -> None:
        n, code = self.rng.randint(2, 3), self.rng.choice((500, 503))
        self.world.server.faults.fail_next(n, code)
        self.log.append(f"fault: next {n} API requests get {code}")

    def nsx_429(self) -> None:
        n = self.rng.randint(2, 6)
        self.world.nsx.faults.fail_next(n, 429, retry_after=1)
        self.log.append(f"fault: next {n} NSX requests get 429")

    def nsx_503(self) -> None:
        n = self.rng.randint(2, 6)
        self.world.nsx.faults.fail_next(n, 503)
        self.log.append(f"fault: next {n} NSX requests get 503")

    def nsx_403(self) -> None:
        n = self.rng.randint(1, 3)
        self.world.nsx.faults.fail_next(n, 403, error_code=403)
        self.log.append(f"fault: next {n} NSX requests refused (403)")

    def nsx_session_expiry(self) -> None:
        self.world.nsx.faults.expire_sessions()
        self.world.nsx.faults.drop_connections(self.rng.randint(1, 3))
        self.log.append("fault: NSX sessions expire, next connections reset")

    def nsx_unreachable(self) -> None:
        self.world.nsx.faults.set_unreachable(True)
        self.nsx_down.append((time.time(), time.time() + NSX_OUTAGE))
        self._later(NSX_OUTAGE, lambda: self.world.nsx.faults.set_unreachable(False))
        self.log.append(f"fault: NSX unreachable for {NSX_OUTAGE:.0f} s")

    def kill_leader(self) -> None:
        """SIGKILL whichever replica leads now (the world's supervisor restarts it, as kubelet)."""
        slot = self.world.leader_slot(timeout=30)
        current = slot.current
        assert current is not None
        self.killed.add(id(current))
        current.kill()
        self.log.append(f"fault: SIGKILL the leader (slot {slot.index})")

    def antrea_restart(self) -> None:
        self.world.stop_antrea()
        self._later(ANTREA_OUTAGE, self.world.start_antrea)
        self.log.append(f"fault: Antrea stand-in stopped for {ANTREA_OUTAGE:.0f} s")

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(delay, action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    # ---------------------------------------------------------------------------------- play
    EDITS = ("new_group", "edit_group", "delete_group", "new_policy", "edit_rule", "add_rule", "delete_rule",
             "move_policy", "delete_policy", "new_namespace", "new_pod", "relabel_pod", "delete_pod",
             "label_namespace", "delete_namespace", "new_service", "reselect_service")
    FAULTS = ("kube_watch_drop", "kube_410", "kube_409", "kube_429", "kube_5xx", "nsx_429", "nsx_503",
              "nsx_403", "nsx_session_expiry", "nsx_unreachable", "kill_leader", "antrea_restart")

    def plan(self) -> list[tuple[list[str], str | None, float]]:
        """Per step: the edits, the fault (or None), the pause after it. Every scenario gets one
        leader kill, at a random step, right after edits (mid-sync)."""
        kill_at = self.rng.randrange(self.steps)
        steps = []
        for step in range(self.steps):
            edits = [self.rng.choice(self.EDITS) for _ in range(self.rng.randint(1, 3))]
            if step == kill_at:
                fault: str | None = "kill_leader"
            elif self.rng.random() < 0.7:
                fault = self.rng.choice([f for f in self.FAULTS if f != "kill_leader"])
            else:
                fault = None
            steps.append((edits, fault, self.rng.uniform(0.2, 1.2)))
        return steps

    def play(self) -> None:
        for edits, fault, pause in self.plan():
            for edit in edits:
                self.retrying(getattr(self, edit))
            if fault is not None:
                getattr(self, fault)()
            time.sleep(pause)

    def retrying(self, action: Callable[[], None]) -> None:
        """The test's own edits go through the same faulty servers: retry them like a person would
        (faults are bursts of a few requests, so a few tries always get through)."""
        for attempt in range(20):
            try:
                action()
                return
            except (ApiError, AssertionError, OSError) as err:
                if isinstance(err, NotFound) or attempt == 19:
                    raise
                time.sleep(0.3)

    def heal(self) -> None:
        """Lift every fault: timers fire now, the servers answer, Antrea and both replicas run."""
        for timer in self._timers:
            timer.cancel()
        self.world.faults_off()
        self.world.start_antrea()
        self.world.ensure_replicas()

    def unexpected_exits(self) -> list[str]:
        """Replica processes that ended without being killed by the scenario, for another reason
        than a lost Lease (which a replica must exit on, and is then restarted) or than starting
        while NSX was unreachable (the start-up check exits 2; kubelet restarts it)."""
        out = []
        for slot in self.world.slots:
            for replica in slot.incarnations:
                if id(replica) in self.killed or replica.alive:
                    continue
                text = replica.log_text()
                ended = replica.ended or time.time()
                during_outage = any(start - 1.0 <= ended and replica.started <= end + 1.0
                                    for start, end in self.nsx_down)
                if "leader election lost" in text or (during_outage and "no NSX Manager reachable" in text):
                    continue
                out.append(f"{replica.log.name} exited {replica.proc.returncode}: {text[-1500:]}")
        return out
