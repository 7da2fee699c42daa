"""The per-request pipeline: admin routes, auth, rate and concurrency limits, faults, then the APIs.

Order matters and mirrors a real manager's reverse proxy: a dropped connection never reaches auth; an
authenticated client is rate-limited (429) and concurrency-limited (503) before any work; injected
latency is spent while holding a concurrency slot, so latency + parallel clients produce real 503s.
"""

from __future__ import annotations

import math
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any

from sim.nsx.api_channel import ChannelApi
from sim.nsx.api_manager import ManagerApi
from sim.nsx.api_policy import PolicyApi
from sim.nsx.auth import Authenticator, parse_basic
from sim.nsx.channel import ChannelState
from sim.nsx.errors import COMMON, NsxError, bad_request, not_found
from sim.nsx.faults import ConcurrencyLimiter, Faults, RateLimiter
from sim.nsx.inventory import Inventory
from sim.nsx.policy_store import PolicyStore, now_ms
from sim.nsx.routing import Request, Response, ok
from sim.nsx.webui import render_page

PAGE_PATHS = ("/", "/index.html")


@dataclass(frozen=True)
class RequestRecord:
    """One served request, for assertions (``sim.state.requests``)."""

    time_ms: int
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 when the connection was dropped
    principal: str
    auth_method: str


class NsxApp:
    def __init__(
        self,
        *,
        store: PolicyStore,
        inventory: Inventory,
        channel: ChannelState,
        auth: Authenticator,
        faults: Faults,
        rate_limit_rps: float,
        max_concurrent: int,
        ssl_context: Any,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.channel = channel
        self.auth = auth
        self.faults = faults
        self.rate = RateLimiter(rate_limit_rps)
        self.conc = ConcurrencyLimiter(max_concurrent)
        self.ssl_context = ssl_context
        self.policy_api = PolicyApi(store, channel)
        self.policy_api.traceflow_hook = self._traceflow_written
        self.policy_api.is_protected = auth.identities.is_protected
        self.manager_api = ManagerApi(auth, inventory, channel)
        self.channel_api = ChannelApi(channel)
        self.log: deque[RequestRecord] = deque(maxlen=200_000)
        self._log_lock = threading.Lock()
        self.stop_event = threading.Event()

    def unreachable(self) -> bool:
        return self.faults.unreachable

    # ------------------------------------------------------------------ pipeline
    def handle(self, req: Request) -> Response | None:
        resp: Response | None
        try:
            resp = self._admin(req) if req.path.startswith("/__admin") else self._serve(req)
        except NsxError as err:
            resp = Response(err.status, err.body(), dict(err.headers))
        except Exception as exc:  # a simulator bug must still answer like a server, and be visible
            traceback.print_exc()
            resp = Response(500, NsxError(500, 99, f"simulator internal error: {exc!r}", COMMON).body())
        self._record(req, resp)
        return resp

    def _record(self, req: Request, resp: Response | None) -> None:
        rec = RequestRecord(now_ms(), req.method, req.path, dict(req.query), resp.status if resp else 0,
                            req.principal, req.auth_method)
        with self._log_lock:
            self.log.append(rec)

    def _serve(self, req: Request) -> Response | None:
        if self.faults.unreachable or self.faults.take_drop():
            return None
        if req.method == "POST" and req.path == "/api/session/create":
            client = "session-create"
        else:
            try:
                req.principal, req.auth_method = self.auth.authenticate(req.headers, req.peer_thumbprint)
            except NsxError as err:
                if req.path in PAGE_PATHS:  # a browser needs a challenge to show its login prompt
                    return Response(401, "<html><body>Log in to the NSX simulator.</body></html>",
                                    {"WWW-Authenticate": 'Basic realm="NSX Manager simulator"'},
                                    content_type="text/html; charset=utf-8")
                raise err
            client = req.principal
        wait = self.rate.allow(client)
        if wait > 0:
            raise NsxError(429, 429, "Client has exceeded the API rate limit.", COMMON,
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if not self.conc.acquire(client):
            raise NsxError(503, 503, "Client has exceeded the API concurrency limit.", COMMON,
                           headers={"Retry-After": "1"})
        try:
            delay = self.faults.latency_for(req.method, req.path)
            if delay > 0:
                self.stop_event.wait(delay)
            inj = self.faults.take_failure(req.method, req.path)
            if inj is not None:
                headers = {"Retry-After": str(inj.retry_after)} if inj.retry_after is not None else {}
                raise NsxError(inj.status, inj.error_code, f"Injected failure ({inj.status}).", COMMON,
                               headers=headers)
            return self._dispatch(req)
        finally:
            self.conc.release(client)

    def _dispatch(self, req: Request) -> Response:
        if req.method == "POST" and req.path == "/api/session/create":
            resp = self.manager_api.create_session(req)
            return resp
        for api in (self.channel_api, self.policy_api, self.manager_api):
            out = api.handle(req)
            if out is not None:
                return out
        if req.path in PAGE_PATHS and req.method in ("GET", "HEAD"):
            return Response(200, render_page(self.store, self.inventory, self.channel),
                            content_type="text/html; charset=utf-8")
        raise not_found(req.path)

    # ------------------------------------------------------------------ traceflow
    def _traceflow_written(self, path: str) -> None:
        cfg = self.store.render(path)
        if cfg is None:
            return
        cid = self.channel.resolve_cluster(str(cfg.get("container_cluster_id", "")))
        if cid is None:
            self.channel.fail_traceflow(path, f"container cluster {cfg.get('container_cluster_id')} is not a "
                                              "registered Antrea cluster")
            return
        self.channel.enqueue(cid, "TRACEFLOW", cfg, traceflow_path=path)

    # ------------------------------------------------------------------ admin
    def _admin(self, req: Request) -> Response:
        creds = parse_basic(req.headers.get("Authorization") or "")
        if creds is None or not self.auth.check_password(*creds):
            raise NsxError(403, 403, "The simulator admin endpoints need the admin credentials (Basic).", COMMON)
        req.principal, req.auth_method = creds[0], "basic"
        if req.path == "/__admin/faults":
            if req.method == "POST":
                self.faults.apply_admin(req.json_object())
            elif req.method != "GET":
                raise bad_request("GET or POST")
            return ok(self.faults.describe())
        if req.path == "/__admin/requests" and req.method == "POST":
            body = req.json_object()
            cid = self.channel.resolve_cluster(str(body.get("cluster_id", "")))
            if cid is None:
                raise not_found(str(body.get("cluster_id")))
            rtype = str(body.get("type", "LOG_COLLECTION"))
            key = rtype.lower()
            return ok({"id": self.channel.enqueue(cid, rtype, dict(body.get(key) or {}))})
        if req.path == "/__admin/stats" and req.method == "GET":
            with self._log_lock:
                total = len(self.log)
                by_status: dict[str, int] = {}
                for r in self.log:
                    by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
            return ok({"requests": total, "by_status": by_status, "peak_in_flight": self.conc.peak,
                       "sessions": self.auth.sessions.count()})
        raise not_found(req.path)

