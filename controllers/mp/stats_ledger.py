"""Turns Antrea's resettable rule counters into totals NSX can take (docs/adapter-channel.md §4).

The adapter channel takes **cumulative** totals per NSX rule and NSX shows deltas between reports,
so a total must never go down. Antrea's counters do go down: they restart at zero when
antrea-controller restarts or the policy is recreated (antrea.md §6.2, visible as a new
``uid``/``creationTimestamp`` of the stats object or simply as a smaller value). One NSX rule may
also be two Antrea rules (the ``-in``/``-out`` halves), whose counters are summed.

So the ledger keeps, per Antrea rule ("half"), the last raw value and an offset that absorbs every
reset (offset += value before the reset, so traffic after the reset adds on top), and per NSX rule
a floor: whatever happens (a half disappearing, a mapping change, an adapter restart whose first
raw value is below what NSX already holds), a total is never reported below the last one, and the
gap is carried forward so later traffic still adds on top.
Pure and single-threaded by design: the statistics loop owns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Traffic:
    """Packets, bytes and sessions; added component-wise."""

    packets: int = 0
    bytes: int = 0
    sessions: int = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.packets + other.packets, self.bytes + other.bytes, self.sessions + other.sessions)

    def below(self, other: Traffic) -> bool:
        """True when any counter is smaller than ``other``'s: the source was reset."""
        return self.packets < other.packets or self.bytes < other.bytes or self.sessions < other.sessions

    def minus(self, other: Traffic) -> Traffic:
        return Traffic(self.packets - other.packets, self.bytes - other.bytes, self.sessions - other.sessions)

    def floor(self, other: Traffic) -> Traffic:
        """Component-wise maximum."""
        return Traffic(max(self.packets, other.packets), max(self.bytes, other.bytes),
                       max(self.sessions, other.sessions))

    @classmethod
    def from_wire(cls, stats: Mapping[str, object] | None) -> Traffic:
        """From Antrea's ``trafficStats`` (absent fields are zero: Go ``omitempty``)."""
        stats = stats or {}
        return cls(_int(stats.get("packets")), _int(stats.get("bytes")), _int(stats.get("sessions")))


def _int(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


@dataclass
class _Half:
    last: Traffic = Traffic()
    offset: Traffic = Traffic()
    nsx_rule: str = ""


@dataclass
class _Policy:
    identity: tuple[str, str] | None = None
    halves: dict[str, _Half] = field(default_factory=dict)
    reported: dict[str, Traffic] = field(default_factory=dict)  # last total per NSX rule id


class Ledger:
    """Monotonic per-NSX-rule totals from raw Antrea samples; see the module docstring."""

    def __init__(self) -> None:
        self._policies: dict[str, _Policy] = {}
        self.resets = 0
        """Resets noticed so far (for logs and tests)."""

    def known(self, policy_path: str) -> bool:
        return policy_path in self._policies

    def seed(self, policy_path: str, totals: Mapping[str, Traffic]) -> None:
        """What NSX already holds for this policy (read once after an adapter start).

        It becomes the floor of the first totals: an adapter restart loses the offsets of resets
        it saw before, so a raw value below NSX's total cannot tell "Antrea restarted meanwhile"
        from "earlier resets"; counting on from NSX's total never inflates and never goes back,
        at the price of not counting what Antrea counted between an unseen reset and the restart."""
        entry = self._policies.setdefault(policy_path, _Policy())
        for rule, total in totals.items():
            entry.reported.setdefault(rule, total)

    def forget(self, policy_path: str) -> None:
        """The policy is gone (ACNP deleted or no longer managed)."""
        self._policies.pop(policy_path, None)

    def policies(self) -> list[str]:
        return sorted(self._policies)

    def observe(
        self,
        policy_path: str,
        identity: tuple[str, str],
        samples: Mapping[str, tuple[str, Traffic]],
    ) -> dict[str, Traffic]:
        """Fold one stats object in and return the total of every NSX rule seen so far.

        ``identity`` is the stats object's (uid, creationTimestamp); ``samples`` maps an Antrea rule
        name to (NSX rule id, raw cumulative counters)."""
        entry = self._policies.setdefault(policy_path, _Policy())
        if entry.identity is not None and entry.identity != identity:
            self._reset_all(entry)  # a new object: its counters started again from zero
        entry.identity = identity
        for name, (nsx_rule, raw) in samples.items():
            half = entry.halves.setdefault(name, _Half())
            if raw.below(half.last):
                self.resets += 1
                half.offset = half.offset + half.last
            half.last = raw
            half.nsx_rule = nsx_rule
        totals: dict[str, Traffic] = {}
        for half in entry.halves.values():
            totals[half.nsx_rule] = totals.get(half.nsx_rule, Traffic()) + half.offset + half.last
        for rule, computed in totals.items():
            total = computed
            previous = entry.reported.get(rule)
            if previous is not None and total.below(previous):
                # Something counted before is no longer in the sum (a half vanished, a mapping
                # changed): carry the difference so later growth adds on top of the last report.
                gap = total.floor(previous).minus(total)
                floor = entry.halves.setdefault(f"\0floor/{rule}", _Half(nsx_rule=rule))
                floor.offset = floor.offset + gap
                total = total + gap
            entry.reported[rule] = total
        return dict(entry.reported)

    def _reset_all(self, entry: _Policy) -> None:
        self.resets += 1
        for name, half in entry.halves.items():
            if not name.startswith("\0"):
                half.offset = half.offset + half.last
                half.last = Traffic()
