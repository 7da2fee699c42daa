"""The chaos suite's world: the emulated API server, the NSX Manager simulator, the Antrea stand-in and
two adapter replicas, and the checks that say whether the system converged to exactly the right state.

Kept out of ``conftest.py`` because pytest's importlib mode does not let test modules import a
conftest; the fixtures there only build and tear down a :class:`World`.

Who is who in the request logs:

* API server: each replica slot has its own bearer token (logged as a fingerprint), the test's
  own reads and edits and the Antrea stand-in use the envtest admin token;
* NSX: slot 0 authenticates as the admin user (password), slot 1 as principal identity
  ``chaos-adapter-1`` (client certificate), the test's NSX admin edits come from principal identity
  ``chaos-driver``; the checks' own reads are GETs, never counted as writes.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from controllers.ccp import names
from controllers.ccp.translate import cluster_path
from controllers.mp import inventory_mapping
from controllers.mp.inventory_outbox import Outbox
from controllers.mp.inventory_reconciler import WATCHED, InventoryReconciler
from controllers.mp.inventory_settings import InventorySettings
from crds import MANIFEST_DIR
from hack.bench._ccp_common import exact_diff, managed_objects, nsx_desired
from hack.bench._ccp_common import wait_until as _wait_until
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from reconciler.cache import Store, namespace_index
from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig, Environment
from reconciler.errors import ApiError, NotFound
from sim.antrea import AntreaSimulator
from sim.kubeapi.faults import RequestRecord
from sim.nsx import NsxSimulator
from tests.chaos._replica import (
    ADAPTER_NAMESPACE,
    LEASE_NAME,
    AdapterFlags,
    NsxCredentials,
    Replica,
    Slot,
    start_replica,
    write_kubeconfig,
)

CLUSTER = "chaos-cluster"
DOMAIN = "/infra/domains/default"
POLICY_API = "/policy/api/v1"
NODES = ("node-1", "node-2", "node-3")
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")

# API server paths the adapter must not write outside leadership / after convergence: everything but
# Leases (leader election, and the liveness Leases the leader renews by design).
LEASE_PATH = re.compile(r"/apis/coordination\.k8s\.io/v1/namespaces/[^/]+/leases")
# NSX requests that change state the checks compare: policy objects (registration), inventory, and
# realization reports. Heartbeats and statistics are periodic reports by design; session logins are
# not writes.
NSX_DATA_WRITE = re.compile(r"^(/policy/api/v1/infra|/api/v1/inventory/container/|/api/v1/fabric/container-clusters"
                            r"|/api/v1/antrea-adapter/clusters/[^/]+/realization)")
NSX_PERIODIC = re.compile(r"^/api/v1/antrea-adapter/clusters/[^/]+/(heartbeat|statistics)$")
NSX_SESSION = re.compile(r"^/api/session/")

UNMANAGED = (("Tier", "chaos-unmanaged-tier"), ("ClusterGroup", "chaos-unmanaged-cg"),
             ("ClusterNetworkPolicy", "chaos-unmanaged-acnp"))


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """The bench rigs' poll loop, at a gentler default interval for the scenarios' heavier checks."""
    return _wait_until(check, timeout, what, interval)


class NsxAdmin:
    """The NSX admin of the scenarios: Policy API calls as principal identity ``chaos-driver``."""

    def __init__(self, nsx: NsxSimulator, cert: Path, key: Path) -> None:
        self.url = nsx.url + POLICY_API
        self.http = requests.Session()
        self.http.cert = (str(cert), str(key))
        self.http.verify = str(nsx.ca_file)
        self.http.trust_env = False

    def patch(self, path: str, body: dict[str, Any]) -> None:
        resp = self.http.patch(self.url + path, json=body, timeout=10)
        assert resp.status_code == 200, f"NSX refused PATCH {path}: {resp.status_code} {resp.text[:300]}"

    def delete(self, path: str) -> None:
        resp = self.http.delete(self.url + path, timeout=10)
        assert resp.status_code == 200, f"NSX refused DELETE {path}: {resp.status_code} {resp.text[:300]}"

    def close(self) -> None:
        self.http.close()


@dataclass
class World:
    """Everything one test module drives. Build with :func:`build_world`, end with :meth:`close`."""

    workdir: Path
    env: Environment
    cfg: EnvConfig
    kube: KubeClient
    nsx: NsxSimulator
    nsx_reader: NsxClient
    admin: NsxAdmin
    flags: AdapterFlags
    slots: list[Slot]
    antrea: AntreaSimulator | None = None
    unmanaged: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _slots_lock: threading.Lock = field(default_factory=threading.Lock)
    _antrea_lock: threading.Lock = field(default_factory=threading.Lock)
    _supervisor: threading.Thread | None = None
    _supervising: threading.Event = field(default_factory=threading.Event)

    # ------------------------------------------------------------------------------ processes
    @property
    def server(self) -> Any:
        return self.cfg.server

    def start_replica(self, index: int, flags: AdapterFlags | None = None) -> Replica:
        return start_replica(self.slots[index], flags or self.flags, self.workdir)

    def ensure_replicas(self) -> None:
        """Restart every slot whose process is gone (kubelet restarting a crashed container)."""
        with self._slots_lock:
            for slot in self.slots:
                current = slot.current
                if current is None or not current.alive:
                    if current is not None:
                        current.ended = current.ended or time.time()
                    self.start_replica(slot.index)

    def supervise(self, interval: float = 0.5) -> None:
        """Keep both slots running in the background, as kubelet does, until :meth:`unsupervise`."""
        if self._supervisor is not None:
            return
        self._supervising.set()

        def loop() -> None:
            while self._supervising.is_set():
                self.ensure_replicas()
                time.sleep(interval)

        self._supervisor = threading.Thread(target=loop, name="chaos-kubelet", daemon=True)
        self._supervisor.start()

    def unsupervise(self) -> None:
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(10)
            self._supervisor = None

    def stop_replicas(self) -> None:
        for slot in self.slots:
            if slot.current is not None:
                slot.current.stop(10)

    def start_antrea(self) -> None:
        """Start the Antrea stand-in unless it runs (called from fault timers too: locked)."""
        with self._antrea_lock:
            if self.antrea is None:
                self.antrea = AntreaSimulator(self.cfg.kubeconfig, realization_delay=0.2, heartbeat_interval=2.0,
                                              stats_interval=None).start()

    def stop_antrea(self) -> None:
        with self._antrea_lock:
            if self.antrea is not None:
                self.antrea.stop()
                self.antrea = None

    def holder(self) -> str | None:
        """``holderIdentity`` of the leader-election Lease (None when released or absent)."""
        try:
            lease = self.kube.get(("coordination.k8s.io/v1", "Lease"), LEASE_NAME, ADAPTER_NAMESPACE)
        except NotFound:
            return None
        return (lease.get("spec") or {}).get("holderIdentity") or None

    def leader_slot(self, timeout: float = 40.0) -> Slot:
        """The slot whose live replica holds the Lease: the one that logged becoming its leader."""
        def find() -> Slot | None:
            holder = self.holder()
            if not holder:
                return None
            for slot in self.slots:
                current = slot.current
                if current is not None and current.alive and f"became leader of lease {ADAPTER_NAMESPACE}/" \
                        f"{LEASE_NAME} as {holder}" in current.log_text():
                    return slot
            return None
        found: Slot = wait_until(find, timeout, "a live replica holding the Lease")
        return found

    def faults_off(self) -> None:
        self.server.faults.clear()
        self.nsx.faults.clear()
        self.nsx.faults.set_unreachable(False)

    def logs(self) -> str:
        return "\n".join(r.log_text() for s in self.slots for r in s.incarnations)

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {r.log.name}\n{r.log_text()[-chars:]}" for s in self.slots for r in s.incarnations)

    # ------------------------------------------------------------------------ request logs
    def kube_writes(self, since: float = 0.0, until: float | None = None, client: str | None = None,
                    leases: bool = False) -> list[RequestRecord]:
        """Write requests the API server answered (status 0 = dropped unanswered is left out), by
        ``client`` (a slot's ``kube_client``) or by any replica; Leases only when ``leases``."""
        replicas = {s.kube_client for s in self.slots}
        return [r for r in self.server.requests
                if r.method in WRITE_VERBS and r.status != 0 and r.time >= since
                and (until is None or r.time <= until)
                and (r.client == client if client is not None else r.client in replicas)
                and bool(LEASE_PATH.search(r.path)) == leases]

    def nsx_writes(self, since: float = 0.0, until: float | None = None, principal: str | None = None,
                   periodic: bool = False) -> list[Any]:
        """NSX data writes answered (or refused) by the simulator, by ``principal`` or any replica;
        with ``periodic`` the heartbeats and statistics reports instead."""
        principals = {s.nsx.principal for s in self.slots}
        pattern = NSX_PERIODIC if periodic else NSX_DATA_WRITE
        out = []
        for r in self.nsx.state.requests:
            t = r.time_ms / 1000.0
            if (r.method in WRITE_VERBS and r.status != 0 and t >= since and (until is None or t <= until)
                    and (r.principal == principal if principal is not None else r.principal in principals)
                    and pattern.search(r.path) and not NSX_SESSION.search(r.path)):
                out.append(r)
        return out

    # ---------------------------------------------------------------------------- the checks
    def ccp_problems(self) -> list[str]:
        """Managed Antrea objects vs ``translate(fresh NSX snapshot)``: spec, owned labels and
        annotations, nothing missing, nothing left over (so nothing exists twice)."""
        return exact_diff(nsx_desired(self.nsx_reader, CLUSTER), managed_objects(self.kube))

    def duplicate_problems(self) -> list[str]:
        """No NSX object is represented twice: one ACNP per NSX policy, one top-level ClusterGroup per
        NSX group (its criteria are child groups that carry the same path)."""
        problems = []
        groups = self._list_managed("ClusterGroup")
        children = {c for g in groups for c in (g.get("spec") or {}).get("childGroups") or []}
        for kind, objs in (("ClusterNetworkPolicy", self._list_managed("ClusterNetworkPolicy")),
                           ("ClusterGroup", [g for g in groups if g["metadata"]["name"] not in children])):
            seen: dict[str, str] = {}
            for obj in objs:
                path = ((obj["metadata"].get("annotations") or {}).get(names.NSX_PATH_ANNOTATION))
                if path is None:
                    continue
                if path in seen:
                    problems.append(f"{kind} {path} twice: {seen[path]} and {obj['metadata']['name']}")
                seen[path] = obj["metadata"]["name"]
        return problems

    def _list_managed(self, kind: str) -> list[dict[str, Any]]:
        selector = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
        return list(self.kube.list((names.ANTREA_API_VERSION, kind), label_selector=selector).get("items", []))

    def desired_inventory(self) -> dict[str, dict[str, Any]]:
        """The NSX inventory the cluster's current objects map to, computed by the product's own
        mapping (controllers/mp) from fresh LISTs: external_id -> owned view."""
        stores: dict[str, Store] = {}
        for kind, spec in WATCHED.items():
            store = Store({"namespace": namespace_index})
            try:
                items = self.kube.list((spec.api_version, spec.kind), label_selector=spec.label_selector)["items"]
            except ApiError:
                if not spec.optional:
                    raise
                continue
            store.replace(items)
            stores[kind] = store
        outbox = Outbox()
        InventoryReconciler(stores, outbox, InventorySettings(cluster_id=self.flags.cluster_id,
                                                              cluster_name=CLUSTER)).resync()
        return {op.external_id: inventory_mapping.owned_view(op.body) for op in outbox.take()}

    def actual_inventory(self) -> dict[str, dict[str, Any]]:
        cid = self.flags.cluster_id
        found = {ext: inventory_mapping.owned_view(obj) for ext, obj in self.nsx.state.inventory(cid).items()}
        cluster = self.nsx.state.container_clusters.get(cid)
        if cluster is not None:
            found[cid] = inventory_mapping.owned_view(cluster)
        return found

    def inventory_problems(self) -> list[str]:
        want, have = self.desired_inventory(), self.actual_inventory()
        problems = [f"missing in NSX: {want[e]['resource_type']} {want[e].get('display_name')}"
                    for e in sorted(set(want) - set(have))]
        problems += [f"left over in NSX: {have[e]['resource_type']} {have[e].get('display_name')}"
                     for e in sorted(set(have) - set(want))]
        for ext in sorted(set(want) & set(have)):
            if want[ext] != have[ext]:
                fields = sorted(k for k in want[ext] if want[ext].get(k) != have[ext].get(k))
                problems.append(f"differs in NSX: {want[ext]['resource_type']} {want[ext].get('display_name')} "
                                f"{fields}")
        return problems

    def realization_problems(self) -> list[str]:
        """Every NSX policy spanning the cluster is reported REALIZED at its current revision (the
        scenarios only create translatable policies), and nothing else is reported."""
        policies = {p: obj for p, obj in self.nsx.state.policies.items()
                    if cluster_path(CLUSTER) in (obj.get("scope") or [])}
        reports = self.nsx.state.realization(CLUSTER)
        problems = [f"reported but not a policy of the cluster: {p}" for p in sorted(set(reports) - set(policies))]
        for path, policy in sorted(policies.items()):
            rep = reports.get(path)
            if rep is None:
                problems.append(f"no realization report: {path}")
            elif rep.get("state") != "REALIZED" or (rep.get("intent_revision") or 0) < int(policy.get("_revision", 0)):
                problems.append(f"{path}: {rep.get('state')} at revision {rep.get('intent_revision')}, policy is at "
                                f"{policy.get('_revision')}; the ACNP in the API server: {self._acnp_status(path)}")
        return problems

    def _acnp_status(self, path: str) -> str:
        """What the API server holds for the policy's ACNP (to tell a stale adapter cache from Antrea)."""
        for obj in self._list_managed("ClusterNetworkPolicy"):
            if (obj["metadata"].get("annotations") or {}).get(names.NSX_PATH_ANNOTATION) == path:
                status = obj.get("status") or {}
                return (f"{obj['metadata']['name']} generation {obj['metadata'].get('generation')}, phase "
                        f"{status.get('phase')}, observedGeneration {status.get('observedGeneration')}, "
                        f"{status.get('currentNodesRealized')}/{status.get('desiredNodesRealized')} Nodes")
        return "none"

    def unmanaged_problems(self) -> list[str]:
        """The objects the adapter does not own keep their spec, labels and annotations, and no
        replica ever sent a write to them."""
        problems = []
        for (kind, name), before in self.unmanaged.items():
            now = self.kube.get((names.ANTREA_API_VERSION, kind), name)
            for part in ("labels", "annotations"):
                if (now["metadata"].get(part) or {}) != (before["metadata"].get(part) or {}):
                    problems.append(f"{kind} {name}: {part} changed")
            if now.get("spec") != before.get("spec") or now["metadata"].get("generation") != before["metadata"].get(
                    "generation"):
                problems.append(f"{kind} {name}: spec changed")
            touched = [r for r in self.kube_writes() if r.path.endswith("/" + name)]
            if touched:
                problems.append(f"{kind} {name}: written by a replica: {[(r.method, r.path) for r in touched]}")
        return problems

    def problems(self) -> list[str]:
        return [*self.ccp_problems(), *self.duplicate_problems(), *self.inventory_problems(),
                *self.realization_problems(), *self.unmanaged_problems()]

    def wait_converged(self, timeout: float) -> float:
        """Wait until every check passes; returns the wall-clock time they first all passed."""
        last: list[str] = []

        def converged() -> bool:
            try:
                last[:] = self.problems()
            except Exception as err:  # a check's read can meet the tail of a fault; try again
                last[:] = [f"check failed: {err!r}"]
            return not last

        try:
            wait_until(converged, timeout, "convergence", interval=0.5)
        except AssertionError:
            raise AssertionError(f"not converged within {timeout:.0f} s: {last[:12]}\n{self.log_tail(2500)}") from None
        return time.time()

    def assert_quiet(self, since: float, window: float) -> None:
        """No replica writes any data (Antrea objects, NSX inventory, realization) during ``window``
        seconds after convergence: a resync with nothing changed writes nothing."""
        time.sleep(max(0.0, since + window - time.time()))
        kube = self.kube_writes(since)
        nsx = self.nsx_writes(since)
        assert not kube and not nsx, (
            f"writes after convergence: kube {[(r.method, r.path, r.status) for r in kube][:10]}, "
            f"nsx {[(r.method, r.path, r.status) for r in nsx][:10]}")

    # ------------------------------------------------------------------------------- closing
    def close(self) -> None:
        self.unsupervise()
        for slot in self.slots:
            for replica in slot.incarnations:
                if replica.alive:
                    replica.kill()
        self.stop_antrea()
        self.admin.close()
        self.nsx_reader.close()
        self.nsx.stop()
        self.kube.close()
        self.env.stop()


def _seed_unmanaged(kube: KubeClient) -> dict[tuple[str, str], dict[str, Any]]:
    """A Tier, ClusterGroup and ACNP of somebody else (no managed-by label), as a cluster has."""
    api = names.ANTREA_API_VERSION
    tier, group, acnp = (n for _, n in UNMANAGED)
    kube.create((api, "Tier"), {"apiVersion": api, "kind": "Tier", "metadata": {"name": tier},
                                "spec": {"priority": 200, "description": "not the adapter's"}})
    kube.create((api, "ClusterGroup"), {"apiVersion": api, "kind": "ClusterGroup", "metadata": {"name": group},
                                        "spec": {"podSelector": {"matchLabels": {"app": "web"}}}})
    kube.create((api, "ClusterNetworkPolicy"), {
        "apiVersion": api, "kind": "ClusterNetworkPolicy", "metadata": {"name": acnp},
        "spec": {"priority": 5, "tier": tier, "appliedTo": [{"group": group}],
                 "ingress": [{"action": "Allow", "from": [{"namespaceSelector": {}}],
                              "ports": [{"protocol": "TCP", "port": 22}]}]}})
    return {(kind, name): kube.get((api, kind), name) for kind, name in UNMANAGED}


def build_world(workdir: Path, *, replicas: int = 2, flags: dict[str, Any] | None = None) -> World:
    """Start the control plane (emulator only: the suite injects faults), NSX, Antrea; create the
    adapter namespace, Nodes and unmanaged objects; prepare ``replicas`` slots (not started)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = Environment(crd_paths=[MANIFEST_DIR], kubeconfig_path=workdir / "kubeconfig")
    cfg = env.start()
    if cfg.backend != "emulator":
        env.stop()
        raise RuntimeError("the chaos suite needs the emulated API server (fault injection, request log)")
    kube = cfg.client(qps=-1)
    nsx = NsxSimulator(tls=True, rate_limit_rps=0, max_concurrent=0,
                       seed={"services": [{"resource_type": "ClusterControlPlane", "id": CLUSTER,
                                           "display_name": CLUSTER, "path": cluster_path(CLUSTER)}]})
    nsx.start()
    try:
        kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": ADAPTER_NAMESPACE}})
        for node in NODES:
            kube.create(("v1", "Node"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                                         "status": {"addresses": [{"type": "InternalIP",
                                                                   "address": f"192.168.0.{NODES.index(node) + 1}"}]}})
        unmanaged = _seed_unmanaged(kube)
        password_file = workdir / "nsx-password"
        password_file.write_text(nsx.password + "\n")
        password_file.chmod(0o600)
        slots = []
        for index in range(replicas):
            token = f"chaos-replica-{index}-{uuid.uuid4().hex[:8]}"
            kubeconfig = write_kubeconfig(cfg.server.url, token, workdir / f"kubeconfig-{index}")
            if index % 2 == 0:
                creds = NsxCredentials(nsx.username, password_file=password_file, username=nsx.username)
            else:
                principal = f"chaos-adapter-{index}"
                cert, key = nsx.issue_client_certificate(principal)
                nsx.register_principal_identity(principal, cert, is_protected=False)
                creds = NsxCredentials(principal, cert_file=cert, key_file=key)
            slots.append(Slot(index, token, kubeconfig, creds))
        driver_cert, driver_key = nsx.issue_client_certificate("chaos-driver")
        nsx.register_principal_identity("chaos-driver", driver_cert, is_protected=False)
        admin = NsxAdmin(nsx, driver_cert, driver_key)
        reader = NsxClient([nsx.url], BasicAuth(nsx.username, nsx.password), tls=TlsSettings(ca_file=str(nsx.ca_file)))
        adapter_flags = AdapterFlags(cluster=CLUSTER, cluster_id=str(uuid.uuid4()), nsx_url=nsx.url,
                                     ca_file=nsx.ca_file, **(flags or {}))
    except BaseException:
        nsx.stop()
        kube.close()
        env.stop()
        raise
    world = World(workdir, env, cfg, kube, nsx, reader, admin, adapter_flags, slots, unmanaged=unmanaged)
    world.start_antrea()
    return world


def secrets_in(text: str, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` occur in ``text`` (reported by length only, never by value)."""
    return [f"<secret of {len(s)} chars>" for s in secrets if s and s in text]


def key_fragments(key_pem: str) -> list[str]:
    """The base64 lines of a PEM private key: any one of them in a log would leak key material."""
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----") and len(line) >= 16]


def world_secrets(world: World) -> list[str]:
    """The NSX password and every base64 line of each replica's client key."""
    found = [world.nsx.password]
    for slot in world.slots:
        if slot.nsx.key_file is not None:
            found += key_fragments(slot.nsx.key_file.read_text())
    return found


def assert_no_secrets(world: World) -> None:
    """No secret in any adapter log line (debug level) nor in a live replica's ``/metrics``."""
    secrets = world_secrets(world)
    logs = world.logs()
    assert "DEBUG" in logs and "NSX" in logs, "the adapters logged nothing at debug level"
    assert secrets_in(logs, secrets) == [], "a secret is in an adapter log"
    for slot in world.slots:
        if slot.current is not None and slot.current.alive:
            metrics = slot.current.metrics()
            assert "leader_election_master_status" in metrics
            assert secrets_in(metrics, secrets) == [], "a secret is in /metrics"
