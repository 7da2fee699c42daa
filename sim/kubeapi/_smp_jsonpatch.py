"""RFC 6902 JSON patch with the error wording of evanphx/json-patch v4, the library kube-apiserver uses.

kube-apiserver only decodes the patch as a JSON array up front; everything that goes wrong while
applying it (unknown op, missing path, failed ``test``) is answered with 422 and the library's
message, e.g. ``testing value /spec/x failed: test failed``. Clients that retry on conflict-like
errors look at these, so the emulator reproduces them.
"""

from __future__ import annotations

import copy
from typing import Any

from ._schema_errors import json_equal

MISSING = "missing value"
INVALID_INDEX = "invalid index referenced"
TEST_FAILED = "test failed"
UNKNOWN_TYPE = "unknown object type"


class JSONPatchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def apply(doc: Any, ops: list[Any]) -> Any:
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise JSONPatchError(f"Unexpected kind: {op!r}: {UNKNOWN_TYPE}")
        doc = _apply_one(doc, op)
    return doc


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _find(doc: Any, path: str) -> tuple[Any, str] | None:
    """evanphx ``findObject``: the container holding the last token, or None when the path is absent."""
    split = path.split("/")
    if len(split) < 2:
        return None
    node = doc
    for raw in split[1:-1]:
        token = _unescape(raw)
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list):
            index = _index(token)
            if index is None or not 0 <= index < len(node):
                return None
            node = node[index]
        else:
            return None
    if not isinstance(node, dict | list):
        return None
    return node, _unescape(split[-1])


def _index(token: str) -> int | None:
    try:
        return int(token)
    except ValueError:
        return None


def _path(op: dict[str, Any], name: str, field: str = "path") -> str:
    value = op.get(field)
    if not isinstance(value, str):
        what = "path" if field == "path" else "from"
        raise JSONPatchError(f"{name} operation failed to decode {what}: {MISSING}")
    return value


def _get(container: Any, key: str) -> tuple[bool, Any]:
    if isinstance(container, dict):
        return (key in container), container.get(key)
    index = _index(key)
    if index is None:
        raise JSONPatchError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    if index < 0:
        index += len(container)
    if not 0 <= index < len(container):
        raise JSONPatchError(f"Unable to access invalid index: {_index(key)}: {INVALID_INDEX}")
    return True, container[index]


def _add(container: Any, key: str, value: Any, path: str) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    index = _index(key)
    if index is None:
        raise JSONPatchError(f"error in add for path: '{path}': strconv.Atoi: parsing \"{key}\": invalid syntax")
    if index < 0:
        index += len(container) + 1
    if not 0 <= index <= len(container):
        raise JSONPatchError(
            f"error in add for path: '{path}': Unable to access invalid index: {_index(key)}: {INVALID_INDEX}"
        )
    container.insert(index, value)


def _remove(container: Any, key: str, path: str, name: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise JSONPatchError(
                f"error in {name} for path: '{path}': Unable to remove nonexistent key: {key}: {MISSING}"
            )
        return container.pop(key)
    index = _index(key)
    if index is not None and index < 0:
        index += len(container)
    if index is None or not 0 <= index < len(container):
        raise JSONPatchError(
            f"error in {name} for path: '{path}': Unable to access invalid index: {_index(key)}: {INVALID_INDEX}"
        )
    return container.pop(index)


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    name = op.get("op")
    if name == "add":
        path = _path(op, "add")
        value = copy.deepcopy(op.get("value"))
        if path == "":
            return value
        found = _find(doc, path)
        if found is None:
            raise JSONPatchError(f'add operation does not apply: doc is missing path: "{path}": {MISSING}')
        _add(found[0], found[1], value, path)
        return doc
    if name == "remove":
        path = _path(op, "remove")
        found = _find(doc, path)
        if found is None:
            raise JSONPatchError(f'remove operation does not apply: doc is missing path: "{path}": {MISSING}')
        _remove(found[0], found[1], path, "remove")
        return doc
    if name == "replace":
        path = _path(op, "replace")
        value = copy.deepcopy(op.get("value"))
        if path == "":
            return value
        found = _find(doc, path)
        if found is None:
            raise JSONPatchError(f"replace operation does not apply: doc is missing path: {path}: {MISSING}")
        container, key = found
        try:
            present, _ = _get(container, key)
        except JSONPatchError:
            present = False
        if not present:
            raise JSONPatchError(f"replace operation does not apply: doc is missing key: {path}: {MISSING}")
        if isinstance(container, dict):
            container[key] = value
        else:
            index = int(key)
            container[index if index >= 0 else index + len(container)] = value
        return doc
    if name == "move":
        source = _path(op, "move", "from")
        path = _path(op, "move")
        found = _find(doc, source)
        if found is None:
            raise JSONPatchError(f"move operation does not apply: doc is missing from path: {source}: {MISSING}")
        if path != source and path.startswith(source + "/"):
            raise JSONPatchError(f"move operation does not apply: cannot move {source} into its own child {path}")
        value = _remove(found[0], found[1], source, "move")
        target = _find(doc, path)
        if target is None:
            raise JSONPatchError(f"move operation does not apply: doc is missing destination path: {path}: {MISSING}")
        _add(target[0], target[1], value, path)
        return doc
    if name == "copy":
        source = _path(op, "copy", "from")
        path = _path(op, "copy")
        found = _find(doc, source)
        if found is None:
            raise JSONPatchError(f"copy operation does not apply: doc is missing from path: {source}: {MISSING}")
        present, value = _get(*found)
        if not present:
            raise JSONPatchError(
                f"error in copy for path: '{path}': Unable to get nonexistent key: {found[1]}: {MISSING}"
            )
        target = _find(doc, path)
        if target is None:
            raise JSONPatchError(f"copy operation does not apply: doc is missing destination path: {path}: {MISSING}")
        _add(target[0], target[1], copy.deepcopy(value), path)
        return doc
    if name == "test":
        path = _path(op, "test")
        expected = op.get("value")
        if path == "":
            if json_equal(doc, expected):
                return doc
            raise JSONPatchError(f"testing value {path} failed: {TEST_FAILED}")
        found = _find(doc, path)
        if found is None:
            raise JSONPatchError(f"test operation does not apply: is missing path: {path}: {MISSING}")
        try:
            present, actual = _get(*found)
        except JSONPatchError as exc:
            raise JSONPatchError(f"error in test for path: '{path}': {exc.message}") from exc
        if not present or actual is None:
            if expected is None:
                return doc  # evanphx v4: a missing (or null) value passes a test against null
            raise JSONPatchError(f"testing value {path} failed: {TEST_FAILED}")
        if json_equal(actual, expected):
            return doc
        raise JSONPatchError(f"testing value {path} failed: {TEST_FAILED}")
    raise JSONPatchError(f"Unexpected kind: {name}: {UNKNOWN_TYPE}")
