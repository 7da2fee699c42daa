"""Bad configuration ends the process with exit code 2 and a message naming the problem; --help
documents every flag; the password is never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers import cli
from tests.unit.cli.conftest import CliWorld, cli_env, free_port, run_cli

ISSUE_FLAGS = [
    "--kubeconfig", "--bootstrap-config", "--nsx-manager", "--nsx-ca-file", "--nsx-thumbprint", "--nsx-insecure",
    "--cluster-name", "--reconcile-interval", "--nsx-poll-interval", "--realization-timeout",
    "--inventory-batch-size", "--inventory-batch-period", "--stats-interval", "--heartbeat-interval",
    "--max-concurrent-reconciles", "--kube-api-qps", "--kube-api-burst", "--leader-elect",
    "--leader-election-namespace", "--metrics-bind-address", "--health-probe-bind-address", "--log-level",
    "--log-format", "--dry-run", "--config", "--nsx-password-file",
]


def test_help_documents_every_flag_with_its_env_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["ccp", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    missing = [flag for flag in ISSUE_FLAGS if flag not in text]
    assert not missing
    assert "ANTREA_NSX_ADAPTER_CLUSTER_NAME" in text and "Default 10m" in text


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--reconcile-interval", "5x"], {}, "--reconcile-interval: invalid duration '5x'"),
    ([], {"ANTREA_NSX_ADAPTER_NSX_POLL_INTERVAL": "soon"}, "ANTREA_NSX_ADAPTER_NSX_POLL_INTERVAL: invalid duration"),
    (["--kube-api-burst", "0"], {}, "--kube-api-burst: Input should be greater than or equal to 1"),
])
def test_bad_values_exit_2(args: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """In-process: these fail before anything (logging, clients) is set up."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["ccp", *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_boolean_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["ccp", "--leader-elect=maybe"])
    assert done.value.code == 2
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


def test_unknown_key_in_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "adapter.yaml"
    config.write_text("cluster-name: c1\nnsx-manager: nsx1\n")  # the file key is nsx-managers
    assert cli.main(["ccp", "--config", str(config)]) == 2
    assert "unknown key(s) nsx-manager" in capsys.readouterr().err
    monkeypatch.setenv("ANTREA_NSX_ADAPTER_CONFIG", str(config))  # the file may come from the environment too
    assert cli.main(["deregister"]) == 2
    assert f"--config: {config}: unknown key(s) nsx-manager" in capsys.readouterr().err


def test_bad_kubeconfig_exits_2(tmp_path: Path) -> None:
    result = run_cli("ccp", "--kubeconfig", str(tmp_path / "missing"), "--cluster-name", "c1")
    assert result.returncode == 2
    assert f"kubeconfig: {tmp_path / 'missing'} does not exist" in result.stderr


def test_unreachable_manager_exits_2_without_echoing_the_password(world: CliWorld) -> None:
    secret = "Pa55-do-not-print-me"
    port = free_port()
    result = run_cli("ccp", "--kubeconfig", str(world.kubeconfig), "--cluster-name", "c-unreachable",
                     "--cluster-id", "x", "--nsx-manager", f"127.0.0.1:{port}", "--nsx-username", "admin",
                     env=cli_env(ANTREA_NSX_ADAPTER_NSX_PASSWORD=secret))
    assert result.returncode == 2, result.stderr
    assert f"no NSX Manager reachable at 127.0.0.1:{port}" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_wrong_password_exits_2_and_is_not_echoed(world: CliWorld) -> None:
    wrong = "Wr0ng-but-still-secret"
    result = run_cli("ccp", "--kubeconfig", str(world.kubeconfig), "--cluster-name", "c-badpw", "--cluster-id", "x",
                     "--nsx-manager", world.nsx.url, "--nsx-ca-file", str(world.nsx.ca_file),
                     "--nsx-username", "admin", "--nsx-password", wrong)
    assert result.returncode == 2, result.stderr
    assert "refused the credentials (user admin)" in result.stderr
    assert "visible to every user in the process list" in result.stderr  # the --nsx-password warning
    assert wrong not in result.stdout + result.stderr


def test_untrusted_manager_certificate_exits_2(world: CliWorld) -> None:
    """TLS verification is on by default: the simulator's private CA is not trusted without --nsx-ca-file."""
    result = run_cli("ccp", "--kubeconfig", str(world.kubeconfig), "--cluster-name", "c-tls", "--cluster-id", "x",
                     "--nsx-manager", world.nsx.url, "--nsx-username", "admin",
                     "--nsx-password-file", str(world.password_file()))
    assert result.returncode == 2
    assert "no NSX Manager reachable" in result.stderr and "certif" in result.stderr.lower()


def test_demo_outside_a_source_checkout_says_so(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.source_root() is not None  # this test itself runs from one
    monkeypatch.setattr(cli, "source_root", lambda: None)
    assert cli.main(["demo", "--once"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_version_and_translate_still_registered(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out.startswith("antrea-nsx-adapter ")
