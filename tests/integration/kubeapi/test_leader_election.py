"""The official client's LeaseLock leader election against coordination.k8s.io/v1 Leases."""

from __future__ import annotations

import threading
import uuid

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock


def test_lease_lock_election(api, ns, kapi):
    name = f"lock-{uuid.uuid4().hex[:6]}"
    led = threading.Event()
    done = threading.Event()

    def on_started():
        led.set()
        done.wait(10)
        raise RuntimeError("test over: stop leading")  # the elector stops renewing when this raises

    lock = LeaseLock(name, ns, "candidate-a")
    lock.api_instance = client.CoordinationV1Api(api)  # LeaseLock builds its API from the default config
    cfg = electionconfig.Config(lock, lease_duration=3, renew_deadline=2, retry_period=1,
                                onstarted_leading=on_started, onstopped_leading=lambda: None)
    elector = leaderelection.LeaderElection(cfg)
    thread = threading.Thread(target=elector.run, daemon=True)
    thread.start()
    assert led.wait(5)
    lease = client.CoordinationV1Api(api).read_namespaced_lease(name, ns)
    assert lease.spec.holder_identity == "candidate-a"
    first_rv = lease.metadata.resource_version
    puts = kapi.count_requests("PUT", rf"/namespaces/{ns}/leases/{name}$")
    led.clear()
    threading.Event().wait(1.3)  # one renewal (a PUT with the read resourceVersion)
    renewed = client.CoordinationV1Api(api).read_namespaced_lease(name, ns)
    assert renewed.metadata.resource_version != first_rv
    assert kapi.count_requests("PUT", rf"/namespaces/{ns}/leases/{name}$") > puts
    # a competitor with a stale resourceVersion loses with 409
    stale = client.V1Lease(metadata=client.V1ObjectMeta(name=name, namespace=ns, resource_version=first_rv),
                           spec=client.V1LeaseSpec(holder_identity="intruder"))
    try:
        client.CoordinationV1Api(api).replace_namespaced_lease(name, ns, stale)
        raise AssertionError("stale replace should conflict")
    except client.ApiException as exc:
        assert exc.status == 409
    finally:
        done.set()
        thread.join(5)
    assert not thread.is_alive()
