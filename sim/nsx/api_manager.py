"""Manager (MP) API routes: sessions, health, principal identities, container inventory, support bundles."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from sim.nsx.auth import Authenticator, cookie_session_id
from sim.nsx.channel import ChannelState
from sim.nsx.errors import INVENTORY, bad_credentials, bad_request, not_found
from sim.nsx.inventory import ITEM_SEGMENT, LIST_SEGMENT, Inventory
from sim.nsx.paging import paginate
from sim.nsx.routing import Request, Response, Router, ok

_ID = r"([^/]+)"
TM = "/api/v1/trust-management"


class ManagerApi:
    """Serves ``/api/session/*`` and ``/api/v1/...`` (except the adapter channel)."""

    def __init__(self, auth: Authenticator, inventory: Inventory, channel: ChannelState) -> None:
        self.auth = auth
        self.inventory = inventory
        self.channel = channel
        self.support_bundle_wait = 30.0
        self.secure_cookies = True  # False over plain HTTP, where a Secure cookie would never be sent back
        r = Router()
        r.add("POST", "/api/session/destroy", self._destroy)
        r.add("GET", "/api/v1/reverse-proxy/node/health", lambda req, m: ok({"healthy": True}))
        r.add("POST", f"{TM}/principal-identities/with-certificate", self._pi_create)
        r.add("GET POST", f"{TM}/principal-identities", self._pi_list)
        r.add("GET DELETE", f"{TM}/principal-identities/{_ID}", self._pi_item)
        r.add("GET POST", f"{TM}/certificates", self._certs)
        r.add("GET DELETE", f"{TM}/certificates/{_ID}", self._cert_item)
        r.add("GET POST", "/api/v1/fabric/container-clusters", self._clusters)
        r.add("GET DELETE", f"/api/v1/fabric/container-clusters/{_ID}", self._cluster_item)
        r.add("GET", r"/api/v1/fabric/(container-[a-z-]+)", self._inv_list)
        r.add("GET", rf"/api/v1/fabric/(container-[a-z-]+)/{_ID}", self._inv_item)
        r.add("POST", f"/api/v1/inventory/container/{_ID}", self._inv_updates)
        r.add("POST", "/api/v1/administration/support-bundles", self._support_bundle)
        self.router = r

    def handle(self, req: Request) -> Response | None:
        return self.router.dispatch(req)

    # ------------------------------------------------------------------ sessions
    def create_session(self, req: Request) -> Response:
        """``POST /api/session/create``: form credentials, or an empty body over a PI-certificate connection."""
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        user = form.get("j_username")
        if user is not None:
            if not self.auth.check_password(user, form.get("j_password", "")):
                raise bad_credentials()
            principal = user
        else:
            name = self.auth.identities.name_for_thumbprint(req.peer_thumbprint) if req.peer_thumbprint else None
            if name is None:
                raise bad_credentials()
            principal = name
        sid, xsrf = self.auth.sessions.create(principal)
        secure = "; Secure" if self.secure_cookies else ""
        headers = {"Set-Cookie": f"JSESSIONID={sid}; Path=/{secure}; HttpOnly", "X-XSRF-TOKEN": xsrf}
        return Response(200, None, headers)

    def _destroy(self, req: Request, _m: re.Match[str]) -> Response:
        sid = cookie_session_id(req.headers.get("Cookie"))
        if sid:
            self.auth.sessions.destroy(sid)
        return ok()

    # ------------------------------------------------------------------ principal identities
    def _pi_create(self, req: Request, _m: re.Match[str]) -> Response:
        return ok(self.auth.identities.create_with_certificate(req.json_object(), req.principal), 201)

    def _pi_list(self, req: Request, _m: re.Match[str]) -> Response:
        ids = self.auth.identities
        if req.method == "POST":
            if req.query.get("action") != "update_certificate":
                raise bad_request("unsupported action", 255, "Trust Management")
            body = req.json_object()
            return ok(ids.update_certificate(str(body.get("principal_identity_id")), str(body.get("certificate_id"))))
        items = list(ids.by_id.values())
        return ok(paginate(items, req.query, default_sort="name"))

    def _pi_item(self, req: Request, m: re.Match[str]) -> Response:
        ids = self.auth.identities
        pid = m.group(1)
        if req.method == "DELETE":
            if not ids.delete(pid):
                raise not_found(pid)
            return ok()
        pi = ids.by_id.get(pid)
        if pi is None:
            raise not_found(pid)
        return ok(pi)

    def _certs(self, req: Request, _m: re.Match[str]) -> Response:
        ids = self.auth.identities
        if req.method == "POST":
            if req.query.get("action") != "import":
                raise bad_request("unsupported action", 255, "Trust Management")
            body = req.json_object()
            pem = body.get("pem_encoded")
            if not isinstance(pem, str):
                raise bad_request("pem_encoded is required", 255, "Trust Management")
            cert = ids.import_certificate(pem, str(body.get("display_name") or ""))
            return ok({"results": [cert], "result_count": 1}, 201)
        return ok(paginate(list(ids.certificates.values()), req.query))

    def _cert_item(self, req: Request, m: re.Match[str]) -> Response:
        ids = self.auth.identities
        cid = m.group(1)
        if req.method == "DELETE":
            if not ids.delete_certificate(cid):
                raise not_found(cid)
            return ok()
        cert = ids.certificates.get(cid)
        if cert is None:
            raise not_found(cid)
        return ok(cert)

    # ------------------------------------------------------------------ inventory
    def _clusters(self, req: Request, _m: re.Match[str]) -> Response:
        if req.method == "POST":
            return ok(self.inventory.create_cluster(req.json_object()), 201)
        return ok(paginate(self.inventory.list("ContainerCluster", req.query), req.query))

    def _cluster_item(self, req: Request, m: re.Match[str]) -> Response:
        if req.method == "DELETE":
            self.inventory.delete_cluster(m.group(1))
            return ok()
        return ok(self.inventory.get("ContainerCluster", m.group(1)))

    def _inv_list(self, req: Request, m: re.Match[str]) -> Response:
        rtype = LIST_SEGMENT.get(m.group(1))
        if rtype is None:
            raise not_found(req.path)
        return ok(self.inventory.page(rtype, req.query))  # cached listing: a cursor walk is O(N), not O(N²)

    def _inv_item(self, req: Request, m: re.Match[str]) -> Response:
        rtype = ITEM_SEGMENT.get(m.group(1))
        if rtype is None:
            raise not_found(req.path)
        return ok(self.inventory.get(rtype, m.group(2)))

    def _inv_updates(self, req: Request, m: re.Match[str]) -> Response:
        if req.query.get("action") != "updates":
            raise bad_request("action=updates is required", 255, INVENTORY)
        self.inventory.apply_updates(m.group(1), req.json_object())
        return ok()

    # ------------------------------------------------------------------ support bundles
    def _support_bundle(self, req: Request, _m: re.Match[str]) -> Response:
        if req.query.get("action") != "collect":
            raise bad_request("only action=collect is supported", 255, "SupportBundle")
        body = req.json_object()
        nodes = body.get("container_nodes")
        if not isinstance(nodes, list) or not nodes:
            raise bad_request("container_nodes is required", 255, "SupportBundle")
        rids: list[tuple[str, str, list[str]]] = []
        failed: list[dict[str, object]] = []
        for cn in nodes:
            if not isinstance(cn, dict) or cn.get("container_type") != "ANTREA":
                raise bad_request("container_nodes[].container_type must be ANTREA", 255, "SupportBundle")
            for cl in cn.get("clusters") or []:
                cluster_ref = str(cl.get("cluster_id", ""))
                node_ids = cl.get("nodes") or []
                if not isinstance(node_ids, list) or len(node_ids) > 200:
                    raise bad_request("clusters[].nodes must be a list of at most 200 node ids", 255,
                                      "SupportBundle")
                cid = self.channel.resolve_cluster(cluster_ref)
                if cid is None:
                    failed.append({"node_id": cluster_ref, "node_display_name": cluster_ref, "error_code": 404,
                                   "error_message": f"Antrea cluster {cluster_ref} is not registered"})
                    continue
                payload = {"nodes": node_ids, "log_age_limit": body.get("log_age_limit"),
                           "content_filters": body.get("content_filters") or ["DEFAULT"]}
                rids.append((self.channel.enqueue(cid, "SUPPORT_BUNDLE", payload), cid, node_ids))
        self.channel.wait_done([r for r, _, _ in rids], self.support_bundle_wait)
        success: list[dict[str, object]] = []
        remaining: list[dict[str, object]] = []
        with self.channel.cond:
            for rid, cid, node_ids in rids:
                ar = self.channel.requests.get(rid)
                if ar is None or ar.state != "DONE" or ar.result is None:
                    for n in node_ids or [cid]:
                        remaining.append({"node_id": n, "node_display_name": n, "status": "PENDING"})
                    continue
                for n in ar.result.get("success_nodes", []):
                    success.append({"node_id": n["node_id"], "node_display_name": n.get("node_display_name",
                                                                                        n["node_id"]),
                                    "bundle_name": f"{cid}-{rid}.tar.gz", "bundle_size": len(ar.archive or b""),
                                    "sha256_thumbprint": ar.archive_sha256 or ""})
                for n in ar.result.get("failed_nodes", []):
                    failed.append({"node_id": n["node_id"], "node_display_name": n.get("node_display_name",
                                                                                       n["node_id"]),
                                   "error_code": 500, "error_message": n.get("error_message", "")})
                if ar.result.get("phase") == "FAILED" and not ar.result.get("failed_nodes"):
                    failed.append({"node_id": cid, "node_display_name": cid, "error_code": 500,
                                   "error_message": ar.result.get("reason", "")})
        return ok({"success_nodes": success, "failed_nodes": failed, "remaining_nodes": remaining,
                   "request_properties": {k: v for k, v in body.items() if k != "container_nodes"}})
