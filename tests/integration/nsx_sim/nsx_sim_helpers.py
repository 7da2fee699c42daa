"""Helpers of the simulator tests: constants, a ``requests`` wrapper, object builders.

Sessions set ``trust_env = False``: otherwise ``REQUESTS_CA_BUNDLE`` from the environment silently
replaces ``session.verify`` and the simulator's CA would not be used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from sim.nsx import NsxSimulator

PASSWORD = "Adm1n-Pa55-for-the-sim!"
POLICY = "/policy/api/v1"
DOMAIN = f"{POLICY}/infra/domains/default"
CCP = f"{POLICY}/infra/sites/default/enforcement-points/default/cluster-control-planes"
CCP_PATH = "/infra/sites/default/enforcement-points/default/cluster-control-planes"


class Api:
    """A thin requests wrapper that prefixes the simulator URL."""

    def __init__(self, sim: NsxSimulator, auth: Any = "basic") -> None:
        self.sim = sim
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.verify = str(sim.ca_file) if sim.tls else False
        if auth == "basic":
            self.s.auth = (sim.username, sim.password)

    def __getattr__(self, verb: str) -> Callable[..., requests.Response]:
        if verb not in ("get", "put", "patch", "post", "delete", "head"):
            raise AttributeError(verb)

        def call(path: str, **kw: Any) -> requests.Response:
            kw.setdefault("timeout", 30)
            return self.s.request(verb.upper(), self.sim.url + path, **kw)

        return call


def antrea_group(gid: str, value: str = "app|web") -> dict[str, Any]:
    return {"resource_type": "Group", "display_name": gid, "group_type": ["ANTREA"],
            "expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag",
                            "operator": "EQUALS", "value": value}]}


def rule(rid: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resource_type": "Rule", "id": rid, "source_groups": ["ANY"],
                            "destination_groups": ["ANY"], "services": ["ANY"], "action": "ALLOW"}
    body.update(kw)
    return body


def register_cluster(api: Api, cid: str) -> dict[str, Any]:
    r = api.put(f"{CCP}/{cid}", json={"resource_type": "ClusterControlPlane", "display_name": cid})
    assert r.status_code == 200, r.text
    return dict(r.json())
