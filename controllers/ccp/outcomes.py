"""What the policy controller did with each spanned NSX policy, for the realization controller.

The two controllers run on separate queues; this small thread-safe table is their only contract:
the policy controller publishes, per NSX policy path, the ACNP it maps to, the NSX ``_revision``
it translated and any errors (translation or write), and the realization controller turns that
plus the ACNP's status into the state NSX sees.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PolicyOutcome:
    acnp_name: str
    revision: int | None
    errors: tuple[str, ...] = field(default=())


class Outcomes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[str, PolicyOutcome] = {}
        self.published = threading.Event()
        """Set once the first translation was published (realization waits for it)."""

    def publish(self, outcomes: Mapping[str, PolicyOutcome]) -> set[str]:
        """Replace the table; return the paths whose outcome changed, appeared or vanished."""
        with self._lock:
            old, self._by_path = self._by_path, dict(outcomes)
        self.published.set()
        return {p for p in old.keys() | outcomes.keys() if old.get(p) != outcomes.get(p)}

    def get(self, path: str) -> PolicyOutcome | None:
        with self._lock:
            return self._by_path.get(path)

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._by_path)
