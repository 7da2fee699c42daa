"""Logging: secrets never reach the output, in either format; JSON lines parse; reconcile context."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from reconciler.logging import MASK, reconcile_logger, redact, setup_logging

PASSWORD = "Hunter2-very-secret"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA" + PASSWORD + "\n-----END RSA PRIVATE KEY-----"


@pytest.fixture(autouse=True)
def _restore_loguru() -> Iterator[None]:
    yield
    logger.remove()
    logger.configure(patcher=None)
    logger.add(sys.stderr)  # loguru's default handler
    logging.basicConfig(handlers=[], level=logging.WARNING, force=True)


def emit_secrets() -> None:
    log = reconcile_logger("policy", "ns/p1")
    log.info(f"connecting as admin password={PASSWORD}")
    log.info(f"settings { {'nsx_password': PASSWORD, 'user': 'admin'} }")
    log.info(json.dumps({"body": {"password": PASSWORD}}))
    log.info(f"GET /api with Authorization: Bearer {PASSWORD}")
    log.info(f"service account token {JWT}")
    log.info(f"key material {PEM}")
    log.info(f"url https://admin:{PASSWORD}@nsx.example:443/policy")
    log.bind(api_token=PASSWORD, headers={"Authorization": f"Basic {PASSWORD}"}).info("bound extras")
    try:
        raise RuntimeError(f"login failed for secret={PASSWORD}")
    except RuntimeError:
        log.exception("request failed")
    logging.getLogger("urllib3.connectionpool").warning("retry with Cookie: JSESSIONID=%s", PASSWORD)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_password_never_appears(fmt: str) -> None:
    buf = io.StringIO()
    setup_logging("debug", fmt, buf)  # type: ignore[arg-type]
    emit_secrets()
    out = buf.getvalue()
    assert out.count("\n") >= 10
    assert PASSWORD not in out
    assert JWT not in out
    assert "MIIEow" not in out
    assert MASK in out
    assert "admin" in out  # non-secret context survives


def test_json_lines_parse_with_reconcile_context() -> None:
    buf = io.StringIO()
    setup_logging("info", "json", buf)
    log = reconcile_logger("policy", "ns/p1")
    log.info("reconciled")
    log.debug("hidden at info")
    reconcile_logger("policy", "ns/p1").warning("second")
    logging.getLogger("kubernetes.client").error("lib says hi")
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [d["msg"] for d in docs] == ["reconciled", "second", "lib says hi"]
    assert docs[0]["controller"] == "policy" and docs[0]["key"] == "ns/p1"
    assert docs[0]["level"] == "info" and docs[1]["level"] == "warning"
    assert len(docs[0]["reconcile_id"]) == 12
    assert docs[0]["reconcile_id"] != docs[1]["reconcile_id"]  # fresh per reconcile
    assert docs[2]["logger"] == "kubernetes.client"


def test_text_format_shows_bound_fields() -> None:
    buf = io.StringIO()
    setup_logging("info", "text", buf)
    reconcile_logger("inventory", "default/web").info("created")
    line = buf.getvalue()
    assert "INFO" in line and "created" in line
    assert "controller=inventory" in line and "key=default/web" in line and "reconcile_id=" in line


def test_bad_level_or_format_rejected() -> None:
    with pytest.raises(ValueError):
        setup_logging("loud")
    with pytest.raises(ValueError):
        setup_logging("info", "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password: s3cr3t!", "s3cr3t!"),
        ("{'client_secret': 'abc123'}", "abc123"),
        ('"X-XSRF-TOKEN": "tok-42"', "tok-42"),
        ("proxy-authorization=Basic Zm9vOmJhcg==", "Zm9vOmJhcg=="),
        ("postgres://u:pa55@db/x", "pa55"),
    ],
)
def test_redact_patterns(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_redact_keeps_innocent_text() -> None:
    text = "secretName: tls-cert resourceVersion=42 tokensRemaining"
    assert redact(text) == text
