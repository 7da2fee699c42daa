"""Settings: Go durations, precedence flag > env > file > default, and errors that name the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from controllers.config import AdapterConfig, ConfigError, format_duration, load_config, parse_duration

ENV = "ANTREA_NSX_ADAPTER_"


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5h", 5400.0),
    ("2h45m30s", 9930.0), ("90", 90.0), ("0.5", 0.5), (45, 45.0), (2.5, 2.5), ("1m0.5s", 60.5),
])
def test_durations_accept_go_strings_and_numbers(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "", "1h30", "m", "s30", "-5s", "10 m", "1d", True])
def test_bad_durations_are_refused_with_the_value_in_the_message(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10 * 24 * 3600))
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_defaults_are_the_documented_ones() -> None:
    cfg = load_config({}, {})
    assert (cfg.reconcile_interval, cfg.nsx_poll_interval, cfg.realization_timeout) == (600.0, 5.0, 60.0)
    assert cfg.health_probe_bind_address == ":8081" and cfg.metrics_bind_address == "0"
    assert cfg.nsx_insecure is False and cfg.leader_elect is False and cfg.dry_run is False
    assert cfg.bootstrap_namespace == "vmware-system-antrea"
    assert (cfg.kube_api_qps, cfg.kube_api_burst) == (20.0, 30)


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    config_file = tmp_path / "adapter.yaml"
    config_file.write_text("cluster-name: from-file\nnsx-poll-interval: 7s\nrealization-timeout: 2m\n"
                           "log-level: debug\n")
    env = {ENV + "CLUSTER_NAME": "from-env", ENV + "NSX_POLL_INTERVAL": "8s"}
    cfg = load_config({"cluster_name": "from-flag", "log_level": None}, env, config_file)
    assert cfg.cluster_name == "from-flag"          # flag > env > file
    assert cfg.nsx_poll_interval == 8.0             # env > file
    assert cfg.realization_timeout == 120.0         # file > default
    assert cfg.log_level == "debug"                 # an unset flag (None) does not hide the file
    assert cfg.reconcile_interval == 600.0          # default


def test_env_lists_are_comma_separated_and_booleans_parse() -> None:
    cfg = load_config({}, {ENV + "NSX_MANAGERS": "nsx1, nsx2:8443", ENV + "LEADER_ELECT": "true",
                           ENV + "NSX_INSECURE": "0"})
    assert cfg.nsx_managers == ["nsx1", "nsx2:8443"]
    assert cfg.leader_elect is True and cfg.nsx_insecure is False


def test_unknown_key_in_file_is_an_error_naming_it(tmp_path: Path) -> None:
    config_file = tmp_path / "adapter.yaml"
    config_file.write_text("cluster-name: c1\nreconcile-intervall: 5m\n")
    with pytest.raises(ConfigError, match="unknown key.*reconcile-intervall"):
        load_config({}, {}, config_file)


def test_file_must_be_a_mapping_of_valid_yaml(tmp_path: Path) -> None:
    config_file = tmp_path / "adapter.yaml"
    config_file.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config({}, {}, config_file)
    config_file.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config({}, {}, config_file)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config({}, {}, tmp_path / "missing.yaml")


def test_errors_name_the_setting_as_the_user_spelled_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as flag_err:
        load_config({"reconcile_interval": "5x"}, {})
    assert "--reconcile-interval" in str(flag_err.value) and "'5x'" in str(flag_err.value)
    with pytest.raises(ConfigError) as env_err:
        load_config({}, {ENV + "KUBE_API_BURST": "lots"})
    assert ENV + "KUBE_API_BURST" in str(env_err.value)
    config_file = tmp_path / "c.yaml"
    config_file.write_text("nsx-poll-interval: 0s\n")
    with pytest.raises(ConfigError) as file_err:
        load_config({}, {}, config_file)
    assert f"nsx-poll-interval (file {config_file})" in str(file_err.value)
    assert "greater than 0" in str(file_err.value)


def test_password_value_never_appears_in_errors() -> None:
    secret = "hunter2-Sup3r-secret"
    with pytest.raises(ConfigError) as err:
        load_config({"nsx_password": secret, "nsx_password_file": "/x", "kube_api_qps": "fast"}, {})
    assert secret not in str(err.value)
    cfg = load_config({"nsx_password": secret}, {})
    assert secret not in repr(cfg) and secret not in cfg.model_dump_json()
    assert cfg.password() is not None and cfg.password().get_secret_value() == secret  # type: ignore[union-attr]


def test_password_file_first_line(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\nignored\n")
    assert load_config({"nsx_password_file": str(pw)}, {}).password().get_secret_value() == "s3cret"  # type: ignore[union-attr]
    pw.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config({"nsx_password_file": str(pw)}, {}).password()


@pytest.mark.parametrize(("flags", "message"), [
    ({"nsx_insecure": "true", "nsx_ca_file": "/ca.pem"}, "cannot be combined"),
    ({"nsx_ca_file": "/ca.pem", "nsx_thumbprint": "ab" * 32}, "not both"),
    ({"nsx_client_cert_file": "/tls.crt"}, "go together"),
    ({"nsx_thumbprint": "abc"}, "64 hex"),
    ({"log_format": "xml"}, "--log-format"),
    ({"nsx_managers": ["nsx1", " "]}, "--nsx-manager: a manager address must not be empty"),
])
def test_inconsistent_settings_are_refused(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(flags, {})


def test_thumbprint_is_normalised() -> None:
    colon = ":".join(["AB"] * 32)
    assert load_config({"nsx_thumbprint": colon}, {}).nsx_thumbprint == "ab" * 32


def test_every_field_is_documented() -> None:
    for name, info in AdapterConfig.model_fields.items():
        assert info.description, f"{name} has no description"


SAMPLES = {
    "kubeconfig": ("/k", Path("/k")), "kube_api_qps": ("7.5", 7.5), "kube_api_burst": ("9", 9),
    "bootstrap_config": ("/b.conf", Path("/b.conf")), "bootstrap_namespace": ("ns", "ns"),
    "cluster_name": ("c", "c"), "cluster_id": ("id", "id"), "nsx_managers": ("m1", ["m1"]),
    "nsx_ca_file": ("/ca", Path("/ca")), "nsx_thumbprint": ("AB" * 32, "ab" * 32), "nsx_insecure": ("true", True),
    "nsx_client_cert_file": ("/c", Path("/c")), "nsx_client_key_file": ("/k", Path("/k")),
    "nsx_username": ("u", "u"), "nsx_password": ("pw", "pw"), "nsx_password_file": ("/pw", Path("/pw")),
    "reconcile_interval": ("1h", 3600.0),
    "nsx_poll_interval": ("2s", 2.0), "realization_timeout": ("90", 90.0), "inventory_batch_size": ("10", 10),
    "inventory_batch_period": ("3s", 3.0), "stats_interval": ("2m", 120.0), "heartbeat_interval": ("15s", 15.0),
    "max_concurrent_reconciles": ("3", 3), "realization_workers": ("3", 3), "inventory_workers": ("5", 5),
    "realization_batch_period": ("250ms", 0.25), "realization_batch_size": ("100", 100),
    "traceflow_workers": ("6", 6), "graceful_shutdown_timeout": ("5s", 5.0), "leader_elect": ("true", True),
    "leader_election_namespace": ("le", "le"), "metrics_bind_address": (":9", ":9"),
    "leader_elect_lease_duration": ("20s", 20.0), "leader_elect_renew_deadline": ("12s", 12.0),
    "leader_elect_retry_period": ("3s", 3.0),
    "health_probe_bind_address": (":10", ":10"), "log_level": ("debug", "debug"), "log_format": ("json", "json"),
    "dry_run": ("true", True),
}
PAIRED = {"nsx_client_cert_file": "nsx_client_key_file", "nsx_client_key_file": "nsx_client_cert_file"}


@pytest.mark.parametrize("field", sorted(AdapterConfig.model_fields))
def test_every_setting_is_a_flag_and_an_env_variable_with_the_same_meaning(
        field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from controllers import cli
    from controllers.config import env_name, flag_name

    assert field in SAMPLES, f"add a sample value for {field}"
    text, expected = SAMPLES[field]
    for name in list(os.environ):
        if name.startswith(ENV):
            monkeypatch.delenv(name)
    companion = [f"{flag_name(PAIRED[field])}=/other"] if field in PAIRED else []

    def value(cfg: AdapterConfig) -> object:
        got = getattr(cfg, field)
        return got.get_secret_value() if isinstance(got, SecretStr) else got

    parser = cli.build_parser()
    assert value(cli._config_from_args(parser.parse_args(["ccp", f"{flag_name(field)}={text}", *companion]))) \
        == expected
    monkeypatch.setenv(env_name(field), text)
    assert value(cli._config_from_args(parser.parse_args(["ccp", *companion]))) == expected
