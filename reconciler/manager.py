"""The manager: runs informers, controllers, probes and leader election as one unit
(controller-runtime ``pkg/manager``).

Start order — each step only once the previous one holds:

1. probe and metrics servers (``/healthz`` answers at once; ``/readyz`` fails until step 2);
2. shared informers, then wait for every cache to sync;
3. controllers and runnables that do not need leadership;
4. with leader election: win the Lease; then controllers and leader-only runnables.

Stop order (``stop()``, SIGTERM/SIGINT): drain the leader-only work (queued and in-flight
reconciles, bounded by ``graceful_shutdown_timeout``), close the write fence, release the Lease (so
another replica takes over at once), stop informers and servers.

Losing the Lease is not a stop: every writer stops *at once* — the write fence closes, queues shut
down without draining, leader-only runnables are told to stop — and :meth:`Manager.start` raises
:class:`LeaderElectionLostError`, as controller-runtime exits the process. "Losing the lease stops
all writers at once" holds through two gates that check the same fence: workers check it before
every reconcile, and :attr:`Manager.client` checks it before every write request.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from loguru import logger

from reconciler.client import KubeClient, ResourceLike
from reconciler.controller import Controller
from reconciler.informer import IndexFunc, InformerFactory, SharedInformer
from reconciler.leaderelection import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    FencedClient,
    LeaderElectionConfig,
    LeaderElector,
)
from reconciler.probes import Check, ProbeServer, parse_bind_address, ping

__all__ = ["LeaderElectionLostError", "Manager", "ManagerOptions", "Runnable"]

Runnable = Callable[[threading.Event], None]
"""A long-running task: runs in its own thread until the event is set, then returns. Raising
stops the manager (as a Go runnable returning an error does)."""

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _default_namespace() -> str:
    """The Pod's namespace when in a cluster (controller-runtime reads the same file), else
    ``POD_NAMESPACE``, else ``default``."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        return os.environ.get("POD_NAMESPACE", "default")


class LeaderElectionLostError(RuntimeError):
    """The Lease was lost while leading; everything that writes has been stopped."""


@dataclass
class ManagerOptions:
    """Manager settings (controller-runtime ``manager.Options``); timings default to spec §7."""

    leader_election: bool = False
    """Compete for a Lease and run leader-only work only while holding it. Defaults to False
    (the kubebuilder scaffold's ``--leader-elect`` default); deployments with replicas turn it on."""

    leader_election_id: str = "antrea-nsx-adapter"
    """Name of the Lease; replicas of one component share it, different components must not."""

    leader_election_namespace: str = ""
    """Namespace of the Lease. Defaults to "" = the Pod's own namespace (service-account file),
    else ``$POD_NAMESPACE``, else ``default``."""

    leader_election_identity: str = field(default_factory=_default_identity)
    """This replica's ``holderIdentity``. Defaults to ``<hostname>_<uuid4>``, as controller-runtime."""

    lease_duration: float = DEFAULT_LEASE_DURATION
    """Seconds a standby waits on a silent leader before taking over. Defaults to 15 s."""

    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    """Seconds the leader may fail to renew before it stops all writers. Defaults to 10 s."""

    retry_period: float = DEFAULT_RETRY_PERIOD
    """Seconds between acquire/renew attempts. Defaults to 2 s."""

    leader_election_release_on_cancel: bool = True
    """Release the Lease on a graceful stop, after every writer stopped, so the standby takes over
    at once. Defaults to True (see ``LeaderElectionConfig.release_on_cancel``)."""

    health_probe_bind_address: str = "0"
    """Address of ``/healthz`` and ``/readyz``. Defaults to "0" (disabled), as controller-runtime;
    the CLI passes the scaffold's ``:8081``. Tests use ``127.0.0.1:0``."""

    metrics_bind_address: str = "0"
    """Address of ``/metrics``. Defaults to "0" (disabled: the scaffold's default; controller-runtime
    itself defaults to ``:8080``). When equal to ``health_probe_bind_address`` one server serves all."""

    graceful_shutdown_timeout: float = 30.0
    """Seconds ``stop`` waits for queued and in-flight reconciles before abandoning them (the write
    fence closes either way). Defaults to 30 s (controller-runtime ``defaultGracefulShutdownPeriod``)."""

    cache_sync_timeout: float = 120.0
    """Seconds ``start`` waits for the informers' initial lists. Defaults to 120 s."""

    resync_period: float | None = None
    """Informer resync period (re-delivers cached objects as updates, at LOW_PRIORITY). Defaults
    to None (off): the engine's global resync is the periodic safety net, not cache replays."""


@dataclass
class _RunnableEntry:
    fn: Runnable
    needs_leader_election: bool
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class Manager:
    """Owns the shared informers, the controllers, the probes and leader election of a process."""

    def __init__(self, client: KubeClient, options: ManagerOptions | None = None) -> None:
        self.options = opts = options or ManagerOptions()
        self.raw_client = client
        """The unfenced client: for reads, and for writes that every replica may make."""
        self.informers = InformerFactory(client, resync_period=opts.resync_period)
        """Shared informers: one watch and one cache per (resource, namespace, selectors)."""
        self.elected = threading.Event()
        """Set once this replica leads (at once after cache sync without leader election)."""
        self.healthz_checks: dict[str, Check] = {"ping": ping}
        """Liveness checks served at ``/healthz``."""
        self.readyz_checks: dict[str, Check] = {"ping": ping, "informers": self._check_caches}
        """Readiness checks served at ``/readyz``; ``informers`` fails until every cache synced."""
        self._controllers: list[Controller] = []
        self._runnables: list[_RunnableEntry] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._writes_closed = threading.Event()
        self._error: BaseException | None = None
        self._started = False
        self._leader_work_started = False
        self._servers: list[ProbeServer] = []
        self._urls: dict[str, str] = {}
        self._elector: LeaderElector | None = None
        self._elector_stop = threading.Event()
        self._elector_thread: threading.Thread | None = None
        if opts.leader_election:
            self._elector = LeaderElector(
                client,
                LeaderElectionConfig(
                    lease_name=opts.leader_election_id,
                    namespace=opts.leader_election_namespace or _default_namespace(),
                    identity=opts.leader_election_identity,
                    lease_duration=opts.lease_duration,
                    renew_deadline=opts.renew_deadline,
                    retry_period=opts.retry_period,
                    release_on_cancel=opts.leader_election_release_on_cancel,
                ),
                on_started_leading=self._start_leader_work,
                on_stopped_leading=self._on_stopped_leading,
                on_new_leader=lambda who: logger.info("new leader elected: {}", who),
            )
            self.healthz_checks["leaderElection"] = self._elector.check
        self.client: KubeClient = FencedClient(client, self.may_write)
        """The client reconcilers write with: every write request is refused (``NotLeaderError``)
        unless this replica surely holds the Lease and the manager is not shutting down."""

    # ----------------------------------------------------------------------------- registration

    def informer(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> SharedInformer:
        """The shared informer for this view of ``resource``; wrap it in ``source.Kind``."""
        return self.informers.informer(
            resource, namespace=namespace, label_selector=label_selector,
            field_selector=field_selector, indexers=indexers,
        )

    def add(self, controller: Controller) -> Controller:
        """Register a controller (names must be unique: they label the metrics)."""
        with self._lock:
            if any(c.name == controller.name for c in self._controllers):
                raise ValueError(f"a controller named {controller.name!r} is already registered")
            self._controllers.append(controller)
            start_now = self._synced.is_set() and (
                not controller.options.need_leader_election or self._leader_work_started
            )
        controller.on_fatal = self._fatal
        if start_now:
            controller.start(fence=self._fence_for(controller.options.need_leader_election))
        return controller

    def add_runnable(self, fn: Runnable, needs_leader_election: bool = True) -> None:
        """Run ``fn(stop_event)`` in its own thread: after cache sync, and only while leading when
        ``needs_leader_election`` (the default, as controller-runtime's)."""
        entry = _RunnableEntry(fn, needs_leader_election)
        with self._lock:
            self._runnables.append(entry)
            start_now = self._synced.is_set() and (not needs_leader_election or self._leader_work_started)
        if start_now:
            self._start_runnable(entry)

    def add_healthz_check(self, name: str, check: Check) -> None:
        """Add a liveness check (fails → kubelet restarts the container)."""
        self.healthz_checks[name] = check

    def add_readyz_check(self, name: str, check: Check) -> None:
        """Add a readiness check."""
        self.readyz_checks[name] = check

    # ------------------------------------------------------------------------------- observation

    def is_leader(self) -> bool:
        """True while this replica may run leader-only work (always, once started, without
        leader election)."""
        if self._elector is None:
            return self.elected.is_set() and not self._stop.is_set()
        return self._elector.is_leader()

    def may_write(self) -> bool:
        """The write fence: not shutting down past the drain, and surely holding the Lease."""
        if self._writes_closed.is_set():
            return False
        return self._elector is None or self._elector.fence_open()

    @property
    def elector(self) -> LeaderElector | None:
        """The leader elector (None without leader election)."""
        return self._elector

    @property
    def probe_urls(self) -> dict[str, str]:
        """Base URL per served endpoint (``healthz``, ``readyz``, ``metrics``), once started."""
        return dict(self._urls)

    def _check_caches(self) -> None:
        """Ready once the start-up sync finished and every informer (also those created later, by
        controllers added while running) has its initial list."""
        not_synced = [str(i.resource) for i in self.informers.informers() if not i.has_synced()]
        if not_synced or not self._synced.is_set():
            raise RuntimeError(f"caches not synced: {', '.join(not_synced) or 'starting'}")

    def _fence_for(self, needs_leader: bool) -> Callable[[], bool]:
        if needs_leader:
            return self.may_write
        return lambda: not self._writes_closed.is_set()

    # ------------------------------------------------------------------------------------- run

    def start(self) -> None:
        """Run until :meth:`stop` (or leadership loss, or a fatal error); see the module docstring.

        Raises :class:`LeaderElectionLostError` after a lost Lease, the controller's exception after
        a fatal reconcile error, ``TimeoutError`` if the caches do not sync."""
        with self._lock:
            if self._started:
                raise RuntimeError("a manager can only be started once")
            self._started = True
        try:
            self._start_servers()
            self.informers.start()
            if not self._wait_for_caches():
                if self._stop.is_set():
                    return  # stopped before the caches synced: nothing else was started
                raise TimeoutError(f"caches did not sync within {self.options.cache_sync_timeout}s")
            with self._lock:
                self._synced.set()
                early = [c for c in self._controllers if not c.options.need_leader_election]
                early_runnables = [r for r in self._runnables if not r.needs_leader_election]
            for c in early:
                c.start(fence=self._fence_for(False))
            for r in early_runnables:
                self._start_runnable(r)
            if self._elector is not None:
                self._elector_thread = threading.Thread(
                    target=self._elector.run, args=(self._elector_stop,), name="leader-election", daemon=True
                )
                self._elector_thread.start()
            else:
                self._start_leader_work()
            self._stop.wait()
        finally:
            self._shutdown()
        if self._error is not None:
            raise self._error

    def _wait_for_caches(self) -> bool:
        deadline = time.monotonic() + self.options.cache_sync_timeout
        while not self._stop.is_set():
            if self.informers.wait_for_cache_sync(min(0.2, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def stop(self) -> None:
        """Ask :meth:`start` to shut down gracefully and return; safe from any thread, and from a
        signal handler."""
        self._stop.set()

    def run_until_signal(self) -> int:
        """Run :meth:`start` in the main thread until SIGTERM or SIGINT, then stop gracefully.
        A second signal exits at once (as controller-runtime's signal handler). Returns the exit
        code: 0 after a clean stop, 1 after an error (logged)."""
        signals = 0

        def handler(signum: int, frame: FrameType | None) -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(1)
            logger.info("received {}, shutting down", signal.Signals(signum).name)
            self.stop()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            return 0
        except Exception:
            logger.exception("manager stopped with an error")
            return 1
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    # ---------------------------------------------------------------------------------- helpers

    def _start_servers(self) -> None:
        opts = self.options
        probes = parse_bind_address(opts.health_probe_bind_address)
        metrics_addr = parse_bind_address(opts.metrics_bind_address)
        if probes is not None:
            shared = metrics_addr is not None and opts.metrics_bind_address == opts.health_probe_bind_address
            srv = ProbeServer(opts.health_probe_bind_address, healthz=self.healthz_checks,
                              readyz=self.readyz_checks, serve_metrics=shared)
            self._servers.append(srv)
            self._urls.update(healthz=srv.url, readyz=srv.url)
            if shared:
                self._urls["metrics"] = srv.url
                metrics_addr = None
        if metrics_addr is not None:
            srv = ProbeServer(opts.metrics_bind_address, serve_metrics=True)
            self._servers.append(srv)
            self._urls["metrics"] = srv.url
        for srv in self._servers:
            srv.start()

    def _start_runnable(self, entry: _RunnableEntry) -> None:
        def body() -> None:
            try:
                entry.fn(entry.stop)
            except Exception as err:
                if not entry.stop.is_set():
                    logger.exception("runnable {} failed", getattr(entry.fn, "__qualname__", entry.fn))
                    self._fatal(err)

        entry.thread = threading.Thread(target=body, name=f"runnable-{getattr(entry.fn, '__name__', 'fn')}",
                                        daemon=True)
        entry.thread.start()

    def _start_leader_work(self) -> None:
        """Start leader-only controllers and runnables (``on_started_leading``)."""
        with self._lock:
            if self._stop.is_set() or self._leader_work_started:
                return
            self._leader_work_started = True
            controllers = [c for c in self._controllers if c.options.need_leader_election]
            runnables = [r for r in self._runnables if r.needs_leader_election]
        self.elected.set()
        try:
            for c in controllers:
                c.start(fence=self._fence_for(True))
        except Exception as err:
            logger.exception("starting controllers failed")
            self._fatal(err)
            return
        for r in runnables:
            self._start_runnable(r)

    def _on_stopped_leading(self) -> None:
        """Leadership ended. If we did not ask for it, stop every writer now, without draining."""
        if self._elector_stop.is_set():
            return  # our own graceful stop: _shutdown already stopped the writers
        self._writes_closed.set()
        self.elected.clear()
        with self._lock:
            controllers = [c for c in self._controllers if c.options.need_leader_election]
            runnables = [r for r in self._runnables if r.needs_leader_election]
        for r in runnables:
            r.stop.set()
        for c in controllers:
            c.queue.shut_down()
        self._fatal(LeaderElectionLostError(
            f"leader election lost: lease {self.options.leader_election_id}"
        ))

    def _fatal(self, err: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = err
        self._stop.set()

    def _shutdown(self) -> None:
        """Graceful stop: writers first (bounded), then the Lease, then caches and servers."""
        lost = isinstance(self._error, LeaderElectionLostError)
        timeout = self.options.graceful_shutdown_timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            controllers = list(self._controllers)
            runnables = list(self._runnables)
        # Leader-only work first, then the rest (controller-runtime's order). After a lost Lease
        # the graceful drain is skipped "for safety reasons": queues shut down without draining.
        for group in (True, False):
            members = [c for c in controllers if c.options.need_leader_election is group and c.started]
            for r in runnables:
                if r.needs_leader_election is group:
                    r.stop.set()
            stoppers = [
                threading.Thread(target=c.shutdown, kwargs={"drain": not lost, "timeout": _left(deadline)},
                                 name=f"stop-{c.name}", daemon=True)
                for c in members
            ]
            for t in stoppers:
                t.start()
            for t in stoppers:
                t.join(_left(deadline))
            for r in runnables:
                if r.needs_leader_election is group and r.thread is not None:
                    r.thread.join(_left(deadline))
        still_running = [c.name for c in controllers if c.started and not c.join(0)]
        if still_running:
            logger.warning("graceful shutdown timed out after {}s; abandoning {}", timeout, still_running)
        # Whatever is still running can no longer write; only now may another replica lead.
        self._writes_closed.set()
        self._elector_stop.set()
        if self._elector_thread is not None:
            self._elector_thread.join(max(5.0, self.options.renew_deadline))
        self.elected.clear()
        self.informers.stop()
        for srv in self._servers:
            srv.stop()
        logger.info("manager stopped")


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
