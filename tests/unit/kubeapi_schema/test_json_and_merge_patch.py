"""RFC 7386 merge patch and RFC 6902 JSON patch, checked against the RFCs' own examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.kubeapi.patch import PatchError, json_patch, merge_patch

# RFC 7386, Appendix A (the cases whose target and patch are objects).
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386)
def test_merge_patch_rfc7386_examples(target: dict[str, Any], patch: dict[str, Any], expected: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert merge_patch(target, patch) == expected
    assert target == target_before
    assert patch == patch_before


def test_merge_patch_result_does_not_share_structure_with_the_patch() -> None:
    patch = {"spec": {"list": [1, 2]}}
    result = merge_patch({}, patch)
    result["spec"]["list"].append(3)
    assert patch == {"spec": {"list": [1, 2]}}


def test_merge_patch_rejects_a_non_object_patch() -> None:
    with pytest.raises(PatchError) as info:
        merge_patch({"a": 1}, ["c"])  # type: ignore[arg-type]
    assert info.value.code == 400


DOC = {"baz": "qux", "foo": "bar", "list": ["a", "b"], "obj": {"x": 1}}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/baz2", "value": "v"}], {**DOC, "baz2": "v"}),
        ([{"op": "add", "path": "/list/1", "value": "z"}], {**DOC, "list": ["a", "z", "b"]}),
        ([{"op": "add", "path": "/list/-", "value": "z"}], {**DOC, "list": ["a", "b", "z"]}),
        ([{"op": "remove", "path": "/baz"}], {k: v for k, v in DOC.items() if k != "baz"}),
        ([{"op": "remove", "path": "/list/0"}], {**DOC, "list": ["b"]}),
        ([{"op": "replace", "path": "/baz", "value": "boo"}], {**DOC, "baz": "boo"}),
        (
            [{"op": "move", "from": "/obj/x", "path": "/moved"}],
            {**DOC, "obj": {}, "moved": 1},
        ),
        ([{"op": "copy", "from": "/list", "path": "/list2"}], {**DOC, "list2": ["a", "b"]}),
        ([{"op": "test", "path": "/obj/x", "value": 1.0}], DOC),
        (
            [{"op": "add", "path": "/a~1b", "value": 1}, {"op": "add", "path": "/m~0n", "value": 2}],
            {**DOC, "a/b": 1, "m~n": 2},
        ),
        ([{"op": "replace", "path": "", "value": {"whole": True}}], {"whole": True}),
        ([{"op": "remove", "path": "/list/-1"}], {**DOC, "list": ["a"]}),
    ],
)
def test_json_patch_operations(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    doc = copy.deepcopy(DOC)
    assert json_patch(doc, ops) == expected
    assert doc == DOC


def test_json_patch_test_failure_aborts_everything_with_422() -> None:
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/new", "value": 1},
        {"op": "test", "path": "/baz", "value": "nope"},
    ]
    with pytest.raises(PatchError, match=r"^testing value /baz failed: test failed$") as info:
        json_patch(DOC, ops)
    assert info.value.code == 422
    assert "new" not in DOC


def test_json_patch_test_distinguishes_types() -> None:
    with pytest.raises(PatchError):
        json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    with pytest.raises(PatchError):
        json_patch({"a": "1"}, [{"op": "test", "path": "/a", "value": 1}])


def test_json_patch_test_against_null_passes_for_a_missing_key_like_evanphx() -> None:
    assert json_patch(DOC, [{"op": "test", "path": "/absent", "value": None}]) == DOC


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (
            [{"op": "remove", "path": "/missing"}],
            "error in remove for path: '/missing': Unable to remove nonexistent key: missing: missing value",
        ),
        (
            [{"op": "replace", "path": "/missing", "value": 1}],
            "replace operation does not apply: doc is missing key: /missing: missing value",
        ),
        (
            [{"op": "add", "path": "/no/such/parent", "value": 1}],
            'add operation does not apply: doc is missing path: "/no/such/parent": missing value',
        ),
        (
            [{"op": "add", "path": "/list/9", "value": 1}],
            "error in add for path: '/list/9': Unable to access invalid index: 9: invalid index referenced",
        ),
        (
            [{"op": "test", "path": "/no/such", "value": 1}],
            "test operation does not apply: is missing path: /no/such: missing value",
        ),
        ([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate: unknown object type"),
        ([{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
        (
            [{"op": "copy", "from": "/nope/x", "path": "/y"}],
            "copy operation does not apply: doc is missing from path: /nope/x: missing value",
        ),
    ],
)
def test_json_patch_errors_use_evanphx_wording_and_422(ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(DOC, ops)
    assert info.value.code == 422
    assert info.value.message == message


def test_json_patch_body_must_be_a_list() -> None:
    with pytest.raises(PatchError) as info:
        json_patch(DOC, {"op": "add"})  # type: ignore[arg-type]
    assert info.value.code == 400
