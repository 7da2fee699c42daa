"""Antrea's own support bundles, fetched for NSX requests (antrea.md §5.3): antrea-controller's through
the API server (``system.antrea.io/v1beta1``, an aggregated API) and each antrea-agent's from the
agent itself.

Both speak the same protocol: POST ``supportbundles`` with the component's fixed name
(``controller`` / ``agent``) and ``since``, poll the object until ``status`` is ``Collected``, GET
``supportbundles/<name>/download`` (a tar.gz of ``size`` bytes whose sha256 is ``sum``). The bundle
is not deleted afterwards: the adapter is granted what the VMware adapter is (supportbundles
get/create, supportbundles/download get), Antrea expires a collected bundle after an hour and the
next POST replaces it.
Downloads are streamed straight into the caller's archive (``tarfile`` needs only the size up
front, which the bundle object gives), and the checksum is verified on the way.

Agents are reached the way antctl reaches them: ``https://<Node InternalIP>:<apiPort>``, the server
verified against the agent's ``apiCABundle`` (both from its ``AntreaAgentInfo``), authenticated with
the adapter's ServiceAccount token, which the agent checks through the API server (so the same
``system.antrea.io`` RBAC grants apply). An agent without a CA bundle is not contacted: TLS
verification is never turned off.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from reconciler.client import KubeClient
from reconciler.errors import NotFound as KubeNotFound

SYSTEM_API = "/apis/system.antrea.io/v1beta1"
SUPPORT_BUNDLES = f"{SYSTEM_API}/supportbundles"
SPOOL_IN_MEMORY = 8 << 20
CHUNK = 1 << 16
POLL_INTERVAL = 0.25
"""Seconds between two reads of a bundle being collected (Antrea collects in a few seconds)."""


class AntreaBundleApiUnavailable(Exception):
    """The API server does not serve ``system.antrea.io`` supportbundles (404)."""


class BundleError(Exception):
    """A bundle could not be collected; the message says why (it goes to NSX)."""


class _Readable(Protocol):
    def read(self, amt: int | None = None) -> bytes: ...


class _Verified:
    """A file-like over a download that hashes what it hands out and stops at ``size`` bytes."""

    def __init__(self, source: _Readable, size: int) -> None:
        self._source = source
        self._left = size
        self.sha256 = hashlib.sha256()

    def read(self, amt: int = -1) -> bytes:
        want = self._left if amt is None or amt < 0 else min(amt, self._left)
        data = self._source.read(want) if want > 0 else b""
        self._left -= len(data)
        self.sha256.update(data)
        return data


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o644
    return info


def stream_into(tar: tarfile.TarFile, name: str, source: _Readable, bundle: Mapping[str, Any]) -> int:
    """Copy a download of ``bundle['size']`` bytes into ``tar`` as ``name`` (bytes written).

    The bytes pass through a spool (memory up to 8 MiB, then a temporary file) where the length and
    ``sum`` are checked before anything is written: a download cut short must not leave a truncated
    member in the middle of the archive."""
    size = int(bundle.get("size") or 0)
    reader = _Verified(source, size)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        while chunk := reader.read(CHUNK):
            spool.write(chunk)
        if spool.tell() != size:
            raise BundleError(f"download of {name} ended after {spool.tell()} of {size} bytes")
        expected = str(bundle.get("sum") or "")
        if expected and reader.sha256.hexdigest() != expected:
            raise BundleError(f"download of {name} does not match its sha256 {expected}")
        spool.seek(0)
        tar.addfile(_member(name, size), spool)
    return size


def _wait_collected(read: Callable[[], Mapping[str, Any]], what: str, timeout: float) -> Mapping[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        bundle = read()
        if bundle.get("status") == "Collected":
            return bundle
        if time.monotonic() >= deadline:
            raise BundleError(f"{what} bundle still {bundle.get('status')!r} after {timeout:.0f} s")
        time.sleep(POLL_INTERVAL)


# ------------------------------------------------------------------------------------ controller

def controller_bundle(kube: KubeClient, tar: tarfile.TarFile, name: str, since_seconds: int,
                      timeout: float) -> int:
    """antrea-controller's bundle into ``tar`` as ``name`` (bytes written). Raises
    :class:`AntreaBundleApiUnavailable` when the API is not served, :class:`BundleError` or the
    client's errors otherwise."""
    body = {"apiVersion": "system.antrea.io/v1beta1", "kind": "SupportBundle",
            "metadata": {"name": "controller"}, "since": f"{since_seconds}s"}
    try:
        kube.request("POST", SUPPORT_BUNDLES, body=body, retry=False)
    except KubeNotFound as err:
        raise AntreaBundleApiUnavailable(str(err)) from err
    bundle = _wait_collected(lambda: kube.request("GET", f"{SUPPORT_BUNDLES}/controller"), "the controller",
                             timeout)
    resp = kube.request("GET", f"{SUPPORT_BUNDLES}/controller/download", stream=True)
    try:
        return stream_into(tar, name, resp.response, bundle)
    finally:
        resp.response.release_conn()


def controller_info(kube: KubeClient) -> Mapping[str, Any] | None:
    """antrea-controller's info computed live (``controllerinfos/antrea-controller``), or None when
    the API does not answer (the caller falls back to the ``AntreaControllerInfo`` CRD)."""
    try:
        info: Mapping[str, Any] = kube.request("GET", f"{SYSTEM_API}/controllerinfos/antrea-controller", retry=False)
        return info
    except Exception:
        return None


# ----------------------------------------------------------------------------------------- agents

@dataclass(frozen=True)
class AgentEndpoint:
    node: str
    host: str
    port: int
    ca_pem: str


def agent_endpoint(node: Mapping[str, Any], agent_info: Mapping[str, Any]) -> AgentEndpoint:
    """Where the Node's agent API listens; :class:`BundleError` when it cannot be reached safely."""
    name = str((node.get("metadata") or {}).get("name") or "")
    addresses = [a for a in (node.get("status") or {}).get("addresses") or [] if isinstance(a, Mapping)]
    hosts = [str(a["address"]) for a in addresses if a.get("type") == "InternalIP" and a.get("address")]
    hosts += [str(ip).split("/", 1)[0] for ip in ((agent_info.get("networkInfo") or {})
                                                  .get("transportInterfaceIPs") or [])]
    if not hosts:
        raise BundleError("the Node has no InternalIP to reach its antrea-agent at")
    port = agent_info.get("apiPort")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise BundleError("AntreaAgentInfo has no apiPort")
    raw_ca = agent_info.get("apiCABundle")
    if not raw_ca:
        raise BundleError("AntreaAgentInfo has no apiCABundle: the agent's certificate cannot be verified")
    try:
        ca_pem = base64.b64decode(str(raw_ca)).decode()
    except ValueError as err:
        raise BundleError(f"AntreaAgentInfo apiCABundle is not base64 PEM: {err}") from err
    return AgentEndpoint(name, hosts[0], port, ca_pem)


class AgentBundleClient:
    """One agent's supportbundles API (HTTPS, verified, bearer token)."""

    def __init__(self, endpoint: AgentEndpoint, token: str | None, timeout: float) -> None:
        self.endpoint = endpoint
        try:
            ctx = ssl.create_default_context(cadata=endpoint.ca_pem)
        except (ssl.SSLError, ValueError) as err:
            raise BundleError(f"AntreaAgentInfo apiCABundle is not a usable CA: {err}") from err
        self._pool = urllib3.HTTPSConnectionPool(
            endpoint.host, endpoint.port, ssl_context=ctx, retries=False, maxsize=1,
            timeout=urllib3.Timeout(connect=5.0, read=timeout))
        self._headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
        self._timeout = timeout

    def close(self) -> None:
        self._pool.close()

    def _call(self, method: str, path: str, body: Any = None, stream: bool = False) -> Any:
        try:
            resp = self._pool.urlopen(method, SUPPORT_BUNDLES + path, headers=self._headers,
                                      body=json.dumps(body).encode() if body is not None else None,
                                      preload_content=not stream, redirect=False)
        except urllib3.exceptions.SSLError as err:
            raise BundleError(f"TLS to antrea-agent {self.endpoint.host}:{self.endpoint.port} failed: {err}") from err
        except urllib3.exceptions.HTTPError as err:
            raise BundleError(f"antrea-agent {self.endpoint.host}:{self.endpoint.port} unreachable: "
                              f"{getattr(err, 'reason', None) or err}") from err
        if resp.status >= 400:
            data = resp.data if not stream else resp.read()
            try:
                message = json.loads(data).get("message") or data.decode(errors="replace")
            except ValueError:
                message = data.decode(errors="replace")
            raise BundleError(f"antrea-agent answered {resp.status}: {message[:300]}")
        return resp if stream else (json.loads(resp.data) if resp.data else {})

    def start(self, since_seconds: int) -> None:
        self._call("POST", "", {"apiVersion": "system.antrea.io/v1beta1", "kind": "SupportBundle",
                                "metadata": {"name": "agent"}, "since": f"{since_seconds}s"})

    def download_into(self, tar: tarfile.TarFile, name: str) -> int:
        bundle = _wait_collected(lambda: self._call("GET", "/agent"), f"antrea-agent {self.endpoint.node}",
                                 self._timeout)
        resp = self._call("GET", "/agent/download", stream=True)
        try:
            return stream_into(tar, name, resp, bundle)
        finally:
            try:
                resp.drain_conn()
            finally:
                resp.release_conn()


def bearer_token(kube: KubeClient) -> str | None:
    """The adapter's own token (refreshed by the client when it rotates), or None."""
    setting = kube.api_client.configuration.auth_settings().get("BearerToken") or {}
    token = setting.get("value")
    return str(token) if token else None
