"""A local control plane for tests and the demo, chosen the way controller-runtime's envtest
chooses it (spec §6.2):

* ``USE_EXISTING_CLUSTER=true`` → the current kubeconfig's cluster (e.g. kind with Antrea);
* real ``kube-apiserver`` + ``etcd`` binaries found through ``TEST_ASSET_KUBE_APISERVER`` /
  ``TEST_ASSET_ETCD``, ``KUBEBUILDER_ASSETS`` or ``/usr/local/kubebuilder/bin`` → started on free
  loopback ports;
* otherwise the project's emulated API server (``sim.kubeapi``). envtest itself would fail here; the
  emulator is the default because no real binaries can be installed on the project's machines.

Either way the given CRDs are installed and waited for (Established and discoverable) within the
start timeout (``KUBEBUILDER_CONTROLPLANE_START_TIMEOUT``, 20 s like envtest). Like envtest there
are no controllers: no garbage collection, no scheduler, Pods never run.

Run one from the command line::

    python -m reconciler.envtest --kubeconfig /tmp/kc [--crd-dir crds/manifests ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from reconciler.client import KubeClient
from reconciler.errors import AlreadyExists, ApiError

__all__ = ["EnvConfig", "Environment", "load_crds", "main"]

Obj = dict[str, Any]

DEFAULT_START_TIMEOUT = 20.0
"""Seconds allowed to start the control plane and establish the CRDs (envtest's default)."""

DEFAULT_STOP_TIMEOUT = 20.0
"""Seconds allowed for the processes to exit before they are killed (envtest's default)."""

DEFAULT_ASSETS_DIR = "/usr/local/kubebuilder/bin"
"""Where envtest looks for binaries when ``KUBEBUILDER_ASSETS`` is unset."""


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip().rstrip("s")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


@dataclass
class EnvConfig:
    """What a started environment hands to tests."""

    kubeconfig: Path
    configuration: Configuration
    backend: str
    """``emulator``, ``binaries`` or ``existing``."""
    server: Any = None
    """The ``sim.kubeapi.KubeApiServer`` when ``backend == "emulator"`` (for fault injection)."""
    crds: list[Obj] = field(default_factory=list)
    """The CRDs installed, as the server returned them."""

    def api_client(self) -> ApiClient:
        """A new official ``ApiClient`` for this control plane."""
        return ApiClient(self.configuration)

    def client(self, **kwargs: Any) -> KubeClient:
        """A new :class:`~reconciler.client.KubeClient` for this control plane."""
        return KubeClient.from_configuration(self.configuration, **kwargs)


def load_crds(paths: Iterable[Path]) -> list[Obj]:
    """Every CustomResourceDefinition in the given files or directories (YAML/JSON, multi-doc,
    ``List`` kinds unwrapped), in path order."""
    found: list[Obj] = []
    for path in paths:
        files = sorted(
            p for p in (path.iterdir() if path.is_dir() else [path])
            if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
        )
        for f in files:
            for doc in yaml.safe_load_all(f.read_text()):
                docs = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind", "").endswith("List") else [doc]
                found.extend(d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Environment:
    """Start/stop a control plane and install CRDs; also a context manager."""

    def __init__(
        self,
        crd_paths: Sequence[Path] = (),
        *,
        crds: Sequence[Obj] = (),
        error_if_crd_path_missing: bool = False,
        use_existing_cluster: bool | None = None,
        binary_assets_directory: Path | None = None,
        kubeconfig_path: Path | None = None,
        start_timeout: float | None = None,
        stop_timeout: float | None = None,
        attach_control_plane_output: bool | None = None,
    ) -> None:
        self.crd_paths = [Path(p) for p in crd_paths]
        self.crds = list(crds)
        self.error_if_crd_path_missing = error_if_crd_path_missing
        self.use_existing_cluster = (
            _truthy("USE_EXISTING_CLUSTER") if use_existing_cluster is None else use_existing_cluster
        )
        self.binary_assets_directory = binary_assets_directory
        self.kubeconfig_path = kubeconfig_path
        self.start_timeout = start_timeout or _env_seconds(
            "KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", DEFAULT_START_TIMEOUT)
        self.stop_timeout = stop_timeout or _env_seconds(
            "KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT)
        self.attach_output = (
            _truthy("KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT")
            if attach_control_plane_output is None else attach_control_plane_output
        )
        self.config: EnvConfig | None = None
        self._server: Any = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._workdir: Path | None = None

    # ---------------------------------------------------------------------------------- backends

    def _binaries(self) -> tuple[Path, Path] | None:
        assets = Path(
            os.environ.get("KUBEBUILDER_ASSETS") or self.binary_assets_directory or DEFAULT_ASSETS_DIR
        )
        apiserver = Path(os.environ.get("TEST_ASSET_KUBE_APISERVER") or assets / "kube-apiserver")
        etcd = Path(os.environ.get("TEST_ASSET_ETCD") or assets / "etcd")
        if apiserver.is_file() and etcd.is_file():
            return apiserver, etcd
        return None

    @property
    def backend(self) -> str:
        """Which control plane :meth:`start` will use."""
        if self.use_existing_cluster:
            return "existing"
        return "binaries" if self._binaries() else "emulator"

    def start(self) -> EnvConfig:
        """Start the control plane, install the CRDs, and return how to reach it."""
        crds = self._collect_crds()
        self._workdir = Path(tempfile.mkdtemp(prefix="envtest-"))
        kubeconfig = self.kubeconfig_path or self._workdir / "kubeconfig"
        backend = self.backend
        try:
            if backend == "existing":
                current = Path(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
                if self.kubeconfig_path is not None:  # callers may rely on the path they asked for
                    self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(current, self.kubeconfig_path)
                else:
                    kubeconfig = current
            elif backend == "binaries":
                self._start_binaries(kubeconfig)
            else:
                from sim.kubeapi import KubeApiServer

                self._server = KubeApiServer()
                self._server.__enter__()
                self._server.write_kubeconfig(kubeconfig)
            cfg = Configuration()
            kube_config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg, persist_config=False)
            self.config = EnvConfig(kubeconfig, cfg, backend, self._server)
            self.config.crds = self.install_crds(crds)
        except BaseException:
            self.stop()
            raise
        return self.config

    def stop(self) -> None:
        """Stop what :meth:`start` started (an existing cluster is left alone)."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.__exit__(None, None, None)
            self._server = None
        for proc in reversed(self._procs):  # apiserver before etcd
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> EnvConfig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- CRDs

    def _collect_crds(self) -> list[Obj]:
        missing = [p for p in self.crd_paths if not p.exists()]
        if missing and self.error_if_crd_path_missing:
            raise FileNotFoundError(f"CRD paths missing: {', '.join(map(str, missing))}")
        return list(self.crds) + load_crds(p for p in self.crd_paths if p.exists())

    def install_crds(self, crds: Sequence[Obj], timeout: float | None = None) -> list[Obj]:
        """Create (or update) ``crds`` and wait until each is Established and discoverable."""
        if self.config is None:
            raise RuntimeError("environment not started")
        if not crds:
            return []
        client = self.config.client(qps=-1)
        res = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        installed = []
        for crd in crds:
            try:
                installed.append(client.create(res, crd))
            except AlreadyExists:
                live = client.get(res, crd["metadata"]["name"])
                body = dict(crd, metadata=dict(crd["metadata"], resourceVersion=live["metadata"]["resourceVersion"]))
                installed.append(client.replace(res, body))
        deadline = time.monotonic() + (timeout or self.start_timeout)
        for crd in installed:
            name = crd["metadata"]["name"]
            while True:
                live = client.get(res, name)
                conds = {c.get("type"): c.get("status") for c in (live.get("status") or {}).get("conditions") or []}
                spec = live["spec"]
                served = [v["name"] for v in spec.get("versions", []) if v.get("served", True)]
                try:
                    if conds.get("Established") == "True":
                        for version in served:
                            client.resource(f"{spec['group']}/{version}", spec["names"]["kind"])
                        break
                except ApiError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not established within the start timeout")
                time.sleep(0.05)
        client.close()
        return installed

    # ----------------------------------------------------------------------------- real binaries
    # Not exercised on the project's machines (no kube-apiserver can be installed there): kept
    # small, following envtest's flags (pkg/internal/testing/controlplane).

    def _start_binaries(self, kubeconfig: Path) -> None:
        bins = self._binaries()
        assert bins is not None and self._workdir is not None
        apiserver_bin, etcd_bin = bins
        work = self._workdir
        out = None if self.attach_output else subprocess.DEVNULL
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        etcd_args = [
            str(etcd_bin), f"--data-dir={work / 'etcd'}", f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}", f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}", f"--initial-cluster=default={peer_url}",
        ]
        # envtest probes `etcd --help` and only passes flags the binary knows (3.4 lacks this one).
        helptext = subprocess.run([str(etcd_bin), "--help"], capture_output=True, text=True, check=False)
        if "--unsafe-no-fsync" in helptext.stdout + helptext.stderr:
            etcd_args.append("--unsafe-no-fsync=true")
        self._procs.append(subprocess.Popen(etcd_args, stdout=out, stderr=out))
        deadline = time.monotonic() + self.start_timeout
        self._wait_http(f"{etcd_url}/health", deadline)

        certs = _write_certs(work / "pki")
        api_args = [
            str(apiserver_bin), "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1",
            f"--secure-port={api_port}", f"--cert-dir={work / 'serving'}", f"--etcd-servers={etcd_url}",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            "--authorization-mode=RBAC", f"--client-ca-file={certs['ca']}",
            f"--service-account-issuer=https://127.0.0.1:{api_port}/",
            f"--service-account-key-file={certs['sa_pub']}",
            f"--service-account-signing-key-file={certs['sa_key']}",
            "--disable-admission-plugins=ServiceAccount",
        ]
        self._procs.append(subprocess.Popen(api_args, stdout=out, stderr=out))
        server = f"https://127.0.0.1:{api_port}"
        self._wait_http(f"{server}/healthz", deadline, insecure=True, cert=(certs["client"], certs["client_key"]))
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "envtest",
            # The serving certificate is self-signed by kube-apiserver into --cert-dir.
            "clusters": [{"name": "envtest", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "envtest-admin", "user": {
                "client-certificate": str(certs["client"]), "client-key": str(certs["client_key"])}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "envtest-admin"}}],
        }))

    def _wait_http(self, url: str, deadline: float, insecure: bool = False,
                   cert: tuple[Path, Path] | None = None) -> None:
        ctx = None
        if insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                raise RuntimeError(f"control-plane process exited while waiting for {url}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{url} not healthy within the start timeout")


def _write_certs(d: Path) -> dict[str, Path]:
    """A CA, an admin client certificate (group system:masters) and a service-account key pair."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem_key(k: rsa.RSAPrivateKey) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    ca_key, client_key, sa_key = key(), key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envtest-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    client = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envtest-admin"),
                                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]))
              .issuer_name(ca_name).public_key(client_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
              .sign(ca_key, hashes.SHA256()))
    paths = {"ca": d / "ca.crt", "client": d / "client.crt", "client_key": d / "client.key",
             "sa_key": d / "sa.key", "sa_pub": d / "sa.pub"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["client"].write_bytes(client.public_bytes(serialization.Encoding.PEM))
    paths["client_key"].write_bytes(pem_key(client_key))
    paths["sa_key"].write_bytes(pem_key(sa_key))
    paths["sa_pub"].write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Start an environment, print one ready line, run until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.envtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    parser.add_argument("--crd-dir", type=Path, action="append", default=[], help="CRD file or directory (repeatable)")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    env = Environment(crd_paths=args.crd_dir, kubeconfig_path=args.kubeconfig, error_if_crd_path_missing=True)
    cfg = env.start()
    try:
        print(f"envtest ready: backend={cfg.backend} server={cfg.configuration.host} "
              f"kubeconfig={cfg.kubeconfig} crds={len(cfg.crds)}", flush=True)
        stopped.wait()
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
