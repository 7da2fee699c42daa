"""The demo's live terminal view: what the adapter did, as NSX and the cluster show it.

A :class:`Snapshot` is plain data (collected by ``hack/demo.py`` from the simulators and the API
server); :func:`render` turns one into rich tables, so the same picture is drawn live on a terminal
(:class:`LiveView`, refreshed in place) and printed once as plain text when stdout is a pipe — and a
test can render it to a recording console and read it back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STATE_STYLES = {"SUCCESS": "green", "REALIZED": "green", "HEALTHY": "green", "Realized": "green",
                "IN_PROGRESS": "yellow", "DEGRADED": "yellow", "Pending": "yellow", "Realizing": "yellow",
                "ERROR": "bold red", "FAILED": "bold red", "UNKNOWN": "dim"}


@dataclass(frozen=True)
class Event:
    at: float
    source: str
    text: str


class EventLog:
    """The most recent things that happened, newest last (thread-safe: the scenario writes while
    the view reads)."""

    def __init__(self, keep: int = 200) -> None:
        self._events: deque[Event] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, source: str, text: str) -> None:
        with self._lock:
            self._events.append(Event(time.time(), source, text))

    def recent(self, count: int) -> list[Event]:
        with self._lock:
            return list(self._events)[-count:] if count > 0 else []


@dataclass(frozen=True)
class PolicyRow:
    """One NSX security policy and what became of it."""

    nsx_id: str
    name: str
    category: str
    antrea: str
    """The Antrea objects it became (``acnp/<name>`` with tier and rule count), or ``-``."""
    phase: str
    """``status.phase`` of the ACNP as Antrea reports it."""
    nsx_state: str
    """The realization state NSX shows for the policy."""
    reason: str = ""


@dataclass
class Snapshot:
    """Everything the view shows at one instant."""

    step: str = ""
    inventory: dict[str, int] = field(default_factory=dict)
    """NSX inventory objects of the cluster per resource type."""
    health: str = "UNKNOWN"
    health_detail: str = ""
    antrea: dict[str, int] = field(default_factory=dict)
    """Managed Antrea objects per kind (Tier, ClusterGroup, ClusterNetworkPolicy)."""
    policies: list[PolicyRow] = field(default_factory=list)
    footer: str = ""
    problems: list[str] = field(default_factory=list)
    """Parts that could not be read this time (shown, not hidden)."""


def _state(text: str) -> Text:
    return Text(text, style=STATE_STYLES.get(text, ""))


def render(snapshot: Snapshot, events: list[Event], *, title: str = "antrea-nsx-adapter demo") -> RenderableType:
    """The whole view: inventory, health and Antrea object counts side by side; the policies; the
    recent events; where to look."""
    inventory = Table(title="NSX inventory of the cluster", title_justify="left", expand=True)
    inventory.add_column("resource type")
    inventory.add_column("count", justify="right")
    for rtype, count in sorted(snapshot.inventory.items()):
        inventory.add_row(Text(rtype), str(count))
    if not snapshot.inventory:
        inventory.add_row(Text("nothing reported yet", style="dim"), "")

    health = Table(title="Health in NSX", title_justify="left", expand=True, show_header=False)
    health.add_column("what")
    health.add_column("state")
    health.add_row("cluster", _state(snapshot.health))
    for part in filter(None, (p.strip() for p in snapshot.health_detail.split(","))):
        what, _, state = part.rpartition(" ")
        health.add_row(Text(what or part), _state(state))

    antrea = Table(title="Antrea objects (managed)", title_justify="left", expand=True)
    antrea.add_column("kind")
    antrea.add_column("count", justify="right")
    for kind, count in sorted(snapshot.antrea.items()):
        antrea.add_row(kind, str(count))

    top = Table.grid(expand=True, padding=(0, 2))
    for _ in range(3):
        top.add_column(ratio=1)
    top.add_row(inventory, health, antrea)

    policies = Table(title="NSX policies → Antrea → realization in NSX", title_justify="left", expand=True)
    for column in ("NSX policy", "category", "Antrea objects", "ACNP phase", "NSX realization"):
        policies.add_column(column, overflow="fold")
    for row in snapshot.policies:
        shown = _state(row.nsx_state)
        if row.reason:
            shown.append(f" ({row.reason})", style="red")
        ident = Text(row.nsx_id)
        ident.append("\n" + row.name, style="dim")
        policies.add_row(ident, Text(row.category), Text(row.antrea), _state(row.phase), shown)
    if not snapshot.policies:
        policies.add_row(Text("no policy for this cluster yet", style="dim"), "", "", "", "")

    parts: list[RenderableType] = [top, policies]
    stream = Table(title="Recent events", title_justify="left", expand=True, show_header=False)
    stream.add_column("time", style="dim", no_wrap=True)
    stream.add_column("source", style="cyan", no_wrap=True)
    stream.add_column("event", overflow="fold")
    for event in events:
        stream.add_row(time.strftime("%H:%M:%S", time.localtime(event.at)), Text(event.source), Text(event.text))

    if events:
        parts.append(stream)
    if snapshot.problems:
        parts.append(Text("not readable just now: " + "; ".join(snapshot.problems), style="yellow"))
    if snapshot.footer:
        parts.append(Panel(Text(snapshot.footer), title="where to look", title_align="left"))
    subtitle = Text(f"step: {snapshot.step}") if snapshot.step else None
    return Panel(Group(*parts), title=title, subtitle=subtitle, subtitle_align="left")


class LiveView:
    """Redraws :func:`render` in place while the scenario runs; a background thread collects the
    snapshot (HTTP reads) so that a slow read never stalls the drawing or the scenario."""

    def __init__(self, console: Console, collect: Callable[[], Snapshot], events: EventLog, *,
                 interval: float = 1.0, events_shown: int = 12) -> None:
        self.console = console
        self._collect = collect
        self._events = events
        self._interval = interval
        self._events_shown = events_shown
        self._snapshot = Snapshot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-view", daemon=True)
        self._live = Live(console=console, get_renderable=self.renderable, refresh_per_second=4,
                          redirect_stdout=True, redirect_stderr=False)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def renderable(self) -> RenderableType:
        return render(self._snapshot, self._events.recent(self._events_shown))

    def refresh_now(self) -> None:
        """Collect at once (after a step, so the view does not lag the narration)."""
        self._snapshot = self._collect()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._snapshot = self._collect()
            except Exception as err:  # keep drawing the last picture; say what failed
                self._events.add("view", f"cannot read the state: {err}")

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._live.__exit__(exc_type, exc, tb)
