"""`make demo --once`: the whole scenario runs on the embedded default and ends in its promised state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_both_adapters_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hack.demo", "--once", "--workdir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "clusternetworkpolicy.crd.antrea.io/nsx-web-tier" in out
    assert "web-tier     SUCCESS" in out and "infra-dns    SUCCESS" in out
    assert "nsx-web-tier now allows port 8443; NSX shows SUCCESS" in out
    assert "not-web: ERROR (sources_excluded" in out
    assert "ContainerApplicationInstance    3  db-1, web-1, web-2" in out
    assert "cluster health in NSX: HEALTHY" in out
    assert "NSX inventory now tags web-1 with dis:k8s:tier=frontend" in out
    assert out.rstrip().splitlines()[-2] == "demo scenario complete"
    log = (tmp_path / "adapter.log").read_text()
    assert "policy sync" in log
    password = (tmp_path / "nsx-password").read_text().strip()
    assert password and password not in log and password not in out
