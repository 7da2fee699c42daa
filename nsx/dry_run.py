"""``--dry-run`` for NSX: every read goes out, every write is logged and answered locally.

Why at the transport: every helper of the client (policy, registration, inventory, the adapter
channel) and the raw verbs end in ``Transport.request``, so one guard there catches all of them —
registration, inventory updates, realization and statistics reports, heartbeats, Traceflow results
and bundle uploads — including writes added later. Callers get the answer NSX would have given
(an acknowledgement, or the body echoed), so the adapter keeps planning as if the write happened:
the log then shows each write a real run would make, in the order it would make it.

The log line carries the method, the path and a summary of the body (counts, ids, states), never
the body itself: bodies may hold certificates, and an archive is binary.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from loguru import logger

from nsx.channel import AdapterChannel
from nsx.client import NsxClient
from nsx.inventory_api import InventoryApi
from nsx.policy_api import PolicyApi
from nsx.registration import RegistrationApi
from nsx.transport import Timeout, Transport

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SUMMARY_ITEMS = 5


@dataclass(frozen=True)
class SkippedWrite:
    """One write a dry run did not send."""

    method: str
    path: str
    summary: str


class WriteJournal:
    """The writes skipped so far (the newest ``limit``), for tests and the demo's view."""

    def __init__(self, limit: int = 1000) -> None:
        self._entries: deque[SkippedWrite] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self.total = 0

    def record(self, entry: SkippedWrite) -> None:
        with self._lock:
            self._entries.append(entry)
            self.total += 1

    def entries(self) -> list[SkippedWrite]:
        with self._lock:
            return list(self._entries)


class DryRunTransport(Transport):
    """A :class:`Transport` that forwards reads to ``inner`` and refuses to send writes.

    It shares the inner transport's connections, sessions and failover state instead of opening its
    own, hence no ``super().__init__``; anything else asked of it is the inner transport's."""

    def __init__(self, inner: Transport, journal: WriteJournal | None = None) -> None:
        self._inner = inner
        self.journal = journal if journal is not None else WriteJournal()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def active_manager(self) -> str:
        return self._inner.active_manager

    @property
    def manager_urls(self) -> list[str]:
        return self._inner.manager_urls

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: Timeout | None = None,
    ) -> Any:
        verb = method.upper()
        if verb in READ_METHODS:
            return self._inner.request(verb, path, params=params, json=json, headers=headers, data=data,
                                       timeout=timeout)
        summary = describe_write(verb, path, params, json, data)
        self.journal.record(SkippedWrite(verb, path, summary))
        logger.info("dry run: would {} NSX {} ({})", verb, path, summary)
        return answer_for(verb, path, json, data)

    def close(self) -> None:
        self._inner.close()


class DryRunNsxClient(NsxClient):
    """An :class:`NsxClient` whose every write is skipped (see the module docstring); it shares
    the wrapped client's connections, so closing either closes both."""

    def __init__(self, inner: NsxClient, journal: WriteJournal | None = None) -> None:
        self.inner = inner
        self.transport = DryRunTransport(inner.transport, journal)
        self.policy = PolicyApi(self.transport)
        self.registration = RegistrationApi(self.transport)
        self.inventory = InventoryApi(self.transport)

    @property
    def journal(self) -> WriteJournal:
        transport = self.transport
        assert isinstance(transport, DryRunTransport)
        return transport.journal

    def channel(self, cluster_id: str) -> AdapterChannel:
        return AdapterChannel(self.transport, cluster_id)

    def __repr__(self) -> str:
        return f"DryRunNsxClient({self.inner!r})"


def dry_run_client(client: NsxClient, journal: WriteJournal | None = None) -> DryRunNsxClient:
    """``client`` with writes refused; a client that already refuses them is returned as it is, so
    both adapters of ``run`` can ask for it on the one shared client."""
    if isinstance(client, DryRunNsxClient):
        return client
    return DryRunNsxClient(client, journal)


# ------------------------------------------------------------------------------- what is logged


def describe_write(method: str, path: str, params: Mapping[str, Any] | None, body: Any,
                   data: bytes | None) -> str:
    """A one-line account of a write, made of counts, ids and states only."""
    if data is not None:
        return f"{len(data)} bytes"
    if not isinstance(body, Mapping):
        return "no body" if body is None else type(body).__name__
    if isinstance(body.get("container_inventory_objects"), list):
        items = body["container_inventory_objects"]
        counts = Counter(f"{i.get('object_update_type', '?')} "
                         f"{(i.get('container_object') or {}).get('resource_type', '?')}"
                         for i in items if isinstance(i, Mapping))
        return f"{len(items)} inventory objects: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if isinstance(body.get("reports"), list):
        reports = [r for r in body["reports"] if isinstance(r, Mapping)]
        shown = ", ".join(f"{r.get('intent_path')}={r.get('state')}" for r in reports[:_SUMMARY_ITEMS])
        more = f" and {len(reports) - _SUMMARY_ITEMS} more" if len(reports) > _SUMMARY_ITEMS else ""
        withdrawn = len(body.get("withdrawals") or [])
        gone = f"; {withdrawn} withdrawn" if withdrawn else ""
        return f"realization of {len(reports)} policies: {shown}{more}{gone}"
    if isinstance(body.get("policies"), list):
        policies = [p for p in body["policies"] if isinstance(p, Mapping)]
        rules = sum(len(p.get("rules") or []) for p in policies)
        return f"statistics of {len(policies)} policies, {rules} rules"
    if path.endswith("/heartbeat"):
        return f"health status {body.get('status')}"
    if "phase" in body:
        return f"result {body.get('phase')}" + (f": {body.get('reason')}" if body.get("reason") else "")
    label = body.get("display_name") or body.get("id") or body.get("name")
    kind = body.get("resource_type")
    if kind or label:
        return " ".join(str(x) for x in (kind, label) if x)
    return "fields " + ", ".join(sorted(str(k) for k in body)[:_SUMMARY_ITEMS])


def answer_for(method: str, path: str, body: Any, data: bytes | None) -> Any:
    """What NSX would answer to a successful write, as far as the adapter reads it."""
    if method == "DELETE":
        return None
    if data is not None and path.endswith("/archive"):
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if not isinstance(body, Mapping):
        return None
    if path.endswith("/heartbeat"):
        return {"report_interval": 0}  # 0 = NSX has no interval of its own: the adapter's applies
    if isinstance(body.get("reports"), list):
        return {"accepted": len(body["reports"]), "ignored": []}
    if isinstance(body.get("policies"), list):
        return {"accepted": len(body["policies"]), "ignored": []}
    if path.endswith("/result"):
        request_id = unquote(path.rsplit("/", 2)[-2])
        kind = "TRACEFLOW" if "observations" in body else "LOG_COLLECTION"
        return {"id": request_id, "type": kind, "state": str(body.get("phase", "SUCCEEDED"))}
    if "container_inventory_objects" in body:
        return None
    echoed = dict(body)
    if method in ("PUT", "PATCH"):  # the last path segment names the object
        echoed.setdefault("id", unquote(path.rstrip("/").rsplit("/", 1)[-1]))
    return echoed
