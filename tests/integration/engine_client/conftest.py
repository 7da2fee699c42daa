"""Helpers for the client/informer tests: an event recorder and a quick back-off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.client import KubeClient
from reconciler.informer import SharedInformer
from reconciler.watcher import Backoff
from sim.kubeapi import KubeApiServer

CM = ("v1", "ConfigMap")


def configmap(name: str, namespace: str, data: dict[str, str] | None = None,
              labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace, **meta}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data or {}}


class Recorder:
    """Records informer callbacks as tuples and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        self._put(("add", obj["metadata"]["name"], is_initial_list, obj))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._put(("update", new["metadata"]["name"], old is new, new))

    def on_delete(self, obj: Any) -> None:
        self._put(("delete", obj, None, None))

    def _put(self, ev: tuple[Any, ...]) -> None:
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[tuple[Any, ...]], bool], timeout: float = 10.0) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event within {timeout}s; got {[e[:3] for e in self.events]}")
                self._cond.wait(left)

    def register(self, informer: SharedInformer) -> Recorder:
        informer.add_event_handler(self.on_add, self.on_update, self.on_delete)
        return self


def quick_backoff() -> Backoff:
    """Reflector back-off shrunk for tests (the defaults are checked in test_watcher_backoff)."""
    return Backoff(initial=0.05, cap=0.3)


@pytest.fixture
def informers() -> Iterator[list[SharedInformer]]:
    """Informers appended here are stopped after the test."""
    started: list[SharedInformer] = []
    yield started
    for inf in started:
        inf.stop()


@pytest.fixture
def start_informer(kube_client: KubeClient, informers: list[SharedInformer]) -> Callable[..., SharedInformer]:
    """``start_informer(resource, namespace=..., **kwargs)``: a started informer with quick back-off."""

    def make(resource: Any = CM, handler: Recorder | None = None, start: bool = True,
             **kwargs: Any) -> SharedInformer:
        kwargs.setdefault("backoff", quick_backoff())
        inf = SharedInformer(kube_client, resource, **kwargs)
        if handler is not None:
            handler.register(inf)
        informers.append(inf)
        if start:
            inf.start()
        return inf

    return make


@pytest.fixture
def recorder() -> Callable[[], Recorder]:
    """A factory of :class:`Recorder` (one per informer under test)."""
    return Recorder


@pytest.fixture
def make_cm() -> Callable[..., dict[str, Any]]:
    """``make_cm(name, namespace, data=None, labels=None, **metadata)``: a ConfigMap dict."""
    return configmap


@pytest.fixture
def tls_rbac_server(tmp_path: Path) -> Iterator[tuple[KubeApiServer, Path]]:
    """An API server of its own with TLS and RBAC on (unknown tokens get 401)."""
    server = KubeApiServer(rbac=True, tls=True).start()
    try:
        yield server, server.write_kubeconfig(tmp_path / "kubeconfig")
    finally:
        server.stop()
