"""The adapter's configuration: one typed model, filled from flags, environment and a YAML file.

Precedence, highest first: command-line flag > environment variable > ``--config`` file > the
bootstrap ConfigMap/Secret (:mod:`controllers.bootstrap`, for the cluster name, managers and
credentials only) > the default declared on the field. Every field has all three spellings, derived
from its name so they cannot drift apart::

    field  nsx_poll_interval
    flag   --nsx-poll-interval
    env    ANTREA_NSX_ADAPTER_NSX_POLL_INTERVAL
    file   nsx-poll-interval: 5s

Durations accept Go's syntax ("30s", "10m", "1h30m", "250ms") and plain numbers (seconds), since
both the Go adapter's users and YAML authors will write one or the other. An unknown key in the
file is an error, not a warning: a typo there would otherwise silently keep a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "ANTREA_NSX_ADAPTER_"
DEFAULT_NAMESPACE = "vmware-system-antrea"
"""Namespace of the adapter and of its bootstrap objects, as the VMware adapter (antrea.md §8.2)."""

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class ConfigError(ValueError):
    """The configuration is unusable; the message says which setting, from where, and why."""


def parse_duration(value: object) -> float:
    """Seconds from a Go duration string ("1h30m", "250ms"), a number, or a numeric string.

    Negative and malformed values are refused with the offending text in the message."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 10m, 1h30m or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _GO_DURATION.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if not text or pos != len(text):
                raise ValueError(
                    f"invalid duration {value!r}: expected a number of seconds or a Go duration "
                    "like 30s, 10m, 1h30m, 250ms") from None
    else:
        raise ValueError("expected a duration like 30s, 10m, 1h30m or a number of seconds")
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of ``seconds`` (for --help and logs)."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds; parsed from Go duration strings or numbers."""


def _split_list(value: object) -> object:
    """A comma-separated string (environment variables) becomes a list; lists stay as they are."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AdapterConfig(BaseModel):
    """Every setting of ``antrea-nsx-adapter``; the CLI derives its flags from these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- Kubernetes ----------------------------------------------------------------------------
    kubeconfig: Path | None = Field(None, description=(
        "kubeconfig of the cluster. Default: the Pod's service account when running in a cluster, "
        "else $KUBECONFIG or ~/.kube/config."))
    kube_api_qps: float = Field(20.0, description=(
        "client-side requests/second to the Kubernetes API for the whole process (<= 0: no limit). "
        "Default 20, kube-controller-manager's."))
    kube_api_burst: int = Field(30, ge=1, description="requests allowed at once above the QPS. Default 30.")

    # -- bootstrap (antrea.md §8.2) --------------------------------------------------------------
    bootstrap_config: Path | None = Field(None, description=(
        "file holding bootstrap.conf (clusterName, NSXManagers), e.g. the bootstrap-config ConfigMap "
        "mounted at /etc/antrea/bootstrap.conf. Default: read the ConfigMap through the API."))
    bootstrap_namespace: str = Field(DEFAULT_NAMESPACE, min_length=1, description=(
        "namespace of the bootstrap-config and cluster-id ConfigMaps and the nsx-cert Secret. "
        f"Default {DEFAULT_NAMESPACE}."))
    cluster_name: str | None = Field(None, description=(
        "the cluster's name in NSX (its cluster-control-plane id; must match the principal identity). "
        "Default: clusterName of bootstrap.conf."))
    cluster_id: str | None = Field(None, description=(
        "the cluster's UUID in NSX inventory. Default: clusterID of the cluster-id ConfigMap, created "
        "once with a random UUID when absent."))

    # -- NSX -------------------------------------------------------------------------------------
    nsx_managers: Annotated[list[str], BeforeValidator(_split_list)] = Field(default_factory=list, description=(
        "NSX Manager address (host, host:port or https://host:port); repeat for a cluster of managers. "
        "Default: NSXManagers of bootstrap.conf."))
    nsx_ca_file: Path | None = Field(None, description=(
        "PEM bundle of the CA that signed the managers' certificates. Default: the system CA store."))
    nsx_thumbprint: str | None = Field(None, description=(
        "SHA-256 thumbprint of the managers' certificate, pinned instead of CA and hostname checks."))
    nsx_insecure: bool = Field(False, description=(
        "do not verify the managers' certificate at all (lab use only; logged as a warning). Default off "
        "(the VMware adapter defaults to on; this one is secure by default)."))
    nsx_client_cert_file: Path | None = Field(None, description=(
        "principal-identity client certificate (tls.crt of the nsx-cert Secret, mounted). Default: "
        "read the nsx-cert Secret through the API when no username is configured."))
    nsx_client_key_file: Path | None = Field(None, description="private key of --nsx-client-cert-file (tls.key).")
    nsx_username: str | None = Field(None, description="NSX user for basic/session auth instead of a certificate.")
    nsx_password: SecretStr | None = Field(None, description=(
        "password of --nsx-username. Visible in the process list when given as a flag: prefer "
        "--nsx-password-file or ANTREA_NSX_ADAPTER_NSX_PASSWORD."))
    nsx_password_file: Path | None = Field(None, description="file whose first line is the NSX password.")

    # -- timings and sizes -------------------------------------------------------------------------
    reconcile_interval: Duration = Field(600.0, gt=0, description=(
        "period of the global resync (re-plan everything, purge stale objects). Default 10m."))
    nsx_poll_interval: Duration = Field(5.0, gt=0, description="period of the NSX intent poll. Default 5s.")
    realization_timeout: Duration = Field(60.0, gt=0, description=(
        "how long a policy may stay unrealized before NSX is told ERROR. Default 60s "
        "(the VMware adapter's RealizeTimeoutSeconds)."))
    inventory_batch_size: int = Field(500, ge=1, description=(
        "MP adapter: most inventory objects per NSX update request. Default 500 (NSX recommends "
        "500-1000; VMware's adapter uses 50)."))
    inventory_batch_period: Duration = Field(1.0, gt=0, description=(
        "MP adapter: the longest a partial batch of inventory changes waits; full batches, and a "
        "backlog of several, go out at once, back to back. Default 1s."))
    stats_interval: Duration = Field(60.0, gt=0, description=(
        "MP adapter: period of policy-statistics reports to NSX. Default 1m."))
    heartbeat_interval: Duration = Field(30.0, gt=0, description=(
        "MP adapter: period of cluster health heartbeats to NSX (NSX marks a cluster UNKNOWN after "
        "3 missed reports). Default 30s."))
    max_concurrent_reconciles: int = Field(8, ge=1, description=(
        "CCP adapter: Kubernetes writes in flight at once while applying a plan (the policy controller "
        "itself has one worker: it reconciles one global key). Default 8 (VMware's ReconcilerWorkerCount)."))
    realization_workers: int = Field(4, ge=1, description=(
        "CCP adapter: workers of the realization controller (one NSX policy's realization each). Default 4."))
    realization_batch_period: Duration = Field(0.5, ge=0, description=(
        "CCP adapter: how long a realization report may wait for others before one POST carries them "
        "all to NSX. Default 0.5s (a cold start's burst travels in a few requests)."))
    realization_batch_size: int = Field(500, ge=1, le=1000, description=(
        "CCP adapter: most realization reports per POST; a full batch leaves at once. Default 500 "
        "(the adapter channel accepts up to 1000)."))
    inventory_workers: int = Field(2, ge=1, description=(
        "MP adapter: workers of each inventory controller, one controller per reported kind (they only "
        "read caches; one flusher sends the batches). Default 2."))
    traceflow_workers: int = Field(4, ge=1, description=(
        "MP adapter: workers of the Traceflow controller (Antrea runs at most 14 traces at once). Default 4."))
    graceful_shutdown_timeout: Duration = Field(30.0, ge=0, description=(
        "how long SIGTERM waits for in-flight work before abandoning it. Default 30s."))

    # -- manager -----------------------------------------------------------------------------------
    leader_elect: bool = Field(False, description=(
        "compete for a Lease so that only one replica writes. Default off; on with replicas > 1."))
    leader_election_namespace: str = Field("", description=(
        "namespace of the Lease. Default: the Pod's own namespace (else $POD_NAMESPACE, else default)."))
    leader_elect_lease_duration: Duration = Field(15.0, gt=0, description=(
        "how long a standby waits on a silent leader before taking over. Default 15s (controller-runtime's)."))
    leader_elect_renew_deadline: Duration = Field(10.0, gt=0, description=(
        "how long the leader may fail to renew before it stops writing and steps down; must be below "
        "the lease duration. Default 10s."))
    leader_elect_retry_period: Duration = Field(2.0, gt=0, description=(
        "period of the acquire and renew attempts; the renew deadline must exceed 1.2 times it. Default 2s."))
    metrics_bind_address: str = Field("0", description=(
        "address of /metrics, e.g. :8080; 0 disables. Default 0 (the kubebuilder scaffold's)."))
    health_probe_bind_address: str = Field(":8081", description=(
        "address of /healthz and /readyz; 0 disables. Default :8081."))
    log_level: Literal["trace", "debug", "info", "warning", "error"] = Field("info", description="Default info.")
    log_format: Literal["text", "json"] = Field("text", description="Default text.")
    dry_run: bool = Field(False, description=(
        "plan and log, write nothing: no Kubernetes write, no NSX write (registration, inventory, "
        "realization, statistics, health, Traceflow results), no leader election. Default off."))

    @field_validator("nsx_managers")
    @classmethod
    def _managers_not_blank(cls, value: list[str]) -> list[str]:
        if any(not m.strip() for m in value):
            raise ValueError("a manager address must not be empty")
        return value

    @field_validator("nsx_thumbprint")
    @classmethod
    def _thumbprint_format(cls, value: str | None) -> str | None:
        if value is not None:
            from nsx.tls import normalize_thumbprint

            return normalize_thumbprint(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AdapterConfig:
        if self.nsx_insecure and (self.nsx_ca_file or self.nsx_thumbprint):
            raise ValueError("nsx-insecure cannot be combined with nsx-ca-file or nsx-thumbprint")
        if self.nsx_ca_file and self.nsx_thumbprint:
            raise ValueError("give either nsx-ca-file or nsx-thumbprint, not both")
        if self.nsx_password is not None and self.nsx_password_file is not None:
            raise ValueError("give either nsx-password or nsx-password-file, not both")
        if (self.nsx_client_cert_file is None) != (self.nsx_client_key_file is None):
            raise ValueError("nsx-client-cert-file and nsx-client-key-file go together")
        if self.leader_elect_lease_duration <= self.leader_elect_renew_deadline:
            raise ValueError("leader-elect-lease-duration must be greater than leader-elect-renew-deadline")
        if self.leader_elect_renew_deadline <= 1.2 * self.leader_elect_retry_period:
            raise ValueError("leader-elect-renew-deadline must be greater than 1.2 * leader-elect-retry-period")
        return self

    def password(self) -> SecretStr | None:
        """The NSX password from the value or the file (first line), never logged."""
        if self.nsx_password is not None:
            return self.nsx_password
        if self.nsx_password_file is not None:
            try:
                lines = self.nsx_password_file.read_text(encoding="utf-8").splitlines()
            except OSError as err:
                raise ConfigError(f"nsx-password-file: cannot read {self.nsx_password_file}: "
                                  f"{err.strerror or err}") from None
            if not lines or not lines[0]:
                raise ConfigError(f"nsx-password-file: {self.nsx_password_file} is empty")
            return SecretStr(lines[0])
        return None


FIELDS: dict[str, Any] = dict(AdapterConfig.model_fields)
SECRET_FIELDS = frozenset({"nsx_password"})
LIST_FIELDS = frozenset({"nsx_managers"})


def flag_name(field: str) -> str:
    """``--field-name``; list fields take one value per flag and so are singular (``--nsx-manager``)."""
    name = "--" + field.replace("_", "-")
    return name.removesuffix("s") if field in LIST_FIELDS else name


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def file_key(field: str) -> str:
    return field.replace("_", "-")


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"--config: cannot read {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"--config: {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of settings, not {type(data).__name__}")
    known = {file_key(f): f for f in FIELDS}
    values: dict[str, Any] = {}
    unknown = []
    for key, value in data.items():
        name = known.get(str(key)) or (str(key) if str(key) in FIELDS else None)
        if name is None:
            unknown.append(str(key))
        else:
            values[name] = value
    if unknown:
        raise ConfigError(
            f"--config: {path}: unknown key(s) {', '.join(sorted(unknown))}; known keys are the flag "
            f"names without '--', e.g. cluster-name, nsx-managers")
    return values


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FIELDS:
        raw = environ.get(env_name(name))
        if raw is not None and raw != "":
            values[name] = raw
    return values


def load_config(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> AdapterConfig:
    """Merge the sources (flag > env > file > default) and validate.

    ``flags`` holds only the flags given on the command line (unset ones absent or None). Raises
    :class:`ConfigError` naming each bad setting and where its value came from; secret values are
    never part of the message."""
    environ = os.environ if environ is None else environ
    layers = [
        ("file " + str(config_file), _from_file(config_file) if config_file else {}),
        ("env", _from_env(environ)),
        ("flag", {k: v for k, v in flags.items() if v is not None and k in FIELDS}),
    ]
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, values in layers:
        for key, value in values.items():
            merged[key] = value
            origin[key] = source
    try:
        return AdapterConfig(**merged)
    except ValidationError as err:
        raise ConfigError(describe_errors(err, origin)) from None


def _spelling(field: str, source: str) -> str:
    if source == "flag":
        return flag_name(field)
    if source == "env":
        return env_name(field)
    if source.startswith("file"):
        return f"{file_key(field)} ({source})"
    return file_key(field)


def describe_errors(err: ValidationError, origin: Mapping[str, str]) -> str:
    """One line per problem: the setting as the user spelled it, and pydantic's reason.
    Input values are left out on purpose (they may be secrets); duration errors quote theirs."""
    lines = ["invalid configuration:"]
    for problem in err.errors(include_input=False, include_url=False):
        loc = [str(p) for p in problem.get("loc", ())]
        field = loc[0] if loc else ""
        where = _spelling(field, origin.get(field, "default")) if field else "configuration"
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        if problem.get("type") == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
