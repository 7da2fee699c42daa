"""Wrap a spec model into a complete, apply-ready custom object dict."""

from __future__ import annotations

from typing import Any

from crds.models.base import ApiModel
from crds.resources import Resource


def custom_object(
    resource: Resource,
    name: str,
    spec: ApiModel,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``{apiVersion, kind, metadata, spec}`` for ``resource``; the namespace must match its scope."""
    if resource.namespaced != (namespace is not None):
        raise ValueError(f"{resource.kind} is {'namespaced' if resource.namespaced else 'cluster-scoped'}; "
                         f"namespace={namespace!r}")
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata,
            "spec": spec.to_dict()}
