"""``--dry-run`` for Kubernetes: reads and watches go out, writes are logged and never sent.

The CCP adapter's planner already skips its writes in a dry run (and logs the plan); this guard is
for every other write a process might make — a Traceflow or support bundle an NSX request asks
for, a Lease, a ConfigMap — so that "write nothing" holds for code paths that never heard of the
flag. Writes are not sent with ``dryRun=All`` either: a dry run must leave no trace on the API
server at all, not even in its audit log. The NSX side has its own guard (:mod:`nsx.dry_run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

from nsx.dry_run import SkippedWrite, WriteJournal
from reconciler.client import KubeClient

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class DryRunKubeClient(KubeClient):
    """A :class:`KubeClient` whose writes are skipped; build it like one (``from_kubeconfig``)."""

    journal: WriteJournal

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journal = WriteJournal()

    def request(self, method: str, path: str, *, body: Any = None, **kwargs: Any) -> Any:
        verb = method.upper()
        if verb in READ_METHODS:
            return super().request(verb, path, body=body, **kwargs)
        summary = _describe(body)
        self.journal.record(SkippedWrite(verb, path, summary))
        logger.info("dry run: would {} Kubernetes {} ({})", verb, path, summary)
        if verb == "DELETE":
            return {"apiVersion": "v1", "kind": "Status", "status": "Success"}
        return dict(body) if isinstance(body, Mapping) else {}


def _describe(body: Any) -> str:
    """Kind and name of the object written, never its content (it may be a Secret)."""
    if not isinstance(body, Mapping):
        return f"{len(body)} patch operations" if isinstance(body, list) else "no body"
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {}
    kind = body.get("kind") or "patch"
    name = meta.get("name") or meta.get("generateName") or ""
    return f"{kind} {name}".strip()
