"""The few kube-controller-manager / apiextensions controllers whose effects tests observe.

* namespace controller: a Terminating namespace is emptied, then its ``kubernetes`` finalizer is
  dropped and it disappears;
* CRD cleanup: a deleted CRD's objects are deleted, then the CRD (and its endpoints) go away;
* garbage collector: when an owner disappears, dependents whose owners are all gone are deleted
  (background); dependents that still have a live owner just lose the dangling reference; a
  ``foregroundDeletion`` owner waits for its dependents; an object written with owner references
  that all point at absent objects is collected too.

All of it runs on one background thread fed by store events, so API calls return before the
cascade finishes, as on a real cluster (tests poll).
"""

from __future__ import annotations

import json
import logging
import queue
import threading

from . import crd as crds
from .deletion import FOREGROUND, delete_object, remove_object
from .state import State
from .storage import Event

log = logging.getLogger(__name__)
_NS_KEY = ("", "namespaces")
_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_STOP = ("stop", "")


class Controllers:
    def __init__(self, state: State) -> None:
        self.state = state
        self._queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        state.kick = self.kick
        state.store.add_listener(self._on_event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kubeapi-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(5)
            self._thread = None

    def kick(self, task: tuple[str, str]) -> None:
        self._queue.put(task)

    # called under the store lock: only enqueue
    def _on_event(self, event: Event) -> None:
        if event.type != "DELETED":
            md = event.new.obj["metadata"]
            if md.get("ownerReferences"):
                self.kick(("dependent", md["uid"]))
            return
        md = event.new.obj["metadata"]
        self.kick(("owner", md.get("uid", "")))
        for ref in md.get("ownerReferences") or []:
            if ref.get("uid"):
                self.kick(("foreground", ref["uid"]))
        if event.namespace:
            self.kick(("namespace", event.namespace))
        if not self.state.registry.is_builtin_group(event.key[0]):
            self.kick(("crd", f"{event.key[1]}.{event.key[0]}"))

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task == _STOP:
                return
            try:
                with self.state.store.lock:
                    getattr(self, "_sync_" + task[0])(task[1])
            except Exception:  # a controller must survive one bad object
                log.exception("controller task %s failed", task)

    def _sync_namespace(self, name: str) -> None:
        store = self.state.store
        ns = store.get(_NS_KEY, "", name)
        if ns is None or not ns.obj["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        seen: set[tuple[str, str]] = set()
        for rt in self.state.registry.all():
            if not rt.namespaced or rt.storage_key in seen:
                continue
            seen.add(rt.storage_key)
            stored_type = self.state.type_for_key(rt.storage_key) or rt
            for obj in store.items(rt.storage_key, name):
                remaining += 1
                if not obj.obj["metadata"].get("deletionTimestamp"):
                    delete_object(self.state, stored_type, obj, {})
        still = sum(len(store.items(k, name)) for k in seen)
        if remaining and still:
            return
        ns = store.get(_NS_KEY, "", name)
        if ns is None:
            return
        new = json.loads(json.dumps(ns.obj))
        spec_finalizers = [f for f in (new.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
        new.setdefault("spec", {})["finalizers"] = spec_finalizers
        if not spec_finalizers:
            new["spec"].pop("finalizers")
        if new != ns.obj:
            store.commit(_NS_KEY, new, "MODIFIED")
        if not spec_finalizers and not new["metadata"].get("finalizers"):
            ns_type = self.state.type_for_key(_NS_KEY)
            assert ns_type is not None
            remove_object(self.state, ns_type, "", name)

    def _sync_crd(self, name: str) -> None:
        store = self.state.store
        crd = store.get(_CRD_KEY, "", name)
        if crd is None or not crd.obj["metadata"].get("deletionTimestamp"):
            return
        spec = crd.obj["spec"]
        key = (spec["group"], spec["names"]["plural"])
        rt = self.state.type_for_key(key)
        objects = store.items(key)
        if rt is not None:
            for obj in objects:
                if not obj.obj["metadata"].get("deletionTimestamp"):
                    delete_object(self.state, rt, obj, {})
        if store.items(key):
            return
        crd = store.get(_CRD_KEY, "", name)
        if crd is None:
            return
        new = json.loads(json.dumps(crd.obj))
        finalizers = [f for f in new["metadata"].get("finalizers") or [] if f != crds.CLEANUP_FINALIZER]
        crd_type = self.state.type_for_key(_CRD_KEY)
        assert crd_type is not None
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
            store.commit(_CRD_KEY, new, "MODIFIED")
        else:
            new["metadata"].pop("finalizers", None)
            store.commit(_CRD_KEY, new, "MODIFIED")
            remove_object(self.state, crd_type, "", name)

    def _sync_owner(self, uid: str) -> None:
        store = self.state.store
        if not uid or store.find_uid(uid) is not None:
            return
        for key, ns, name in sorted(store.dependents_of([uid])):
            dep = store.get(key, ns, name)
            rt = self.state.type_for_key(key)
            if dep is None or rt is None:
                continue
            refs = dep.obj["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if store.find_uid(r.get("uid", "")) is not None]
            if not alive:
                if not dep.obj["metadata"].get("deletionTimestamp"):
                    delete_object(self.state, rt, dep, {"propagationPolicy": "Background"})
            else:
                new = json.loads(json.dumps(dep.obj))
                new["metadata"]["ownerReferences"] = alive
                store.commit(key, new, "MODIFIED")

    def _sync_dependent(self, uid: str) -> None:
        """An object whose owners are all absent (never existed, or went while it was being
        created) is collected too, as the real GC does after checking the owners."""
        store = self.state.store
        where = store.find_uid(uid)
        if where is None:
            return
        key, ns, name = where
        dep = store.get(key, ns, name)
        rt = self.state.type_for_key(key)
        if dep is None or rt is None or dep.obj["metadata"].get("deletionTimestamp"):
            return
        refs = dep.obj["metadata"].get("ownerReferences") or []
        if refs and all(store.find_uid(r.get("uid", "")) is None for r in refs):
            delete_object(self.state, rt, dep, {"propagationPolicy": "Background"})

    def _sync_foreground(self, uid: str) -> None:
        store = self.state.store
        where = store.find_uid(uid)
        if where is None:
            return
        key, ns, name = where
        owner = store.get(key, ns, name)
        rt = self.state.type_for_key(key)
        if owner is None or rt is None:
            return
        md = owner.obj["metadata"]
        if not md.get("deletionTimestamp") or FOREGROUND not in (md.get("finalizers") or []):
            return
        deps = store.dependents_of([uid])
        for dkey, dns, dname in sorted(deps):
            dep = store.get(dkey, dns, dname)
            drt = self.state.type_for_key(dkey)
            if dep is not None and drt is not None and not dep.obj["metadata"].get("deletionTimestamp"):
                delete_object(self.state, drt, dep, {"propagationPolicy": "Foreground"})
        if store.dependents_of([uid]):
            return
        new = json.loads(json.dumps(owner.obj))
        finalizers = [f for f in new["metadata"].get("finalizers") or [] if f != FOREGROUND]
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
            store.commit(key, new, "MODIFIED")
        else:
            new["metadata"].pop("finalizers", None)
            store.commit(key, new, "MODIFIED")
            remove_object(self.state, rt, ns, name)
