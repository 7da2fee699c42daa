"""Shared by the CCP benchmark and the CCP resilience tests.

* :func:`make_intent` — a generated, translatable NSX intent (groups + policies spanning one cluster);
  :func:`seed_document` wraps it as a ``sim.nsx`` seed (the cluster-control-plane first, see below);
* :class:`RunnerProcess` — the adapter as a subprocess (``_ccp_runner.py``) with its stdout events;
* :func:`nsx_desired` / :func:`managed_objects` / :func:`exact_diff` — "the cluster's managed objects
  equal ``translate(NSX snapshot)`` exactly": same (kind, name) set, and for each object the same
  ``spec`` and the labels/annotations the translation sets.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from controllers.ccp import names
from controllers.ccp.intent import NsxIntent
from controllers.ccp.translate import Translation, cluster_path, translate
from nsx.client import NsxClient
from reconciler.client import KubeClient

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / "_ccp_runner.py"
API_VERSION = names.ANTREA_API_VERSION
KINDS = ("Tier", "ClusterGroup", "ClusterNetworkPolicy")
PLURALS = {"Tier": "tiers", "ClusterGroup": "clustergroups", "ClusterNetworkPolicy": "clusternetworkpolicies"}
# Writes of Antrea objects by the adapter (the Antrea stand-in writes /status, which is excluded).
ANTREA_OBJECT_PATH = r"^/apis/crd\.antrea\.io/v1beta1/(tiers|clustergroups|clusternetworkpolicies)(/[^/]+)?$"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")
DOMAIN = "/infra/domains/default"
Key = tuple[str, str]


# ------------------------------------------------------------------------------------- intent
def group_body(gid: str, n: int) -> dict[str, Any]:
    """A Pod-tag group (every fifth one an IP set, to mix the two shapes)."""
    if n % 5 == 4:
        expression: list[dict[str, Any]] = [{"resource_type": "IPAddressExpression",
                                             "ip_addresses": [f"10.{n // 250 % 250}.{n % 250}.0/24"]}]
    else:
        expression = [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                       "value": f"dis:k8s:app|{gid}"}]
    return {"resource_type": "Group", "id": gid, "display_name": gid, "group_type": ["ANTREA"],
            "expression": expression}


def rule_body(rid: str, seq: int, src: str, dst: str, port: int, *, direction: str = "IN_OUT") -> dict[str, Any]:
    return {"resource_type": "Rule", "id": rid, "display_name": rid, "sequence_number": seq,
            "source_groups": [f"{DOMAIN}/groups/{src}"], "destination_groups": [f"{DOMAIN}/groups/{dst}"],
            "services": ["ANY"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "tcp", "l4_protocol": "TCP",
                                 "destination_ports": [str(port)]}],
            "action": "ALLOW" if seq % 3 else "DROP", "direction": direction}


def policy_body(pid: str, n: int, rules: list[dict[str, Any]], cluster: str) -> dict[str, Any]:
    return {"resource_type": "SecurityPolicy", "id": pid, "display_name": pid,
            "category": ("Application", "Environment", "Infrastructure")[n % 3], "sequence_number": n + 1,
            "scope": [cluster_path(cluster)], "rules": rules}


def group_id(n: int) -> str:
    return f"g{n:04d}"


def policy_id(n: int) -> str:
    return f"p{n:04d}"


def make_intent(policies: int, rules: int, groups: int, cluster: str) -> dict[str, list[dict[str, Any]]]:
    """``policies`` x ``rules`` (IN_OUT, TCP port) over ``groups`` groups, every group referenced."""
    gs = [group_body(group_id(n), n) for n in range(groups)]
    ps = []
    for p in range(policies):
        rs = []
        for r in range(rules):
            k = p * rules + r
            src = group_id((2 * k) % groups)
            dst = group_id((2 * k + 1) % groups)
            rs.append(rule_body(f"r{r}", r + 1, src, dst, 1000 + r))
        ps.append(policy_body(policy_id(p), p, rs, cluster))
    return {"groups": gs, "policies": ps}


def seed_document(intent: Mapping[str, list[dict[str, Any]]], cluster: str) -> dict[str, Any]:
    """A ``sim.nsx --seed`` document. ``apply_seed`` creates services, then groups, then policies in one
    transaction and places any item that carries a ``path`` there, so the cluster-control-plane the
    policies' scope references is listed first, under ``services``, with its own path."""
    ccp = {"resource_type": "ClusterControlPlane", "id": cluster, "display_name": cluster,
           "path": cluster_path(cluster)}
    return {"services": [ccp], "groups": list(intent["groups"]), "policies": list(intent["policies"])}


# ------------------------------------------------------------------------------- comparison
def nsx_desired(nsx: NsxClient, cluster: str) -> Translation:
    """``translate`` of a fresh NSX snapshot, read over HTTP like the adapter reads it."""
    snapshot = NsxIntent(nsx.transport).fetch().snapshot
    return translate(snapshot, cluster)


def managed_objects(kube: KubeClient) -> dict[Key, dict[str, Any]]:
    """Every Antrea object carrying the adapter's managed-by label, by (kind, name)."""
    selector = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
    found: dict[Key, dict[str, Any]] = {}
    for kind in KINDS:
        for obj in kube.list((API_VERSION, kind), label_selector=selector).get("items", []):
            found[(kind, obj["metadata"]["name"])] = obj
    return found


def exact_diff(desired: Translation, observed: Mapping[Key, Mapping[str, Any]]) -> list[str]:
    """Every difference between the translation and the managed objects (empty = converged)."""
    want = {(o["kind"], o["metadata"]["name"]): o for o in desired.objects()}
    problems: list[str] = []
    for key in sorted(set(want) - set(observed)):
        problems.append(f"missing {key}")
    for key in sorted(set(observed) - set(want)):
        problems.append(f"leftover {key}")
    for key in sorted(set(want) & set(observed)):
        w, o = want[key], observed[key]
        if w.get("spec") != o.get("spec"):
            problems.append(f"spec differs {key}")
        for part in ("labels", "annotations"):
            mine = (w["metadata"].get(part) or {})
            theirs = (o["metadata"].get(part) or {})
            if any(theirs.get(k) != v for k, v in mine.items()):
                problems.append(f"{part} differ {key}")
    if desired.errors:
        problems.append(f"translation errors: {sorted(desired.errors)[:3]}")
    return problems


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    """A helper process (``python ARGS…``) whose last stdout line is one JSON object."""
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------ the runner
class RunnerProcess:
    """``_ccp_runner.py`` in a subprocess; its stdout events are collected by a reader thread."""

    def __init__(self, *, kubeconfig: Path | str, nsx_url: str, password_file: Path | str, cluster: str,
                 ca_file: Path | str | None = None, poll_interval: float = 1.0, kube_qps: float = 20.0,
                 kube_burst: int = 30, extra: list[str] | None = None, stderr: Path | None = None) -> None:
        cmd = [sys.executable, str(RUNNER), "--kubeconfig", str(kubeconfig), "--nsx-url", nsx_url,
               "--nsx-password-file", str(password_file), "--cluster", cluster,
               "--poll-interval", str(poll_interval), "--kube-qps", str(kube_qps), "--kube-burst", str(kube_burst)]
        if ca_file is not None:
            cmd += ["--nsx-ca-file", str(ca_file)]
        cmd += extra or []
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("REQUESTS_CA_BUNDLE", None)
        self._stderr_file = open(stderr, "ab") if stderr is not None else None  # noqa: SIM115
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file or subprocess.DEVNULL, text=True)
        self.events: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)
            self._new.put(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def wait_event(self, match: Callable[[dict[str, Any]], object], timeout: float, what: str,
                   since: int = 0) -> dict[str, Any]:
        """The first event (at index >= ``since``) that ``match`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.snapshot()[since:]:
                if match(event):
                    return event
            if self.proc.poll() is not None and self._new.empty():
                raise AssertionError(f"runner exited ({self.proc.returncode}) before {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"runner: no {what} within {timeout} s (events: {self.snapshot()[-5:]})")
            try:
                self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass

    def wait_in_sync(self, timeout: float, since: int = 0) -> dict[str, Any]:
        """A successful policy run that found nothing to write."""
        return self.wait_event(lambda e: e.get("event") == "reconcile" and e.get("ok") and e.get("writes") == 0
                               and not (e.get("create") or e.get("update") or e.get("delete")),
                               timeout, "in-sync reconcile", since)

    def wait_declared_in_sync(self, timeout: float, since: int = 0) -> dict[str, Any]:
        """Whichever comes first: the start-up digest check's "in sync" (``how`` "digest") or a
        successful policy run that found nothing to write (``how`` "reconcile"); ``t`` is when."""
        event = self.wait_event(lambda e: e.get("event") == "in_sync" or (
            e.get("event") == "reconcile" and e.get("ok") and e.get("writes") == 0
            and not (e.get("create") or e.get("update") or e.get("delete"))), timeout, "in sync", since)
        if event["event"] == "in_sync":
            return event
        return {**event, "how": "reconcile", "t": event["t1"]}

    def peak_rss_kib(self) -> int | None:
        """VmHWM of the process (while it is alive)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def kill(self) -> None:
        """SIGKILL: no graceful anything."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait (SIGKILL if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()
        return int(self.proc.returncode)

    def _close(self) -> None:
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def __enter__(self) -> RunnerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
