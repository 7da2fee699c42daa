"""Each adapter's liveness, published as a Lease so the other adapter (and ``kubectl``) can read it.

NSX wants one health report per cluster (mapping.md §8) that includes both adapters, but only the
MP adapter sends it, and the CCP adapter may run in another container or Pod. So each adapter's
leader renews a ``coordination.k8s.io/v1`` Lease ``antrea-nsx-adapter-<mp|ccp>-liveness`` in the
adapter namespace:

- ``spec.holderIdentity`` — the replica that publishes (its leader-election identity);
  ``spec.renewTime`` — when it last did; ``spec.leaseDurationSeconds`` — how long a reader may
  trust that renewal. A Lease is the Kubernetes-native shape for "X was alive at T" (kubelet's
  node heartbeats use it), costs one small object, and needs no CRD.
- annotation ``antrea-nsx-adapter.io/conditions`` — JSON list of conditions ``{type, status
  ("True"/"False"), reason, message, lastTransitionTime}``; the adapters publish ``Healthy``
  (its own readiness checks pass) and ``NsxConnected`` (its NSX session works). A Lease has no
  status, and an annotation keeps the object readable with ``kubectl get lease -o yaml``.
- label ``antrea-nsx-adapter.io/liveness: <component>`` — so a reader watches only these Leases.

A reader trusts the writer's ``leaseDurationSeconds`` (as leader election does): a renewal older
than that means the adapter is not running (``stale``); an empty ``holderIdentity`` means it
stopped cleanly (the publisher releases on a graceful stop). Both containers sit in one Pod, so
comparing ``renewTime`` with the reader's wall clock meets no skew worth counting; across Pods the
duration (30 s by default) dwarfs NTP skew.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from loguru import logger

from controllers.config import DEFAULT_NAMESPACE
from reconciler.client import KubeClient
from reconciler.errors import AlreadyExists, Conflict, NotFound
from reconciler.informer import SharedInformer
from reconciler.leaderelection import LEASES
from reconciler.manager import Manager

Component = Literal["mp", "ccp"]
LivenessState = Literal["running", "stale", "stopped", "absent"]
Probe = Callable[[], object]
"""A condition check, like a readiness check: raises (message = reason) or returns False when the
condition does not hold; anything else means it holds."""

LIVENESS_LABEL = "antrea-nsx-adapter.io/liveness"
CONDITIONS_ANNOTATION = "antrea-nsx-adapter.io/conditions"
HEALTHY = "Healthy"
"""Condition: the adapter's own checks (caches synced, controllers running) pass."""
NSX_CONNECTED = "NsxConnected"
"""Condition: the adapter's NSX session works (MP: the last NSX call; CCP: the intent poll)."""


def lease_name(component: str) -> str:
    """``antrea-nsx-adapter-<component>-liveness``."""
    return f"antrea-nsx-adapter-{component}-liveness"


def _default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass
class LivenessSettings:
    """How one adapter publishes its liveness."""

    component: Component
    """Which adapter publishes: ``mp`` or ``ccp`` (names the Lease)."""

    namespace: str = DEFAULT_NAMESPACE
    """Namespace of the Lease. Defaults to ``vmware-system-antrea``, the adapter's namespace
    (antrea.md §8.2); readers and the writer must agree on it."""

    renew_interval: float = 10.0
    """Seconds between renewals. Defaults to 10 s: well inside the default duration, so two missed
    renewals (an API server hiccup) do not make the adapter look dead."""

    lease_duration: int = 30
    """Seconds a renewal stays valid for readers (``leaseDurationSeconds``, whole seconds as the
    Lease API wants). Defaults to 30 s = 3 renewals, the same "three missed beats" rule NSX and the
    Antrea heartbeats use."""

    identity: str = field(default_factory=_default_identity)
    """``holderIdentity`` written. Defaults to ``<hostname>_<uuid4>``; pass the manager's
    leader-election identity so both Leases name the same replica."""

    def __post_init__(self) -> None:
        if self.component not in ("mp", "ccp"):
            raise ValueError("component must be 'mp' or 'ccp'")
        if self.renew_interval <= 0:
            raise ValueError("renew_interval must be positive")
        if self.lease_duration < 1 or self.lease_duration < self.renew_interval:
            raise ValueError("lease_duration must be at least 1 s and at least renew_interval")


@dataclass(frozen=True)
class LivenessCondition:
    """One published condition."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "status": "True" if self.status else "False",
                               "reason": self.reason, "message": self.message}
        if self.last_transition_time is not None:
            out["lastTransitionTime"] = _rfc3339(self.last_transition_time)
        return out


@dataclass(frozen=True)
class AdapterLiveness:
    """What a reader knows about one adapter at ``observed_at``."""

    component: str
    state: LivenessState
    """``running`` (renewed within its duration), ``stale`` (renewal too old: the adapter hangs or
    is gone), ``stopped`` (released on a graceful stop), ``absent`` (never published)."""
    holder: str = ""
    renew_time: datetime | None = None
    conditions: Mapping[str, LivenessCondition] = field(default_factory=dict)

    def holds(self, condition_type: str) -> bool:
        """True only while running and the condition is reported True."""
        cond = self.conditions.get(condition_type)
        return self.state == "running" and cond is not None and cond.status

    def why_not(self, condition_type: str) -> tuple[str, str]:
        """(reason, message) explaining why :meth:`holds` is False (empty when it holds)."""
        if self.state == "absent":
            return "NotPublished", f"no {lease_name(self.component)} Lease: the {self.component} adapter never ran"
        if self.state == "stopped":
            return "Stopped", f"the {self.component} adapter stopped"
        if self.state == "stale":
            when = _rfc3339(self.renew_time) if self.renew_time else "never"
            return "LivenessExpired", f"the {self.component} adapter last renewed its liveness at {when}"
        cond = self.conditions.get(condition_type)
        if cond is None:
            return "NotReported", f"the {self.component} adapter does not report {condition_type}"
        if not cond.status:
            return cond.reason or "ConditionFalse", cond.message
        return "", ""


def evaluate(probes: Mapping[str, Probe], previous: Mapping[str, LivenessCondition] | None = None,
             now: datetime | None = None) -> dict[str, LivenessCondition]:
    """Run each probe; keep ``last_transition_time`` of conditions whose status did not change."""
    now = now or datetime.now(UTC)
    previous = previous or {}
    out: dict[str, LivenessCondition] = {}
    for ctype, probe in probes.items():
        try:
            ok = probe() is not False
            reason, message = ("", "") if ok else ("CheckFailed", f"{ctype} check failed")
        except Exception as err:  # a probe failing is the information, not an error
            ok, reason, message = False, type(err).__name__, str(err)[:512]
        before = previous.get(ctype)
        since = before.last_transition_time if before is not None and before.status == ok else now
        out[ctype] = LivenessCondition(ctype, ok, reason, message, since)
    return out


def read_liveness(component: str, lease: Mapping[str, Any] | None, now: datetime | None = None) -> AdapterLiveness:
    """Interpret a liveness Lease (None = not found). Pure: the clock is a parameter."""
    if lease is None:
        return AdapterLiveness(component, "absent")
    now = now or datetime.now(UTC)
    spec = lease.get("spec") or {}
    meta = lease.get("metadata") or {}
    holder = str(spec.get("holderIdentity") or "")
    renew = _parse_time(spec.get("renewTime"))
    conditions = _parse_conditions((meta.get("annotations") or {}).get(CONDITIONS_ANNOTATION))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if not holder:
        state: LivenessState = "stopped"
    elif renew is None or now - renew > timedelta(seconds=duration):
        state = "stale"
    else:
        state = "running"
    return AdapterLiveness(component, state, holder, renew, conditions)


class LivenessReader:
    """Reads both adapters' Leases from a shared informer (no API call per read)."""

    def __init__(self, informer: SharedInformer, namespace: str) -> None:
        self.informer = informer
        self.namespace = namespace

    def read(self, component: str, now: datetime | None = None) -> AdapterLiveness:
        lease = self.informer.store.get(f"{self.namespace}/{lease_name(component)}")
        return read_liveness(component, lease, now)


def liveness_reader(manager: Manager, namespace: str = DEFAULT_NAMESPACE) -> LivenessReader:
    """A reader over the manager's shared informer of liveness Leases in ``namespace``."""
    informer = manager.informer(LEASES, namespace=namespace, label_selector=LIVENESS_LABEL)
    return LivenessReader(informer, namespace)


class LivenessPublisher:
    """Renews one adapter's liveness Lease; ``run`` is a manager runnable."""

    def __init__(self, client: KubeClient, settings: LivenessSettings, probes: Mapping[str, Probe]) -> None:
        self.client = client
        self.settings = settings
        self.probes = dict(probes)
        self.conditions: dict[str, LivenessCondition] = {}
        self.renewals = 0
        """Successful writes so far (tests and metrics)."""
        self._lease: dict[str, Any] | None = None  # last written, for an optimistic PUT

    def run(self, stop: threading.Event) -> None:
        """Renew every ``renew_interval`` until ``stop``; then release (holder emptied)."""
        failing = False
        while not stop.is_set():
            try:
                self.publish()
                if failing:
                    logger.info("{} liveness Lease renewed again", self.settings.component)
                failing = False
            except Exception as err:  # the API server may be away; readers will see it go stale
                if not failing:
                    logger.warning("renewing the {} liveness Lease failed: {}", self.settings.component, err)
                failing = True
                self._lease = None
            stop.wait(self.settings.renew_interval)
        self.release()

    def publish(self, *, holder: str | None = None) -> None:
        """Evaluate the probes and write the Lease once (create it when absent)."""
        s = self.settings
        now = datetime.now(UTC)
        self.conditions = evaluate(self.probes, self.conditions, now)
        body = self._lease or self._get()
        spec = dict((body or {}).get("spec") or {})
        identity = s.identity if holder is None else holder
        if identity and (spec.get("holderIdentity") != identity or "acquireTime" not in spec):
            spec["acquireTime"] = _micro(now)  # taking over (as client-go counts a transition)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if body else 0)
        spec.update(holderIdentity=identity, renewTime=_micro(now),
                    leaseDurationSeconds=int(math.ceil(s.lease_duration)))
        meta: dict[str, Any] = dict((body or {}).get("metadata") or {"name": lease_name(s.component),
                                                                      "namespace": s.namespace})
        meta["labels"] = {**(meta.get("labels") or {}), LIVENESS_LABEL: s.component,
                          "app.kubernetes.io/name": "antrea-nsx-adapter"}
        conditions = json.dumps([c.to_wire() for c in self.conditions.values()], separators=(",", ":"))
        meta["annotations"] = {**(meta.get("annotations") or {}), CONDITIONS_ANNOTATION: conditions}
        lease = {"apiVersion": LEASES.api_version, "kind": "Lease", "metadata": meta, "spec": spec}
        try:
            if body is None:
                self._lease = dict(self.client.create(LEASES, lease, s.namespace))
            else:
                self._lease = dict(self.client.replace(LEASES, lease))
        except (Conflict, AlreadyExists):
            self._lease = None  # someone else wrote it (a previous leader): re-read next time
            raise
        self.renewals += 1

    def release(self) -> None:
        """Best effort: tell readers at once that this adapter stopped (fails quietly once the
        write fence closed, e.g. after a lost Lease: readers then see it go stale instead)."""
        try:
            self.publish(holder="")
        except Exception as err:
            logger.debug("releasing the {} liveness Lease: {}", self.settings.component, err)

    def _get(self) -> dict[str, Any] | None:
        try:
            return dict(self.client.get(LEASES, lease_name(self.settings.component), self.settings.namespace))
        except NotFound:
            return None


def setup_liveness(manager: Manager, settings: LivenessSettings, probes: Mapping[str, Probe]) -> LivenessPublisher:
    """Publish this adapter's liveness while it leads (a leader-only runnable on ``manager``)."""
    publisher = LivenessPublisher(manager.client, settings, probes)
    manager.add_runnable(publisher.run, needs_leader_election=True)
    return publisher


def manager_ready(manager: Manager) -> Probe:
    """A probe that holds while every readiness check of ``manager`` passes (its ``/readyz``)."""

    def probe() -> None:
        failed = []
        for name, check in list(manager.readyz_checks.items()):
            try:
                if check() is False:
                    failed.append(name)
            except Exception as err:
                failed.append(f"{name}: {err}")
        if failed:
            raise RuntimeError("readiness checks failing: " + "; ".join(failed))

    return probe


# -- wire helpers ------------------------------------------------------------------------------
def _micro(t: datetime) -> str:
    """A ``metav1.MicroTime`` (what Lease times are)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_conditions(raw: object) -> dict[str, LivenessCondition]:
    """Conditions from the annotation; malformed content reads as no conditions at all."""
    if not isinstance(raw, str):
        return {}
    try:
        items = json.loads(raw)
    except ValueError:
        return {}
    out: dict[str, LivenessCondition] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            out[item["type"]] = LivenessCondition(
                item["type"], item.get("status") == "True", str(item.get("reason") or ""),
                str(item.get("message") or ""), _parse_time(item.get("lastTransitionTime")))
    return out
