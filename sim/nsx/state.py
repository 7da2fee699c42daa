"""Python read access to everything the simulator holds, for test assertions (``sim.state``).

Returns copies (rendered as the API would), so tests can never change the simulator behind the API.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from sim.nsx.app import NsxApp, RequestRecord
from sim.nsx.policy_kinds import CCP_COLLECTION


class SimState:
    def __init__(self, app: NsxApp) -> None:
        self._app = app

    def _by_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for obj in self._app.store.all_objects():
            if obj.get("resource_type") == rtype:
                rendered = self._app.store.render(obj["path"])
                if rendered is not None:
                    out[obj["path"]] = rendered
        return out

    @property
    def policies(self) -> dict[str, dict[str, Any]]:
        """Security policies by path, rules embedded."""
        return self._by_type("SecurityPolicy")

    @property
    def groups(self) -> dict[str, dict[str, Any]]:
        return self._by_type("Group")

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self._by_type("Service")

    @property
    def rules(self) -> dict[str, dict[str, Any]]:
        return self._by_type("Rule")

    @property
    def clusters(self) -> dict[str, dict[str, Any]]:
        """Registered ClusterControlPlanes by id."""
        return {c["id"]: copy.deepcopy(c) for c in self._app.store.collection(CCP_COLLECTION)}

    @property
    def traceflows(self) -> dict[str, dict[str, Any]]:
        """Antrea traceflow configs by id, each with ``result`` (phase, reason, observations) or None."""
        out: dict[str, dict[str, Any]] = {}
        for obj in self._app.store.collection("/infra/antrea/traceflows"):
            cfg = self._app.store.render(obj["path"]) or {}
            cfg["result"] = self.traceflow_result(obj["id"])
            out[obj["id"]] = cfg
        return out

    @property
    def heartbeats(self) -> dict[str, dict[str, Any]]:
        """Last heartbeat body per cluster id."""
        with self._app.channel.cond:
            return {cid: copy.deepcopy(hb[0]) for cid, hb in self._app.channel.heartbeats.items()}

    def get(self, path: str) -> dict[str, Any] | None:
        return self._app.store.render(path)

    @property
    def container_clusters(self) -> dict[str, dict[str, Any]]:
        inv = self._app.inventory
        with inv.lock:
            return copy.deepcopy(inv.clusters)

    def inventory(self, cluster_id: str, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Inventory objects of one container cluster by external_id (optionally of one resource_type)."""
        inv = self._app.inventory
        with inv.lock:
            return {ext: copy.deepcopy(o) for rt, objs in inv.objects.items() if resource_type in (None, rt)
                    for ext, o in objs.items() if o.get("container_cluster_id") == cluster_id}

    def inventory_counts(self, cluster_id: str) -> dict[str, int]:
        return self._app.inventory.counts(cluster_id)

    @property
    def inventory_batches(self) -> int:
        return self._app.inventory.batch_count

    def realization(self, cluster_id: str) -> dict[str, dict[str, Any]]:
        with self._app.channel.cond:
            return copy.deepcopy(self._app.channel.realization.get(cluster_id, {}))

    def statistics(self, cluster_id: str) -> dict[str, dict[str, dict[str, int]]]:
        with self._app.channel.cond:
            return copy.deepcopy(self._app.channel.statistics.get(cluster_id, {}))

    def heartbeat(self, cluster_id: str) -> dict[str, Any] | None:
        with self._app.channel.cond:
            hb = self._app.channel.heartbeats.get(cluster_id)
            return copy.deepcopy(hb[0]) if hb else None

    def cluster_status(self, cluster_id: str) -> dict[str, Any]:
        return self._app.channel.cluster_status(cluster_id)

    def traceflow_result(self, traceflow_id: str) -> dict[str, Any] | None:
        with self._app.channel.cond:
            res = self._app.channel.traceflow_results.get(f"/infra/antrea/traceflows/{traceflow_id}")
            return copy.deepcopy(res)

    def adapter_requests(self, cluster_id: str | None = None) -> list[dict[str, Any]]:
        """Troubleshooting requests with their state, result and archive digest."""
        with self._app.channel.cond:
            return [dict(r.wire(), cluster_id=r.cluster_id, state=r.state, delivered=r.delivered,
                         result=copy.deepcopy(r.result), archive_sha256=r.archive_sha256,
                         archive_size=len(r.archive) if r.archive is not None else None)
                    for r in self._app.channel.requests.values() if cluster_id in (None, r.cluster_id)]

    def archive(self, request_id: str) -> bytes | None:
        with self._app.channel.cond:
            req = self._app.channel.requests.get(request_id)
            return req.archive if req else None

    @property
    def principal_identities(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._app.auth.identities.by_id.values()))

    @property
    def requests(self) -> list[RequestRecord]:
        """Served requests, oldest first (status 0 = connection dropped)."""
        return list(self._app.log)

    def count_requests(self, method: str | None = None, path: str | None = None,
                       status: int | None = None) -> int:
        rx = re.compile(path) if path else None
        return sum(1 for r in list(self._app.log)
                   if (method is None or r.method == method.upper())
                   and (rx is None or rx.search(r.path))
                   and (status is None or r.status == status))

    @property
    def generation(self) -> int:
        """Bumped by every committed Policy write."""
        return self._app.store.generation
