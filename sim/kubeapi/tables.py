"""``meta.k8s.io/v1`` Table responses, so ``kubectl get`` prints a CRD's printer columns.

kubectl asks for ``as=Table`` on get, list and watch. CRDs get Name plus their
``additionalPrinterColumns`` (Name and Age when they declare none), as apiextensions-apiserver's
table convertor does; built-in kinds get Name and Age only (the real server prints richer columns
for some of them). JSONPath support covers the dotted paths and ``[n]`` indexes printer columns use;
anything else prints as ``<none>``. ``date`` columns are rendered as ages, like the real server.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .kinds import ResourceType

_NAME_COL = {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace. Is required when creating resources, although "
                            "some resources may allow a client to request the generation of an appropriate name "
                            "automatically. Name is primarily intended for creation idempotence and configuration "
                            "definition. Cannot be updated."}
_AGE_COL = {"name": "Age", "type": "date", "format": "", "priority": 0, "jsonPath": ".metadata.creationTimestamp",
            "description": "CreationTimestamp is a timestamp representing the server time when this object was "
                           "created."}
_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _columns(rt: ResourceType) -> list[dict[str, Any]]:
    if rt.printer_columns:
        return [_NAME_COL, *rt.printer_columns]
    return [_NAME_COL, _AGE_COL]


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "jsonPath"} | {"format": c.get("format", "")}
            for c in _columns(rt)]


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _lookup(obj: Any, path: str) -> Any:
    pos, cur = 0, obj
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            return None
        if m.group(1) is not None:
            cur = cur.get(m.group(1)) if isinstance(cur, dict) else None
        else:
            idx = int(m.group(2))
            cur = cur[idx] if isinstance(cur, list) and idx < len(cur) else None
        if cur is None:
            return None
        pos = m.end()
    return cur


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    if column is _NAME_COL:
        return obj["metadata"]["name"]
    value = _lookup(obj, str(column.get("jsonPath", "")))
    if value is None:
        return None
    if column.get("type") == "date" and isinstance(value, str):
        try:
            stamp = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return value
        return human_duration((datetime.now(UTC) - stamp).total_seconds())
    if column.get("type") == "integer" and isinstance(value, int | float):
        return int(value)
    if isinstance(value, dict | list):
        return str(value)
    return value


def row(rt: ResourceType, obj: dict[str, Any], include: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cells": [_cell(c, obj) for c in _columns(rt)]}
    if include == "Object":
        out["object"] = {"kind": rt.kind, "apiVersion": rt.api_version,
                         **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}}
    elif include != "None":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    return out


def table(rt: ResourceType, objs: list[dict[str, Any]], metadata: dict[str, Any], include: str,
          with_columns: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    doc["columnDefinitions"] = column_definitions(rt) if with_columns else None
    doc["rows"] = [row(rt, o, include) for o in objs]
    return doc
