"""ObjectMeta rules shared by every kind: names, timestamps, uids, generated names.

Name checks use the same regular expressions and messages as apimachinery's validation so that
a name rejected here is rejected by a real cluster with the same words.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import UTC, datetime

from .errors import cause

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(f"^{_DNS1123_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_DNS1035_RE = re.compile(f"^{_DNS1035_LABEL}$")

SUBDOMAIN = "subdomain"
LABEL = "label"
DNS1035 = "dns1035"
PATH_SEGMENT = "path"

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


_stamp: tuple[int, str] = (0, "")


def now_rfc3339() -> str:
    """Current time at second precision (formatted once per second: it is on every write path)."""
    global _stamp
    now = int(time.time())
    if _stamp[0] != now:
        _stamp = (now, datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _stamp[1]


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``generateName`` + 5 random characters, as the apiserver's name generator does."""
    if len(prefix) > 58:
        prefix = prefix[:58]
    return prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))


def name_errors(name: str, rule: str, field: str = "metadata.name") -> list[dict[str, str]]:
    """Field causes for an invalid object name under ``rule`` (empty when valid)."""
    msg: str | None = None
    if rule == PATH_SEGMENT:
        if name in (".", ".."):
            msg = f"may not be '{name}'"
        else:
            for bad in ("/", "%"):
                if bad in name:
                    msg = f"may not contain '{bad}'"
                    break
    elif rule == LABEL:
        if len(name) > 63:
            msg = "must be no more than 63 characters"
        elif not _LABEL_RE.match(name):
            msg = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                   "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                   f"for validation is '{_DNS1123_LABEL}')")
    elif rule == DNS1035:
        if len(name) > 63:
            msg = "must be no more than 63 characters"
        elif not _DNS1035_RE.match(name):
            msg = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                   "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                   f"regex used for validation is '{_DNS1035_LABEL}')")
    elif len(name) > 253:
        msg = "must be no more than 253 characters"
    elif not _SUBDOMAIN_RE.match(name):
        msg = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
               f"is '{_DNS1123_SUBDOMAIN}')")
    if msg is None:
        return []
    return [cause("FieldValueInvalid", field, f'Invalid value: "{name}": {msg}')]


_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def label_errors(labels: object) -> list[dict[str, str]]:
    """Causes for label keys/values a real server would reject (keeps bad selectors out of the store)."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [cause("FieldValueTypeInvalid", "metadata.labels", "Invalid value: must be a map of strings")]
    out: list[dict[str, str]] = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not _SUBDOMAIN_RE.match(prefix)) or len(name) > 63 or not _QUALIFIED_NAME.match(name):
            out.append(cause("FieldValueInvalid", "metadata.labels", f'Invalid value: "{key}": name part must '
                             "consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                             "an alphanumeric character"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            out.append(cause("FieldValueInvalid", "metadata.labels", f'Invalid value: "{value}": a valid label '
                             "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                             "and must start and end with an alphanumeric character"))
    return out
