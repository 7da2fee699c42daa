"""The emulator's per-client faults, on their own: what the leader-election tests rely on to cut one
replica off while the other keeps working (sim/kubeapi/faults.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.client import KubeClient
from reconciler.errors import ApiError, ServerError
from sim.kubeapi.faults import client_id
from tests.chaos._replica import write_kubeconfig

pytestmark = pytest.mark.chaos


@pytest.fixture
def two_clients(kube_server: Any, tmp_path: Any) -> Iterator[tuple[KubeClient, KubeClient]]:
    made = [KubeClient.from_kubeconfig(write_kubeconfig(kube_server.url, token, tmp_path / token), qps=-1,
                                       max_retries=0, request_timeout=5)
            for token in ("client-a-token", "client-b-token")]
    yield made[0], made[1]
    for client in made:
        client.close()
    kube_server.faults.heal()


def test_a_failure_rule_for_one_client_spares_the_other(kube_server: Any,
                                                        two_clients: tuple[KubeClient, KubeClient]) -> None:
    a, b = two_clients
    kube_server.faults.fail_next(1, 503, path=r"^/api/v1/namespaces/default$", client=client_id("client-a-token"))
    assert b.get(("v1", "Namespace"), "default")["metadata"]["name"] == "default"
    with pytest.raises(ServerError):
        a.get(("v1", "Namespace"), "default")
    assert a.get(("v1", "Namespace"), "default")["metadata"]["name"] == "default"  # the burst is spent


def test_a_partitioned_client_is_cut_off_unanswered_until_healed(kube_server: Any,
                                                                 two_clients: tuple[KubeClient, KubeClient]) -> None:
    a, b = two_clients
    cut = client_id("client-a-token")
    since = time.time()
    kube_server.faults.partition(cut, hold=0.5)
    started = time.monotonic()
    with pytest.raises(ApiError):
        a.get(("v1", "Namespace"), "default")
    assert time.monotonic() - started >= 0.4, "a partition holds the request (a black hole), then resets it"
    assert b.get(("v1", "Namespace"), "default")["metadata"]["name"] == "default"
    records = [r for r in kube_server.requests if r.time >= since and r.client in (cut, client_id("client-b-token"))]
    assert {r.client for r in records} == {cut, client_id("client-b-token")}
    assert {r.status for r in records if r.client == cut} == {0}  # dropped, never served
    assert {r.status for r in records if r.client != cut} == {200}
    assert "client-a-token" not in repr(records)  # the log keeps a fingerprint, not the token
    kube_server.faults.heal(cut)
    assert a.get(("v1", "Namespace"), "default")["metadata"]["name"] == "default"
