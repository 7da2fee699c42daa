"""CustomResourceDefinitions: their validation, their status, and the resource types they serve.

The real apiextensions-apiserver checks a CRD on write, then its controllers accept the names and
mark it Established a moment later. Here the whole thing happens inside the CRD's write, so the
stored CRD already carries ``NamesAccepted``/``Established`` when the create returns (clients that
wait for the condition see it at once; clients that don't wait also work).
"""

from __future__ import annotations

import copy
from typing import Any

from . import meta
from .engines import StructuralSchema
from .errors import cause
from .kinds import STATUS_DROP, STATUS_KEEP, ResourceType
from .registry import version_priority

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def apply_defaults(crd: dict[str, Any]) -> None:
    """apiextensions' defaulting of ``spec`` (singular, listKind, conversion strategy)."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        if isinstance(version, dict):
            version.setdefault("served", True)
            version.setdefault("storage", False)


def validate(crd: dict[str, Any]) -> list[dict[str, str]]:
    """Causes a real server would give for this CRD (empty when it is acceptable)."""
    causes: list[dict[str, str]] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    name = crd.get("metadata", {}).get("name", "")
    if not group:
        causes.append(cause("FieldValueRequired", "spec.group", "Required value"))
    elif "." not in group:
        causes.append(cause("FieldValueInvalid", "spec.group",
                            f'Invalid value: "{group}": should be a domain with at least one dot'))
    if not plural:
        causes.append(cause("FieldValueRequired", "spec.names.plural", "Required value"))
    else:
        causes += meta.name_errors(plural, meta.LABEL, "spec.names.plural")
    if not names.get("kind"):
        causes.append(cause("FieldValueRequired", "spec.names.kind", "Required value"))
    if plural and group and name != f"{plural}.{group}":
        causes.append(cause("FieldValueInvalid", "metadata.name",
                            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        causes.append(cause("FieldValueNotSupported", "spec.scope",
                            f'Unsupported value: "{scope or ""}": supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(cause("FieldValueRequired", "spec.versions", "Required value: must have exactly one version "
                            "marked as storage version"))
    elif sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        causes.append(cause("FieldValueInvalid", "spec.versions",
                            "Invalid value: ...: must have exactly one version marked as storage version"))
    for i, version in enumerate(versions):
        if not isinstance(version, dict) or not version.get("name"):
            causes.append(cause("FieldValueRequired", f"spec.versions[{i}].name", "Required value"))
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        if schema is None:
            causes.append(cause("FieldValueRequired", path, "Required value: schemas are required"))
            continue
        try:
            StructuralSchema(schema)
        except ValueError as exc:
            causes.append(cause("FieldValueInvalid", path, f"Invalid value: {exc}"))
    return causes


def _condition(ctype: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {"type": ctype, "status": status, "lastTransitionTime": now, "reason": reason, "message": message}


def set_status(crd: dict[str, Any], conflict: str | None, old: dict[str, Any] | None = None) -> None:
    """Write what the naming and establishing controllers would: conditions, acceptedNames,
    storedVersions. ``conflict`` names a clash with another CRD (then nothing is served)."""
    now = meta.now_rfc3339()
    spec = crd["spec"]
    names = dict(spec["names"])
    old_status = (old or {}).get("status") or {}
    stored = list(old_status.get("storedVersions") or [])
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if storage not in stored:
        stored.append(storage)
    previous = {c.get("type"): c for c in old_status.get("conditions") or []}

    def keep_time(cond: dict[str, str]) -> dict[str, str]:
        prev = previous.get(cond["type"])
        if prev and prev.get("status") == cond["status"] and prev.get("lastTransitionTime"):
            cond["lastTransitionTime"] = prev["lastTransitionTime"]
        return cond

    if conflict:
        conditions = [
            keep_time(_condition("NamesAccepted", "False", "NameConflict", conflict, now)),
            keep_time(_condition("Established", "False", "NotAccepted", "not all names are accepted", now)),
        ]
        accepted = old_status.get("acceptedNames") or {"plural": "", "kind": ""}
    else:
        conditions = [
            keep_time(_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now)),
            keep_time(_condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted",
                                 now)),
        ]
        accepted = names
    if crd["metadata"].get("deletionTimestamp"):
        conditions.append(keep_time(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                               "CustomResource deletion is in progress", now)))
    crd["status"] = {"conditions": conditions, "acceptedNames": copy.deepcopy(accepted), "storedVersions": stored}


def name_conflict(crd: dict[str, Any], others: list[dict[str, Any]]) -> str | None:
    """Why this CRD's names clash with another CRD of the same group, if they do."""
    spec = crd["spec"]
    names = spec["names"]
    mine = {names.get("plural"), names.get("singular"), *(names.get("shortNames") or [])}
    for other in others:
        if other["metadata"]["name"] == crd["metadata"]["name"] or other["spec"].get("group") != spec["group"]:
            continue
        accepted = (other.get("status") or {}).get("acceptedNames") or {}
        theirs = {accepted.get("plural"), accepted.get("singular"), *(accepted.get("shortNames") or [])}
        clash = (mine & theirs) - {None, ""}
        if clash:
            return f'"{sorted(clash)[0]}" is already in use'
        if accepted.get("kind") == names.get("kind"):
            return f'"{names.get("kind")}" is already in use'
    return None


def served_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version (none while names are not accepted)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
        return []
    spec = crd["spec"]
    names = spec["names"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    served = [v for v in spec["versions"] if v.get("served", True)]
    served_names = tuple(sorted((v["name"] for v in served), key=version_priority))
    out: list[ResourceType] = []
    for version in served:
        schema_doc = (version.get("schema") or {}).get("openAPIV3Schema")
        has_status = "status" in (version.get("subresources") or {})
        selectable = tuple(str(f.get("jsonPath", "")).lstrip(".") for f in version.get("selectableFields") or [])
        out.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), kind=names["kind"],
            namespaced=spec.get("scope") == "Namespaced", short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), status_subresource=has_status, has_generation=True,
            create_status=STATUS_DROP if has_status else STATUS_KEEP, field_labels=selectable,
            return_deleted_object=True, crd_name=crd["metadata"]["name"], storage_version=storage,
            schema=StructuralSchema(schema_doc) if schema_doc else None,
            deprecated=bool(version.get("deprecated")), deprecation_warning=version.get("deprecationWarning"),
            served_versions=served_names, printer_columns=tuple(_printer_column(c) for c in
                                                                version.get("additionalPrinterColumns") or []),
        ))
    return out


def _printer_column(column: dict[str, Any]) -> dict[str, Any]:
    return {"name": column.get("name", ""), "type": column.get("type", "string"), "format": column.get("format", ""),
            "description": column.get("description", ""), "priority": int(column.get("priority") or 0),
            "jsonPath": column.get("jsonPath", "")}


def deprecation_warning(rtype: ResourceType) -> str | None:
    if not rtype.deprecated:
        return None
    return rtype.deprecation_warning or f"{rtype.group}/{rtype.version} {rtype.kind} is deprecated"
