"""Request/Result: the keys the queue de-duplicates and the answers the worker maps."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.reconcile import Request, Result, TerminalError
from reconciler.workqueue import WorkQueue


def test_request_str_matches_cache_keys() -> None:
    assert str(Request("web", "default")) == "default/web"
    assert str(Request("node-1")) == "node-1"
    for key in ("default/web", "node-1"):
        assert str(Request.from_key(key)) == key


def test_requests_are_values_so_the_queue_dedups_them() -> None:
    q: WorkQueue[Request] = WorkQueue("")
    q.add(Request("a", "ns"))
    q.add(Request("a", "ns"))
    q.add(Request("a", "other"))
    assert len(q) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Request("a").name = "b"  # type: ignore[misc]


def test_result_defaults_mean_done() -> None:
    r = Result()
    assert r.requeue is False and r.requeue_after is None


def test_terminal_error_keeps_its_cause() -> None:
    try:
        try:
            raise ValueError("spec.priority must be > 0")
        except ValueError as exc:
            raise TerminalError("invalid spec") from exc
    except TerminalError as err:
        assert isinstance(err.__cause__, ValueError)
