"""Keywords that look at more than one value: list-type uniqueness, embedded resources, junctors.

kube reports a failed ``oneOf``/``anyOf``/``allOf``/``not`` as an error on no field (``<nil>``) whose
message quotes the node's path, plus the errors of the failing branch that got furthest; the
functions here reproduce that instead of ``jsonschema``'s single summarising error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator

from ._schema_errors import KubeErr, current_path, descend, json_equal, kube_error


def list_type(
    validator: Validator, list_type: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for index, item in enumerate(instance):
            if any(json_equal(item, s) for s in seen):
                yield kube_error(validator, KubeErr("duplicate", "", item, child=index))
            else:
                seen.append(item)
    elif list_type == "map":
        keys = list(schema.get("x-kubernetes-list-map-keys") or [])
        item_schema = schema.get("items") or {}
        defaults = {k: (item_schema.get("properties") or {}).get(k, {}).get("default") for k in keys}
        seen_keys: list[dict[str, Any]] = []
        for index, item in enumerate(instance):
            if not isinstance(item, dict):
                continue
            key_value = {k: item.get(k, defaults[k]) for k in keys if k in item or defaults[k] is not None}
            if any(json_equal(key_value, s) for s in seen_keys):
                yield kube_error(validator, KubeErr("duplicate", "", key_value, child=index))
            else:
                seen_keys.append(key_value)


_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def embedded_resource(
    validator: Validator, embedded: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """apiextensions' embedded-resource checks: apiVersion and kind present and well-formed."""
    if not embedded or not isinstance(instance, dict):
        return
    for key in ("apiVersion", "kind"):
        if key not in instance:
            yield kube_error(validator, KubeErr("required", "must not be empty", child=key))
    api_version = instance.get("apiVersion")
    if "apiVersion" in instance:
        if not isinstance(api_version, str):
            yield kube_error(validator, KubeErr("invalid", "must be a string", api_version, child="apiVersion"))
        elif not api_version:
            yield kube_error(validator, KubeErr("invalid", "must not be empty", api_version, child="apiVersion"))
        elif api_version.count("/") > 1:
            yield kube_error(
                validator,
                KubeErr("invalid", f"unexpected GroupVersion string: {api_version}", api_version, child="apiVersion"),
            )
    kind = instance.get("kind")
    if "kind" in instance:
        if not isinstance(kind, str):
            yield kube_error(validator, KubeErr("invalid", "must be a string", kind, child="kind"))
        elif not kind:
            yield kube_error(validator, KubeErr("invalid", "must not be empty", kind, child="kind"))
        elif len(kind) > 63 or not _DNS1035.match(kind.lower()):
            detail = "may have mixed case, but should otherwise match: " + _DNS1035_MSG
            yield kube_error(validator, KubeErr("invalid", detail, kind, child="kind"))


def _branch_errors(validator: Validator, instance: Any, branches: list[Any]) -> list[list[ValidationError]]:
    return [list(descend(validator, instance, branch, None)) for branch in branches]


def _best(failures: list[list[ValidationError]]) -> list[ValidationError]:
    # kube-openapi keeps the failing branch with the most passed checks; fewest errors, first on ties.
    failing = [f for f in failures if f]
    return min(failing, key=len) if failing else []


def one_of(validator: Validator, branches: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None:
        return
    results = _branch_errors(validator, instance, branches)
    valid = sum(1 for r in results if not r)
    if valid == 1:
        return
    extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
    path = current_path(validator)
    yield kube_error(
        validator, KubeErr("composite", f"{_quoted(path)} must validate one and only one schema (oneOf). {extra}")
    )
    if valid == 0:
        yield from _best(results)


def any_of(validator: Validator, branches: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None:
        return
    results = _branch_errors(validator, instance, branches)
    if any(not r for r in results):
        return
    path = current_path(validator)
    yield kube_error(validator, KubeErr("composite", f"{_quoted(path)} must validate at least one schema (anyOf)"))
    yield from _best(results)


def all_of(validator: Validator, branches: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None:
        return
    results = _branch_errors(validator, instance, branches)
    valid = sum(1 for r in results if not r)
    for r in results:
        yield from r
    if valid != len(results):
        extra = ". None validated" if valid == 0 else ""
        path = current_path(validator)
        yield kube_error(
            validator, KubeErr("composite", f"{_quoted(path)} must validate all the schemas (allOf){extra}")
        )


def not_(validator: Validator, branch: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None:
        return
    if not list(descend(validator, instance, branch, None)):
        path = current_path(validator)
        yield kube_error(validator, KubeErr("composite", f"{_quoted(path)} must not validate the schema (not)"))


def _quoted(path: str) -> str:
    """Go's ``%q`` of a field path (paths are plain ASCII in practice)."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
