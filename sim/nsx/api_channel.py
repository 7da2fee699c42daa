"""Routes of the adapter channel (``/api/v1/antrea-adapter/clusters/{id}/…``, docs/adapter-channel.md)."""

from __future__ import annotations

import re

from sim.nsx.channel import ChannelState, channel_error
from sim.nsx.routing import Request, Response, Router, ok

BASE = "/api/v1/antrea-adapter/clusters/([^/]+)"
MAX_POLL = 60


class ChannelApi:
    def __init__(self, channel: ChannelState) -> None:
        self.channel = channel
        r = Router()
        r.add("POST", f"{BASE}/heartbeat", lambda q, m: ok(channel.heartbeat(m.group(1), q.json_object())))
        r.add("GET POST DELETE", f"{BASE}/realization", self._realization)
        r.add("POST", f"{BASE}/realization/batch",
              lambda q, m: ok(channel.report_realization_batch(m.group(1), q.json_object())))
        r.add("POST", f"{BASE}/statistics", lambda q, m: ok(channel.report_statistics(m.group(1), q.json_object())))
        r.add("GET", f"{BASE}/requests", self._poll)
        r.add("POST", f"{BASE}/requests/([^/]+)/result",
              lambda q, m: ok(channel.post_result(m.group(1), m.group(2), q.json_object())))
        r.add("PUT", f"{BASE}/requests/([^/]+)/archive",
              lambda q, m: ok(channel.upload_archive(m.group(1), m.group(2), q.body)))
        self.router = r

    def handle(self, req: Request) -> Response | None:
        if not req.path.startswith("/api/v1/antrea-adapter/"):
            return None
        return self.router.dispatch(req)

    def _realization(self, req: Request, m: re.Match[str]) -> Response:
        cid = m.group(1)
        if req.method == "GET":
            return ok(self.channel.list_realization(cid))
        if req.method == "DELETE":
            self.channel.withdraw_realization(cid, req.query.get("intent_path"))
            return ok()
        return ok(self.channel.report_realization(cid, req.json_object()))

    def _poll(self, req: Request, m: re.Match[str]) -> Response:
        raw = req.query.get("timeout", "30")
        try:
            timeout = int(raw)
        except ValueError:
            raise channel_error("timeout must be an integer number of seconds") from None
        if not 0 <= timeout <= MAX_POLL:
            raise channel_error(f"timeout must be between 0 and {MAX_POLL}")
        reqs = self.channel.poll(m.group(1), float(timeout), req.flag("include_delivered"))
        return ok({"requests": reqs})
