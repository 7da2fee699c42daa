"""String formats and bounded numbers of the CRD schemas, as pydantic annotated types.

The API server checks ``format: cidr/ipv4/ipv6/byte/duration`` and label-value patterns; checking
them here too lets the adapter fail at translation time with a clear message instead of on a 422.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# Go's time.ParseDuration ("1h30m", "1.5h") or the unit words the OpenAPI duration format adds
# ("2d", "1 week"). At least one number-unit pair; nothing else.
_DURATION_UNITS = ("ns|us|µs|ms|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|"
                   "d|day|days|w|wk|wks|week|weeks")
_DURATION_RE = re.compile(rf"^[-+]?(?:\s*\d*\.?\d+\s*(?:{_DURATION_UNITS}))+\s*$")


def _label_value(value: str) -> str:
    if not LABEL_VALUE_RE.match(value):
        raise ValueError(f"{value!r} is not a valid label value")
    return value


def _cidr(value: str) -> str:
    """``format: cidr``: an address with a prefix length; host bits may be set."""
    if "/" not in value:
        raise ValueError(f"{value!r} is not in CIDR notation")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR: {exc}") from None
    return value


def _ip(value: str) -> str:
    """``oneOf: [format: ipv4, format: ipv6]``, with Kubernetes' format checks: an address that
    parses is ipv4 if it contains a dot and ipv6 if it contains a colon. An IPv4-mapped IPv6
    address (``::ffff:10.0.0.1``) is therefore both, and fails the ``oneOf``."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    if "." in value and ":" in value:
        raise ValueError(f"{value!r} matches both ipv4 and ipv6 formats; Antrea's oneOf rejects it")
    return value


def _base64(value: str) -> str:
    """``format: byte``: standard base64."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    return value


def _duration(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise ValueError(f"{value!r} is not a duration such as 30m, 2h or 1d")
    return value


LabelValue = Annotated[str, AfterValidator(_label_value)]
Cidr = Annotated[str, AfterValidator(_cidr)]
IPAddress = Annotated[str, AfterValidator(_ip)]
Base64 = Annotated[str, AfterValidator(_base64)]
Duration = Annotated[str, AfterValidator(_duration)]
ByteValue = Annotated[int, Field(ge=0, le=255)]
Uint16 = Annotated[int, Field(ge=0, le=65535)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
