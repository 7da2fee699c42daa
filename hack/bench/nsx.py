"""Benchmark of the NSX client against the NSX simulator over HTTPS.

1. List 1,000 security policies x 10 rules through ``NsxClient`` (paged, parsed into models) and
   compare with a bare ``requests`` loop fetching the same pages (JSON decode only).
2. Report 10,000 inventory objects through ``?action=updates`` batches (objects/s).

The simulator runs in its own process (so it does not share the client's GIL) and its per-client
rate limit (default 100 rps) and concurrency cap are raised for this benchmark only, so the figures
measure the client, not NSX's throttling.

Last line of output: one JSON object with every figure.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nsx import BasicAuth, NsxClient, TlsSettings
from nsx.models import (
    ContainerApplicationInstance,
    ContainerCluster,
    ContainerInventoryObject,
    Rule,
    SecurityPolicy,
)
from nsx.models.inventory import ContainerInfrastructureInfo
from sim.nsx import NsxSimulator

POLICIES = 1_000
RULES = 10
INVENTORY_OBJECTS = 10_000
REPEATS = 3
POLICIES_URL = "/policy/api/v1/infra/domains/default/security-policies"


def _seed_policies(client: NsxClient) -> None:
    chunk = 100
    for start in range(0, POLICIES, chunk):
        children = []
        for n in range(start, min(start + chunk, POLICIES)):
            policy = SecurityPolicy(
                id=f"bench-{n:04d}", category="Application", sequence_number=n,
                children=[{"resource_type": "ChildRule", "Rule": Rule(
                    id=f"r{r}", sequence_number=r, action="ALLOW", source_groups=["ANY"],
                    destination_groups=["ANY"], services=["/infra/services/HTTP"],
                    scope=["ANY"]).to_wire()} for r in range(RULES)],
            )
            children.append({"resource_type": "ChildSecurityPolicy", "SecurityPolicy": policy.to_wire()})
        client.policy.patch_infra({"resource_type": "Infra", "children": [
            {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
             "children": children}]})


def _bare_list(session: requests.Session, base_url: str) -> int:
    """The floor: the same pages with a plain keep-alive session, JSON-decoded, nothing else."""
    params: dict[str, str] = {}
    count = 0
    while True:
        page = session.get(base_url + POLICIES_URL, params=params, timeout=60).json()
        count += len(page.get("results", []))
        if not page.get("cursor"):
            return count
        params["cursor"] = page["cursor"]


@dataclass(frozen=True)
class _Sim:
    url: str
    ca_file: str
    username: str
    password: str


def _serve(started: Any, stop: Any) -> None:
    """Child process: run the simulator until told to stop (spawned, so it imports afresh)."""
    with NsxSimulator(tls=True, rate_limit_rps=1_000_000.0, max_concurrent=10_000) as sim:
        started.put(_Sim(sim.url, str(sim.ca_file), sim.username, sim.password or ""))
        stop.wait()


@contextmanager
def _simulator_process() -> Iterator[_Sim]:
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Queue()
    stop = ctx.Event()
    process = ctx.Process(target=_serve, args=(started, stop), daemon=True)
    process.start()
    try:
        yield started.get(timeout=60)
    finally:
        stop.set()
        process.join(timeout=10)


def _bare_session(sim: _Sim) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # same trust as the client: the simulator's CA, not REQUESTS_CA_BUNDLE
    session.auth = (sim.username, sim.password or "")
    session.verify = sim.ca_file
    return session


def _timed_round_robin(fns: dict[str, Callable[[], int]]) -> dict[str, tuple[float, int]]:
    """Median time of each function, run interleaved so drift in the simulator hits all alike."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    counts: dict[str, int] = {}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            started = time.perf_counter()
            counts[name] = fn()
            runs[name].append(time.perf_counter() - started)
    return {name: (statistics.median(runs[name]), counts[name]) for name in fns}


def main() -> None:
    # As deployed: INFO and above (per-request DEBUG lines would measure the terminal, not the client).
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    with _simulator_process() as sim:
        client = NsxClient([sim.url], BasicAuth(sim.username, sim.password),
                           tls=TlsSettings(ca_file=sim.ca_file))
        _seed_policies(client)

        def typed() -> int:
            return sum(len(p.rules or []) > 0 for p in client.policy.list_security_policies())

        def raw() -> int:
            return sum(1 for _ in client.list(POLICIES_URL))

        bare = _bare_session(sim)
        timings = _timed_round_robin({"bare": lambda: _bare_list(bare, sim.url), "raw": raw, "typed": typed})
        bare.close()
        (bare_s, bare_n), (raw_s, raw_n), (typed_s, typed_n) = (
            timings["bare"], timings["raw"], timings["typed"])
        assert bare_n == raw_n >= POLICIES and typed_n >= POLICIES, (bare_n, raw_n, typed_n)

        # Client-side cost alone (no HTTP): parse the same pages into models, serialize the batch.
        raw_items = list(client.list(POLICIES_URL))
        started = time.perf_counter()
        for item in raw_items:
            SecurityPolicy.model_validate(item)
        parse_s = time.perf_counter() - started

        cluster_id = str(uuid.uuid4())
        client.registration.create_container_cluster(ContainerCluster(
            external_id=cluster_id, display_name="bench", cluster_type="Kubernetes", cni_type="Antrea",
            infrastructure=ContainerInfrastructureInfo(infra_type="vSphere")))
        updates = [ContainerInventoryObject(object_update_type="CREATE", container_object=(
            ContainerApplicationInstance(external_id=f"pod-{n}", display_name=f"pod-{n}",
                                         container_cluster_id=cluster_id, container_project_id="ns",
                                         status="UP"))) for n in range(INVENTORY_OBJECTS)]
        started = time.perf_counter()
        for update in updates:
            update.to_wire()
        serialize_s = time.perf_counter() - started
        started = time.perf_counter()
        batches = client.inventory.update(cluster_id, updates, batch_size=1000)
        inventory_s = time.perf_counter() - started
        stored = sum(1 for _ in client.inventory.list_kind(ContainerApplicationInstance, cluster_id))
        assert stored == INVENTORY_OBJECTS, stored
        client.close()

    figures = {
        "policies": POLICIES, "rules_per_policy": RULES, "repeats": REPEATS,
        "bare_requests_list_s": round(bare_s, 4),
        "client_raw_list_s": round(raw_s, 4),
        "client_typed_list_s": round(typed_s, 4),
        "client_raw_over_bare": round(raw_s / bare_s, 3),
        "client_typed_over_bare": round(typed_s / bare_s, 3),
        "typed_parse_only_s": round(parse_s, 4),
        "inventory_objects": INVENTORY_OBJECTS, "inventory_batches": batches,
        "inventory_serialize_only_s": round(serialize_s, 4),
        "inventory_s": round(inventory_s, 4),
        "inventory_objects_per_s": round(INVENTORY_OBJECTS / inventory_s, 1),
        "sim_rate_limit_raised": True,
    }
    print(f"NSX client benchmark (simulator in its own process over HTTPS, rate limit raised for the "
          f"benchmark; median of {REPEATS})")
    print(f"{'measure':<46}{'value':>14}")
    print(f"{'list 1,000 policies x 10 rules, bare requests':<46}{bare_s * 1000:>11.1f} ms")
    print(f"{'  ... NsxClient, dicts':<46}{raw_s * 1000:>11.1f} ms")
    print(f"{'  ... NsxClient, typed models':<46}{typed_s * 1000:>11.1f} ms")
    print(f"{'  ratio client dicts / bare':<46}{raw_s / bare_s:>14.3f}")
    print(f"{'  ratio client typed / bare':<46}{typed_s / bare_s:>14.3f}")
    print(f"{'  model parsing alone (no HTTP)':<46}{parse_s * 1000:>11.1f} ms")
    print(f"{'inventory: 10,000 objects in batches of 1,000':<46}{inventory_s * 1000:>11.1f} ms")
    print(f"{'  serializing the 10,000 alone (no HTTP)':<46}{serialize_s * 1000:>11.1f} ms")
    print(f"{'  objects/s':<46}{INVENTORY_OBJECTS / inventory_s:>14.1f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
