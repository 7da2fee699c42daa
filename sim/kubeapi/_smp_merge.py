"""The strategic-merge-patch algorithm of k8s.io/apimachinery (``strategicpatch.mergeMap``), in Python.

It follows the server-side options kube-apiserver uses (``MergeParallelList`` and
``IgnoreUnmatchedNulls`` both on), so ``$setElementOrder``, ``$retainKeys`` and
``$deleteFromPrimitiveList`` are honoured and a null deletes a key. Lists whose field has strategy
``merge`` merge element-wise (by ``patchMergeKey`` for lists of maps, as a deduplicated union for
primitives); every other list is replaced. Getting this wrong is how a ``kubectl apply`` that only
changes an image can silently drop ``envFrom``: containers must merge by ``name``.
Inputs are mutated; the public wrapper hands in deep copies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._smp_meta import FieldMeta, field_meta, item_schema

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder/"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"


class SMPError(Exception):
    """A patch the apiserver refuses; ``code`` is the HTTP status it answers with."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


Schema = Mapping[str, Any] | None


def merge_map(original: dict[str, Any] | None, patch: dict[str, Any], schema: Schema) -> dict[str, Any]:
    if DIRECTIVE in patch:
        return _map_directive(patch[DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, schema)
    for patch_key in list(patch):
        patch_value = patch[patch_key]
        key = patch_key
        is_delete_list = False
        if patch_key.startswith(DELETE_PRIMITIVE_PREFIX):
            key = patch_key[len(DELETE_PRIMITIVE_PREFIX) :]
            if not key:
                raise SMPError(f"cannot extract key from {DELETE_PRIMITIVE_PREFIX!r}")
            is_delete_list = True
        if patch_value is None:
            original.pop(key, None)
            continue
        if key not in original or _kind(original[key]) != _kind(patch_value):
            if not is_delete_list:
                value, keep = remove_directives(discard_nulls(patch_value))
                if keep:
                    original[key] = value
                else:
                    original.pop(key, None)
            continue
        current = original[key]
        if isinstance(current, dict):
            meta = field_meta(schema, key)
            if meta.strategy == "replace":
                original[key] = strip_directives(patch_value)
            else:
                original[key] = merge_map(current, patch_value, meta.schema)
        elif isinstance(current, list):
            meta = field_meta(schema, key)
            original[key] = _merge_list_field(current, patch_value, meta, is_delete_list)
        else:
            original[key] = patch_value
    return original


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "int" if isinstance(value, int) else "float"
    return "string"


def _map_directive(directive: Any, patch: dict[str, Any]) -> dict[str, Any]:
    if directive == "replace":
        return strip_directives({k: v for k, v in patch.items() if k != DIRECTIVE})
    if directive == "delete":
        return {}
    raise SMPError(f"Unexpected kind of patch: {directive!r} in map {patch!r}")


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise SMPError("invalid patch format of retainKeys")
    allowed = set(retain)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_PRIMITIVE_PREFIX, SET_ORDER_PREFIX)):
            continue
        if key not in allowed:
            raise SMPError("invalid patch format of retainKeys")
    for key in list(original):
        if key not in allowed:
            del original[key]


def _merge_list_field(original: list[Any], patch: list[Any], meta: FieldMeta, is_delete_list: bool) -> list[Any]:
    if meta.strategy == "merge":
        return merge_list(original, patch, meta, is_delete_list)
    return strip_directives(patch)


def _element_kind(*lists: list[Any]) -> str:
    kinds = [_kind(v) for lst in lists for v in lst]
    if kinds and kinds[0] == "list":
        raise SMPError("lists of lists are not supported", 422)
    if len(set(kinds)) > 1:
        raise SMPError(f"list element types are not identical: {list(lists)}")
    return "map" if kinds and kinds[0] == "map" else "primitive"


def merge_list(original: list[Any], patch: list[Any], meta: FieldMeta, is_delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    merge_key = meta.merge_key
    if kind != "map":
        if is_delete_list:
            return [v for v in original if not any(_equal(v, p) for p in patch)]
        merged = _dedupe(original + patch)
        patch_items, server_only = _partition_primitives(merged, patch)
        return _normalize_order(patch_items, server_only, patch, original, "", kind)
    if not merge_key:
        raise SMPError("cannot merge lists without merge key")
    original, patch = _split_special_elements(original, patch, merge_key)
    merged = _merge_without_special(original, patch, merge_key, item_schema(meta.schema))
    patch_items, server_only = _partition_maps(merged, patch, merge_key)
    return _normalize_order(patch_items, server_only, patch, original, merge_key, kind)


def _split_special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(DIRECTIVE) if isinstance(item, dict) else None
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise SMPError(f"map: {item!r} does not contain declared merge key: {merge_key}")
            original = [o for o in original if not (isinstance(o, dict) and _equal(o.get(merge_key), item[merge_key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise SMPError("merging lists cannot yet be specified in the patch")
        else:
            raise SMPError(f"Unexpected kind of patch: {directive!r} in map {item!r}")
    if replace:
        return plain, []
    return original, plain


def _merge_without_special(original: list[Any], patch: list[Any], merge_key: str, schema: Schema) -> list[Any]:
    # A new list: Go appends to the slice while callers keep the old header (the live order).
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise SMPError(f"map: {item!r} does not contain declared merge key: {merge_key}")
        index = _find_by_key(merged, merge_key, item[merge_key])
        if index >= 0:
            merged[index] = merge_map(merged[index], item, schema)
        else:
            value, keep = remove_directives(discard_nulls(item))
            if keep:
                merged.append(value)
    return merged


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if isinstance(item, dict) and merge_key in item and _equal(item[merge_key], value):
            return index
    return -1


def _merge_set_element_order(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> None:
    for key in [k for k in patch if k.startswith(SET_ORDER_PREFIX)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise SMPError(f"expected a list for {key}, got {order!r}")
        field = key[len(SET_ORDER_PREFIX) :]
        if not field:
            raise SMPError(f"cannot extract key from {SET_ORDER_PREFIX!r}")
        original_list = original.get(field)
        patch_list = patch.get(field)
        found_original, found_patch = field in original, field in patch
        if found_original and not isinstance(original_list, list):
            raise SMPError(f"expected a list for {field}")
        if found_patch and not isinstance(patch_list, list):
            raise SMPError(f"expected a list for {field}")
        meta = field_meta(schema, field)
        merge_key = meta.merge_key
        _validate_patch_against_order(patch_list or [], order, merge_key)
        if found_original and not found_patch:
            merged = list(original_list or [])
        elif found_patch and not found_original:
            merged = strip_directives(patch_list or [])
        elif found_original and found_patch:
            merged = _merge_list_field(original_list or [], patch_list or [], meta, False)
        else:
            continue
        kind = _element_kind(original_list or [], patch_list or [])
        if merge_key:
            patch_items, server_only = _partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        original[field] = _normalize_order(patch_items, server_only, order, original_list or [], merge_key, kind)
        patch.pop(field, None)


def _validate_patch_against_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    if not patch_list or not order:
        return
    items = [p for p in patch_list if not (merge_key and isinstance(p, dict) and p.get(DIRECTIVE) == "delete")]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if isinstance(items[pi], dict) and DIRECTIVE in items[pi]:
            pi += 1
            continue
        if _merge_key_equal(items[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise SMPError(f"The order in patch list:\n{patch_list}\n doesn't match {SET_ORDER_PREFIX} list:\n{order}\n")


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _equal(left, right)
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise SMPError("cannot compare elements by merge key: not maps")
    return merge_key in left and merge_key in right and _equal(left[merge_key], right[merge_key])


def _partition_maps(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    present: list[Any] = []
    server_only: list[Any] = []
    keys = [b.get(merge_key) for b in by if isinstance(b, dict) and merge_key in b]
    for item in items:
        if not isinstance(item, dict) or merge_key not in item:
            raise SMPError(f"map: {item!r} does not contain declared merge key: {merge_key}")
        (present if any(_equal(item[merge_key], k) for k in keys) else server_only).append(item)
    return present, server_only


def _partition_primitives(items: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    present: list[Any] = []
    server_only: list[Any] = []
    for item in items:
        (present if any(_equal(item, b) for b in by) else server_only).append(item)
    return present, server_only


def _index(items: list[Any], value: Any, merge_key: str, kind: str) -> int:
    for index, item in enumerate(items):
        if kind == "map":
            if (
                isinstance(item, dict)
                and isinstance(value, dict)
                and merge_key in item
                and merge_key in value
                and _equal(item[merge_key], value[merge_key])
            ):
                return index
        elif _equal(item, value):
            return index
    return -1


def _stable_sort(items: list[Any], less: Callable[[Any, Any], bool]) -> list[Any]:
    # Go's sort.SliceStable is an insertion sort for short slices; reproduce it, comparator quirks included.
    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and less(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def _normalize_slice_order(to_sort: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    to_delete: list[Any] = []
    if kind == "map":
        keep = []
        for item in to_sort:
            if isinstance(item, dict) and item.get(DIRECTIVE) == "delete":
                to_delete.append(item)
            else:
                keep.append(item)
        to_sort = keep

    def less(a: Any, b: Any) -> bool:
        ia = _index(order, a, merge_key, kind)
        if ia >= 0:
            ib = _index(order, b, merge_key, kind)
            if ib >= 0:
                return ia < ib
        return True

    return _stable_sort(to_sort, less) + to_delete


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, kind)


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str, kind: str) -> list[Any]:
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _dedupe(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(_equal(item, o) for o in out):
            out.append(item)
    return out


def _equal(a: Any, b: Any) -> bool:
    # reflect.DeepEqual on decoded JSON: an int64 never equals a float64, a bool never equals a number.
    return type(a) is type(b) and a == b


def discard_nulls(value: Any) -> Any:
    """Drop null-valued keys inside a value that is being added wholesale (IgnoreUnmatchedNulls)."""
    if isinstance(value, dict):
        return {k: discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [discard_nulls(v) for v in value]
    return value


def remove_directives(value: Any) -> tuple[Any, bool]:
    """``removeDirectives``: a map carrying ``$patch`` disappears (field or list item); recurse otherwise.

    Other directive keys ($retainKeys, $setElementOrder/..., $deleteFromPrimitiveList/...) survive
    the Go merge but are dropped as unknown fields when kube-apiserver decodes the result into its
    typed object, so they never reach storage; the emulator drops them right away.
    """
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == RETAIN_KEYS or k.startswith((SET_ORDER_PREFIX, DELETE_PRIMITIVE_PREFIX)):
                continue
            cleaned, keep = remove_directives(v)
            if keep:
                out[k] = cleaned
        return out, True
    if isinstance(value, list):
        items = [remove_directives(v) for v in value]
        return [v for v, keep in items if keep], True
    return value, True


def strip_directives(value: Any) -> Any:
    """:func:`remove_directives` for a value that is known to stay (a whole list or replaced map)."""
    cleaned, keep = remove_directives(value)
    return cleaned if keep else type(value)()
