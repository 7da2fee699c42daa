"""The realization controller: tell NSX, per spanned policy, whether Antrea enforces it (mapping.md §6).

Keyed by NSX policy path. The state combines what the policy controller published (translation
and write errors) with the ACNP's status as antrea-controller writes it: ``REALIZED`` only when
``phase == Realized`` at the current ``metadata.generation`` *and* the ACNP was translated from
the policy's current ``_revision``; ``ERROR`` on errors, ``Failed``, ``Realizable=False``,
``RealizationFailure=True``, or when still pending after ``realization_timeout``; otherwise
``IN_PROGRESS``. Reports go out only when they change; an unchanged ERROR is re-sent every
``error_resend_interval``. After a restart, what NSX already holds is read first, so nothing
is re-sent needlessly.

Reconciles do not POST: they hand each changed report to a :class:`RealizationReporter`, which
coalesces them into batches (``realization_queue.BatchOptions``: 0.5 s or 500 reports) and
retries failed items and batches with back-off. Run its :meth:`runnable` on the manager.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from controllers.ccp import names
from controllers.ccp.outcomes import Outcomes
from controllers.ccp.realization_queue import BatchOptions
from controllers.ccp.realization_reporter import RealizationReporter
from controllers.ccp.settings import CcpSettings
from nsx.channel import AdapterChannel
from nsx.models.channel import RealizationReason, RealizationReport
from reconciler.reconcile import Request, Result

MAX_REASONS = 100
MAX_MESSAGE = 2048
_RULE_PREFIX = re.compile(r"^rule (?P<rule>[^:\s]+): ")


@dataclass(frozen=True)
class Verdict:
    state: str  # IN_PROGRESS | REALIZED | ERROR
    reasons: tuple[str, ...] = ()
    recheck_after: float | None = None


class RealizationReconciler:
    def __init__(
        self,
        *,
        outcomes: Outcomes,
        get_acnp: Callable[[str], Mapping[str, Any] | None],
        channel: AdapterChannel,
        settings: CcpSettings,
        clock: Callable[[], float] = time.monotonic,
        batching: BatchOptions | None = None,
    ) -> None:
        self._outcomes = outcomes
        self._get_acnp = get_acnp
        self._channel = channel
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._prime_lock = threading.Lock()
        self._waiting_since: dict[str, tuple[tuple[Any, Any], float]] = {}
        self._primed = False
        self.reporter = RealizationReporter(channel, batching, clock=clock)
        self.reports_sent = 0
        """Reports handed to the reporter (each reaches NSX once, inside some batch)."""

    def prime(self) -> None:
        """Load what NSX holds for this cluster so that a restart re-sends only differences."""
        with self._prime_lock:
            if self._primed:
                return
            held = {}
            for stored in self._channel.realization_reports():
                reasons = tuple(_join(r.message, r.rule_id) for r in stored.reasons or [])
                held[stored.intent_path] = (stored.state, reasons, stored.intent_revision)
            self.reporter.prime(held)
            self._primed = True

    def reconcile(self, request: Request) -> Result:
        path = request.name
        if not self._primed:
            self.prime()
        outcome = self._outcomes.get(path)
        if outcome is None:
            if self._outcomes.published.is_set() and self.reporter.withdraw(path):
                logger.info("withdrawing realization of {} (no longer spans this cluster)", path)
            return Result()
        verdict = self.verdict(path, outcome.acnp_name, outcome.revision, outcome.errors)
        key = (verdict.state, verdict.reasons, outcome.revision)
        resend_after = self._settings.error_resend_interval if verdict.state == "ERROR" else None
        if self.reporter.offer(path, key, _report(path, verdict, outcome.revision), resend_after):
            with self._lock:
                self.reports_sent += 1
            logger.info("realization of {}: {}{}", path, verdict.state,
                        f" ({'; '.join(verdict.reasons)[:300]})" if verdict.reasons else "")
        after = verdict.recheck_after
        if verdict.state == "ERROR":
            after = min(after or self._settings.error_resend_interval, self._settings.error_resend_interval)
        return Result(requeue_after=after)

    def verdict(self, path: str, acnp_name: str, revision: int | None, errors: tuple[str, ...]) -> Verdict:
        if errors:
            return Verdict("ERROR", errors)
        acnp = self._get_acnp(acnp_name)
        if acnp is None:
            return self._waiting(path, None, revision, "the ClusterNetworkPolicy does not exist yet")
        meta = acnp.get("metadata") or {}
        generation = meta.get("generation")
        translated = (meta.get("annotations") or {}).get(names.NSX_REVISION_ANNOTATION)
        if revision is not None and translated != str(revision):
            return self._waiting(path, generation, revision, f"revision {revision} is not applied yet")
        status = acnp.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
        failure = conditions.get("RealizationFailure")
        realizable = conditions.get("Realizable")
        if failure and failure.get("status") == "True":
            return Verdict("ERROR", (f"Antrea: {failure.get('message') or failure.get('reason')}",))
        if realizable and realizable.get("status") == "False":
            return Verdict("ERROR", (f"Antrea: not realizable: {realizable.get('reason')} "
                                     f"{realizable.get('message') or ''}".rstrip(),))
        phase = status.get("phase")
        if phase == "Failed":
            return Verdict("ERROR", ("Antrea: policy realization failed",))
        if phase == "Realized" and status.get("observedGeneration") == generation:
            return Verdict("REALIZED")
        nodes = f"{status.get('currentNodesRealized', 0)}/{status.get('desiredNodesRealized', 0)} Nodes"
        return self._waiting(path, generation, revision, f"phase {phase or 'none yet'}, {nodes}")

    def _waiting(self, path: str, generation: Any, revision: Any, detail: str) -> Verdict:
        key = (generation, revision)
        now = self._clock()
        with self._lock:  # one clock per path: a new generation or revision starts it again
            known = self._waiting_since.get(path)
            if known is None or known[0] != key:
                known = self._waiting_since[path] = (key, now)
        waited = now - known[1]
        timeout = self._settings.realization_timeout
        if waited >= timeout:
            return Verdict("ERROR", (f"not realized within {timeout:g} s: {detail}",))
        return Verdict("IN_PROGRESS", (), recheck_after=timeout - waited)


def _join(message: str, rule_id: str | None) -> str:
    return f"rule {rule_id}: {message}" if rule_id else message


def _report(path: str, verdict: Verdict, revision: int | None) -> RealizationReport:
    reasons = []
    for reason in verdict.reasons[:MAX_REASONS]:
        match = _RULE_PREFIX.match(reason)
        if match:
            reasons.append(RealizationReason(message=reason[match.end():][:MAX_MESSAGE], rule_id=match["rule"]))
        else:
            reasons.append(RealizationReason(message=reason[:MAX_MESSAGE]))
    return RealizationReport(intent_path=path, state=verdict.state,  # type: ignore[arg-type]
                             intent_revision=revision, reasons=reasons)
