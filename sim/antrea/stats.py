"""Network policy statistics the way antrea-controller serves them (antrea.md §6).

Real Antrea aggregates the agents' per-rule deltas in memory and serves one
``stats.antrea.io/v1alpha1`` ``AntreaClusterNetworkPolicyStats`` object per ACNP, cumulative since
the object's ``creationTimestamp``, which is reset when the controller restarts. The stand-in keeps
the same objects in the API server (through the CRD in ``sim/antrea/manifests/``, which gives the
same URLs and list/get answers as the aggregated API) so the adapter reads them exactly as it would
read the real ones. Counters grow on their own every ``interval``; tests can also set them, and
``reset`` reproduces a controller restart: every object is recreated (new ``uid`` and
``creationTimestamp``) with zero counters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from sim.antrea._watch import WatchLoop

GROUP = "stats.antrea.io"
VERSION = "v1alpha1"
PLURAL = "antreaclusternetworkpolicystats"
KIND = "AntreaClusterNetworkPolicyStats"
ACNP_PATH = "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies"
CRD_FILE = Path(__file__).parent / "manifests" / "antreaclusternetworkpolicystats.yaml"


@dataclass
class Traffic:
    """One rule's cumulative counters (int64 in Antrea; zero values are omitted on the wire)."""

    packets: int = 0
    bytes: int = 0
    sessions: int = 0

    def wire(self) -> dict[str, Any]:
        """Merge-patch form: zeros are ``None`` so the patch removes them (Go's ``omitempty``)."""
        return {"packets": self.packets or None, "bytes": self.bytes or None, "sessions": self.sessions or None}


@dataclass(frozen=True)
class Growth:
    """What every rule of every ACNP gains per tick (one new session of ``packets`` packets)."""

    packets: int = 10
    bytes: int = 1500
    sessions: int = 1


class PolicyStats:
    """Keeps one stats object per ACNP in the API server; see the module docstring."""

    def __init__(self, api: client.ApiClient, *, interval: float | None = 0.5, growth: Growth | None = None) -> None:
        """``interval``: seconds between automatic counter increments (None = only ``set_counters``)."""
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self.interval = interval
        self.growth = growth or Growth()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._rules: dict[str, list[str]] = {}  # ACNP name -> rule names (ingress, then egress)
        self._counters: dict[str, dict[str, Traffic]] = {}
        self._written: set[str] = set()  # stats objects known to exist
        self._loop = WatchLoop(api, ACNP_PATH, self._on_policy, self._stop)
        self._ticker = threading.Thread(target=self._tick_loop, name="antrea-sim-stats", daemon=True)
        self.writes = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> PolicyStats:
        """Serve the stats API (installing its CRD when absent, as Antrea registers its APIService),
        follow the ACNPs, and start counting."""
        self.install_api(timeout)
        self._loop.start()
        self._loop.synced.wait(timeout)
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._loop.join(0.5)
        if self._ticker.is_alive():
            self._ticker.join(2.0)

    def install_api(self, timeout: float = 10.0) -> None:
        """Create the ``stats.antrea.io`` CRD unless present and wait until the group is served."""
        crd = yaml.safe_load(CRD_FILE.read_text())
        try:
            client.ApiextensionsV1Api(self._api).create_custom_resource_definition(crd)
        except client.ApiException as err:
            if err.status != 409:
                raise
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, limit=1)
                return
            except client.ApiException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    # -- test hooks ----------------------------------------------------------------------------
    def set_counters(self, policy: str, rule: str, packets: int, bytes: int, sessions: int) -> None:
        """Set one rule's cumulative counters (as if the agents had reported that much) and serve them."""
        with self._lock:
            self._counters.setdefault(policy, {})[rule] = Traffic(packets, bytes, sessions)
        self.flush(policy)

    def policies(self) -> dict[str, list[str]]:
        """ACNP name -> rule names, as the stand-in currently knows them."""
        with self._lock:
            return {name: list(rules) for name, rules in self._rules.items()}

    def counters(self, policy: str) -> dict[str, Traffic]:
        with self._lock:
            return {rule: Traffic(t.packets, t.bytes, t.sessions) for rule, t in self._counters.get(policy, {}).items()}

    def reset(self) -> None:
        """A controller restart: every stats object is recreated with zero counters."""
        with self._write_lock:
            with self._lock:
                names = sorted(self._rules)
                self._counters = {name: {} for name in names}
            for name in names:
                try:
                    self._custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
                except client.ApiException as err:
                    if err.status != 404:
                        raise
                self._written.discard(name)
        self.flush()

    def flush(self, policy: str | None = None) -> None:
        """Serve the current counters now (one object, or all)."""
        with self._lock:
            names = [policy] if policy is not None else sorted(self._rules)
            bodies = {n: self._body(n) for n in names if n in self._rules}
        with self._write_lock:
            for name, body in bodies.items():
                self._write(name, body)

    # -- internals -----------------------------------------------------------------------------
    def _on_policy(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event == "DELETED":
            with self._lock:
                self._rules.pop(name, None)
                self._counters.pop(name, None)
            with self._write_lock:
                self._written.discard(name)
                try:
                    self._custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
                except client.ApiException:
                    pass  # already gone
            return
        spec = obj.get("spec") or {}
        rules = [str(r.get("name") or f"{direction}-{i}") for direction in ("ingress", "egress")
                 for i, r in enumerate(spec.get(direction) or [])]
        with self._lock:
            fresh = name not in self._rules
            self._rules[name] = rules
            self._counters.setdefault(name, {})
        if fresh:
            self.flush(name)

    def _body(self, name: str) -> dict[str, Any]:
        """Caller holds ``_lock``."""
        counters = self._counters.get(name, {})
        total = Traffic()
        rules = []
        for rule in self._rules.get(name, []):
            t = counters.get(rule)
            if t is None or not (t.packets or t.bytes or t.sessions):
                continue  # Antrea lists only rules that saw traffic
            total.packets += t.packets
            total.bytes += t.bytes
            total.sessions += t.sessions
            rules.append({"name": rule, "trafficStats": {k: v for k, v in t.wire().items() if v is not None}})
        return {"trafficStats": total.wire(), "ruleTrafficStats": rules}

    def _write(self, name: str, body: dict[str, Any]) -> None:
        """Caller holds ``_write_lock``: create the object once, then merge-patch its counters."""
        try:
            if name not in self._written:
                try:
                    obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name},
                           "trafficStats": {k: v for k, v in body["trafficStats"].items() if v is not None},
                           "ruleTrafficStats": body["ruleTrafficStats"]}
                    self._custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, obj)
                    self._written.add(name)
                    self.writes += 1
                    return
                except client.ApiException as err:
                    if err.status != 409:
                        raise
                    self._written.add(name)
            self._custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, body)
            self.writes += 1
        except client.ApiException as err:
            if err.status == 404:
                self._written.discard(name)  # deleted underneath us: recreated on the next write
            # anything else: the next tick writes again

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            if self.interval is None:
                self._stop.wait(0.2)
                continue
            if self._stop.wait(self.interval):
                return
            g = self.growth
            with self._lock:
                if self.interval is None:
                    continue  # switched off while waiting
                for name, rules in self._rules.items():
                    counters = self._counters.setdefault(name, {})
                    for rule in rules:
                        t = counters.setdefault(rule, Traffic())
                        t.packets += g.packets
                        t.bytes += g.bytes
                        t.sessions += g.sessions
            try:
                self.flush()
            except Exception:  # the API server may be going away while tests tear down
                if self._stop.is_set():
                    return
