"""The realization reporter (controllers/ccp/realization_reporter.py) against the NSX simulator over
HTTPS: how many POSTs a burst costs (from the simulator's request log), and that partial and full
failures still deliver every report exactly once, in its latest state (from the simulator's
history of stored reports)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ccp_realization_helpers import BATCH_POSTS, CLUSTER, POLICIES, MakeClient, history, policy_path

from controllers.ccp.realization_queue import BatchOptions
from controllers.ccp.realization_reporter import RealizationReporter
from hack.bench._ccp_common import wait_until
from nsx.client import NsxClient
from nsx.models.channel import RealizationReport
from nsx.transport import RetryPolicy
from sim.nsx import NsxSimulator

SINGLE_POSTS = r"/antrea-adapter/clusters/[^/]+/realization$"
FAST_RETRY = RetryPolicy(max_tries=2, max_time=5.0, initial_delay=0.05, max_delay=0.1)


def offer(reporter: RealizationReporter, n: int, state: str, revision: int = 0) -> bool:
    path = policy_path(n)
    report = RealizationReport(intent_path=path, state=state, intent_revision=revision)  # type: ignore[arg-type]
    return reporter.offer(path, (state, (), revision), report)


@contextmanager
def running(client: NsxClient, options: BatchOptions | None = None) -> Iterator[RealizationReporter]:
    reporter = RealizationReporter(client.channel(CLUSTER), options)
    stop = threading.Event()
    thread = threading.Thread(target=reporter.runnable(), args=(stop,), daemon=True)
    thread.start()
    try:
        yield reporter
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def posts(nsx: NsxSimulator, status: int | None = None) -> int:
    return nsx.state.count_requests(method="POST", path=BATCH_POSTS, status=status)


def idle(reporter: RealizationReporter, timeout: float = 20.0) -> Any:
    return wait_until(reporter.idle, timeout, "every change acknowledged", interval=0.02)


def test_a_burst_of_300_changes_costs_a_handful_of_posts(nsx: NsxSimulator, make_client: MakeClient) -> None:
    with running(make_client()) as reporter:
        for n in range(POLICIES):
            assert offer(reporter, n, "IN_PROGRESS")
        idle(reporter)
        in_progress_posts = posts(nsx)
        for n in range(POLICIES):
            assert offer(reporter, n, "REALIZED")
        idle(reporter)
        for n in range(POLICIES):  # only on change: NSX already holds exactly these
            assert not offer(reporter, n, "REALIZED")
        time.sleep(1.0)  # two windows
    assert 1 <= in_progress_posts <= 3, in_progress_posts
    assert posts(nsx) <= 6, f"{posts(nsx)} POSTs for {2 * POLICIES} reports"
    assert reporter.posts == posts(nsx) and reporter.items_sent == 2 * POLICIES
    assert nsx.state.count_requests(method="POST", path=SINGLE_POSTS) == 0
    assert history(nsx) == {policy_path(n): ["IN_PROGRESS", "REALIZED"] for n in range(POLICIES)}


def test_a_burst_does_not_wake_the_sender_per_change(nsx: NsxSimulator, make_client: MakeClient) -> None:
    """Each look of the sender scans the whole queue: one look per offered change made a burst of
    N reports cost O(N^2). The sender looks when a change is due, a batch is full, or its idle
    poll (0.25 s) ends, not per offer."""
    with running(make_client()) as reporter:
        looks = 0
        take = reporter._queue.take

        def counted(now: float, *, flush: bool = False) -> Any:
            nonlocal looks
            looks += 1
            return take(now, flush=flush)

        reporter._queue.take = counted  # type: ignore[method-assign]
        started = time.monotonic()
        for n in range(POLICIES):  # spread out, as workers offer them: the sender may run in between
            assert offer(reporter, n, "IN_PROGRESS")
            time.sleep(0.001)
        idle(reporter)
        elapsed = time.monotonic() - started
    assert history(nsx) == {policy_path(n): ["IN_PROGRESS"] for n in range(POLICIES)}
    # A few looks per window or poll period, however many changes the burst held.
    assert looks <= 10 + 8 * elapsed, f"{looks} looks at the queue for {POLICIES} offers in {elapsed:.2f} s"


def test_503_mid_burst_delivers_everything_once_in_its_latest_state(
        nsx: NsxSimulator, make_client: MakeClient) -> None:
    options = BatchOptions(window=0.2, max_reports=100)
    with running(make_client(retry=FAST_RETRY), options) as reporter:
        for n in range(100):
            offer(reporter, n, "IN_PROGRESS")
        idle(reporter)
        assert posts(nsx, status=200) >= 1
        # Five 503s: the transport gives up after two tries, so the reporter itself retries twice.
        nsx.faults.fail_next(5, 503, method="POST", path=BATCH_POSTS)
        for n in range(100, POLICIES):
            offer(reporter, n, "IN_PROGRESS")
        for n in range(50):  # changed twice while the batches are failing: only the last counts
            offer(reporter, n, "ERROR")
            offer(reporter, n, "REALIZED")
        idle(reporter, 30.0)
        assert reporter.failed_posts == 2
    assert posts(nsx, status=503) == 5
    expected = {policy_path(n): ["IN_PROGRESS", "REALIZED"] if n < 50 else ["IN_PROGRESS"] for n in range(POLICIES)}
    assert history(nsx) == expected
    held = nsx.state.realization(CLUSTER)
    assert {p: r["state"] for p, r in held.items()} == {p: states[-1] for p, states in expected.items()}


def test_refused_items_are_retried_alone_and_the_others_are_not_held_back(
        nsx: NsxSimulator, make_client: MakeClient) -> None:
    gone = "/infra/domains/default/security-policies/gone"
    nsx.channel.fail_realization_items([policy_path(5)], status=503, times=2)
    with running(make_client()) as reporter:
        for n in range(50):
            offer(reporter, n, "REALIZED")
        assert reporter.offer(gone, ("REALIZED", (), 0), RealizationReport(intent_path=gone, state="REALIZED"))
        wait_until(lambda: len(nsx.state.realization(CLUSTER)) == 49, 10, "the good items stored at once")
        assert policy_path(5) not in nsx.state.realization(CLUSTER)
        wait_until(lambda: reporter.acked(policy_path(5)) is not None, 15, "the refused item retried until stored")
        assert not reporter.idle(), "the report of a policy NSX does not know is still retried"
        assert reporter.withdraw(gone)  # what the reconciler does once the policy left the snapshot
        idle(reporter)
    assert history(nsx) == {**{policy_path(n): ["REALIZED"] for n in range(50)}, gone: ["WITHDRAWN"]}
    assert 3 <= posts(nsx) <= 10, posts(nsx)


def test_stop_flushes_what_is_queued(nsx: NsxSimulator, make_client: MakeClient) -> None:
    with running(make_client(), BatchOptions(window=30.0)) as reporter:
        for n in range(10):
            offer(reporter, n, "IN_PROGRESS")
        time.sleep(0.3)
        assert posts(nsx) == 0, "the window is 30 s"
    assert posts(nsx) == 1
    assert Counter(p for p, _, _ in nsx.channel.realization_history(CLUSTER)) == {
        policy_path(n): 1 for n in range(10)}
