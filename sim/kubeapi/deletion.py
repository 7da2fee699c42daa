"""DELETE with DeleteOptions, finalizers and the hand-off to the emulated controllers.

An object with finalizers is only marked (deletionTimestamp, generation+1) and answered with 202;
it goes away when an update removes the last finalizer. Namespaces and CRDs are always marked and
emptied by the background controllers (``controllers.py``) before they disappear. ``Orphan``
strips the owner reference from dependents at once (the real GC does it through the ``orphan``
finalizer); ``Foreground`` adds the ``foregroundDeletion`` finalizer that the GC clears once the
dependents are gone; ``Background`` (default) deletes now and lets the GC collect dependents.
"""

from __future__ import annotations

import json
from typing import Any

from . import crd as crds
from . import errors, meta
from .kinds import ResourceType
from .state import Call, Response, State, object_response
from .storage import Stored

_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_NS_KEY = ("", "namespaces")
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def _options(call: Call) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if call.body.strip():
        body = call.json_body()
        if not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        opts = body
    for key in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
        if key in call.query and key not in opts:
            opts[key] = call.query[key]
    if isinstance(opts.get("orphanDependents"), str):
        opts["orphanDependents"] = opts["orphanDependents"] == "true"
    policy = opts.get("propagationPolicy")
    if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
        raise errors.invalid("meta.k8s.io", "DeleteOptions", "", [errors.cause(
            "FieldValueNotSupported", "propagationPolicy",
            f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"')])
    return opts


def delete(state: State, call: Call) -> Response:
    rt = call.rtype
    if call.subresource:
        raise errors.method_not_allowed(f"delete is not supported on {rt.plural}/{call.subresource}")
    opts = _options(call)
    with state.store.lock:
        old = state.store.get(rt.storage_key, call.namespace, call.name)
        if old is None:
            raise errors.not_found(rt.group, rt.plural, call.name)
        return delete_object(state, rt, old, opts, call.dry_run)


def delete_collection(state: State, call: Call) -> Response:
    from .reads import list_objects  # the same selection rules as LIST

    opts = _options(call)
    listed = json.loads(list_objects(state, Call(call.rtype, call.namespace, "", "", {
        k: v for k, v in call.query.items() if k in ("labelSelector", "fieldSelector")})).body)
    rt = call.rtype
    deleted = []
    with state.store.lock:
        for item in listed["items"]:
            md = item["metadata"]
            current = state.store.get(rt.storage_key, md.get("namespace", ""), md["name"])
            if current is not None:
                delete_object(state, rt, current, dict(opts), call.dry_run)
                deleted.append(item)
        rv = str(state.store.rv)
    doc = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": rv}, "items": deleted}
    return Response(200, json.dumps(doc).encode())


def _check_preconditions(rt: ResourceType, old: Stored, opts: dict[str, Any]) -> None:
    pre = opts.get("preconditions") or {}
    md = old.obj["metadata"]
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise errors.conflict(rt.group, rt.plural, md["name"], f"Precondition failed: UID in precondition: "
                              f"{pre['uid']}, UID in object meta: {md.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise errors.conflict(rt.group, rt.plural, md["name"], f"Precondition failed: ResourceVersion in "
                              f"precondition: {pre['resourceVersion']}, ResourceVersion in object meta: "
                              f"{md.get('resourceVersion')}")


def _mark(obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
    new = json.loads(json.dumps(obj))
    md = new["metadata"]
    md["deletionTimestamp"] = meta.now_rfc3339()
    md["deletionGracePeriodSeconds"] = 0
    if md.get("generation"):
        md["generation"] = int(md["generation"]) + 1
    if finalizers:
        md["finalizers"] = finalizers
    return new


def delete_object(state: State, rt: ResourceType, old: Stored, opts: dict[str, Any],
                  dry_run: bool = False) -> Response:
    """Delete ``old`` as the API would (the caller holds the store lock). Also used by controllers."""
    _check_preconditions(rt, old, opts)
    md = old.obj["metadata"]
    name, namespace = md["name"], md.get("namespace", "")
    if md.get("deletionTimestamp"):
        if rt.storage_key == _NS_KEY:
            raise errors.conflict(rt.group, rt.plural, name, "The system is ensuring all content is removed from "
                                  "this namespace.  Upon completion, this namespace will automatically be purged by "
                                  "the system.")
        return object_response(202, rt, old.body)
    if dry_run:
        return object_response(200, rt, old.body)
    store = state.store
    if rt.storage_key == _NS_KEY:
        new = _mark(old.obj, list(md.get("finalizers") or []))
        new.setdefault("status", {})["phase"] = "Terminating"
        stored = store.commit(rt.storage_key, new, "MODIFIED")
        state.kick(("namespace", name))
        return object_response(200, rt, stored.body)
    if rt.storage_key == _CRD_KEY:
        finalizers = list(md.get("finalizers") or [])
        if crds.CLEANUP_FINALIZER not in finalizers:
            finalizers.append(crds.CLEANUP_FINALIZER)
        new = _mark(old.obj, finalizers)
        crds.set_status(new, None, old.obj)
        stored = store.commit(rt.storage_key, new, "MODIFIED")
        state.kick(("crd", name))
        return object_response(200, rt, stored.body)
    policy = opts.get("propagationPolicy") or ("Orphan" if opts.get("orphanDependents") else "Background")
    if policy == "Orphan":
        orphan_dependents(state, md["uid"])
    finalizers = list(md.get("finalizers") or [])
    if policy == "Foreground" and store.dependents_of([md["uid"]]) and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    if finalizers:
        stored = store.commit(rt.storage_key, _mark(old.obj, finalizers), "MODIFIED")
        if FOREGROUND in finalizers:
            state.kick(("foreground", md["uid"]))
        return object_response(202, rt, stored.body)
    gone = remove_object(state, rt, namespace, name)
    assert gone is not None
    if rt.return_deleted_object:
        return object_response(200, rt, gone.body)
    details: dict[str, Any] = {"name": name, "kind": rt.plural, "uid": md["uid"]}
    if rt.group:
        details["group"] = rt.group
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
    return Response(200, json.dumps(status).encode())


def orphan_dependents(state: State, uid: str) -> None:
    """Strip owner references to ``uid`` from every dependent (the caller holds the lock)."""
    for key, ns, name in sorted(state.store.dependents_of([uid])):
        dep = state.store.get(key, ns, name)
        if dep is None:
            continue
        new = json.loads(json.dumps(dep.obj))
        refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        state.store.commit(key, new, "MODIFIED")


def remove_object(state: State, rt: ResourceType, namespace: str, name: str) -> Stored | None:
    """Remove for good, and stop serving a CRD's resources when the CRD itself goes."""
    gone = state.store.remove(rt.storage_key, namespace, name)
    if gone is not None and rt.storage_key == _CRD_KEY:
        spec = gone.obj.get("spec") or {}
        state.registry.set_crd(name, [])
        state.store.drop_resource((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
    return gone
