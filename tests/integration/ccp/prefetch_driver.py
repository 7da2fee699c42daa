"""A single-threaded process that runs one :class:`RevisionPrefetch` (which then forks) and says
on stdout, as one JSON line, what happened; driven by ``test_revision_prefetch.py``.

Usage: ``python -m tests.integration.ccp.prefetch_driver ACTION URL CA_FILE PAGE_SIZE`` with the NSX
credentials in ``$NSX_USERNAME`` and ``$NSX_PASSWORD``; ACTION is ``search``, ``cancel``, ``error`` or ``orphan``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from controllers.ccp.intent import NsxIntent, SearchCancelled
from controllers.ccp.revision_prefetch import RevisionPrefetch, RevisionSearchError
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings


def reaped(prefetch: RevisionPrefetch) -> bool:
    """The child was waited for, and this process has no other child left."""
    deadline = time.monotonic() + 10
    while prefetch.child_pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return prefetch.child_pid is None
    return False


def main(action: str, url: str, ca_file: str, page_size: int) -> dict[str, Any]:
    auth = BasicAuth(os.environ["NSX_USERNAME"], os.environ["NSX_PASSWORD"])
    client = NsxClient([url], auth, tls=TlsSettings(ca_file=ca_file))
    prefetch = RevisionPrefetch(NsxIntent(client.transport, page_size=page_size))
    out: dict[str, Any] = {"mode": prefetch.mode, "child": prefetch.child_pid}
    if action == "orphan":  # leave without waiting: the child must notice and stop
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        os._exit(0)
    started = time.monotonic()
    if action == "cancel":
        prefetch.cancel()
    try:
        out["texts"] = prefetch.result(60)
    except (SearchCancelled, RevisionSearchError) as err:
        out["error"] = f"{type(err).__name__}: {err}"
    out["reaped"] = reaped(prefetch)
    out["elapsed"] = time.monotonic() - started
    out["usage"] = prefetch.child_usage
    return out


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
    sys.stdout.write(json.dumps(result) + "\n")
