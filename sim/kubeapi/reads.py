"""GET and LIST: answered from the stored bytes, so a 10,000-item list is mostly one ``join``.

Paging is approximate like the spec allows: a ``continue`` token remembers the list's
resourceVersion and the last key; later pages read the current state after that key (a real
server reads an etcd snapshot). Tokens from before a compaction get 410 Expired, as on etcd.
"""

from __future__ import annotations

import base64
import json

from . import errors, tables
from .selectors import matcher, name_from_fields, parse_field_selector, parse_label_selector
from .state import Call, Response, State, object_response, typed_response
from .storage import Stored

_TOO_OLD = ("The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and "
            "now may show up in the list.")


def get(state: State, call: Call) -> Response:
    rt = call.rtype
    stored = state.store.get(rt.storage_key, call.namespace, call.name)
    if stored is None:
        raise errors.not_found(rt.group, rt.plural, call.name)
    include = call.table_include
    if include is not None:
        doc = tables.table(rt, [stored.obj], {"resourceVersion": stored.obj["metadata"]["resourceVersion"]}, include)
        return Response(200, json.dumps(doc).encode())
    return object_response(200, rt, stored.body)


def _encode_continue(rv: int, ns: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [ns, name]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc


def list_objects(state: State, call: Call) -> Response:
    rt = call.rtype
    query = call.query
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), rt)
    match = matcher(labels, fields)
    limit = _int_param(query.get("limit"), "limit")
    if query.get("resourceVersion") == "0" and not query.get("continue"):
        # Served from the watch cache, which does not page: the whole list in one answer, as
        # kube-apiserver v1.32 (the version this project targets) does since 1.14 — client-go's
        # reflector, whose first list asks for "0", counts on it. A quorum read ("") or an exact
        # resourceVersion pages as asked.
        limit = 0
    namespace = call.namespace if rt.namespaced and call.namespace else None
    store = state.store
    start_after: tuple[str, str] | None = None
    token_rv: int | None = None
    if query.get("continue"):
        token_rv, start_after = _decode_continue(query["continue"])
    with store.lock:
        list_rv = store.rv
        pinned = name_from_fields(fields)
        if pinned is not None and namespace is not None:
            one = store.get(rt.storage_key, namespace, pinned)
            candidates: list[Stored] = [one] if one is not None and (
                start_after is None or _key(one) > start_after) else []
            total = len(candidates)
        elif match is None:  # a page reads only its own items (limit + 1 tells whether more follow)
            candidates = store.items(rt.storage_key, namespace, start_after, limit + 1 if limit else 0)
            total = store.count(rt.storage_key, namespace, start_after) if limit else len(candidates)
        else:
            candidates = store.items(rt.storage_key, namespace, start_after)
    if token_rv is not None:
        if store.too_old(token_rv):
            raise errors.gone(_TOO_OLD)
        list_rv = token_rv
    if match is not None:
        candidates = [s for s in candidates if match(s.obj)]
        total = len(candidates)
    page = candidates
    cont = ""
    remaining = 0
    if limit and len(candidates) > limit:
        page = candidates[:limit]
        last = page[-1].obj["metadata"]
        cont = _encode_continue(list_rv, last.get("namespace", ""), last["name"])
        remaining = total - limit
    include = call.table_include
    if include is not None:
        md: dict[str, object] = {"resourceVersion": str(list_rv)}
        if cont:
            md["continue"] = cont
        doc = tables.table(rt, [s.obj for s in page], md, include)
        return Response(200, json.dumps(doc).encode())
    meta = f'{{"resourceVersion":"{list_rv}"'
    if cont:
        meta += f',"continue":"{cont}"'
        if match is None:
            meta += f',"remainingItemCount":{remaining}'
    meta += "}"
    if rt.is_custom:  # unstructured lists carry apiVersion/kind on every item
        head = b'{"kind":"' + rt.kind.encode() + b'","apiVersion":"' + rt.api_version.encode() + b'",'
        items = b",".join(head + s.body[1:] if s.body != b"{}" else head[:-1] + b"}" for s in page)
    else:
        items = b",".join(s.body for s in page)
    body = (b'{"metadata":' + meta.encode() + b',"items":[' + items + b"]}")
    return typed_response(200, rt.api_version, rt.list_kind, body)


def _key(s: Stored) -> tuple[str, str]:
    md = s.obj["metadata"]
    return (md.get("namespace", ""), md["name"])


def _int_param(value: str | None, name: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return max(0, int(value))
    except ValueError as exc:
        raise errors.bad_request(f"invalid {name} parameter: {value!r}") from exc
