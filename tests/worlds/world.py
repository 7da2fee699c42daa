"""What every end-to-end world holds, whatever else a suite adds to it (an admin NSX session, an
Antrea stand-in, a running adapter): suites subclass it as their own ``World`` dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.client import KubeClient
from reconciler.envtest import EnvConfig
from sim.nsx import NsxSimulator


@dataclass
class World:
    env: EnvConfig
    """The control plane (its kubeconfig, and ``server``, the emulated API server, for fault injection)."""
    kube: KubeClient
    """The test's own client: admin, whatever identity the adapter runs as."""
    nsx: NsxSimulator
