"""`make demo --once`: the whole scenario runs on the embedded default and ends in its promised state;
when stdout is not a terminal every step is told in plain lines, and the live view renders what it
is given."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from hack.demo_view import EventLog, LiveView, PolicyRow, Snapshot, render

ROOT = Path(__file__).resolve().parents[2]
STEPS = (
    "[NSX] the cluster's inventory, as the MP adapter reported it:",
    "[NSX admin] creates Antrea groups and DFW policies for the cluster, one per category ...",
    "[kubectl] what the adapter created:",
    "[NSX] realization state per policy:",
    "[NSX admin] changes the web port 8080 -> 8443 ...",
    "[NSX admin] adds a rule with a negated source, which Antrea cannot express ...",
    "[kubectl] a Pod gets a new label ...",
    "Where to look:",
)


@pytest.mark.slow
def test_demo_runs_both_adapters_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hack.demo", "--once", "--workdir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "clusternetworkpolicy.crd.antrea.io/nsx-web-tier" in out
    for policy in ("quarantine", "infra-dns", "pay-isolate", "web-tier"):
        assert re.search(rf"^  {policy} +SUCCESS$", out, re.MULTILINE), policy
    assert "nsx-web-tier now allows port 8443; NSX shows SUCCESS" in out
    assert "not-web: ERROR (sources_excluded" in out
    assert "ContainerApplicationInstance    6  api-1, db-1, ledger-1, prometheus-1, web-1, web-2" in out
    assert "cluster health in NSX: HEALTHY" in out
    assert "NSX inventory now tags web-1 with dis:k8s:tier=frontend" in out
    assert out.rstrip().splitlines()[-2] == "demo scenario complete"
    # The adapters stop before the servers they talk to, and before their log closes: nothing is
    # logged to a closed file, no traceback follows the scenario.
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]

    # Not a terminal: every step is a plain line of its own, in order, and no escape codes.
    lines = out.splitlines()
    positions = [lines.index(step) for step in STEPS]
    assert positions == sorted(positions)
    assert "\x1b[" not in out
    # ... and the final view is printed once, from the simulators' real state.
    final = out[out.index("Where to look:"):]
    assert "NSX policies → Antrea → realization in NSX" in final
    for acnp in ("acnp/nsx-quarantine", "acnp/nsx-infra-dns", "acnp/nsx-pay-isolate", "acnp/nsx-web-tier"):
        assert acnp in final
    assert re.search(r"│ ContainerApplicationInstance +│ +6 │", final)
    assert re.search(r"│ not-web +│ Application +│ - +│ - +│ ERROR", final)

    log = (tmp_path / "adapter.log").read_text()
    assert "policy sync" in log
    password = (tmp_path / "nsx-password").read_text().strip()
    assert password and password not in log and password not in out


def _sample() -> Snapshot:
    return Snapshot(
        step="[NSX admin] changes the web port",
        inventory={"ContainerProject": 8, "ContainerApplicationInstance": 6},
        health="DEGRADED",
        health_detail="controller HEALTHY, agents healthy/degraded/failed 2/1/0, MP HEALTHY, CCP DEGRADED",
        antrea={"Tier": 5, "ClusterGroup": 12, "ClusterNetworkPolicy": 2},
        policies=[
            PolicyRow("web-tier", "Web tier", "Application", "acnp/nsx-web-tier (tier nsx-category-application, "
                      "6 rules)", "Realized", "SUCCESS"),
            PolicyRow("not-web", "Everyone but web", "Application", "-", "-", "ERROR",
                      "sources_excluded cannot be expressed [rule not-web]"),
        ],
        footer="export KUBECONFIG=/tmp/x/kubeconfig",
        problems=["health: connection refused"],
    )


def _text(renderable: object, width: int = 240) -> str:
    console = Console(record=True, width=width, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_the_view_shows_inventory_health_policies_and_events() -> None:
    events = EventLog()
    events.add("step", "[kubectl] a Pod gets a new label ...")  # brackets are text, not markup
    events.add("NSX", "NSX inventory now tags web-1 with dis:k8s:tier=frontend")
    text = _text(render(_sample(), events.recent(10)))

    assert re.search(r"│ ContainerProject +│ +8 │", text)
    assert re.search(r"│ ContainerApplicationInstance +│ +6 │", text)
    assert re.search(r"│ cluster +│ DEGRADED +│", text)
    assert re.search(r"│ agents healthy/degraded/failed +│ 2/1/0 +│", text)
    assert re.search(r"│ CCP +│ DEGRADED +│", text)
    assert re.search(r"│ ClusterGroup +│ +12 │", text)
    assert re.search(r"│ web-tier +│ Application +│ acnp/nsx-web-tier \(tier nsx-category-application, 6 rules\) +│ "
                     r"Realized +│ SUCCESS", text)
    assert re.search(r"│ not-web +│ Application +│ - +│ - +│ ERROR \(sources_excluded cannot be expressed "
                     r"\[rule not-web\]\)", text)
    assert "Everyone but web" in text
    assert "[kubectl] a Pod gets a new label ..." in text
    assert "dis:k8s:tier=frontend" in text
    assert "not readable just now: health: connection refused" in text
    assert "export KUBECONFIG=/tmp/x/kubeconfig" in text
    assert "step: [NSX admin] changes the web port" in text
    assert "Recent events" in text


def test_the_view_keeps_only_the_recent_events_and_omits_an_empty_stream() -> None:
    events = EventLog(keep=50)
    for i in range(30):
        events.add("demo", f"event number {i:02d}")
    text = _text(render(Snapshot(), events.recent(5)))
    shown = re.findall(r"event number (\d+)", text)
    assert shown == ["25", "26", "27", "28", "29"]
    assert "nothing reported yet" in text and "no policy for this cluster yet" in text
    assert "Recent events" not in _text(render(Snapshot(), []))


def test_the_live_view_redraws_from_fresh_snapshots() -> None:
    calls: list[float] = []

    def collect() -> Snapshot:
        calls.append(time.monotonic())
        snap = _sample()
        snap.inventory = {"ContainerProject": len(calls)}
        return snap

    console = Console(record=True, width=160, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    events = EventLog()
    with LiveView(console, collect, events, interval=0.05) as view:
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        events.add("NSX", "the last event")
        view.refresh_now()
        latest = view.snapshot.inventory["ContainerProject"]
    assert len(calls) >= 3
    text = console.export_text()
    assert "the last event" in text
    assert re.search(rf"│ ContainerProject +│ +{latest} │", text)
