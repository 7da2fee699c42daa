"""HTTP to a set of NSX Managers: one ``requests`` session each, failover, bounded retries.

Why failover lives below retries: a connection error or a 503 from one manager says nothing about
the others, so the next manager is tried at once; only when every manager has failed in a row does
the client sleep (jittered exponential, via ``backoff``). A 429 is the same manager asking for
patience, so it is retried there after ``Retry-After`` (or the back-off delay, whichever is longer).
The manager that last answered stays the preferred one for later calls.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import backoff
import requests
from loguru import logger

from nsx.auth import Auth
from nsx.errors import (
    AuthenticationError,
    NsxApiError,
    NsxConnectionError,
    NsxError,
    TlsVerificationError,
    error_for,
)
from nsx.tls import PinnedThumbprintAdapter, TlsSettings

Timeout = float | tuple[float, float]
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one call (all managers together)."""

    max_tries: int = 8
    max_time: float = 120.0
    initial_delay: float = 0.25
    max_delay: float = 10.0


class _Retry(Exception):
    """One failed attempt that may be retried; ``cause`` is raised if retries run out."""

    def __init__(self, cause: NsxError, *, retry_after: float | None = None, skip_wait: bool = False):
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after
        self.skip_wait = skip_wait


@dataclass
class _Call:
    """One logical request, and how many managers failed it in the current round."""

    method: str
    path: str
    params: Mapping[str, Any] | None
    json: Any
    headers: Mapping[str, str] | None
    data: bytes | None = None
    timeout: Timeout | None = None
    failures_in_round: int = 0


class _Manager:
    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url
        self.session = session
        self.lock = threading.Lock()
        self.auth_headers: dict[str, str] | None = None  # the current login session, if any


class Transport:
    """Sends one logical request, returns the decoded JSON body (``None`` when empty)."""

    def __init__(
        self,
        managers: Sequence[str],
        auth: Auth,
        *,
        tls: TlsSettings | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout = (10.0, 120.0),
        pool_size: int = 16,
        _warned: bool = False,
    ) -> None:
        if not managers:
            raise ValueError("at least one NSX Manager address is required")
        self._auth = auth
        self._tls = tls or TlsSettings()
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._managers = [self._new_manager(_base_url(m), pool_size) for m in managers]
        if not _warned:
            for manager in self._managers:
                self._tls.warn_if_insecure(manager.url)
        self._pool_size = pool_size
        self._active = 0
        self._lock = threading.Lock()
        self._send = backoff.on_exception(
            self._wait_gen,
            _Retry,
            max_tries=self._retry.max_tries,
            max_time=self._retry.max_time,
            jitter=None,
            on_backoff=self._log_backoff,
            logger=None,
        )(self._attempt)

    # -- public -----------------------------------------------------------------------------

    @property
    def active_manager(self) -> str:
        """Base URL of the manager the next call will try first."""
        return self._managers[self._active].url

    @property
    def manager_urls(self) -> list[str]:
        return [m.url for m in self._managers]

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: Timeout | None = None,
    ) -> Any:
        """Send with failover and retries; raise the most specific ``NsxError`` on failure.

        ``data`` sends raw bytes instead of JSON (give the Content-Type in ``headers``);
        ``timeout`` overrides the client's (connect, read) timeout for this call (long-polls)."""
        try:
            return self._send(_Call(method.upper(), path, params, json, headers, data, timeout))
        except _Retry as exhausted:
            raise exhausted.cause from None

    def fresh(self) -> Transport:
        """A transport to the same managers, with the same trust, credentials, retries and
        timeouts, but none of this one's connections or login sessions: what a forked process
        uses, since a socket it shares with its parent must only ever be written by one of them."""
        copy = Transport(self.manager_urls, self._auth, tls=self._tls, retry=self._retry, timeout=self._timeout,
                         pool_size=self._pool_size, _warned=True)
        copy._active = self._active
        return copy

    def close(self) -> None:
        for manager in self._managers:
            if manager.auth_headers is not None:
                self._auth.logout(manager.session, manager.url, manager.auth_headers, self._timeout)
                manager.auth_headers = None
            manager.session.close()

    # -- one attempt --------------------------------------------------------------------------

    def _attempt(self, call: _Call) -> Any:
        index = self._active
        manager = self._managers[index]
        method, path = call.method, call.path
        try:
            response = self._exchange(manager, call)
        except requests.exceptions.SSLError as exc:
            raise TlsVerificationError(f"{method} {manager.url}{path}: TLS handshake failed: "
                                       f"{_reason(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if isinstance(exc, requests.ReadTimeout) and method not in _IDEMPOTENT:
                raise NsxConnectionError(f"{method} {manager.url}{path}: read timed out") from None
            cause = NsxConnectionError(f"{method} {manager.url}{path}: {_reason(exc)}")
            raise self._fail_over(index, call, cause, None) from None
        except NsxApiError as login_error:  # the session login itself was refused
            raise self._classify(index, call, login_error, None) from None

        status = response.status_code
        if status < 400:
            self._mark_healthy(index)
            return _decode(response)
        error = error_for(status, method, path, _json_or_none(response))
        raise self._classify(index, call, error, _retry_after(response))

    def _classify(
        self, index: int, call: _Call, error: NsxApiError, retry_after: float | None
    ) -> Exception:
        """What to raise for an error answer: a retry (here or elsewhere) or the error itself."""
        if error.status == 503 or (error.status == 500 and error.error_code == 607):
            return self._fail_over(index, call, error, retry_after)
        self._mark_healthy(index)
        if error.status == 429:
            return _Retry(error, retry_after=retry_after)
        return error

    def _exchange(self, manager: _Manager, call: _Call) -> requests.Response:
        """One HTTP exchange, logging in first (and once more on an expired session) if needed."""
        if not self._auth.needs_login:
            return self._send_once(manager, call, None)
        session = self._login(manager, stale=None)
        response = self._send_once(manager, call, session)
        if self._auth.session_expired(response.status_code, _error_code(response)):
            logger.info("NSX session on {} expired or was refused; logging in again", manager.url)
            session = self._login(manager, stale=session)
            response = self._send_once(manager, call, session)
        return response

    def _send_once(
        self, manager: _Manager, call: _Call, session: dict[str, str] | None
    ) -> requests.Response:
        headers = dict(call.headers or {})
        if session:
            headers.update(session)
        started = time.monotonic()
        response = manager.session.request(
            call.method,
            manager.url + call.path,
            params=call.params,
            json=call.json,
            data=call.data,
            headers=headers or None,
            timeout=call.timeout or self._timeout,
        )
        logger.debug(
            "NSX {} {} -> {} in {:.1f} ms",
            call.method, call.path, response.status_code, (time.monotonic() - started) * 1000.0,
        )
        return response

    def _login(self, manager: _Manager, *, stale: dict[str, str] | None) -> dict[str, str]:
        """The manager's current session; a new one if there is none or it is ``stale``.

        Several threads seeing the same expired session log in once: the others find that the
        session already changed and simply replay with it."""
        with manager.lock:
            current = manager.auth_headers
            if current is not None and current is not stale:
                return current
            manager.auth_headers = None
            try:
                fresh = self._auth.login(manager.session, manager.url, self._timeout)
            except NsxApiError as exc:
                if exc.status in (401, 403):
                    raise AuthenticationError(exc.status, exc.method, exc.path, exc.api_error) from None
                raise
            manager.auth_headers = fresh
            return fresh

    # -- failover and back-off ----------------------------------------------------------------

    def _fail_over(
        self, index: int, call: _Call, cause: NsxError, retry_after: float | None
    ) -> _Retry:
        count = len(self._managers)
        call.failures_in_round += 1
        round_done = call.failures_in_round >= count
        if round_done:
            call.failures_in_round = 0
        if count > 1:
            with self._lock:
                if self._active == index:
                    self._active = (index + 1) % count
            logger.warning("NSX Manager {} failed ({}); switching to {}",
                           self._managers[index].url, cause, self.active_manager)
        return _Retry(cause, retry_after=retry_after, skip_wait=not round_done)

    def _mark_healthy(self, index: int) -> None:
        if self._active != index:
            with self._lock:
                self._active = index

    def _wait_gen(self) -> Generator[float, Any, None]:
        """backoff wait generator: receives the ``_Retry`` of each failed attempt."""
        policy = self._retry
        round_no = 0
        failure: _Retry | None = yield  # type: ignore[misc]
        while True:
            assert failure is not None
            if failure.skip_wait:
                delay = 0.0
            else:
                base = min(policy.max_delay, policy.initial_delay * (2 ** round_no))
                round_no += 1
                delay = base * random.uniform(0.5, 1.0)
            if failure.retry_after is not None:
                delay = max(delay, failure.retry_after)
            failure = yield delay

    @staticmethod
    def _log_backoff(details: Any) -> None:
        if details.get("wait"):
            logger.warning("NSX call failed (try {}), retrying in {:.2f} s: {}",
                           details["tries"], details["wait"], details.get("exception"))

    # -- construction -------------------------------------------------------------------------

    def _new_manager(self, url: str, pool_size: int) -> _Manager:
        session = requests.Session()
        # Environment settings must not change trust or credentials behind the caller's back:
        # REQUESTS_CA_BUNDLE would override ``verify`` and ~/.netrc could add a password.
        session.trust_env = False
        session.headers.update({"Accept": "application/json"})
        session.verify = self._tls.requests_verify()
        if self._tls.thumbprint:
            session.mount("https://", PinnedThumbprintAdapter(
                self._tls.thumbprint, pool_connections=1, pool_maxsize=pool_size))
        else:
            session.mount("https://", requests.adapters.HTTPAdapter(
                pool_connections=1, pool_maxsize=pool_size))
        self._auth.attach(session)
        return _Manager(url, session)


def _base_url(address: str) -> str:
    address = address.strip().rstrip("/")
    return address if "://" in address else f"https://{address}"


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(response: requests.Response) -> int | None:
    if response.status_code < 400:
        return None
    payload = _json_or_none(response)
    code = payload.get("error_code") if isinstance(payload, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or HTTP date), capped at 5 minutes."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 300.0)


def _reason(exc: BaseException) -> str:
    """A short cause for an error message (urllib3's text never holds request headers)."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed (untrusted CA or wrong hostname)"
    if "Fingerprints did not match" in text:
        return "server certificate does not match the pinned thumbprint"
    return f"{type(exc).__name__}: {text[:200]}"
