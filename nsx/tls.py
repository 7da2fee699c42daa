"""Server trust: a CA file, a pinned SHA-256 leaf thumbprint, or (explicitly) nothing.

Pinning is enforced by urllib3 on connect, right after the TLS handshake and before a single
request byte (and so before any credential) is sent. When a thumbprint is given it *replaces* the
CA-chain and hostname checks: an NSX Manager's self-signed certificate rarely names the address the
adapter dials, and the pin is a stronger statement than either check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loguru import logger
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalize_thumbprint(thumbprint: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → 64 lower-case hex digits; anything else is refused."""
    digest = thumbprint.replace(":", "").replace(" ", "").lower()
    if not _HEX64.match(digest):
        raise ValueError("thumbprint must be the SHA-256 of the certificate: 64 hex digits")
    return digest


@dataclass(frozen=True)
class TlsSettings:
    """How to trust the managers. Default: verify against the system CA store."""

    ca_file: str | None = None
    thumbprint: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.insecure and (self.ca_file or self.thumbprint):
            raise ValueError("insecure=True cannot be combined with ca_file or thumbprint")
        if self.thumbprint is not None:
            object.__setattr__(self, "thumbprint", normalize_thumbprint(self.thumbprint))

    def requests_verify(self) -> bool | str:
        """The value for ``Session.verify`` (the pinned adapter ignores it)."""
        if self.insecure:
            return False
        return self.ca_file or True

    def warn_if_insecure(self, url: str) -> None:
        if self.insecure:
            logger.warning("TLS verification of NSX Manager {} is DISABLED (insecure=True)", url)


class PinnedThumbprintAdapter(HTTPAdapter):
    """Accepts a server only if the SHA-256 of its leaf certificate equals the pin."""

    def __init__(self, thumbprint: str, **kwargs: Any) -> None:
        self._thumbprint = normalize_thumbprint(thumbprint)
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[Any, dict[str, Any]]:
        host_params, typed_kwargs = super().build_connection_pool_key_attributes(request, False, cert)
        pool_kwargs: dict[str, Any] = dict(typed_kwargs)
        pool_kwargs["assert_fingerprint"] = self._thumbprint
        return host_params, pool_kwargs

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        # The chain/hostname checks are replaced by the pin, which the pool asserts on connect.
        kwargs["verify"] = False
        return super().send(request, **kwargs)
