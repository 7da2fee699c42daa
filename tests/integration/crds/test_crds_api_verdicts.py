"""Every sample gets the same verdict from the project's CRDs as from Antrea's own, over real HTTP.

Two emulated API servers run side by side: one with ``crds/manifests``, one with Antrea v2.7.0's
CRDs from the shared folder. Each sample is created with ``dryRun=All`` through the official
client on both; accepted vs 422 must agree with each other and with the verdict recorded next to
the sample. Rejections must carry the same field errors; accepted samples must be stored
identically (same pruning, same defaults).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

VOLATILE_METADATA = {"uid", "creationTimestamp", "resourceVersion", "generation", "managedFields"}


def _comparable(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored object without the server-assigned metadata that differs between servers."""
    metadata = {k: v for k, v in stored.get("metadata", {}).items() if k not in VOLATILE_METADATA}
    return {**stored, "metadata": metadata}


def test_upstream_crds_are_compared(upstream_crds: list[dict[str, Any]]) -> None:
    """Skips, visibly, when Antrea's CRDs are absent: the verdict test then checks only ours."""
    assert len(upstream_crds) == 9


def test_sample_verdict(sample: Any, project_cluster: Any, upstream_cluster_if_present: Any) -> None:
    ours, our_result = project_cluster.verdict(sample)
    assert ours == sample.expect, f"{sample.id}: expected {sample.expect} ({sample.why}); got {our_result}"
    if ours == "reject":
        assert our_result.status == 422, f"{sample.id}: rejected with {our_result.status}, not 422"
    else:
        assert sample.after_mismatches(our_result) == {}, f"{sample.id}: stored object differs from 'after'"
    if upstream_cluster_if_present is None:
        return

    theirs, their_result = upstream_cluster_if_present.verdict(sample)
    assert theirs == ours, f"{sample.id}: project CRD says {ours}, Antrea's says {theirs}: {their_result}"
    if ours == "reject":
        assert their_result.status == 422
        # Same schema rules, so the same field errors, word for word.
        assert json.loads(our_result.body)["message"] == json.loads(their_result.body)["message"]
    else:
        assert _comparable(our_result) == _comparable(their_result), f"{sample.id}: stored differently"


def test_dry_run_persists_nothing(project_cluster: Any, all_samples: list[Any]) -> None:
    """The verdict test relies on dryRun=All: an accepted sample must not be stored."""
    from kubernetes.client.exceptions import ApiException

    sample = next(s for s in all_samples if s.accepted and not s.resource.namespaced)
    project_cluster.create(sample.manifest(), sample.resource)
    with pytest.raises(ApiException) as caught:
        project_cluster.custom.get_cluster_custom_object(
            sample.resource.group, sample.resource.version, sample.resource.plural, sample.id
        )
    assert caught.value.status == 404
