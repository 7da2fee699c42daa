"""String formats a kube-apiserver checks in CRD schemas, and only those.

kube-apiserver validates ``format`` with kube-openapi's ``strfmt.Default`` registry; a format it does
not know (and the numeric ones: int32, int64, float, double) is accepted without any check, so an
unknown format must never reject an object here either. Each checker mirrors the Go predicate kube
uses (``govalidator``, ``net.ParseCIDR``, ``net.ParseMAC``...) as closely as Python allows.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

_L = r"[^\W_]"  # a Unicode letter or digit (Go: [a-zA-Z0-9\p{S}\p{L}])
_LH = r"(?:[^\W_]|-)"
_HOSTNAME = re.compile(rf"^({_L}((-?{_L}{{0,62}})?)|({_L}(({_LH}{{0,61}}{_L})?)(\.)){{1,}}({_L})(-?{_L}){{1,62}})$")
_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID3 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID4 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_UUID5 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
_MAC = re.compile(
    r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}"
    r"|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){3}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){9})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
# Go's time.ParseDuration grammar ("1h30m", "-1.5s", "300ms") ...
_GO_DURATION = re.compile(
    r"^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))*$"
)
# ... or kube-openapi's fallback of "<n> <unit>" pairs ("3 days", "1w 2d").
_UNIT_DURATION = re.compile(
    r"^(\s*\d+\s*(ns|us|µs|ms|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours"
    r"|d|day|days|w|wk|wks|week|weeks)\s*)+$"
)


def _is_ipv4(value: str) -> bool:
    # govalidator.IsIPv4: net.ParseIP succeeds and the text contains a dot.
    return "." in value and _parse_ip(value)


def _is_ipv6(value: str) -> bool:
    return ":" in value and _parse_ip(value)


def _parse_ip(value: str) -> bool:
    if "%" in value:  # Go's net.ParseIP has no zone support; Python's ipaddress has
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str) -> bool:
    # net.ParseCIDR accepts host bits set ("10.0.0.1/8"), hence strict=False.
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_hostname(value: str) -> bool:
    if not _HOSTNAME.match(value) or len(value) > 255:
        return False
    return all(len(part) <= 63 for part in value.split("."))


def _is_email(value: str) -> bool:
    _, addr = parseaddr(value)
    return bool(addr) and "@" in addr


def _is_uri(value: str) -> bool:
    # govalidator.IsRequestURI is url.ParseRequestURI: "*", an absolute path, or scheme + "/..." (no opaque).
    if value == "*":
        return True
    if not value or any(c.isspace() for c in value):
        return False
    if value.startswith("/"):
        return True
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return False
    return bool(scheme) and value[len(scheme) + 1 :].startswith("/")


def _is_byte(value: str) -> bool:
    if not _BASE64.match(value):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    match = _DATE_TIME.match(value)
    if not match:
        return False
    try:
        datetime.strptime(value[:10], "%Y-%m-%d")
    except ValueError:
        return False
    hour, minute = int(value[11:13]), int(value[14:16])
    second = int(match.group(1)[1:3]) if match.group(1) else 0
    return hour < 24 and minute < 60 and second < 60


def _is_duration(value: str) -> bool:
    return bool(_GO_DURATION.match(value) or _UNIT_DURATION.match(value))


def _regex_checker(rx: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: bool(rx.match(value))


def _always(_: str) -> bool:
    return True


FORMAT_CHECKERS: dict[str, Callable[[str], bool]] = {
    "uri": _is_uri,
    "email": _is_email,
    "hostname": _is_hostname,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "cidr": _is_cidr,
    "mac": _regex_checker(_MAC),
    "uuid": _regex_checker(_UUID),
    "uuid3": _regex_checker(_UUID3),
    "uuid4": _regex_checker(_UUID4),
    "uuid5": _regex_checker(_UUID5),
    "byte": _is_byte,
    "password": _always,
    "date": _is_date,
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "duration": _is_duration,
}
"""Formats kube-apiserver rejects values for; every other format name is accepted unchecked."""


def check_format(fmt: str, value: str) -> bool:
    """True when ``value`` satisfies ``fmt`` as kube-apiserver judges it (unknown formats pass)."""
    checker = FORMAT_CHECKERS.get(fmt)
    return True if checker is None else checker(value)
