"""`antrea-nsx-adapter translate`: YAML preview on stdout, errors on stderr, exit codes for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

P = "/infra/sites/default/enforcement-points/default/cluster-control-planes/c1"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controllers.cli", *args], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).resolve().parents[3], timeout=60)


def write_export(tmp_path: Path, *, broken: bool = False) -> Path:
    rules = [{"id": "r1", "source_groups": ["/infra/domains/default/groups/web"], "destination_groups": ["ANY"],
              "services": ["/infra/services/HTTPS"], "action": "ALLOW", "direction": "OUT"}]
    if broken:
        rules.append({"id": "r2", "source_groups": ["ANY"], "destination_groups": ["ANY"], "services": ["ANY"],
                      "action": "JUMP_TO_APPLICATION"})
    export = {
        "groups": [{"id": "web", "group_type": ["ANTREA"], "expression": [
            {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
             "value": "app|web"}]}],
        "security_policies": [
            {"id": "p1", "category": "Application", "sequence_number": 1, "scope": [P], "rules": rules},
            {"id": "ok", "category": "Emergency", "sequence_number": 1, "scope": [P], "rules": []},
        ],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    return path


def test_translate_prints_yaml_documents_and_exits_zero(tmp_path: Path) -> None:
    result = run_cli("translate", "--nsx-export", str(write_export(tmp_path)), "--cluster", "c1")
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Tier"] * 5 + ["ClusterGroup"] * 2 + ["ClusterNetworkPolicy"] * 2
    assert "&id" not in result.stdout and result.stderr == ""


def test_translate_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    export = str(write_export(tmp_path))
    first = run_cli("translate", "--nsx-export", export, "--cluster", "c1", "-o", "json")
    second = run_cli("translate", "--nsx-export", export, "--cluster", "c1", "-o", "json")
    assert first.stdout == second.stdout and json.loads(first.stdout)["kind"] == "List"


def test_translate_errors_go_to_stderr_with_exit_one(tmp_path: Path) -> None:
    result = run_cli("translate", "--nsx-export", str(write_export(tmp_path, broken=True)), "--cluster", "c1")
    assert result.returncode == 1
    assert "error: /infra/domains/default/security-policies/p1: rule r2: JUMP_TO_APPLICATION" in result.stderr
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout)]
    assert "nsx-ok" in names and "nsx-p1" not in names


def test_translate_rejects_unreadable_exports_with_exit_two(tmp_path: Path) -> None:
    missing = run_cli("translate", "--nsx-export", str(tmp_path / "nope.json"), "--cluster", "c1")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("[1, 2")
    assert run_cli("translate", "--nsx-export", str(bad), "--cluster", "c1").returncode == 2
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"policies": []}')
    result = run_cli("translate", "--nsx-export", str(wrong), "--cluster", "c1")
    assert result.returncode == 2 and "unrecognised NSX export" in result.stderr
