"""What the adapter needs before it can start: a Kubernetes client, the cluster's name and id, the
NSX Managers and the credentials to talk to them.

These come from the objects people already know from the VMware adapter (antrea.md §8.2), all in
namespace ``vmware-system-antrea``:

* ConfigMap ``bootstrap-config``, key ``bootstrap.conf`` (YAML): ``clusterName``, ``NSXManagers``,
  ``bootstrapFrom`` (only ``Inline`` is supported), ``proxyEndpoints.rest-api`` (replaces
  ``NSXManagers`` when set), ``vpcPath``;
* Secret ``nsx-cert`` (``kubernetes.io/tls``): the principal identity's ``tls.crt``/``tls.key``;
  ``username``/``password`` keys are accepted too, for NSX users without a certificate;
* ConfigMap ``cluster-id``, key ``cluster-id.conf`` = ``clusterID: <UUID>``, created once when
  absent (VMware's register Job does that; here the adapter does, race-safely).

Explicit settings (flag, env, ``--config``) win over these objects, so a developer can run the
adapter against any cluster without creating them. Mounting the ConfigMap and Secret as files (as
``config/manager`` does) avoids the API reads and so the RBAC they would need.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from controllers.config import AdapterConfig, ConfigError
from controllers.dry_run import DryRunKubeClient
from nsx.auth import Auth, BasicAuth, ClientCertificateAuth
from nsx.client import NsxClient
from nsx.dry_run import dry_run_client
from nsx.errors import AuthenticationError, NsxApiError, NsxError
from nsx.tls import TlsSettings
from nsx.transport import RetryPolicy
from reconciler.client import KubeClient
from reconciler.errors import AlreadyExists, ApiError, NotFound

BOOTSTRAP_CONFIGMAP = "bootstrap-config"
BOOTSTRAP_KEY = "bootstrap.conf"
NSX_CERT_SECRET = "nsx-cert"
CLUSTER_ID_CONFIGMAP = "cluster-id"
CLUSTER_ID_KEY = "cluster-id.conf"
CONFIGMAP = ("v1", "ConfigMap")
SECRET = ("v1", "Secret")
BUSY_WAIT = 60.0
"""Seconds the start-up check keeps asking an NSX Manager that answers 429 or 503 (busy, but
reachable: a restart must not exit on NSX's rate limit)."""
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class BootstrapConfig:
    """The parsed ``bootstrap.conf``."""

    cluster_name: str | None
    nsx_managers: list[str]
    vpc_path: str | None = None
    source: str = ""
    """Where it was read from, for messages."""


def parse_bootstrap(text: str, source: str) -> BootstrapConfig:
    """Parse ``bootstrap.conf``; refuses what this adapter cannot honour rather than ignoring it."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with clusterName and NSXManagers")
    mode = data.get("bootstrapFrom") or "Inline"
    if mode != "Inline":
        raise ConfigError(f"{source}: bootstrapFrom {mode!r} is not supported (only Inline)")
    managers = data.get("NSXManagers") or []
    proxies = (data.get("proxyEndpoints") or {}).get("rest-api") or []
    if proxies:  # VMware: "If rest-api is set, NSXManagers is ignored."
        managers = proxies
    if isinstance(managers, str):
        managers = [managers]
    if not isinstance(managers, list) or not all(isinstance(m, str) and m for m in managers):
        raise ConfigError(f"{source}: NSXManagers must be a list of addresses")
    name = data.get("clusterName")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{source}: clusterName must be a string")
    vpc = data.get("vpcPath") or data.get("vhcPath")
    return BootstrapConfig(name or None, list(managers), str(vpc) if vpc else None, source)


def read_bootstrap(cfg: AdapterConfig, kube: KubeClient | None) -> BootstrapConfig | None:
    """``bootstrap.conf`` from ``--bootstrap-config`` or else the ConfigMap; None if neither exists."""
    if cfg.bootstrap_config is not None:
        try:
            text = cfg.bootstrap_config.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"--bootstrap-config: cannot read {cfg.bootstrap_config}: "
                              f"{err.strerror or err}") from None
        return parse_bootstrap(text, str(cfg.bootstrap_config))
    if kube is None:
        return None
    ns = cfg.bootstrap_namespace
    try:
        cm = kube.get(CONFIGMAP, BOOTSTRAP_CONFIGMAP, ns)
    except NotFound:
        return None
    source = f"ConfigMap {ns}/{BOOTSTRAP_CONFIGMAP}"
    raw = (cm.get("data") or {}).get(BOOTSTRAP_KEY)
    if not isinstance(raw, str):
        raise ConfigError(f"{source} has no key {BOOTSTRAP_KEY}")
    return parse_bootstrap(raw, source)


@dataclass
class NsxCredentials:
    """How to authenticate to NSX, and where that came from (for a log line without secrets)."""

    auth: Auth
    source: str
    _tempdir: Path | None = field(default=None, repr=False)

    def cleanup(self) -> None:
        """Remove key material copied out of a Secret."""
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def _decode(secret: dict[str, Any], key: str) -> bytes | None:
    value = (secret.get("data") or {}).get(key)
    if value is None:
        string = (secret.get("stringData") or {}).get(key)
        return string.encode() if isinstance(string, str) else None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"Secret key {key} is not valid base64") from None


def _private_copy(cert: bytes, key: bytes) -> tuple[Path, Path, Path]:
    """Write the certificate and key where only this process's user can read them; the TLS stack
    needs files. Removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="nsx-cert-"))  # mode 0700
    atexit.register(shutil.rmtree, directory, True)
    paths = directory / "tls.crt", directory / "tls.key"
    for path, content in zip(paths, (cert, key), strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
    return paths[0], paths[1], directory


def _check_readable(*paths: Path) -> None:
    for path in paths:
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(f"cannot read {path}")


def resolve_credentials(cfg: AdapterConfig, kube: KubeClient | None) -> NsxCredentials:
    """Client certificate files > username/password (flag, env, file) > the ``nsx-cert`` Secret."""
    if cfg.nsx_client_cert_file is not None and cfg.nsx_client_key_file is not None:
        _check_readable(cfg.nsx_client_cert_file, cfg.nsx_client_key_file)
        return NsxCredentials(ClientCertificateAuth(str(cfg.nsx_client_cert_file), str(cfg.nsx_client_key_file)),
                              f"client certificate {cfg.nsx_client_cert_file}")
    password = cfg.password()
    if cfg.nsx_username:
        if password is None:
            raise ConfigError("nsx-username is set but no password: give --nsx-password-file or "
                              "ANTREA_NSX_ADAPTER_NSX_PASSWORD")
        return NsxCredentials(BasicAuth(cfg.nsx_username, password), f"user {cfg.nsx_username}")
    if password is not None:
        raise ConfigError("an NSX password is set but no nsx-username")
    ns = cfg.bootstrap_namespace
    where = f"Secret {ns}/{NSX_CERT_SECRET}"
    if kube is None:
        raise ConfigError("no NSX credentials: give --nsx-client-cert-file/--nsx-client-key-file or "
                          "--nsx-username with --nsx-password-file")
    try:
        secret = kube.get(SECRET, NSX_CERT_SECRET, ns)
    except NotFound:
        raise ConfigError(f"no NSX credentials: {where} does not exist and none were configured "
                          "(--nsx-client-cert-file/--nsx-client-key-file or --nsx-username)") from None
    except ApiError as err:
        raise ConfigError(f"cannot read {where}: {err}") from None
    cert, key = _decode(secret, "tls.crt"), _decode(secret, "tls.key")
    if cert and key:
        cert_path, key_path, directory = _private_copy(cert, key)
        return NsxCredentials(ClientCertificateAuth(str(cert_path), str(key_path)),
                              f"client certificate from {where}", directory)
    user, secret_password = _decode(secret, "username"), _decode(secret, "password")
    if user and secret_password:
        return NsxCredentials(BasicAuth(user.decode(), secret_password.decode()), f"user from {where}")
    raise ConfigError(f"{where} holds neither tls.crt/tls.key nor username/password")


def read_cluster_id(kube: KubeClient, namespace: str) -> str | None:
    """``clusterID`` of the ``cluster-id`` ConfigMap, or None when the ConfigMap does not exist."""
    try:
        cm = kube.get(CONFIGMAP, CLUSTER_ID_CONFIGMAP, namespace)
    except NotFound:
        return None
    source = f"ConfigMap {namespace}/{CLUSTER_ID_CONFIGMAP}"
    text = (cm.get("data") or {}).get(CLUSTER_ID_KEY, "")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: {CLUSTER_ID_KEY} is not valid YAML: {err}") from None
    value = data.get("clusterID") if isinstance(data, dict) else None
    if not value:
        raise ConfigError(f"{source}: {CLUSTER_ID_KEY} has no clusterID")
    return str(value)


def ensure_cluster_id(kube: KubeClient, namespace: str, *, dry_run: bool = False) -> str:
    """The cluster's id, creating the ConfigMap with a new UUID the first time. Two replicas racing
    both end up with the one that was created first (AlreadyExists → read again)."""
    existing = read_cluster_id(kube, namespace)
    if existing is not None:
        return existing
    new_id = str(uuid.uuid4())
    if dry_run:
        logger.info("dry run: would create ConfigMap {}/{} with clusterID {}", namespace, CLUSTER_ID_CONFIGMAP, new_id)
        return new_id
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CLUSTER_ID_CONFIGMAP, "namespace": namespace,
                         "labels": {"app.kubernetes.io/name": "antrea-nsx-adapter"}},
            "data": {CLUSTER_ID_KEY: f"clusterID: {new_id}\n"}}
    try:
        kube.create(CONFIGMAP, body, namespace)
    except AlreadyExists:
        raced = read_cluster_id(kube, namespace)
        if raced is None:
            raise
        return raced
    except NotFound:
        raise ConfigError(f"namespace {namespace} does not exist (needed for the {CLUSTER_ID_CONFIGMAP} "
                          "ConfigMap); create it or set --bootstrap-namespace") from None
    logger.info("created ConfigMap {}/{} with clusterID {}", namespace, CLUSTER_ID_CONFIGMAP, new_id)
    return new_id


def connect_kube(cfg: AdapterConfig) -> KubeClient:
    """The process's Kubernetes client: ``--kubeconfig``, else in-cluster, else the default
    kubeconfig. Checks the server answers, so that a bad kubeconfig fails at start with a clear
    message instead of as retries later."""
    options: dict[str, Any] = {"qps": cfg.kube_api_qps, "burst": cfg.kube_api_burst,
                               "field_manager": "antrea-nsx-adapter"}
    # --dry-run: a client that sends reads and only logs writes (controllers/dry_run.py).
    client_type = DryRunKubeClient if cfg.dry_run else KubeClient
    try:
        if cfg.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.exists():
            kube = client_type.in_cluster(**options)
            where = "in-cluster service account"
        else:
            if cfg.kubeconfig is not None and not cfg.kubeconfig.is_file():
                raise ConfigError(f"kubeconfig: {cfg.kubeconfig} does not exist")
            kube = client_type.from_kubeconfig(cfg.kubeconfig, **options)
            where = str(cfg.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
    except ConfigError:
        raise
    except Exception as err:  # the kubernetes loader raises ConfigException, TypeError, yaml errors...
        raise ConfigError(f"kubeconfig: cannot load {cfg.kubeconfig or 'the default kubeconfig'}: {err}") from None
    previous_retries = kube.max_retries
    # A few retries (about 1.4 s at most): an API server answering 429/5xx for a moment is busy,
    # not misconfigured; one that never answers still fails fast.
    kube.max_retries = 3
    try:
        kube.get_json("/version")
    except ApiError as err:
        kube.close()
        raise ConfigError(f"kubeconfig ({where}): the API server at {kube.host} does not answer: {err}") from None
    finally:
        kube.max_retries = previous_retries
    return kube


@dataclass
class Bootstrap:
    """Everything resolved: what the adapters are built from."""

    cluster_name: str
    nsx_managers: list[str]
    credentials: NsxCredentials
    cluster_id: str | None


def resolve(cfg: AdapterConfig, kube: KubeClient | None, *, need_cluster_id: bool = True) -> Bootstrap:
    """Fill what the explicit settings leave open from the bootstrap objects; say what is missing."""
    boot = None
    if cfg.cluster_name is None or not cfg.nsx_managers:
        boot = read_bootstrap(cfg, kube)
    name = cfg.cluster_name or (boot.cluster_name if boot else None)
    managers = list(cfg.nsx_managers) or (boot.nsx_managers if boot else [])
    hint = (f"(bootstrap.conf read from {boot.source})" if boot else
            f"(no --bootstrap-config and no ConfigMap {cfg.bootstrap_namespace}/{BOOTSTRAP_CONFIGMAP})")
    if not name:
        raise ConfigError(f"no cluster name: set --cluster-name or clusterName in bootstrap.conf {hint}")
    if not managers:
        raise ConfigError(f"no NSX Manager: set --nsx-manager or NSXManagers in bootstrap.conf {hint}")
    credentials = resolve_credentials(cfg, kube)
    cluster_id = cfg.cluster_id
    if cluster_id is None and need_cluster_id and kube is not None:
        cluster_id = ensure_cluster_id(kube, cfg.bootstrap_namespace, dry_run=cfg.dry_run)
    return Bootstrap(name, managers, credentials, cluster_id)


def connect_nsx(cfg: AdapterConfig, boot: Bootstrap, *, check: bool = True) -> NsxClient:
    """The NSX client; with ``check``, one authenticated read proves that a manager is reachable,
    trusted (TLS) and accepts the credentials — failing here is a configuration error (exit 2),
    where failing later would be a crash loop with a vaguer message."""
    tls = TlsSettings(ca_file=str(cfg.nsx_ca_file) if cfg.nsx_ca_file else None,
                      thumbprint=cfg.nsx_thumbprint, insecure=cfg.nsx_insecure)
    nsx: NsxClient = NsxClient(boot.nsx_managers, boot.credentials.auth, tls=tls)
    if cfg.dry_run:  # the adapters' setup would wrap it too; wrapping here covers every caller
        nsx = dry_run_client(nsx)
    if not check:
        return nsx
    # Three rounds over the managers: a 503/429 or a reset connection at start is NSX being busy, not
    # a bad configuration (TLS and credential failures are not retried, so they still fail at once).
    # A manager that keeps answering 429/503 is reachable: it is asked again for up to BUSY_WAIT
    # seconds, where one that does not answer at all still fails after the three rounds.
    probe = NsxClient(boot.nsx_managers, boot.credentials.auth, tls=tls,
                      retry=RetryPolicy(max_tries=3 * len(boot.nsx_managers), max_time=30.0), timeout=(5.0, 30.0))
    deadline = time.monotonic() + BUSY_WAIT
    try:
        while True:
            try:
                probe.registration.get_cluster_control_plane(boot.cluster_name)
                break
            except NsxApiError as err:
                if err.status not in (429, 503) or time.monotonic() >= deadline:
                    raise
                logger.warning("NSX Manager busy at start-up ({}); asking again", err)
                time.sleep(1.0)
    except AuthenticationError as err:
        nsx.close()
        raise ConfigError(f"NSX Manager refused the credentials ({boot.credentials.source}): {err}") from None
    except NsxError as err:
        nsx.close()
        if isinstance(err, NsxApiError) and err.status in (429, 503):
            raise ConfigError(f"NSX Manager at {', '.join(boot.nsx_managers)} still busy after {BUSY_WAIT:.0f} s: "
                              f"{err}") from None
        raise ConfigError(f"no NSX Manager reachable at {', '.join(boot.nsx_managers)}: {err}") from None
    finally:
        probe.close()
    return nsx
