"""Process logging on loguru: one call to configure it, secrets masked in every record, and a
logger bound to one reconcile (controller, key, reconcile_id) as controller-runtime does.

Redaction happens twice, because a secret can arrive either way: a *patcher* masks the message and
the bound ``extra`` values of every record before any sink sees them (so sinks added later by other
code are covered too), and the sink installed here masks the final formatted line once more, which
catches what only exists after formatting — exception text and tracebacks. Tracebacks are rendered
without local variable values (``diagnose=False``) since those would print credentials verbatim.

Masked: ``password=…``/``token: …``-style pairs (also quoted, in dict reprs and JSON), HTTP
``Authorization`` and ``Cookie`` headers, ``Bearer``/``Basic`` credentials, JWTs (service-account
tokens), PEM private keys, and passwords in URLs. Values under secret-looking keys of ``extra`` are
masked whatever they contain.
"""

from __future__ import annotations

import json
import logging as _stdlib_logging
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Logger, Record

__all__ = ["MASK", "redact", "reconcile_logger", "setup_logging"]

MASK = "***"

_SECRET_WORDS = (
    r"password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?"
    r"|jsessionid|session[_-]?id"
)
_SECRET_KEY = re.compile(rf"(?i)^[\w.-]*?(?:{_SECRET_WORDS}|authorization|cookie)s?$")

_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # PEM private keys, raw or with JSON-escaped newlines.
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S),
        "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----",
    ),
    # Authorization / Proxy-Authorization / Cookie headers: mask the whole value.
    (
        re.compile(r"(?i)((?:proxy-)?authorization|(?:set-)?cookie)(\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\"'\\\n]+)"),
        lambda m: f"{m.group(1)}{m.group(2)}{MASK}",
    ),
    # Bearer/Basic credentials anywhere.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), lambda m: f"{m.group(1)} {MASK}"),
    # JWTs (Kubernetes service-account tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), MASK),
    # key=value, key: value, "key": "value", 'key': 'value' for secret-looking keys.
    (
        re.compile(rf"(?i)\b([\w.-]*?(?:{_SECRET_WORDS})s?)(\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\s\"'\\,;&}}\]]+)"),
        lambda m: f"{m.group(1)}{m.group(2)}{MASK}",
    ),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(\w+://[^/\s:@]+):[^@\s/]+@"), lambda m: f"{m.group(1)}:{MASK}@"),
]

_LEVELS = {"trace": "TRACE", "debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING",
           "error": "ERROR", "critical": "CRITICAL"}  # fmt: skip


def redact(text: str) -> str:
    """``text`` with every recognised secret replaced by :data:`MASK`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.match(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return value


def _redact_record(record: Record) -> None:
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in list(extra.items()):
        extra[key] = _redact_value(key, value)


def _text_format(record: Record) -> str:
    fields = " ".join(f"{k}={_scalar(v)}" for k, v in record["extra"].items() if not k.startswith("_"))
    record["extra"]["_fields"] = (" " + fields) if fields else ""
    return (
        "{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} {level:<7} {name}: {message}{extra[_fields]}\n{exception}"
    )


def _scalar(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return json.dumps(text) if (" " in text or not text) else text


def _json_format(record: Record) -> str:
    doc: dict[str, Any] = {
        "ts": record["time"].isoformat(),
        "level": record["level"].name.lower(),
        "logger": record["name"],
        "msg": record["message"],
    }
    for key, value in record["extra"].items():
        if not key.startswith("_"):
            doc.setdefault(key, value)
    if record["exception"] is not None:
        exc = record["exception"]
        doc["error"] = f"{exc.type.__name__ if exc.type else 'Exception'}: {exc.value}"
        doc["stacktrace"] = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    record["extra"]["_json"] = json.dumps(doc, default=str)
    return "{extra[_json]}\n"


class _InterceptHandler(_stdlib_logging.Handler):
    """Routes stdlib ``logging`` (urllib3, the kubernetes client) through loguru and its redaction."""

    def emit(self, record: _stdlib_logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        name = record.name

        def rename(r: Record) -> None:
            r["name"] = name

        logger.patch(rename).opt(exception=record.exc_info).log(level, record.getMessage())


def setup_logging(
    level: str = "info",
    fmt: Literal["text", "json"] = "text",
    sink: TextIO | Callable[[str], Any] = sys.stderr,
    *,
    intercept_stdlib: bool = True,
) -> None:
    """Replace every loguru handler with one writing to ``sink``.

    ``level`` (default ``"info"``): trace, debug, info, warn(ing), error, critical. ``fmt`` (default
    ``"text"``): a human line with bound fields as ``key=value``, or one JSON object per line with
    ``ts``, ``level``, ``logger``, ``msg`` and every bound field. ``intercept_stdlib`` (default on)
    sends stdlib ``logging`` records through the same handler, so library logs get redacted too.
    """
    try:
        loguru_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; expected one of {sorted(_LEVELS)}") from None
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'text' or 'json'")

    write: Callable[[str], Any] = sink.write if hasattr(sink, "write") else sink
    flush: Callable[[], Any] | None = getattr(sink, "flush", None)

    def redacting_sink(message: str) -> None:
        write(redact(str(message)))
        if flush is not None:
            flush()

    logger.remove()
    logger.configure(patcher=_redact_record)
    logger.add(
        redacting_sink,
        level=loguru_level,
        format=_json_format if fmt == "json" else _text_format,
        colorize=False,
        backtrace=False,
        diagnose=False,
        enqueue=False,
    )
    if intercept_stdlib:
        # The root level matches ours, so libraries don't build records that would be dropped
        # anyway (urllib3 logs every request at DEBUG).
        stdlib_level = _stdlib_logging.DEBUG if loguru_level == "TRACE" else loguru_level
        _stdlib_logging.basicConfig(handlers=[_InterceptHandler()], level=stdlib_level, force=True)


def reconcile_logger(controller: str, key: object) -> Logger:
    """A logger bound to one reconcile: ``controller``, ``key`` (``"ns/name"``) and a fresh short
    ``reconcile_id`` so the lines of one reconcile can be grepped out of interleaved workers."""
    return logger.bind(controller=controller, key=str(key), reconcile_id=uuid.uuid4().hex[:12])
