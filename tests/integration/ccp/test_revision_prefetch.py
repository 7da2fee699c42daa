"""The start-up check's revision search beside the informers (controllers/ccp/revision_prefetch.py):
forked from a single-threaded process, in a thread otherwise; the same figures either way; a
cancelled, failed or orphaned search ends and its process is reaped.

The process mode runs in a driver process of its own (``prefetch_driver.py``): this test process
has the simulator's threads, and a fork is only safe, and only chosen, with one thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controllers.ccp.intent import NsxIntent, SearchCancelled
from controllers.ccp.revision_prefetch import RevisionPrefetch
from controllers.ccp.source_digest import figure_texts
from nsx.client import NsxClient
from sim.nsx import NsxSimulator

SEARCH = r"/search/query$"
ROOT = Path(__file__).resolve().parents[3]


def drive(sim: NsxSimulator, action: str, page_size: int = 5) -> dict[str, Any]:
    env = dict(os.environ, NSX_USERNAME=sim.username, NSX_PASSWORD=sim.password, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "tests.integration.ccp.prefetch_driver", action, sim.url,
                           str(sim.ca_file), str(page_size)], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def expected(client: NsxClient) -> dict[str, dict[str, str]]:
    return figure_texts(NsxIntent(client.transport).revisions())


def test_a_single_threaded_process_searches_in_a_child_with_the_same_figures(
        nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    before = sim.count_requests("GET", SEARCH)
    out = drive(sim, "search")
    assert out["mode"] == "process" and out["child"] != 0
    assert out["texts"] == expected(client)
    assert len(out["texts"]["policies"]) >= 12 and len(out["texts"]["groups"]) >= 10
    assert sim.count_requests("GET", SEARCH) - before > 10  # the child paged through the search itself
    assert out["reaped"] is True
    cpu, peak_kib = out["usage"]
    assert cpu > 0 and peak_kib > 0


def test_in_a_threaded_process_the_search_runs_in_a_thread(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    _, client = nsx
    prefetch = RevisionPrefetch(NsxIntent(client.transport, page_size=5))
    assert prefetch.mode == "thread" and prefetch.child_pid is None  # the simulator's threads are running
    assert prefetch.result(30) == expected(client)


def test_a_cancelled_search_kills_its_child_and_reaps_it(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, _ = nsx
    sim.faults.add_latency(0.5, method="GET", path=SEARCH)
    out = drive(sim, "cancel")
    assert out["mode"] == "process"
    assert out["error"] == "SearchCancelled: revision search cancelled"
    assert out["reaped"] is True
    assert out["elapsed"] < 2.0  # killed: the whole search would take over 7 s at 0.5 s a page


def test_a_cancelled_thread_search_stops(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    sim.faults.add_latency(0.2, method="GET", path=SEARCH)
    prefetch = RevisionPrefetch(NsxIntent(client.transport, page_size=5))
    prefetch.cancel()
    with pytest.raises(SearchCancelled):
        prefetch.result(10)


def test_a_refused_search_reaches_the_parent_as_a_clear_error(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, _ = nsx
    sim.faults.fail_next(1, 400, method="GET", path=SEARCH)
    out = drive(sim, "error")
    assert out["mode"] == "process" and out["reaped"] is True
    assert out["error"].startswith("RevisionSearchError: BadRequest:") and "400" in out["error"], out["error"]


def test_an_orphaned_child_stops_between_pages(nsx: tuple[NsxSimulator, NsxClient]) -> None:
    sim, client = nsx
    pages = len(list(client.policy.search("resource_type:(SecurityPolicy OR Rule OR Group OR Service)")))
    assert pages > 50  # at 5 per page: more than ten pages, at 0.3 s each
    sim.faults.add_latency(0.3, method="GET", path=SEARCH)
    before = sim.count_requests("GET", SEARCH)
    out = drive(sim, "orphan")  # the driver exits at once, without waiting for its child
    child = out["child"]
    assert out["mode"] == "process" and isinstance(child, int)
    deadline = time.monotonic() + 3.0
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the orphaned search process kept running"
    assert sim.count_requests("GET", SEARCH) - before <= 4  # it stopped after the page in flight


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_a_failed_fork_falls_back_to_a_thread(nsx: tuple[NsxSimulator, NsxClient],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, client = nsx

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    prefetch = RevisionPrefetch(NsxIntent(client.transport, page_size=5), mode="process")
    assert prefetch.mode == "thread" and prefetch.child_pid is None
    assert prefetch.result(30) == expected(client)
