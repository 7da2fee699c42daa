"""The Antrea stand-in resumes realizations it was stopped in the middle of (found by the chaos
scenarios: an ACNP left ``Pending`` at its generation by a stopped stand-in stayed Pending forever
after the restart, and the adapter rightly reported ERROR to NSX after its realization timeout)."""

from __future__ import annotations

import time
import uuid

import pytest

from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from sim.antrea import AntreaSimulator

pytestmark = pytest.mark.chaos

ACNP = ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy")


def test_a_policy_left_pending_is_realized_after_a_restart(kube_env: EnvConfig, kube_client: KubeClient) -> None:
    name = f"left-pending-{uuid.uuid4().hex[:6]}"
    acnp = kube_client.create(ACNP, {"apiVersion": ACNP[0], "kind": ACNP[1], "metadata": {"name": name}, "spec": {
        "priority": 5, "appliedTo": [{"podSelector": {}}],
        "ingress": [{"action": "Allow", "from": [{"namespaceSelector": {}}]}]}})
    generation = acnp["metadata"]["generation"]
    # What a controller stopped between its Pending and Realized writes leaves behind.
    kube_client.patch_status(ACNP, name, {"status": {"phase": "Pending", "observedGeneration": generation,
                                                     "currentNodesRealized": 0, "desiredNodesRealized": 0}})
    try:
        with AntreaSimulator(kube_env.kubeconfig, realization_delay=0.1, stats_interval=None):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                status = kube_client.get(ACNP, name).get("status") or {}
                if status.get("phase") == "Realized" and status.get("observedGeneration") == generation:
                    return
                time.sleep(0.1)
        raise AssertionError(f"still {status} after the stand-in restarted")
    finally:
        kube_client.delete(ACNP, name)
