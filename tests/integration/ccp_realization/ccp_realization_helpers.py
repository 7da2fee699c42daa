"""Names shared by the batched realization tests (imported by name: see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from nsx.client import NsxClient
from sim.nsx import NsxSimulator

CLUSTER = "c1"
POLICIES = 300
BATCH_POSTS = r"/antrea-adapter/clusters/[^/]+/realization/batch$"

MakeClient = Callable[..., NsxClient]


def policy_path(n: int) -> str:
    return f"/infra/domains/default/security-policies/p{n:04d}"


def history(nsx: NsxSimulator) -> dict[str, list[str]]:
    """Per intent path, the states NSX stored for it, oldest first (withdrawals as ``WITHDRAWN``)."""
    out: dict[str, list[str]] = {}
    for path, state, _ in nsx.channel.realization_history(CLUSTER):
        out.setdefault(path, []).append(state)
    return out
