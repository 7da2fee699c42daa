"""The NSX side of a world: the test's own admin session on the NSX simulator (to play the NSX user
and read NSX's APIs) and the adapter's NSX client, both verifying the simulator's TLS certificate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests

from controllers.ccp.translate import cluster_path
from nsx.auth import BasicAuth
from nsx.client import NsxClient
from nsx.tls import TlsSettings
from nsx.transport import RetryPolicy, Timeout
from sim.nsx import NsxSimulator

POLICY_API = "/policy/api/v1"


@contextmanager
def nsx_admin(sim: NsxSimulator) -> Iterator[requests.Session]:
    """A requests session as the NSX admin (basic auth), closed on exit."""
    http = requests.Session()
    http.auth = (sim.username, sim.password)
    http.verify = str(sim.ca_file)
    http.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override the simulator's CA
    with http:
        yield http


def register_cluster(http: requests.Session, sim: NsxSimulator, cluster: str) -> str:
    """Create the ClusterControlPlane ``cluster`` in NSX, as the admin does before an adapter
    connects; returns its Policy API URL (for its heartbeat config and status)."""
    url = sim.url + POLICY_API + cluster_path(cluster)
    resp = http.put(url, json={"resource_type": "ClusterControlPlane", "display_name": cluster}, timeout=10)
    assert resp.status_code == 200, resp.text
    return url


def adapter_nsx_client(sim: NsxSimulator, *, retry: RetryPolicy | None = None,
                       timeout: Timeout | None = None) -> NsxClient:
    """The adapter's NSX client, as its main builds it (basic auth, the simulator's CA)."""
    tls = TlsSettings(ca_file=str(sim.ca_file))
    auth = BasicAuth(sim.username, sim.password)
    if timeout is None:
        return NsxClient([sim.url], auth, tls=tls, retry=retry)
    return NsxClient([sim.url], auth, tls=tls, retry=retry, timeout=timeout)
