"""The hierarchical Policy API (nsx-api.md §8.7): ``PATCH /policy/api/v1/infra`` and filtered ``GET``.

The whole tree is applied inside one store transaction, so references between objects of the same
tree resolve regardless of order and any error leaves the store untouched.
"""

from __future__ import annotations

import re
from typing import Any

from sim.nsx.errors import bad_request, not_found
from sim.nsx.policy_kinds import BY_TYPE, CHILD_WRAPPERS, KINDS, kind_of, parse_path
from sim.nsx.policy_store import PolicyStore, Tx

_WRAPPER_KEYS = {"resource_type", "id", "marked_for_delete", "mark_for_override", "children", "target_type",
                 "request_parameter", "_revision"}


def apply_tree(store: PolicyStore, body: dict[str, Any], tx: Tx) -> None:
    if body.get("resource_type") not in (None, "Infra"):
        raise bad_request("The root of a hierarchical request must be an Infra object")
    children = body.get("children") or []
    if not isinstance(children, list):
        raise bad_request("children must be a list")
    for child in children:
        _apply_child(store, "/infra", "Infra", child, tx)


def _apply_child(store: PolicyStore, parent_path: str, parent_type: str, wrapper: Any, tx: Tx) -> None:
    if not isinstance(wrapper, dict):
        raise bad_request("every child must be an object")
    rtype = wrapper.get("resource_type")
    if rtype == "ChildResourceReference":
        target = wrapper.get("target_type")
        wid = wrapper.get("id")
        kind = BY_TYPE.get(str(target))
        if kind is None or not isinstance(wid, str) or not wid:
            raise bad_request("ChildResourceReference needs resource_type, id and a known target_type")
        if kind.parent != parent_type:
            raise bad_request(f"{target} cannot be a child of {parent_type}")
        path = f"{parent_path}/{kind.collection}/{wid}"
        if store.get_raw(path) is None:
            raise not_found(path)
        for child in wrapper.get("children") or []:
            _apply_child(store, path, kind.resource_type, child, tx)
        return
    if rtype not in CHILD_WRAPPERS:
        raise bad_request(f"Unsupported child resource_type {rtype!r}")
    kind, key = CHILD_WRAPPERS[rtype]
    extra = set(wrapper) - _WRAPPER_KEYS - {key}
    if extra:
        raise bad_request(f"unknown field(s) {', '.join(sorted(extra))} in {rtype}")
    if kind_of(parent_type, kind.collection) is None:
        raise bad_request(f"{rtype} cannot be a child of {parent_type}")
    obj = wrapper.get(key)
    if obj is not None and not isinstance(obj, dict):
        raise bad_request(f"{rtype}.{key} must be an object")
    obj = dict(obj or {})
    oid = obj.get("id") or wrapper.get("id")
    if not isinstance(oid, str) or not oid:
        raise bad_request(f"{rtype} needs an id")
    path = f"{parent_path}/{kind.collection}/{oid}"
    if wrapper.get("marked_for_delete"):
        store.delete(path, tx)
        return
    nested = obj.pop("children", None) or []
    if not tx.enforce_revision:
        obj.pop("_revision", None)
    if kind.embedded_field and kind.embedded_field in obj and not tx.enforce_revision:
        obj[kind.embedded_field] = [
            {k: v for k, v in c.items() if k != "_revision"} if isinstance(c, dict) else c
            for c in obj[kind.embedded_field]
        ]
    store.upsert(path, obj, tx, replace=False)
    for child in nested:
        _apply_child(store, path, kind.resource_type, child, tx)


def _type_matcher(query: dict[str, str]) -> re.Pattern[str] | None:
    if query.get("type_filter"):
        types = [t.strip() for t in query["type_filter"].split(";") if t.strip()]
        return re.compile("^(" + "|".join(re.escape(t) for t in types) + ")$")
    flt = query.get("filter")
    if flt:
        if not flt.startswith("Type-"):
            raise bad_request("filter must look like Type-<regex>, e.g. Type-Domain|Group")
        try:
            return re.compile("^(" + flt[5:] + ")$")
        except re.error as exc:
            raise bad_request(f"invalid filter: {exc}") from exc
    return None


def read_tree(store: PolicyStore, query: dict[str, str]) -> dict[str, Any]:
    """``GET /infra`` (with ``filter``/``type_filter``/``base_path``): the Infra object with ``children``."""
    matcher = _type_matcher(query)
    infra: dict[str, Any] = {"resource_type": "Infra", "id": "infra", "display_name": "infra", "path": "/infra",
                             "relative_path": "infra", "_revision": store.generation}
    if matcher is None:
        return infra
    base = query.get("base_path")
    with store.lock:
        if base:
            parsed = parse_path(base)
            if parsed is None or store.get_raw(base) is None:
                raise not_found(base or "")
            node = _node(store, base, matcher)
            infra["children"] = [node] if node else []
        else:
            infra["children"] = _children(store, "/infra", "Infra", matcher)
    return infra


def _children(store: PolicyStore, path: str, rtype: str, matcher: re.Pattern[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for (parent, coll), _kind in KINDS.items():
        if parent != rtype:
            continue
        for obj in sorted(store.collection(f"{path}/{coll}"), key=lambda o: o["id"]):
            node = _node(store, obj["path"], matcher)
            if node is not None:
                out.append(node)
    return out


def _node(store: PolicyStore, path: str, matcher: re.Pattern[str]) -> dict[str, Any] | None:
    raw = store.get_raw(path)
    if raw is None:
        return None
    kind = BY_TYPE.get(raw["resource_type"], None)
    if kind is None:
        return None
    type_name = kind.resource_type
    children = _children(store, path, type_name, matcher)
    if matcher.match(type_name) or (type_name == "ServiceEntry" and matcher.match(raw["resource_type"])):
        obj = store.render(path, deep=False) or {}
        if kind.embedded_field:
            obj.pop(kind.embedded_field, None)
        if children:
            obj["children"] = children
        wrapper_key = "ServiceEntry" if type_name == "ServiceEntry" else type_name
        return {"resource_type": f"Child{wrapper_key}", "marked_for_delete": False, "mark_for_override": False,
                wrapper_key: obj}
    if children:
        return {"resource_type": "ChildResourceReference", "id": raw["id"], "target_type": type_name,
                "marked_for_delete": False, "mark_for_override": False, "children": children}
    return None
