"""The protobuf bodies of the review APIs and TokenRequest, decoded to their JSON form.

kubectl's typed clients (``create token``, ``auth can-i``, ``auth whoami``) send
``application/vnd.kubernetes.protobuf`` while accepting JSON answers, and the emulator otherwise
speaks only JSON. These few messages are small, so a wire-format reader with their field numbers
(from ``k8s.io/api``'s ``generated.proto``) is enough; answers go back as JSON.
"""

from __future__ import annotations

import json
from typing import Any, Union

from . import errors

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

Schema = dict[int, tuple[str, Union[str, "Schema"]]]  # field number -> (json name, "str"|"int"|"[str]"|Schema)

_META: Schema = {1: ("name", "str"), 3: ("namespace", "str")}
_RESOURCE_ATTRS: Schema = {1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"), 4: ("version", "str"),
                           5: ("resource", "str"), 6: ("subresource", "str"), 7: ("name", "str")}
_BOUND_REF: Schema = {1: ("kind", "str"), 2: ("apiVersion", "str"), 3: ("name", "str"), 4: ("uid", "str")}
SCHEMAS: dict[str, Schema] = {
    "TokenRequest": {1: ("metadata", _META), 2: ("spec", {
        1: ("audiences", "[str]"), 4: ("expirationSeconds", "int"), 3: ("boundObjectRef", _BOUND_REF)})},
    "SelfSubjectAccessReview": {1: ("metadata", _META), 2: ("spec", {
        1: ("resourceAttributes", _RESOURCE_ATTRS), 2: ("nonResourceAttributes", {1: ("path", "str"),
                                                                                 2: ("verb", "str")})})},
    "SelfSubjectRulesReview": {1: ("metadata", _META), 2: ("spec", {1: ("namespace", "str")})},
    "SelfSubjectReview": {1: ("metadata", _META)},
}
_UNKNOWN: Schema = {1: ("typeMeta", {1: ("apiVersion", "str"), 2: ("kind", "str")}), 2: ("raw", "bytes")}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire in (1, 5):
            value, i = None, i + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number not in schema or value is None:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            out[name] = _decode(value, kind)
        elif kind == "[str]":
            out.setdefault(name, []).append(value.decode())
        elif kind == "str":
            out[name] = value.decode()
        else:  # "int", "bytes"
            out[name] = value
    return out


def decode(body: bytes, content_type: str) -> dict[str, Any]:
    """The request body as a JSON-shaped dict (JSON or protobuf); 400/415 when it is neither."""
    if not content_type.startswith(PROTOBUF):
        try:
            doc = json.loads(body or b"{}")
        except ValueError as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc
        if not isinstance(doc, dict):
            raise errors.bad_request("the request body is not an object")
        return doc
    try:
        if not body.startswith(_MAGIC):
            raise ValueError("no protobuf envelope")
        envelope = _decode(body[len(_MAGIC):], _UNKNOWN)
        kind = envelope.get("typeMeta", {}).get("kind", "")
        if kind not in SCHEMAS:
            raise errors.ApiError(415, f"protobuf bodies of kind {kind!r} are not supported by the emulator")
        doc = _decode(envelope.get("raw", b""), SCHEMAS[kind])
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"unable to decode the protobuf body: {exc}") from exc
    return {"apiVersion": envelope.get("typeMeta", {}).get("apiVersion", ""), "kind": kind, **doc}
