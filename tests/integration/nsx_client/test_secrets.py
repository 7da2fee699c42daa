"""Credentials never appear in log lines, exception text or reprs."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest

from nsx import (
    AuthenticationError,
    BasicAuth,
    NsxClient,
    NsxError,
    RetryPolicy,
    SessionAuth,
    TlsSettings,
)
from sim.nsx import NsxSimulator

ClientFactory = Callable[..., NsxClient]
SERVICES = "/policy/api/v1/infra/services"


def _assert_clean(secret: str, texts: list[str]) -> None:
    for text in texts:
        assert secret not in text, "a credential leaked"


def test_no_credentials_in_logs_errors_or_reprs(
    make_client: ClientFactory, sim: NsxSimulator, log_lines: list[str]
) -> None:
    secret = sim.password
    assert secret and len(secret) >= 8
    texts: list[str] = []
    for auth in (BasicAuth(sim.username, secret), SessionAuth(sim.username, secret)):
        client = make_client(auth, retry=RetryPolicy(max_tries=2, initial_delay=0.01, max_delay=0.02))
        texts += [repr(auth), str(auth), repr(client)]
        client.get(SERVICES)
        sim.faults.expire_sessions()
        client.get(SERVICES)  # session re-login path
        sim.faults.fail_next(5, 503)
        with pytest.raises(NsxError) as caught:
            client.get(SERVICES)
        texts += [str(caught.value), repr(caught.value),
                  "".join(traceback.format_exception(caught.value))]
        sim.faults.clear()
    wrong_pin = make_client(BasicAuth(sim.username, secret), tls=TlsSettings(thumbprint="0" * 64))
    with pytest.raises(NsxError) as caught:
        wrong_pin.get(SERVICES)
    texts += [str(caught.value), "".join(traceback.format_exception(caught.value))]
    assert log_lines, "the client logged nothing: the capture is not working"
    _assert_clean(secret, texts + log_lines)


def test_wrong_password_is_not_echoed(make_client: ClientFactory, sim: NsxSimulator,
                                      log_lines: list[str]) -> None:
    wrong = "Wr0ng-But-Still-Secret-123"
    for auth in (BasicAuth(sim.username, wrong), SessionAuth(sim.username, wrong)):
        client = make_client(auth)
        with pytest.raises(AuthenticationError) as caught:
            client.get(SERVICES)
        _assert_clean(wrong, [str(caught.value), repr(caught.value), repr(auth),
                              "".join(traceback.format_exception(caught.value))])
    _assert_clean(wrong, log_lines)
