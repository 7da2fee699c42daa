"""POST, PUT and PATCH: one pipeline so every write gets the same checks in the real order.

For custom resources the order is kube-apiserver's: decode -> prune unknown fields (Strict: 400,
Warn: Warning header) -> default -> strategy (drop status on create, keep system fields) ->
validate (422 with causes) -> store. Server-side apply is an approximation: it creates the object
(201) or merges the applied configuration into it (strategic for built-ins, JSON-merge for CRs);
there are no managedFields, field ownership or apply conflicts.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from . import crd as crds
from . import errors, meta
from .deletion import remove_object
from .engines import PatchError, json_patch, merge_patch, strategic_merge_patch
from .kinds import STATUS_DROP, STATUS_KEEP, ResourceType
from .state import Call, Response, State, object_response
from .storage import Stored, encode_body

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_NS_KEY = ("", "namespaces")


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _check_type(obj: Any, rt: ResourceType) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise errors.bad_request("the body of the request was in an unknown format - expected a JSON object")
    api_version = obj.get("apiVersion")
    if api_version and api_version != rt.api_version:
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                 f"version ({rt.api_version})")
    kind = obj.get("kind")
    if kind and kind != rt.kind:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    md = obj.get("metadata")
    if md is None:
        obj["metadata"] = {}
    elif not isinstance(md, dict):
        raise errors.bad_request("metadata must be an object")
    return obj


def _field_validation(call: Call) -> str:
    value = call.query.get("fieldValidation") or "Warn"
    if value not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got "{value}"')
    return value


def _prune_and_default(call: Call, obj: dict[str, Any]) -> None:
    """Decode-time steps for custom resources: pruning (with field validation) and defaulting."""
    schema = call.rtype.schema
    if schema is None:
        return
    mode = _field_validation(call)
    removed = [p.lstrip(".") for p in schema.prune(obj)]
    if removed and mode == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in removed))
    if removed and mode == "Warn":
        call.warnings.extend(f'unknown field "{p}"' for p in removed)
    schema.apply_defaults(obj)


def _validate(rt: ResourceType, obj: dict[str, Any]) -> None:
    md = obj["metadata"]
    causes = meta.name_errors(md["name"], rt.name_rule) if md.get("name") else [
        errors.cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]
    causes += meta.label_errors(md.get("labels"))
    if rt.schema is not None:
        causes += [errors.cause(e.reason, e.field, e.message) for e in rt.schema.validate(obj)]
    if rt.storage_key == _CRD_KEY:
        causes += crds.validate(obj)
    if causes:
        raise errors.invalid(rt.group, rt.kind, md.get("name", ""), causes)


def _namespace_check(state: State, rt: ResourceType, namespace: str, name: str) -> None:
    if not rt.namespaced:
        return
    ns = state.store.get(_NS_KEY, "", namespace)
    if ns is None:
        raise errors.not_found("", "namespaces", namespace)
    if ns.obj["metadata"].get("deletionTimestamp"):
        raise errors.forbidden(rt.group, rt.plural, name, f"unable to create new content in namespace {namespace} "
                               "because it is being terminated")


def _crd_terminating(state: State, rt: ResourceType) -> bool:
    if rt.crd_name is None:
        return False
    crd = state.store.get(_CRD_KEY, "", rt.crd_name)
    return crd is not None and bool(crd.obj["metadata"].get("deletionTimestamp"))


def _other_crds(state: State) -> list[dict[str, Any]]:
    return [s.obj for s in state.store.items(_CRD_KEY)]


def _namespace_name_label(ns: dict[str, Any]) -> None:
    """The apiserver keeps ``kubernetes.io/metadata.name`` on every namespace (selectors rely on it)."""
    md = ns["metadata"]
    if md.get("name"):
        md["labels"] = dict(md.get("labels") or {}, **{"kubernetes.io/metadata.name": md["name"]})


def _admit_crd(state: State, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    crds.apply_defaults(obj)
    if crds.validate(obj):
        return  # _validate reports it
    crds.set_status(obj, crds.name_conflict(obj, _other_crds(state)), old)


# -- create ---------------------------------------------------------------------------------------
def create(state: State, call: Call) -> Response:
    rt = call.rtype
    if call.subresource:
        raise errors.method_not_allowed(f"create is not supported on {rt.plural}/{call.subresource}")
    obj = _check_type(call.json_body(), rt)
    if obj["metadata"].get("resourceVersion"):
        raise errors.ApiError(500, "Internal error occurred: resourceVersion should not be set on objects to be "
                              "created")
    _prune_and_default(call, obj)
    with state.store.lock:
        return create_locked(state, call, obj)


def create_locked(state: State, call: Call, obj: dict[str, Any]) -> Response:
    """Create ``obj`` (already decoded, pruned and defaulted); the caller holds the store lock."""
    rt = call.rtype
    md = obj["metadata"]
    if rt.namespaced:
        if md.get("namespace") and md["namespace"] != call.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        md["namespace"] = call.namespace
    else:
        md.pop("namespace", None)
    if not md.get("name") and md.get("generateName"):
        md["name"] = meta.generate_name(str(md["generateName"]))
        while state.store.get(rt.storage_key, call.namespace, md["name"]) is not None:
            md["name"] = meta.generate_name(str(md["generateName"]))
    name = md.get("name") or ""
    _namespace_check(state, rt, call.namespace, name)
    if _crd_terminating(state, rt):
        raise errors.method_not_allowed(f"create not allowed while custom resource definition {rt.crd_name} is "
                                        "terminating")
    obj["apiVersion"] = rt.storage_api_version
    obj["kind"] = rt.kind
    for key in (*_SYSTEM_FIELDS, "selfLink", "managedFields", "resourceVersion"):
        md.pop(key, None)
    md["uid"] = meta.new_uid()
    md["creationTimestamp"] = meta.now_rfc3339()
    if rt.has_generation:
        md["generation"] = 1
    if rt.create_status == STATUS_DROP:
        obj.pop("status", None)
    elif rt.create_status != STATUS_KEEP:
        obj["status"] = copy.deepcopy(rt.create_status)
    if rt.storage_key == _NS_KEY:
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        _namespace_name_label(obj)
    if rt.storage_key == _CRD_KEY:
        _admit_crd(state, obj, None)
    _validate(rt, obj)
    if state.store.get(rt.storage_key, call.namespace, name) is not None:
        raise errors.already_exists(rt.group, rt.plural, name)
    if call.dry_run:
        return object_response(201, rt, encode_body(obj), call.warnings)
    stored = state.store.commit(rt.storage_key, obj, "ADDED")
    if rt.storage_key == _CRD_KEY:
        state.registry.set_crd(name, crds.served_types(stored.obj))
    return object_response(201, rt, stored.body, call.warnings)


# -- update ---------------------------------------------------------------------------------------
def update(state: State, call: Call) -> Response:
    rt = call.rtype
    new = _check_type(call.json_body(), rt)
    md = new["metadata"]
    if md.get("name") and md["name"] != call.name:
        raise errors.bad_request(f"the name of the object ({md['name']}) does not match the name on the URL "
                                 f"({call.name})")
    if rt.namespaced and md.get("namespace") and md["namespace"] != call.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    if not md.get("resourceVersion") and rt.is_custom:
        raise errors.invalid(rt.group, rt.kind, call.name, [errors.cause(
            "FieldValueInvalid", "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")])
    _prune_and_default(call, new)
    with state.store.lock:
        old = state.store.get(rt.storage_key, call.namespace, call.name)
        if old is None:
            raise errors.not_found(rt.group, rt.plural, call.name)
        return update_locked(state, call, old, new)


def _spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    skip = {"metadata", "apiVersion", "kind"}
    if rt.status_subresource:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


def update_locked(state: State, call: Call, old: Stored, new: dict[str, Any]) -> Response:
    """Turn ``new`` into the next version of ``old`` (the caller holds the store lock)."""
    rt = call.rtype
    om = old.obj["metadata"]
    rv = new.get("metadata", {}).get("resourceVersion")
    if rv and rv != om["resourceVersion"]:
        raise errors.conflict(rt.group, rt.plural, call.name, errors.STALE)
    if call.subresource == "status":
        final = _copy(old.obj)
        if "status" in new:
            final["status"] = new["status"]
        else:
            final.pop("status", None)
    elif call.subresource:
        raise errors.not_found(rt.group, f"{rt.plural}/{call.subresource}", call.name)
    else:
        final = new
        fm = final["metadata"]
        for key in _SYSTEM_FIELDS:
            if key in om:
                fm[key] = om[key]
            else:
                fm.pop(key, None)
        fm["name"] = om["name"]
        if rt.namespaced:
            fm["namespace"] = om["namespace"]
        else:
            fm.pop("namespace", None)
        if rt.status_subresource:
            if "status" in old.obj:
                final["status"] = old.obj["status"]
            else:
                final.pop("status", None)
        if rt.storage_key == _NS_KEY:  # spec.finalizers change only through namespaces/{name}/finalize
            spec = dict(final.get("spec") or {})
            old_finalizers = (old.obj.get("spec") or {}).get("finalizers")
            if old_finalizers is None:
                spec.pop("finalizers", None)
            else:
                spec["finalizers"] = old_finalizers
            if spec or "spec" in old.obj:
                final["spec"] = spec
            else:
                final.pop("spec", None)
            _namespace_name_label(final)
        if om.get("deletionTimestamp"):
            added = [f for f in fm.get("finalizers") or [] if f not in (om.get("finalizers") or [])]
            if added:
                raise errors.invalid(rt.group, rt.kind, call.name, [errors.cause(
                    "FieldValueForbidden", "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers []string{{{', '.join(json.dumps(f) for f in added)}}}")])
    final["apiVersion"] = rt.storage_api_version
    final["kind"] = rt.kind
    final["metadata"]["resourceVersion"] = om["resourceVersion"]
    if rt.storage_key == _CRD_KEY:
        _admit_crd(state, final, old.obj)
    _validate(rt, final)
    if rt.has_generation and _spec_part(rt, final) != _spec_part(rt, old.obj):
        final["metadata"]["generation"] = int(om.get("generation") or 0) + 1
    if final == old.obj:  # no-op: no new resourceVersion, no event
        return object_response(200, rt, old.body, call.warnings)
    if call.dry_run:
        return object_response(200, rt, encode_body(final), call.warnings)
    if om.get("deletionTimestamp") and not final["metadata"].get("finalizers"):
        state.store.commit(rt.storage_key, final, "MODIFIED")
        gone = remove_object(state, rt, om.get("namespace", ""), om["name"])
        return object_response(200, rt, gone.body if gone else encode_body(final), call.warnings)
    stored = state.store.commit(rt.storage_key, final, "MODIFIED")
    if rt.storage_key == _CRD_KEY:
        state.registry.set_crd(om["name"], crds.served_types(stored.obj))
    return object_response(200, rt, stored.body, call.warnings)


# -- patch ----------------------------------------------------------------------------------------
def _decode_patch(call: Call, ctype: str) -> Any:
    if ctype == APPLY_PATCH:
        try:
            return yaml.safe_load(call.body.decode() or "null")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
    return call.json_body()


def patch(state: State, call: Call) -> Response:
    rt = call.rtype
    ctype = call.content_type.split(";")[0].strip().lower()
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] + ([] if rt.is_custom else [STRATEGIC_PATCH])
    if ctype not in accepted:
        raise errors.ApiError(415, "the body of the request was in an unknown format - accepted media types "
                              "include: " + ", ".join(accepted))
    if ctype == APPLY_PATCH and not call.query.get("fieldManager"):
        raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
    body = _decode_patch(call, ctype)
    if ctype == JSON_PATCH:
        if not isinstance(body, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    elif not isinstance(body, dict):
        raise errors.bad_request("the body of the request was in an unknown format - expected a JSON object")
    with state.store.lock:
        old = state.store.get(rt.storage_key, call.namespace, call.name)
        if old is None:
            if ctype == APPLY_PATCH and not call.subresource:
                obj = _check_type(body, rt)
                obj["metadata"].setdefault("name", call.name)
                if obj["metadata"]["name"] != call.name:
                    raise errors.bad_request(f"the name of the object ({obj['metadata']['name']}) does not match "
                                             f"the name on the URL ({call.name})")
                obj["metadata"].pop("resourceVersion", None)
                _prune_and_default(call, obj)
                return create_locked(state, call, obj)
            raise errors.not_found(rt.group, rt.plural, call.name)
        base = _copy(old.obj)
        base["apiVersion"] = rt.api_version
        try:
            if ctype == JSON_PATCH:
                result = json_patch(base, body)
            elif ctype == MERGE_PATCH or (ctype == APPLY_PATCH and rt.is_custom):
                result = merge_patch(base, body)
            else:
                result = strategic_merge_patch(base, body, rt.api_version, rt.kind)
        except PatchError as exc:
            raise errors.ApiError(exc.code, exc.message) from exc
        result = _check_type(result, rt)
        md = result["metadata"]
        if md.get("name") != call.name:
            raise errors.bad_request("metadata.name cannot be changed by a patch")
        if not md.get("resourceVersion"):
            md["resourceVersion"] = old.obj["metadata"]["resourceVersion"]
        _prune_and_default(call, result)
        return update_locked(state, call, old, result)
