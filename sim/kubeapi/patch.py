"""The three PATCH flavours kube-apiserver accepts besides server-side apply, as pure functions.

* ``application/merge-patch+json`` -> :func:`merge_patch` (RFC 7386; the Python client's default
  for custom objects).
* ``application/json-patch+json`` -> :func:`json_patch` (RFC 6902; ``kubectl patch --type json``).
* ``application/strategic-merge-patch+json`` -> :func:`strategic_merge_patch` (built-in kinds only;
  ``kubectl apply`` and the Python client's typed ``patch_*``). A real server answers 415 for it on
  custom resources, which is what :func:`supports_strategic_merge` lets the caller decide.

Every function returns a new document and leaves its inputs untouched. Failures raise
:class:`PatchError` whose ``code`` is the HTTP status kube-apiserver uses for them (400 for a
malformed patch, 422 when a well-formed patch cannot be applied, e.g. a failed JSON-patch ``test``).
"""

from __future__ import annotations

import copy
from typing import Any

from . import _smp_jsonpatch as _jsonpatch
from . import _smp_meta
from ._smp_merge import SMPError, merge_map

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch", "supports_strategic_merge"]


class PatchError(Exception):
    """A patch the server rejects; ``message`` goes into the ``Status`` body, ``code`` is its HTTP status."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- RFC 7386 ------------------------------------------------------------------------------------


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError("merge patch must be a JSON object")
    result = _merge_value(copy.deepcopy(target), patch)
    assert isinstance(result, dict)
    return result


def _merge_value(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_value(out.get(key), value)
    return out


# --- RFC 6902 ------------------------------------------------------------------------------------


def json_patch(target: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply a JSON patch; ops run in order on a copy, and any failure aborts the whole patch (422)."""
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        doc = _jsonpatch.apply(target, ops)
    except _jsonpatch.JSONPatchError as exc:
        raise PatchError(exc.message, 422) from exc
    if not isinstance(doc, dict):
        raise PatchError("json patch result is not a JSON object", 422)
    return doc


# --- strategic merge patch -----------------------------------------------------------------------


def supports_strategic_merge(api_version: str, kind: str) -> bool:
    """True for built-in kinds (Kubernetes 1.32 schemas); custom resources get 415 on a real server."""
    return _smp_meta.supports(api_version, kind)


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in object, with kube-apiserver's server-side options."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    schema = _smp_meta.root_schema(api_version, kind)
    if schema is None:
        raise PatchError(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml "
            f"({api_version}/{kind} has no strategic merge patch schema)",
            415,
        )
    try:
        return merge_map(copy.deepcopy(target), copy.deepcopy(patch), schema)
    except SMPError as exc:
        raise PatchError(exc.message, exc.code) from exc
