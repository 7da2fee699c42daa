"""Leader election on a ``coordination.k8s.io/v1`` Lease (client-go ``tools/leaderelection``).

Several replicas run; only the holder of the Lease reconciles. Acquire and renew are optimistic:
read the Lease, then PUT it back with the resourceVersion read, so two candidates racing for an
expired lease cannot both win (the loser gets 409 Conflict).

Expiry is judged on the *local* clock, as client-go does: a candidate notes when it last saw the
Lease record change and considers it expired ``leaseDurationSeconds`` later, so clock skew between
replicas does not matter (only a difference in clock *rate* does).

client-go itself does not fence ("does not guarantee that only one client is acting as a leader");
controller-runtime exits the process when renewal fails. In one Python process we get the same
effect with a write fence: :meth:`LeaderElector.fence_open` is true only while the last successful
renewal *started* less than ``renew_deadline`` ago. Every other candidate waits at least
``lease_duration`` (> ``renew_deadline``) from its own later observation of that renewal, so when
the fence closes no other replica can yet have taken over. ``on_stopped_leading`` is called by a
watchdog the moment the deadline passes, even while a renewal request hangs in the network.

Not used: ``kubernetes.leaderelection`` (it calls ``sys.exit`` and works on model classes).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from reconciler import metrics
from reconciler.client import KubeClient
from reconciler.errors import AlreadyExists, ApiError, Conflict, NotFound
from reconciler.restmapper import Resource

__all__ = [
    "DEFAULT_LEASE_DURATION",
    "DEFAULT_RENEW_DEADLINE",
    "DEFAULT_RETRY_PERIOD",
    "JITTER_FACTOR",
    "LEASES",
    "LeaderElectionConfig",
    "FencedClient",
    "LeaderElector",
    "NotLeaderError",
]

DEFAULT_LEASE_DURATION = 15.0
"""Seconds a non-leader waits, from its last observation of a renewal, before taking over
(controller-runtime ``defaultLeaseDuration``)."""

DEFAULT_RENEW_DEADLINE = 10.0
"""Seconds the leader keeps retrying a failing renewal before it gives up leadership
(controller-runtime ``defaultRenewDeadline``)."""

DEFAULT_RETRY_PERIOD = 2.0
"""Seconds between acquire/renew attempts (controller-runtime ``defaultRetryPeriod``)."""

JITTER_FACTOR = 1.2
"""Acquire attempts wait ``retry_period * (1 + U[0, 1.2))`` so candidates do not stampede
(client-go ``JitterFactor``); ``renew_deadline`` must exceed ``JITTER_FACTOR * retry_period``."""

LEASES = Resource(group="coordination.k8s.io", version="v1", plural="leases", kind="Lease", namespaced=True)
"""The Lease resource; fixed, so leader election needs no discovery round trip."""


@dataclass
class LeaderElectionConfig:
    """Who competes for which Lease, and how fast. Validated like client-go's ``NewLeaderElector``."""

    lease_name: str
    """Name of the Lease object; every replica of one component uses the same name."""

    namespace: str
    """Namespace of the Lease (the component's own namespace in a cluster)."""

    identity: str
    """This candidate's unique name, written as ``holderIdentity`` (hostname + random suffix by
    default in the manager, so a restarted Pod is a new candidate)."""

    lease_duration: float = DEFAULT_LEASE_DURATION
    """Seconds before a silent leader's lease may be taken over. Defaults to 15 s."""

    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    """Seconds, from the last successful renewal, after which the leader stops writing and steps
    down. Defaults to 10 s; must be < ``lease_duration``."""

    retry_period: float = DEFAULT_RETRY_PERIOD
    """Seconds between attempts (jittered ×[1, 2.2) when acquiring). Defaults to 2 s."""

    release_on_cancel: bool = True
    """On a voluntary stop, clear ``holderIdentity`` so another replica takes over at once instead
    of after ``lease_duration``. Defaults to True here (controller-runtime's
    ``LeaderElectionReleaseOnCancel`` defaults to false because a Go manager may exit before its
    runnables stop; this manager releases only after every writer has stopped, so it is safe)."""

    def validate(self) -> None:
        """Raise ValueError on timings client-go would reject."""
        if not self.lease_name or not self.namespace or not self.identity:
            raise ValueError("lease_name, namespace and identity are required")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than {JITTER_FACTOR} * retry_period")


def _micro_time(t: datetime) -> str:
    """A ``metav1.MicroTime``: RFC 3339 with microseconds, UTC."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Runs one candidate: acquire, then renew until stopped or until renewal fails.

    ``on_started_leading`` runs in its own thread once the Lease is won (it may block);
    ``on_stopped_leading`` runs once, synchronously, when leadership ends for any reason (lost,
    or given up on :meth:`run`'s stop event) and must return quickly: it is the signal for every
    writer to stop. ``on_new_leader(identity)`` is told whenever the observed holder changes."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionConfig,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        config.validate()
        self.config = config
        # A dedicated client over the same connection pool: no retries of its own (the renew loop
        # is the retry), a request timeout of two retry periods (4 s by default; at least 1 s) so a
        # hung request leaves time for another attempt before the renew deadline, and no
        # client-side rate limit, so a busy controller cannot starve renewals.
        self.client = KubeClient(
            client.api_client, qps=0, max_retries=0,
            request_timeout=max(1.0, min(config.renew_deadline, 2 * config.retry_period)),
        )
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._lock = threading.Lock()
        self._leading = False
        self._lost = False
        self._last_renew = 0.0  # monotonic start of the last successful acquire/renew
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0  # monotonic time the observed record last changed
        self._observed_rv: str | None = None
        self._leader_changed = threading.Condition(self._lock)
        metrics.set_leader_status(config.lease_name, False)

    # ----------------------------------------------------------------------------- observation

    def is_leader(self) -> bool:
        """True between winning the Lease and leadership ending."""
        with self._lock:
            return self._leading

    def fence_open(self) -> bool:
        """Whether a write is safe now: leading, and the last renewal started less than
        ``renew_deadline`` ago. Cheap; check it right before every write."""
        with self._lock:
            return self._leading and time.monotonic() - self._last_renew < self.config.renew_deadline

    @property
    def lost(self) -> bool:
        """True if leadership ended involuntarily (renewal failed or another holder appeared)."""
        with self._lock:
            return self._lost

    def get_leader(self) -> str:
        """The holder identity last observed ("" if none)."""
        with self._lock:
            return str((self._observed_spec or {}).get("holderIdentity") or "")

    def check(self) -> None:
        """A healthz check (client-go ``HealthzAdaptor``): fails if we lead but have not renewed
        for longer than ``lease_duration``, i.e. the renew loop is stuck."""
        with self._lock:
            if self._leading and time.monotonic() - self._last_renew > self.config.lease_duration:
                raise RuntimeError(f"failed to renew lease {self.config.namespace}/{self.config.lease_name}")

    # ------------------------------------------------------------------------------------- run

    def run(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set or leadership is lost. Releases the Lease on a voluntary
        stop when ``release_on_cancel`` (the caller sets ``stop`` only after its writers stopped)."""
        cfg = self.config
        while not stop.is_set():
            if self._try_acquire_or_renew():
                break
            stop.wait(cfg.retry_period * (1 + random.random() * JITTER_FACTOR))
        else:
            return
        with self._lock:
            self._leading = True
        metrics.set_leader_status(cfg.lease_name, True)
        logger.info("became leader of lease {}/{} as {}", cfg.namespace, cfg.lease_name, cfg.identity)
        watchdog = threading.Thread(target=self._watchdog, args=(stop,), name="leader-watchdog", daemon=True)
        watchdog.start()
        threading.Thread(target=self._on_started, name="leader-started", daemon=True).start()
        self._renew_loop(stop)
        watchdog.join()
        if not self.lost and cfg.release_on_cancel:
            self.release()

    def _renew_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.retry_period):
            if not self.is_leader():
                return
            ok = self._try_acquire_or_renew()
            if not ok and self.get_leader() not in ("", self.config.identity):
                self._step_down(lost=True, why=f"lease taken by {self.get_leader()}")
                return
        self._step_down(lost=False, why="stopped")

    def _watchdog(self, stop: threading.Event) -> None:
        """Steps down the moment ``renew_deadline`` passes without a successful renewal."""
        while True:
            with self._lock:
                if not self._leading:
                    return
                left = self._last_renew + self.config.renew_deadline - time.monotonic()
            if left <= 0:
                self._step_down(lost=True, why=f"no renewal within {self.config.renew_deadline}s")
                return
            if stop.wait(min(left, self.config.retry_period)):
                # The renew loop steps down (and releases) on stop; keep watching until it does.
                if not self.is_leader():
                    return
                time.sleep(0.01)

    def _step_down(self, *, lost: bool, why: str) -> None:
        with self._lock:
            if not self._leading:
                return
            self._leading = False
            self._lost = lost
        metrics.set_leader_status(self.config.lease_name, False)
        log = logger.error if lost else logger.info
        log("leader election lost: {}" if lost else "stopping leading: {}", why)
        try:
            self._on_stopped()
        except Exception:
            logger.exception("on_stopped_leading failed")

    # ----------------------------------------------------------------------------------- lease

    def _record(self, spec: dict[str, Any], now: datetime, *, holding: bool) -> dict[str, Any]:
        transitions = int(spec.get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.config.lease_duration)),
            "acquireTime": spec.get("acquireTime") if holding and spec.get("acquireTime") else _micro_time(now),
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions if holding else transitions + 1,
        }

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = dict(lease.get("spec") or {})
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            previous = (self._observed_spec or {}).get("holderIdentity")
            if spec != self._observed_spec or rv != self._observed_rv:
                self._observed_spec = spec
                self._observed_rv = rv
                self._observed_at = time.monotonic()
        holder = spec.get("holderIdentity") or ""
        if holder != (previous or "") and holder and self._on_new_leader is not None:
            try:
                self._on_new_leader(holder)
            except Exception:
                logger.exception("on_new_leader failed")

    def _try_acquire_or_renew(self) -> bool:
        """One attempt (client-go ``tryAcquireOrRenew``); True if we hold the Lease afterwards."""
        cfg = self.config
        started = time.monotonic()
        now = datetime.now(UTC)
        try:
            try:
                lease = self.client.get(LEASES, cfg.lease_name, cfg.namespace)
            except NotFound:
                body = {
                    "apiVersion": LEASES.api_version,
                    "kind": "Lease",
                    "metadata": {"name": cfg.lease_name, "namespace": cfg.namespace},
                    "spec": self._record({"leaseTransitions": -1}, now, holding=False),
                }
                created = self.client.create(LEASES, body, cfg.namespace)
                self._observe(created)
                self._renewed(started)
                return True
            self._observe(lease)
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            holding = holder == cfg.identity
            with self._lock:
                duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
                valid = self._observed_at + duration > time.monotonic()
            if holder and not holding and valid:
                return False
            lease = dict(lease)
            lease["spec"] = {**spec, **self._record(spec, now, holding=holding)}
            updated = self.client.replace(LEASES, lease)
            self._observe(updated)
            self._renewed(started)
            return True
        except (Conflict, AlreadyExists):
            return False
        except ApiError as err:
            logger.warning("lease {}/{}: {}", cfg.namespace, cfg.lease_name, err)
            return False
        except Exception:
            # Anything else (a malformed answer) must not kill the election thread: a dead elector
            # would keep a standby from ever leading, or a leader from ever noticing its loss.
            logger.exception("lease {}/{}: unexpected failure", cfg.namespace, cfg.lease_name)
            return False

    def _renewed(self, started: float) -> None:
        with self._lock:
            self._last_renew = max(self._last_renew, started)

    def release(self) -> bool:
        """Give the Lease up (``holderIdentity`` emptied) so another candidate takes it at once.
        Only releases a Lease we still hold; True on success."""
        cfg = self.config
        try:
            lease = self.client.get(LEASES, cfg.lease_name, cfg.namespace)
            spec = lease.get("spec") or {}
            if (spec.get("holderIdentity") or "") != cfg.identity:
                return False
            now = _micro_time(datetime.now(UTC))
            lease = dict(lease)
            lease["spec"] = {
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0),
            }
            self._observe(self.client.replace(LEASES, lease))
        except ApiError as err:
            logger.warning("could not release lease {}/{}: {}", cfg.namespace, cfg.lease_name, err)
            return False
        logger.info("released lease {}/{}", cfg.namespace, cfg.lease_name)
        return True


class NotLeaderError(RuntimeError):
    """A write was refused because this replica does not (or no longer surely) hold the Lease."""


class FencedClient(KubeClient):
    """A :class:`KubeClient` whose writes pass only while ``fence()`` is true.

    Reads always pass (caches and probes work on every replica). The fence is checked before each
    *attempt*, so a write retried by the client after leadership ended is refused too. Shares the
    wrapped client's connection pool, rate limit and discovery cache."""

    def __init__(self, inner: KubeClient, fence: Callable[[], bool]) -> None:
        super().__init__(
            inner.api_client, limiter=inner.limiter, max_retries=inner.max_retries,
            request_timeout=inner.request_timeout, field_manager=inner.field_manager,
        )
        self.mapper = inner.mapper
        self.fence = fence
        """Returns whether writing is allowed right now."""

    def _check_write(self, method: str, path: str) -> None:
        if method.upper() not in ("GET", "HEAD") and not self.fence():
            raise NotLeaderError(f"{method} {path} refused: not the leader")

    def _attempt(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        self._check_write(method, path)
        return super()._attempt(method, path, *args, **kwargs)
