"""The reconcile contract (controller-runtime ``pkg/reconcile``): what a reconciler is asked, and
what it may answer.

A :class:`Request` names an object and nothing else, on purpose: a reconciler must read the current
state from the cache and enforce the whole of it every time, never act on the event that happened
to trigger it (spec §1.5, "level-triggered").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Reconciler", "Request", "Result", "TerminalError"]


@dataclass(frozen=True, slots=True)
class Request:
    """The key of one object to reconcile. Hashable, so the work queue can de-duplicate it.

    ``namespace`` is ``""`` for cluster-scoped objects.
    """

    name: str
    namespace: str = ""

    def __str__(self) -> str:
        # Same shape as client-go's MetaNamespaceKeyFunc, so logs and cache keys agree.
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def from_key(cls, key: str) -> Request:
        """Inverse of ``str()``: ``"ns/name"`` or ``"name"`` (a cluster-scoped object)."""
        namespace, sep, name = key.partition("/")
        return cls(name=name, namespace=namespace) if sep else cls(name=key)


@dataclass(frozen=True, slots=True)
class Result:
    """What the worker does with the request once reconcile returned without raising.

    The worker applies controller-runtime's order: ``requeue_after > 0`` first (forget the failure
    count, then re-add after that many seconds), else ``requeue`` (rate-limited re-add; deprecated
    upstream in favour of ``requeue_after``), else forget. Both are ignored when reconcile raised.
    """

    requeue: bool = False
    """Re-add through the rate limiter (exponential per-item back-off). Default: no requeue."""

    requeue_after: float | None = None
    """Seconds after which to reconcile again, e.g. to poll something that cannot be watched.
    ``None`` (the default) or ``<= 0`` means no timed requeue."""


class TerminalError(Exception):
    """Reconcile failed in a way a retry cannot fix (invalid spec, a forbidden reference).

    The worker logs it and counts it (``controller_runtime_terminal_reconcile_errors_total`` as well
    as the error counters) but does not requeue: the next change to the object will trigger a new
    reconcile anyway. Wrap the cause: ``raise TerminalError("bad spec") from exc``.
    """


class Reconciler(Protocol):
    """Anything with a ``reconcile`` method. Raise to requeue with back-off; raise
    :class:`TerminalError` to give up; return a :class:`Result` to ask for a timed requeue."""

    def reconcile(self, request: Request) -> Result | None: ...
