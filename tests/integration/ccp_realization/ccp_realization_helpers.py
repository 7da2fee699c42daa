"""Names shared by the batched realization tests (imported by name: see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from nsx.client import NsxClient

CLUSTER = "c1"
POLICIES = 300

MakeClient = Callable[..., NsxClient]


def policy_path(n: int) -> str:
    return f"/infra/domains/default/security-policies/p{n:04d}"
