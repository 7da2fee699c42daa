"""Label/field selectors and limit/continue paging, through list calls of the official client."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException


@pytest.fixture
def labelled(core, ns):
    labels = {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db", "env": "prod"}, "c": {"tier": "web"},
              "d": {}}
    for name, lab in labels.items():
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": lab}})
    return ns


@pytest.mark.parametrize(("selector", "expected"), [
    ("tier=web", ["a", "c"]),
    ("tier==web", ["a", "c"]),
    ("tier!=web", ["b", "d"]),
    ("tier in (db,cache)", ["b"]),
    ("tier notin (web)", ["b", "d"]),
    ("env", ["a", "b"]),
    ("!env", ["c", "d"]),
    ("tier=web,env=prod", ["a"]),
    ("env,tier in (web, db)", ["a", "b"]),
])
def test_label_selectors(core, labelled, selector, expected):
    items = core.list_namespaced_config_map(labelled, label_selector=selector).items
    assert [i.metadata.name for i in items] == expected


def test_bad_label_selector_is_400(core, ns):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, label_selector="a in (")
    assert err.value.status == 400


def test_field_selectors_on_pods(core, ns):
    for name, node, phase in (("p1", "n1", "Running"), ("p2", "n2", "Running"), ("p3", "n1", "Pending")):
        core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "i"}]}})
        core.patch_namespaced_pod_status(name, ns, {"status": {"phase": phase}})
    names = [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector="spec.nodeName=n1").items]
    assert names == ["p1", "p3"]
    names = [p.metadata.name for p in core.list_namespaced_pod(
        ns, field_selector="spec.nodeName=n1,status.phase!=Pending").items]
    assert names == ["p1"]
    names = [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector="metadata.name==p2").items]
    assert names == ["p2"]
    all_ns = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns},status.phase=Running")
    assert sorted(p.metadata.name for p in all_ns.items) == ["p1", "p2"]


def test_unsupported_field_selector_is_400(core, ns):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, field_selector="data.foo=bar")
    assert err.value.status == 400 and "field label not supported" in json.loads(err.value.body)["message"]


def test_paging_with_limit_and_continue(core, ns):
    for i in range(7):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm{i}"}})
    seen, token, pages = [], None, 0
    first = core.list_namespaced_config_map(ns, limit=3)
    assert first.metadata.remaining_item_count == 4 and first.metadata._continue
    while True:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.resource_version == first.metadata.resource_version
    assert seen == [f"cm{i}" for i in range(7)] and pages == 3


def test_a_list_at_resource_version_0_is_one_page(core, ns):
    """RV "0" is the watch cache's answer, which kube-apiserver v1.32 does not page: the limit is
    ignored (client-go's reflector relies on it for its first list); other lists page."""
    for i in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"rv0-{i}"}})
    cached = core.list_namespaced_config_map(ns, limit=2, resource_version="0")
    assert [i.metadata.name for i in cached.items] == [f"rv0-{i}" for i in range(5)]
    assert not cached.metadata._continue
    quorum = core.list_namespaced_config_map(ns, limit=2)
    assert len(quorum.items) == 2 and quorum.metadata._continue


def test_continue_token_after_compaction_is_410(core, ns, kapi):
    for i in range(3):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"x{i}"}})
    page = core.list_namespaced_config_map(ns, limit=1)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "later"}})
    kapi.faults.compact()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, limit=1, _continue=page.metadata._continue)
    assert err.value.status == 410 and json.loads(err.value.body)["reason"] == "Expired"
