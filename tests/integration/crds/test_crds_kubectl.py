"""kubectl sees the project's CRDs the way an operator would: kustomize apply, short names, 422s.

Runs against the session control plane (``kube_env`` in tests/conftest.py), which installs
``crds/manifests`` at start-up.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from crds import ALL_RESOURCES, MANIFEST_DIR


def test_kustomize_apply_is_idempotent(kubectl: Any) -> None:
    out = kubectl("apply", "-k", str(MANIFEST_DIR.parent)).stdout
    applied = [line for line in out.splitlines() if line.strip()]
    assert len(applied) == len(ALL_RESOURCES), out
    again = kubectl("apply", "-k", str(MANIFEST_DIR.parent)).stdout
    assert all(line.endswith("unchanged") for line in again.splitlines() if line.strip()), again
    names = kubectl("get", "crd", "-o", "name").stdout.split()
    assert {f"customresourcedefinition.apiextensions.k8s.io/{r.crd_name}" for r in ALL_RESOURCES} <= set(names)


def test_short_names_and_validation_through_kubectl(kubectl: Any) -> None:
    name = f"tier-{uuid.uuid4().hex[:8]}"
    tier = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": name},
            "spec": {"priority": 7, "description": "from kubectl"}}
    kubectl("apply", "-f", "-", input=json.dumps(tier))
    assert kubectl("get", "tr", name, "-o", "jsonpath={.spec.priority}").stdout == "7"

    bad = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
           "metadata": {"name": f"acnp-{uuid.uuid4().hex[:8]}"},
           "spec": {"priority": 0, "ingress": [{"action": "Deny"}]}}
    result = kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "spec.priority" in result.stderr and "spec.ingress[0].action" in result.stderr, result.stderr
    missing = kubectl("get", "acnp", bad["metadata"]["name"], check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
