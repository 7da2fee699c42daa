"""Error mapping (412, 404, 400), and bounded retries: 429 honouring Retry-After, 503, 500/607."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from nsx import (
    BadRequest,
    NotFound,
    NsxClient,
    NsxConnectionError,
    RateLimited,
    RetryPolicy,
    RevisionConflict,
    ServiceUnavailable,
    TlsVerificationError,
)
from nsx.models import Condition, Group
from sim.nsx import NsxSimulator

ClientFactory = Callable[..., NsxClient]
GROUPS = "/policy/api/v1/infra/domains/default/groups"


def _group(group_id: str) -> Group:
    return Group(id=group_id, group_type=["ANTREA"], expression=[
        Condition(member_type="Pod", key="Tag", operator="EQUALS", value="app|web")])


def test_stale_revision_put_raises_revision_conflict(client: NsxClient) -> None:
    created = client.policy.put_group(_group("rev-conflict"))
    assert created.revision == 0
    updated = client.policy.put_group(created.model_copy(update={"description": "first"}))
    assert updated.revision == 1
    with pytest.raises(RevisionConflict) as caught:
        client.policy.put_group(created.model_copy(update={"description": "stale"}))
    assert caught.value.status == 412
    assert caught.value.error_message
    assert client.policy.get_group("rev-conflict").description == "first"


def test_injected_412_is_not_retried(client: NsxClient, sim: NsxSimulator) -> None:
    client.policy.patch_group(_group("rev-injected"))
    before = sim.count_requests("GET", f"{GROUPS}/rev-injected")
    sim.faults.fail_next(1, 412, method="GET", path=f"{GROUPS}/rev-injected")
    with pytest.raises(RevisionConflict):
        client.policy.get_group("rev-injected")
    assert sim.count_requests("GET", f"{GROUPS}/rev-injected") == before + 1


def test_not_found_carries_nsx_error_fields(client: NsxClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.policy.get_group("no-such-group")
    error = caught.value
    assert error.status == 404
    assert error.error_code == 600
    assert "no-such-group" in (error.error_message or "")
    assert "no-such-group" in str(error) and "404" in str(error)
    assert client.policy.delete_group("no-such-group") in (True, False)  # delete of absent: no error


def test_validation_error_is_bad_request_and_not_retried(client: NsxClient, sim: NsxSimulator) -> None:
    path = f"{GROUPS}/bad-enum"
    before = sim.count_requests("PATCH", path)
    body = {"resource_type": "Group", "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "LIKE",
         "value": "a|b"}]}
    with pytest.raises(BadRequest) as caught:
        client.patch(path, body)
    assert caught.value.status == 400
    assert caught.value.error_code is not None
    assert sim.count_requests("PATCH", path) == before + 1


def test_429_waits_for_retry_after(client: NsxClient, sim: NsxSimulator) -> None:
    path = "/policy/api/v1/infra/services"
    before = sim.count_requests("GET", path)
    sim.faults.fail_next(1, 429, method="GET", path=path, retry_after=1)
    started = time.monotonic()
    assert client.get(path)["results"]
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0, f"retried after {elapsed:.3f} s, before Retry-After"
    assert elapsed < 5.0
    assert sim.count_requests("GET", path) == before + 2


def test_429_exhausted_raises_rate_limited(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(retry=RetryPolicy(max_tries=3, initial_delay=0.01, max_delay=0.02))
    path = "/policy/api/v1/infra/services"
    before = sim.count_requests("GET", path)
    sim.faults.fail_next(10, 429, method="GET", path=path)
    with pytest.raises(RateLimited):
        client.get(path)
    assert sim.count_requests("GET", path) == before + 3


@pytest.mark.parametrize(("status", "error_code"), [(503, None), (500, 607)])
def test_transient_errors_are_retried(
    client: NsxClient, sim: NsxSimulator, status: int, error_code: int | None
) -> None:
    path = "/policy/api/v1/infra/services"
    before = sim.count_requests("GET", path)
    sim.faults.fail_next(2, status, method="GET", path=path, error_code=error_code)
    assert client.get(path)["results"]
    assert sim.count_requests("GET", path) == before + 3


def test_503_retries_are_bounded(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(retry=RetryPolicy(max_tries=4, initial_delay=0.01, max_delay=0.02))
    path = "/policy/api/v1/infra/services"
    before = sim.count_requests("GET", path)
    sim.faults.fail_next(50, 503, method="GET", path=path)
    with pytest.raises(ServiceUnavailable) as caught:
        client.get(path)
    assert caught.value.status == 503
    assert sim.count_requests("GET", path) == before + 4


def test_dropped_connections_are_retried(client: NsxClient, sim: NsxSimulator) -> None:
    path = "/policy/api/v1/infra/services"
    sim.faults.drop_connections(2)
    assert client.get(path)["results"]


def test_dropped_connections_retries_are_bounded(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(retry=RetryPolicy(max_tries=3, initial_delay=0.01, max_delay=0.02))
    sim.faults.drop_connections()  # every request, until cleared
    with pytest.raises(NsxConnectionError) as caught:
        client.get("/policy/api/v1/infra/services")
    assert not isinstance(caught.value, TlsVerificationError)
