"""``python -m sim.nsx``: starts from a seed file, prints one ready line, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "sim.nsx", "--port", "0", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("NSX simulator ready url="):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"no ready line: {line!r} {err[-2000:]}")
    return proc, line


def _fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[3:])


def test_cli_https_with_seed_and_generated_password(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "groups:\n"
        "  - id: web\n    group_type: [ANTREA]\n"
        "    expression:\n"
        "      - {resource_type: Condition, member_type: Pod, key: Tag, operator: EQUALS, value: 'app|web'}\n"
        "services:\n  - id: app\n    service_entries:\n"
        "      - {resource_type: L4PortSetServiceEntry, id: t, l4_protocol: TCP, destination_ports: ['8080']}\n"
        "policies:\n  - id: web-policy\n    category: Application\n    rules:\n"
        "      - {id: r1, source_groups: [ANY], destination_groups: [/infra/domains/default/groups/web],\n"
        "         services: [/infra/services/app], action: ALLOW}\n")
    data = tmp_path / "data"
    proc, line = _start(["--seed", str(seed), "--data-dir", str(data)])
    try:
        f = _fields(line)
        assert f["url"].startswith("https://127.0.0.1:") and Path(f["ca_file"]).is_file()
        assert len(f["thumbprint"]) == 64
        pw_file = Path(f["password_file"])
        password = pw_file.read_text().strip()
        assert password and password not in line
        assert oct(pw_file.stat().st_mode & 0o777) == "0o600"
        s = requests.Session()
        s.trust_env = False
        r = s.get(f["url"] + "/policy/api/v1/infra/domains/default/security-policies/web-policy",
                  auth=("admin", password), verify=f["ca_file"], timeout=10)
        assert r.status_code == 200 and r.json()["rules"][0]["services"] == ["/infra/services/app"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_http_with_password_file_and_bad_seed(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret-Passw0rd\n")
    proc, line = _start(["--http", "--password-file", str(pw)])
    try:
        f = _fields(line)
        assert f["url"].startswith("http://") and "s3cret" not in line and f["password"] == "(given)"
        r = requests.get(f["url"] + "/api/v1/reverse-proxy/node/health", auth=("admin", "s3cret-Passw0rd"), timeout=10)
        assert r.json() == {"healthy": True}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"groups": [{"id": "g", "group_type": ["NOPE"]}]}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "sim.nsx", "--seed", str(bad), "--http"], cwd=REPO, env=env,
                         check=False, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "group_type" in out.stderr
