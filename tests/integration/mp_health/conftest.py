"""One control plane for the health tests of this package (starting one costs seconds; the budget
for the package is under a minute): the Antrea CRDs, the adapter namespace, three Nodes (``n1``
with a pod CIDR and one Pod), nothing else. Tests restore what they change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.envtest import EnvConfig
from tests import worlds

NAMESPACE = "vmware-system-antrea"
NODES = ("n1", "n2", "n3")


@pytest.fixture(scope="package")
def health_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvConfig]:
    with worlds.control_plane(tmp_path_factory.mktemp("mp-health")) as cfg:
        with cfg.client() as kube:
            for ns in (NAMESPACE, "app"):
                kube.create(("v1", "Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            for node in NODES:
                worlds.create_node(kube, node, spec={"podCIDR": "10.10.1.0/24", "podCIDRs": ["10.10.1.0/24"]}
                                   if node == "n1" else {})
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "app"},
                   "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}
            kube.create(("v1", "Pod"), pod)
        yield cfg
