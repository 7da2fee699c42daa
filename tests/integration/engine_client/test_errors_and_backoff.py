"""Pure parts: Status → typed error classification, and the reflector back-off schedule."""

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.watcher import Backoff


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ({"code": 404, "reason": "NotFound"}, errors.NotFound),
        ({"code": 409, "reason": "Conflict"}, errors.Conflict),
        ({"code": 409, "reason": "AlreadyExists"}, errors.AlreadyExists),
        ({"code": 410, "reason": "Expired"}, errors.Gone),
        ({"code": 410, "reason": "Gone"}, errors.Gone),
        ({"code": 422, "reason": "Invalid"}, errors.Invalid),
        ({"code": 429, "reason": "TooManyRequests"}, errors.TooManyRequests),
        ({"code": 403, "reason": "Forbidden"}, errors.Forbidden),
        ({"code": 401, "reason": "Unauthorized"}, errors.Unauthorized),
        ({"code": 400, "reason": "BadRequest"}, errors.BadRequest),
        ({"code": 503, "reason": "ServiceUnavailable"}, errors.ServerError),
        ({"code": 500, "reason": "NotFound"}, errors.ServerError),  # reason contradicting the code
        ({"code": 418}, errors.ApiError),
    ],
)
def test_status_maps_to_typed_error(status: dict, cls: type) -> None:
    err = errors.error_from_status({"kind": "Status", "message": "m", **status})
    assert type(err) is cls
    assert err.code == status["code"]


def test_response_error_keeps_details_and_retry_after() -> None:
    body = (b'{"kind":"Status","code":422,"reason":"Invalid","message":"bad",'
            b'"details":{"name":"x","causes":[{"field":"metadata.name","reason":"FieldValueInvalid"}]}}')
    err = errors.error_from_response(422, body, {})
    assert isinstance(err, errors.Invalid)
    assert err.causes == [{"field": "metadata.name", "reason": "FieldValueInvalid"}]

    throttled = errors.error_from_response(429, b'{"kind":"Status","code":429,"reason":"TooManyRequests"}',
                                           {"Retry-After": "3"})
    assert isinstance(throttled, errors.TooManyRequests) and throttled.retry_after == 3.0
    not_json = errors.error_from_response(502, b"<html>bad gateway</html>", {})
    assert isinstance(not_json, errors.ServerError) and "bad gateway" in not_json.message


def test_transient_classification() -> None:
    assert errors.is_transient(errors.TooManyRequests(429))
    assert errors.is_transient(errors.ServerError(503))
    assert not errors.is_transient(errors.ServerError(501))
    assert errors.is_transient(errors.ConnectionFailure("reset", sent=True))
    assert not errors.is_transient(errors.Conflict(409))
    assert not errors.is_transient(errors.NotFound(404))


def test_backoff_defaults_follow_the_reflector() -> None:
    now = [0.0]
    b = Backoff(jitter=0.0, clock=lambda: now[0])
    delays = []
    for _ in range(8):
        delays.append(b.next_delay())
        now[0] += 1.0
    assert delays == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    now[0] += 120.0  # two healthy minutes reset the schedule
    assert b.next_delay() == 0.8


def test_backoff_jitter_stays_in_range() -> None:
    b = Backoff(initial=1.0, cap=1.0, jitter=1.0)
    samples = [b.next_delay() for _ in range(200)]
    assert all(1.0 <= s < 2.0 for s in samples)
    assert max(samples) - min(samples) > 0.5
