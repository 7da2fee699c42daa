"""A dynamic Kubernetes client that returns plain dicts.

Transport, TLS and authentication (kubeconfig, exec plugins, in-cluster tokens) come from the
official ``kubernetes`` client; everything above the socket is here: URL building from discovery
(:mod:`reconciler.restmapper`), JSON decoding to dicts (never the generated model classes: they
are slow, strict, and drop unknown CRD fields), typed errors (:mod:`reconciler.errors`), the
process-wide client-side rate limit, and bounded retries of transient failures.

Cost per request (why the request path is written the way it is): a process of this engine is
bound by its GIL, so client CPU per write caps how fast concurrent workers converge. Headers and
auth are still those ``ApiClient.param_serialize`` produces (default headers, cookie, the bearer
token through the configuration's refresh hook) and every byte still goes through the official
client's urllib3 pool manager (``ApiClient.rest_client``); but a body is JSON-encoded once, with
``json.dumps`` (the generated client first copies it value by value through
``sanitize_for_serialization``), and the connection pool of the API server is looked up once
rather than per request. Together with cached metric series and a retry wrapper built only after
a failure, that cuts the client CPU of a write by about 40 % (``hack/bench/engine.py`` measures
it); nearly all that is left is urllib3 and ``http.client``.

Retry policy (how "never retry a create blindly" was decided): a request is repeated only when the
server certainly did not act on it, or when acting twice is harmless.

* 429, and any 5xx carrying ``Retry-After``: the server refused before doing anything (client-go
  retries every verb in that case too), so every verb is retried, after the server's delay.
* A connect that failed (refused / timed out before sending): every verb is retried.
* Other 5xx, resets after sending, read timeouts: the outcome is *unknown*. Only idempotent
  requests are retried — GET, PUT (a second PUT of the same body is a no-op or a 409), DELETE
  (a second one is a 404), and merge/strategic/apply PATCHes (applying one twice gives the same
  object). POST (create) and JSON-patch are not: a second create could duplicate a
  ``generateName`` object or turn a success into a misleading AlreadyExists, so the error goes back
  to the caller, whose next reconcile re-reads the world first.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import backoff
import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTResponse
from loguru import logger

from reconciler import _multiplex, _paging, metrics
from reconciler.errors import (
    ApiError,
    ConnectionFailure,
    NotFound,
    ServerError,
    TooManyRequests,
    error_from_status,
)
from reconciler.errors import error_from_response as _error_from_response
from reconciler.ratelimiter import TokenBucket
from reconciler.restmapper import Resource, RESTMapper

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_QPS",
    "KubeClient",
    "ObjectWriter",
    "PatchType",
    "ResourceLike",
    "WatchStream",
]

Obj = dict[str, Any]

DEFAULT_QPS = 20.0
"""Client-side requests/second for the whole process (``--kube-api-qps``). 20 is
kube-controller-manager's ``--kube-api-qps`` default, whose flag names we borrow: enough for a full
resync of a few hundred objects in seconds, while a runaway loop cannot flood the server. API
Priority and Fairness remains the server-side backstop; ``qps <= 0`` disables the limit as
controller-runtime >= v0.21 does."""

DEFAULT_BURST = 30
"""Requests allowed at once above ``qps`` (``--kube-api-burst``): kube-controller-manager's 30, so
startup (discovery + one LIST per informer) is not throttled."""

DEFAULT_PAGE_SIZE = 500
"""LIST page size (``limit``), client-go's pager default."""

DEFAULT_POOL_SIZE = 64
"""Connections kept open to the API server (urllib3 ``maxsize``): room for a few dozen watches plus
the writers of every controller, so no connection is discarded and re-opened under load."""

DEFAULT_MAX_RETRIES = 5
"""Retries after the first attempt of one request; with the delays below, at most ~15 s of
back-off unless the server asks for more with ``Retry-After``."""

DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds for connect + read of one non-watch request: a dead connection must fail, not hang."""

RETRY_INITIAL_DELAY = 0.2
"""First retry delay in seconds when the server gave no ``Retry-After``; doubles, full jitter."""

RETRY_MAX_DELAY = 10.0
"""Cap of one retry delay, including a server's ``Retry-After`` (a server asking for minutes is
better answered by failing to the caller, whose work queue backs off per item)."""

PatchType = Literal["merge", "json", "strategic", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

ResourceLike = Resource | tuple[str, str]
"""A resolved :class:`Resource`, or ``(apiVersion, kind)`` to resolve through discovery."""

Query = list[tuple[str, str]]

_CACHED_QUERY_PARAMS = frozenset({"fieldManager", "dryRun", "force"})
"""Query parameters of writes whose encoded form is cached (few distinct values per process)."""

_AUTH_SETTINGS = ["BearerToken"]
"""The auth settings every Kubernetes API operation of the generated client names."""


def _static_credentials(path: str | Path | None, context: str | None) -> bool:
    """True when the kubeconfig user has no exec plugin or auth provider (whose tokens expire)."""
    try:
        files = [str(path)] if path else os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)
        if len(files) != 1:
            return False
        doc = yaml.safe_load(Path(files[0]).expanduser().read_text()) or {}
        name = context or doc.get("current-context")
        ctx = next(c["context"] for c in doc.get("contexts") or [] if c.get("name") == name)
        user = next((u.get("user") or {}) for u in doc.get("users") or [] if u.get("name") == ctx.get("user"))
    except (OSError, yaml.YAMLError, StopIteration, KeyError, TypeError, AttributeError):
        return False
    return isinstance(user, dict) and "exec" not in user and "auth-provider" not in user


def _retry_delays() -> Generator[float, BaseException | None, None]:
    """Wait generator for ``backoff``: it receives the failure, so ``Retry-After`` wins."""
    attempt = 0
    err = yield 0.0  # primed by backoff with send(None)
    while True:
        server_delay = getattr(err, "retry_after", None)
        if server_delay is not None:
            delay = min(float(server_delay), RETRY_MAX_DELAY)
        else:
            delay = random.uniform(0, min(RETRY_MAX_DELAY, RETRY_INITIAL_DELAY * 2**attempt))
        attempt += 1
        err = yield delay


def _connection_failure(exc: Exception) -> ConnectionFailure:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    not_sent = isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )
    return ConnectionFailure(f"{type(reason).__name__}: {reason}", sent=not not_sent)


def _retryable(err: Exception, safe: bool) -> bool:
    """Whether a failed attempt may be repeated (the policy of the module docstring)."""
    if isinstance(err, TooManyRequests):
        return True
    if isinstance(err, ServerError):
        return err.retry_after is not None or (safe and err.code != 501)
    if isinstance(err, ConnectionFailure):
        return safe or not err.sent
    return False


def _selector(value: str | Mapping[str, str] | None) -> str | None:
    """Accepts ``"a=b,c"`` or ``{"a": "b"}``."""
    if value is None or isinstance(value, str):
        return value or None
    return ",".join(f"{k}={v}" for k, v in value.items()) or None


class KubeClient:
    """Plain-dict access to any resource of one cluster, shared by every informer and controller.

    Build one per process (``from_kubeconfig`` / ``in_cluster``) and pass it around: its token
    bucket is then the single client-side rate limit of the process (spec §1.10: one bucket, not one
    per kind). Thread-safe.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        limiter: TokenBucket | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        field_manager: str | None = None,
    ) -> None:
        self.api_client = api_client
        self.limiter = limiter if limiter is not None else TokenBucket(qps, burst)
        self.max_retries = max_retries
        self.request_timeout = request_timeout
        self.field_manager = field_manager
        """Default ``fieldManager`` for writes (required for apply patches)."""
        self.host = urlparse(api_client.configuration.host).netloc or api_client.configuration.host
        self.mapper = RESTMapper(self.get_json)
        # Transport state of _send (derived from configuration.host, re-derived if it changes).
        self._base_url = ""
        self._origin = ""
        self._base_path = ""
        self._conn_pool: urllib3.HTTPConnectionPool | None = None
        self._timeouts: dict[float | tuple[float, float | None], urllib3.Timeout] = {}
        self._queries: dict[tuple[tuple[str, str], ...], str] = {}

    # ----------------------------------------------------------------------------- construction

    @staticmethod
    def _tune(cfg: Configuration) -> Configuration:
        # Retries are ours (bounded, verb-aware); urllib3's own would retry POSTs after resets.
        cfg.retries = False
        # One connection per open watch plus one per concurrent request (planner writers,
        # controller workers of every controller): the default (cpu*5) is too small for a dozen
        # informers on a 2-core node. A connection returned to a full pool is closed, and the next
        # request pays a new TCP (and TLS) handshake; unused slots cost nothing (opened lazily).
        cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, DEFAULT_POOL_SIZE)
        return cfg

    @classmethod
    def from_configuration(cls, cfg: Configuration, **kwargs: Any) -> KubeClient:
        """A client over a ready ``Configuration`` (copied: the caller's is not modified)."""
        import copy

        return cls(ApiClient(cls._tune(copy.copy(cfg))), **kwargs)

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | Path | None = None,
        context: str | None = None,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        **kwargs: Any,
    ) -> KubeClient:
        """A client for ``context`` (default: the current one) of the kubeconfig at ``path``
        (default: ``$KUBECONFIG`` or ``~/.kube/config``)."""
        cfg = Configuration()
        kube_config.load_kube_config(
            config_file=str(path) if path else None,
            context=context,
            client_configuration=cfg,
            persist_config=False,
        )
        if _static_credentials(path, context):
            # The official client re-loads the whole kubeconfig before *every* request (the
            # refresh hook), which also re-reads the proxy environment: a fifth of a create's CPU.
            # Only exec plugins and auth providers mint credentials that expire.
            cfg.refresh_api_key_hook = None
        return cls(ApiClient(cls._tune(cfg)), qps=qps, burst=burst, **kwargs)

    @classmethod
    def in_cluster(cls, *, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST, **kwargs: Any) -> KubeClient:
        """A client from the Pod's service account (token file re-read as it rotates)."""
        cfg = Configuration()
        kube_config.load_incluster_config(client_configuration=cfg)
        return cls(ApiClient(cls._tune(cfg)), qps=qps, burst=burst, **kwargs)

    def close(self) -> None:
        """Release pooled connections."""
        self._conn_pool = None
        self.api_client.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------- discovery

    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource for ``kind`` (discovery refreshed on a miss); raises ``NoKindMatch``."""
        return self.mapper.resource_for(api_version, kind)

    def _res(self, res: ResourceLike) -> Resource:
        return res if isinstance(res, Resource) else self.mapper.resource_for(res[0], res[1])

    def _res_of(self, obj: Mapping[str, Any]) -> Resource:
        return self.mapper.resource_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    # --------------------------------------------------------------------------------- transport

    def _throttle(self) -> None:
        if self.limiter.unlimited:
            return  # like client-go without a rate limiter: nothing to wait for, nothing to observe
        delay = self.limiter.reserve()
        if delay > 0:
            time.sleep(delay)
        metrics.observe_rate_limiter_wait(delay)

    def _encode(self, body: Any, content_type: str | None) -> tuple[bytes | None, str | None]:
        """The request body as bytes, serialized once for every attempt.

        Plain dicts and lists (the engine's only bodies) go straight through ``json.dumps``: the
        generated client's ``sanitize_for_serialization`` walks every value of the body in Python
        first and then the REST layer JSON-encodes it anyway, which cost more CPU than the rest of
        a create. Anything ``json`` cannot encode by itself (datetimes, generated models, enums)
        is still handed to the official ``sanitize_for_serialization``, so such bodies are sent as
        before. ``str``/``bytes`` bodies are taken as already encoded (e.g. an apply patch in
        YAML) and sent as they are."""
        if body is None:
            return None, content_type
        if content_type == _PATCH_CONTENT_TYPES["json"] and not isinstance(body, list):
            # The official REST layer's rule: an object is no JSON patch, send it as a strategic
            # merge patch (kept so that bodies are interpreted exactly as before).
            content_type = _PATCH_CONTENT_TYPES["strategic"]
        if isinstance(body, bytes):
            return body, content_type
        if isinstance(body, str):
            return body.encode("utf-8"), content_type
        # ensure_ascii (json's default, as in the official client): the bytes are pure ASCII, so a
        # lone surrogate or any other odd code point can never make the encoding fail.
        return json.dumps(body, separators=(",", ":"), default=self._jsonable).encode("ascii"), content_type

    def _jsonable(self, obj: Any) -> Any:
        """``json.dumps`` fallback for values it cannot encode itself."""
        if isinstance(obj, Mapping):
            return dict(obj)  # read-only views (MappingProxyType) of cached objects
        out = self.api_client.sanitize_for_serialization(obj)
        if out is obj:
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
        return out

    def _timeout(self, timeout: float | tuple[float, float | None] | None) -> urllib3.Timeout | None:
        """The urllib3 timeout for ``_request_timeout``-style values, as the official REST layer
        builds it (a number is the total; a pair is connect and read); cached per value."""
        if not timeout:
            return None
        found = self._timeouts.get(timeout)
        if found is None:
            if isinstance(timeout, tuple):
                found = urllib3.Timeout(connect=timeout[0], read=timeout[1])
            else:
                found = urllib3.Timeout(total=timeout)
            if len(self._timeouts) < 64:  # watches' read timeouts vary; keep the cache bounded
                self._timeouts[timeout] = found
        return found

    def _query_string(self, query: Query) -> str:
        """``ApiClient.parameters_to_url_query``, remembered for the few queries that repeat on
        every write (``fieldManager=…``, ``dryRun=All``); LIST/WATCH queries are encoded each time."""
        key = tuple(query)
        found = self._queries.get(key)
        if found is None:
            found = self.api_client.parameters_to_url_query(query, None)
            if len(key) <= 2 and all(k in _CACHED_QUERY_PARAMS for k, _ in key) and len(self._queries) < 64:
                self._queries[key] = found
        return found

    def _headers(self, method: str, path: str, query: Query, body: bytes | None,
                 content_type: str | None) -> dict[str, str]:
        """Request headers as ``ApiClient.param_serialize`` builds them: ours, then the client's
        default headers (User-Agent), its cookie, then its auth settings (which re-read rotating
        tokens through the configuration's refresh hook; query-borne auth lands in ``query``)."""
        api = self.api_client
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        for k, v in api.default_headers.items():
            headers[k] = str(v)
        if api.cookie:
            headers["Cookie"] = str(api.cookie)
        api.update_params_for_auth(headers, query, _AUTH_SETTINGS, path, method, body)
        return headers

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeout: float | tuple[float, float | None] | None) -> urllib3.BaseHTTPResponse:
        """One HTTP exchange through the official client's pool manager (``rest_client``).

        Without a proxy the request goes to the pool manager's connection pool for the API server
        directly (looked up once, again after ``close()``): the per-request URL parsing and pool
        key normalisation of ``PoolManager.urlopen`` are a tenth of a request's CPU. Proxies keep
        the pool manager's own path. urllib3 retries nothing (``retries=False``): retries are ours."""
        pool = self._direct_pool()
        if pool is not None:
            return pool.urlopen(
                method, self._base_path + url, body=body, headers=headers, retries=False, redirect=False,
                assert_same_host=False, timeout=self._timeout(timeout), preload_content=False,
            )
        return self.api_client.rest_client.pool_manager.urlopen(
            method, self._origin + self._base_path + url, body=body, headers=headers, retries=False,
            redirect=False, timeout=self._timeout(timeout), preload_content=False,
        )

    def _direct_pool(self) -> urllib3.HTTPConnectionPool | None:
        """The pool manager's connection pool for the API server, or None when requests must take
        the pool manager's own path (a proxy, or a host it must resolve itself). Looked up once,
        again after ``close()`` or when the configured host changed; sets ``_origin`` and
        ``_base_path`` from that host."""
        pm = self.api_client.rest_client.pool_manager
        host = self.api_client.configuration.host
        if host != self._base_url:
            parsed = urlparse(host)
            if parsed.scheme in ("http", "https") and parsed.netloc:
                self._origin, self._base_path = f"{parsed.scheme}://{parsed.netloc}", parsed.path.rstrip("/")
            else:  # no usable origin: leave the URL to the pool manager, as the REST layer does
                self._origin, self._base_path = "", host.rstrip("/")
            self._conn_pool = None
            self._base_url = host
        if not self._origin or type(pm) is not urllib3.PoolManager:
            return None
        pool = self._conn_pool
        if pool is None or pool.pool is None:  # first use, or closed (PoolManager.clear)
            pool = self._conn_pool = pm.connection_from_url(self._origin)
        return pool

    def _check_write(self, method: str, path: str) -> None:
        """Raise when this client may not send a write now (see :class:`FencedClient`)."""

    def create_many(
        self, objs: Sequence[Mapping[str, Any]], *, connections: int, field_manager: str | None = None
    ) -> list[Obj | ApiError | None] | None:
        """POST each object with up to ``connections`` requests in flight from this one thread
        (:mod:`reconciler._multiplex`). Each entry is the created object, the typed error of a
        failure that :meth:`create` would not have retried either (an answer after sending is
        never sent again), or None: not sent, or failed in a way :meth:`create` retries — send
        that one with :meth:`create`. None instead of a list when this client cannot multiplex
        (a proxy is configured)."""
        pool = self._direct_pool()
        if pool is None:
            return None
        host, base = urlparse(self._origin).netloc, self._base_path

        def prepare(obj: Mapping[str, Any]) -> _multiplex.Request:
            """Built just before sending, as ``request`` does (a rotating token is read then); an
            error here (e.g. an unknown kind) leaves the object to ``create``, which reports it."""
            path = self._res_of(obj).path((obj.get("metadata") or {}).get("namespace"))
            query = list(self._write_query(False, field_manager))
            payload, content_type = self._encode(dict(obj), None)
            assert payload is not None
            headers = self._headers("POST", path, query, payload, content_type)
            return base + (f"{path}?{self._query_string(query)}" if query else path), payload, headers

        timeout = self.request_timeout or DEFAULT_REQUEST_TIMEOUT

        def connect() -> Any:
            # A pooled connection, or a new one with the pool's TLS settings (CA, client
            # certificate, server name): urllib3's own accessors, as its urlopen uses them.
            conn: Any = pool._get_conn()
            try:
                if conn.sock is None:
                    conn.connect()
                conn.sock.settimeout(timeout)
            except BaseException:
                release(conn, False)  # the pool's slot stays in the pool
                raise
            return conn

        def release(conn: Any, reusable: bool) -> None:
            if not reusable:
                conn.close()
            pool._put_conn(conn)  # a closed connection reconnects on its next use

        def before_send(url: str) -> None:
            self._check_write("POST", url)
            self._throttle()

        def observe(code: str, seconds: float) -> None:
            metrics.observe_rest_request(self.host, "POST", code, seconds)

        replies = _multiplex.post_many([functools.partial(prepare, obj) for obj in objs], connect=connect,
                                       release=release, host=host, connections=connections, timeout=timeout,
                                       before_send=before_send, observe=observe)
        return [self._created(reply) for reply in replies]

    def _created(self, reply: _multiplex.Reply | None) -> Obj | ApiError | None:
        """One multiplexed create's result, by the policy of :meth:`request` for a POST."""
        if reply is None:
            return None
        if reply.status == 0:
            metrics.observe_rest_request(self.host, "POST", "<error>", 0.0)
            err: ApiError = ConnectionFailure(reply.reason, sent=True)
        elif reply.status >= 400:
            err = _error_from_response(reply.status, reply.body, reply.headers)
        else:
            try:
                return json.loads(reply.body) if reply.body else {}
            except ValueError as exc:
                return ApiError(reply.status, "BadResponse", f"undecodable answer to a create: {exc}")
        # Retried by request() too (e.g. 429): left to create(), whose own tries then start.
        return None if self.max_retries >= 1 and _retryable(err, False) else err

    def _attempt(
        self,
        method: str,
        path: str,
        query: Query | None,
        body: bytes | None,
        content_type: str | None,
        timeout: float | tuple[float, float | None] | None,
    ) -> RESTResponse:
        self._throttle()
        query = list(query) if query else []
        headers = self._headers(method, path, query, body, content_type)
        url = f"{path}?{self._query_string(query)}" if query else path
        started = time.monotonic()
        code = "<error>"
        try:
            resp = self._send(method, url, headers, body, timeout)
            code = str(resp.status)
        except urllib3.exceptions.SSLError as exc:
            # The official REST layer's wording ("SSLError\n<reason>"), under our typed error.
            raise ApiError(0, "TLSError", f"{type(exc).__name__}\n{exc}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _connection_failure(exc) from exc
        finally:
            metrics.observe_rest_request(self.host, method, code, time.monotonic() - started)
        if resp.status >= 400:
            raise _error_from_response(resp.status, resp.data, resp.headers)
        return RESTResponse(resp)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        timeout: float | tuple[float, float | None] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> Any:
        """Send one request with throttling and bounded retries (none with ``retry=False``); return
        the decoded JSON (or, with ``stream``, the open ``RESTResponse``). Raises
        :class:`~reconciler.errors.ApiError`.

        ``body`` is JSON-encoded once (dicts, lists, and whatever the official client can
        serialize); ``str``/``bytes`` are sent as they are (already encoded)."""
        method = method.upper()
        payload, content_type = self._encode(body, content_type)
        send_timeout = timeout or self.request_timeout
        try:
            resp = self._attempt(method, path, query, payload, content_type, send_timeout)
        except ApiError as err:
            safe = idempotent if idempotent is not None else method in ("GET", "HEAD", "PUT", "DELETE")
            if not retry or self.max_retries < 1 or not _retryable(err, safe):
                raise
            resp = self._retry(err, safe, method, path, query, payload, content_type, send_timeout)
        if stream:
            return resp
        data = resp.read()
        return json.loads(data) if data else {}

    def _retry(
        self,
        first: ApiError,
        safe: bool,
        method: str,
        path: str,
        query: Query | None,
        body: bytes | None,
        content_type: str | None,
        timeout: float | tuple[float, float | None] | None,
    ) -> RESTResponse:
        """Retries after a failed first attempt, through ``backoff`` (built only on this slow path,
        not for every request). The first failure is replayed to ``backoff`` so that it counts as
        try 1 and chooses the first delay (``Retry-After`` included), exactly as if ``backoff``
        had made the first attempt itself."""
        pending = [first]

        def again() -> RESTResponse:
            if pending:
                raise pending.pop()
            return self._attempt(method, path, query, body, content_type, timeout)

        def on_backoff(details: Any) -> None:
            err = details.get("exception")
            code = str(err.code) if isinstance(err, ApiError) and err.code else "<error>"
            metrics.observe_rest_retry(self.host, method, code)
            logger.debug(
                "retrying {} {} after {!r} (try {}, wait {:.2f}s)",
                method, path, err, details.get("tries"), details.get("wait", 0.0),
            )

        send: Callable[[], RESTResponse] = backoff.on_exception(
            _retry_delays,
            ApiError,
            max_tries=self.max_retries + 1,
            giveup=lambda e: not _retryable(e, safe),
            jitter=None,
            on_backoff=on_backoff,
            logger=None,
        )(again)
        return send()

    def get_json(self, path: str) -> dict[str, Any]:
        """GET any path (discovery, ``/version``) as decoded JSON."""
        return self.request("GET", path)

    # ------------------------------------------------------------------------------------ reads

    def get(self, res: ResourceLike, name: str, namespace: str | None = None) -> Obj:
        """One object; raises :class:`~reconciler.errors.NotFound`."""
        r = self._res(res)
        return self.request("GET", r.path(namespace, name))

    def list_pages(
        self,
        res: ResourceLike,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Obj]:
        """LIST page by page (``limit``/``continue``). Items get ``apiVersion``/``kind`` filled in
        (a real server omits them in lists of built-in kinds). A ``continue`` token that expired
        raises :class:`~reconciler.errors.Gone`: the caller relists."""
        r = self._res(res)
        base: Query = []
        if sel := _selector(label_selector):
            base.append(("labelSelector", sel))
        if field_selector:
            base.append(("fieldSelector", field_selector))
        if limit:
            base.append(("limit", str(limit)))

        def fetch(token: str | None) -> bytes:
            query = list(base)
            if token:
                query.append(("continue", token))  # resourceVersion must not accompany continue
            elif resource_version is not None:
                query.append(("resourceVersion", resource_version))
            data: bytes = self.request("GET", r.path(namespace), query=query, stream=True).read()
            return data

        for page in _paging.pages(fetch):  # the next page is requested while this one decodes
            for item in page.get("items") or []:
                item.setdefault("apiVersion", r.api_version)
                item.setdefault("kind", r.kind)
            yield page

    def list(
        self,
        res: ResourceLike,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
    ) -> Obj:
        """All pages joined into one List dict whose ``metadata.resourceVersion`` is the snapshot's
        (the first page's: continue tokens pin the snapshot)."""
        r = self._res(res)
        items: list[Obj] = []
        rv = ""
        for i, page in enumerate(
            self.list_pages(
                r, namespace, label_selector=label_selector, field_selector=field_selector,
                resource_version=resource_version, limit=limit,
            )
        ):
            if i == 0:
                rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
            items.extend(page.get("items") or [])
        return {
            "apiVersion": r.api_version,
            "kind": f"{r.kind}List",
            "metadata": {"resourceVersion": rv},
            "items": items,
        }

    def watch(
        self,
        res: ResourceLike,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_watch_bookmarks: bool = True,
    ) -> WatchStream:
        """Open a WATCH; iterate the result for ``{"type", "object"}`` dicts (BOOKMARK included).

        An ERROR event raises its typed error (410 → :class:`~reconciler.errors.Gone`). The
        stream ends when the server closes it (``timeoutSeconds``) or :meth:`WatchStream.close` is
        called, possibly from another thread. The client-side read timeout is ``timeoutSeconds``
        plus a margin, so a silently dead connection fails instead of hanging."""
        r = self._res(res)
        query: Query = [("watch", "true")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if allow_watch_bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        if sel := _selector(label_selector):
            query.append(("labelSelector", sel))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", str(int(timeout_seconds))))
        read_timeout = None if timeout_seconds is None else float(timeout_seconds) + 30.0
        # No client-level retries: whoever watches owns the back-off (the reflector's, spec §1.1).
        resp = self.request(
            "GET", r.path(namespace), query=query, stream=True, retry=False,
            timeout=(min(self.request_timeout, 10.0), read_timeout),
        )
        return WatchStream(resp.response, r)

    # ----------------------------------------------------------------------------------- writes

    def _write_query(
        self, dry_run: bool, field_manager: str | None, extra: Sequence[tuple[str, str]] = ()
    ) -> Query:
        query: Query = list(extra)
        if dry_run:
            query.append(("dryRun", "All"))
        if fm := field_manager or self.field_manager:
            query.append(("fieldManager", fm))
        return query

    def create(
        self,
        res: ResourceLike,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """POST ``obj``; the namespace defaults to ``obj.metadata.namespace``."""
        r = self._res(res)
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.request(
            "POST", r.path(ns), query=self._write_query(dry_run, field_manager), body=dict(obj)
        )

    def replace(
        self,
        res: ResourceLike,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """PUT ``obj``; its ``metadata.resourceVersion`` (if any) makes it optimistic (409 if stale)."""
        r = self._res(res)
        meta = obj.get("metadata") or {}
        return self.request(
            "PUT", r.path(meta.get("namespace"), meta["name"], subresource),
            query=self._write_query(dry_run, field_manager), body=dict(obj),
        )

    def replace_status(self, res: ResourceLike, obj: Mapping[str, Any], **kwargs: Any) -> Obj:
        """PUT to the ``status`` subresource (only ``.status`` changes)."""
        return self.replace(res, obj, subresource="status", **kwargs)

    def patch(
        self,
        res: ResourceLike,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with a JSON merge patch (default), a JSON patch (list of ops), a strategic merge
        patch (built-in kinds only) or a server-side apply (needs a field manager; ``force`` takes
        over conflicting fields)."""
        r = self._res(res)
        extra: Query = []
        if force is not None and patch_type == "apply":
            extra.append(("force", "true" if force else "false"))
        fm = field_manager or self.field_manager
        if patch_type == "apply" and not fm:
            raise ValueError("an apply patch needs a field manager")
        # JSON patches may not be idempotent (list appends): see the module docstring.
        return self.request(
            "PATCH", r.path(namespace, name, subresource),
            query=self._write_query(dry_run, fm, extra), body=patch,
            content_type=_PATCH_CONTENT_TYPES[patch_type], idempotent=patch_type != "json",
        )

    def patch_status(self, res: ResourceLike, name: str, patch: Any, namespace: str | None = None,
                     **kwargs: Any) -> Obj:
        """PATCH the ``status`` subresource."""
        return self.patch(res, name, patch, namespace, subresource="status", **kwargs)

    def delete(
        self,
        res: ResourceLike,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE; ``uid``/``resource_version`` are preconditions (409 when they do not match).
        Returns the server's answer: the object (finalizers pending) or a Status."""
        r = self._res(res)
        opts: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            opts["preconditions"] = pre
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            opts["dryRun"] = ["All"]
        return self.request("DELETE", r.path(namespace, name), body=opts)

    def writer(self, field_manager: str | None = None) -> ObjectWriter:
        """The planner's Writer over this client."""
        return ObjectWriter(self, field_manager=field_manager)


class ObjectWriter:
    """The planner's ``Writer`` protocol for objects carrying apiVersion/kind/metadata.

    ``delete`` sends the object's uid as a precondition so that a stale plan never deletes a
    newer object that reuses the name, and treats "already gone" as done (the goal is reached)."""

    def __init__(self, client: KubeClient, field_manager: str | None = None) -> None:
        self.client = client
        self.field_manager = field_manager

    def create(self, obj: Mapping[str, Any]) -> Obj:
        """POST ``obj`` to the resource its apiVersion/kind name."""
        return self.client.create(self.client._res_of(obj), obj, field_manager=self.field_manager)

    def create_many(self, objs: Sequence[Mapping[str, Any]], connections: int) -> list[Obj | ApiError | None] | None:
        """See :meth:`KubeClient.create_many`: None entries are to be sent with :meth:`create`."""
        return self.client.create_many(objs, connections=connections, field_manager=self.field_manager)

    def patch(self, obj: Mapping[str, Any], patch: Mapping[str, Any]) -> Obj:
        """Apply the JSON merge ``patch`` to the live object named like ``obj``."""
        meta = obj.get("metadata") or {}
        return self.client.patch(
            self.client._res_of(obj), meta["name"], dict(patch), meta.get("namespace"),
            field_manager=self.field_manager,
        )

    def delete(self, obj: Mapping[str, Any]) -> None:
        """DELETE ``obj`` if it is still the same object (uid precondition); absent is fine."""
        meta = obj.get("metadata") or {}
        try:
            self.client.delete(
                self.client._res_of(obj), meta["name"], meta.get("namespace"), uid=meta.get("uid") or None
            )
        except NotFound:
            pass


class WatchStream:
    """An open WATCH response, decoded line by line into event dicts.

    Iterating yields ``{"type": ..., "object": ...}`` (ADDED, MODIFIED, DELETED, BOOKMARK) and
    raises the typed error of an ERROR event. :meth:`close` may be called from any thread and makes
    the iteration end quietly."""

    def __init__(self, response: urllib3.BaseHTTPResponse, resource: Resource) -> None:
        self._resp = response
        self.resource = resource
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        shutdown = getattr(self._resp, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()  # unblocks a read in progress in another thread (urllib3 >= 2.3)
            self._resp.close()
        except Exception:  # closing a half-dead socket must never raise into a stop path
            pass

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _chunks(self) -> Iterator[bytes]:
        resp = self._resp
        if getattr(resp, "chunked", False):
            yield from resp.read_chunked(decode_content=True)
        else:
            while chunk := resp.read1(65536):
                yield chunk

    def __iter__(self) -> Iterator[Obj]:
        try:
            for line in self._lines():
                yield self._decode(line)
        finally:
            self.close()

    def _lines(self) -> Iterator[bytes]:
        buf = b""
        try:
            for chunk in self._chunks():
                buf += chunk
                while (nl := buf.find(b"\n")) >= 0:
                    line, buf = buf[:nl].strip(), buf[nl + 1:]
                    if line:
                        yield line
            # Bytes after the last newline are a truncated event (every event ends with one).
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            # ValueError: reading a response another thread just closed.
            if not self.closed:
                raise ConnectionFailure(f"watch stream broken: {exc}", sent=True) from exc

    def _decode(self, line: bytes) -> Obj:
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise ConnectionFailure(f"undecodable watch event: {line[:200]!r}", sent=True) from exc
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            raise error_from_status(obj)
        if isinstance(obj, dict) and event.get("type") != "BOOKMARK":
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
        return event
