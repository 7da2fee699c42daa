"""Desired vs observed state → the minimal set of writes, and their ordered, bounded execution.

:func:`plan` is pure: it compares only the fields the writer owns and yields creates, minimal JSON
merge patches (RFC 7386) and deletes. :func:`apply` executes a plan through any :class:`Writer`
with rank barriers and bounded concurrency: threads, or for a rank of many creates the writer's
``create_many`` (multiplexed from one thread, :mod:`reconciler._multiplex`). The two together give
the engine's central promise (spec §3.4 rule 8, §4.6): when nothing drifted, a resync issues
**zero** writes.

Which fields are compared (the default :func:`owned_fields` projection):

* everything at the top level except ``apiVersion``/``kind`` (identity, not state) and ``status``
  (the status subresource is written separately, by whoever owns it);
* of ``metadata``, only the keys the desired object sets, minus those the server populates
  (``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``, ``managedFields``,
  ``selfLink``, ``deletionTimestamp``, ``deletionGracePeriodSeconds``) — so ``ownerReferences`` and
  ``finalizers`` are compared only when desired sets them;
* of ``labels``/``annotations``, only the keys desired sets: other tools may add their own.

Values are compared as JSON: ``true`` never equals ``1``, while ``1`` equals ``1.0`` (the server may
normalise either way, and treating them as different would patch forever). ``None`` in a desired
object means "absent" — a merge patch cannot store a null. deepdiff explains a drift
(:attr:`Update.diff`) but the comparison itself is a one-pass type-aware walk: deepdiff costs
~0.7 ms per ConfigMap-sized object, which would make a 2,000-object no-op resync cost seconds.

Known limit: a label or annotation the desired state *stopped* setting is not removed (there is no
record of what was set before; Flux keeps an inventory for that). Drop it explicitly with ``None``
in a custom projection, or delete and recreate.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from reconciler.errors import NotFound

__all__ = [
    "SERVER_POPULATED_METADATA",
    "Conflict",
    "Key",
    "Outcome",
    "Plan",
    "Projection",
    "Update",
    "Writer",
    "apply",
    "desired_fields_only",
    "merge_patch",
    "owned_fields",
    "plan",
]

Key = Hashable
"""Whatever identifies an object for the caller: ``"ns/name"``, ``(kind, ns, name)``, an NSX path."""

K = TypeVar("K", bound=Hashable)

Projection = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
"""``(desired, observed) → (desired view, observed view)``: the parts of each the writer owns."""

SERVER_POPULATED_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
"""Metadata the API server writes; never compared, never patched."""

_PER_KEY_METADATA = ("labels", "annotations")
# Identity (apiVersion/kind), the separately written status, and metadata (projected on its own).
_NOT_COMPARED_AS_IS = frozenset({"apiVersion", "kind", "status", "metadata"})


# ---------------------------------------------------------------------------------- the plan


@dataclass
class Update:
    """One drifted object: ``patch`` turns ``observed`` into ``desired`` on the owned fields.

    ``patch`` is a minimal JSON merge patch carrying ``metadata.resourceVersion`` of the observed
    object, so the server refuses it (409 Conflict) if the object changed since it was observed —
    a stale cache can never overwrite a newer write.
    """

    key: Key
    patch: dict[str, Any]
    desired: dict[str, Any]
    observed: dict[str, Any]

    @property
    def diff(self) -> dict[str, Any]:
        """What drifted, as deepdiff reports it (owned fields only; computed on demand for logs)."""
        # Imported here: deepdiff (and numpy, when installed) is a fifth of the adapter's start-up
        # imports, and only a drift being logged needs it.
        from deepdiff import DeepDiff

        want, have = owned_fields(self.desired, self.observed)
        return dict(DeepDiff(have, want, ignore_numeric_type_changes=True))


@dataclass
class Conflict:
    """A desired key held by an object this writer does not own: reported, never written."""

    key: Key
    desired: dict[str, Any]
    observed: dict[str, Any]


@dataclass
class Plan:
    """Writes that make observed equal desired. ``create_keys``/``delete_keys`` run parallel to
    ``create``/``delete`` (kept separate so the lists stay plain objects, as the writer wants)."""

    create: list[dict[str, Any]] = field(default_factory=list)
    update: list[Update] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    pending: list[Key] = field(default_factory=list)
    """Desired keys whose observed object is being deleted (``deletionTimestamp`` set): neither
    patched nor recreated until it is gone — requeue, or let its delete event trigger the next plan."""
    create_keys: list[Key] = field(default_factory=list)
    delete_keys: list[Key] = field(default_factory=list)

    def empty(self) -> bool:
        """No write to issue (conflicts are not writes)."""
        return not (self.create or self.update or self.delete)

    def __len__(self) -> int:
        """Number of writes."""
        return len(self.create) + len(self.update) + len(self.delete)

    def creates(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        return _keyed(self.create, self.create_keys)

    def deletes(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        return _keyed(self.delete, self.delete_keys)

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.create),
            "update": len(self.update),
            "delete": len(self.delete),
            "conflict": len(self.conflicts),
            "pending": len(self.pending),
        }


def _keyed(objs: list[dict[str, Any]], keys: list[Key]) -> Iterator[tuple[Key, dict[str, Any]]]:
    if len(keys) == len(objs):
        return zip(keys, objs, strict=True)
    return ((_object_key(o), o) for o in objs)  # lists edited by hand: fall back to identity


def _object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def plan(
    desired: Mapping[K, dict[str, Any]],
    observed: Mapping[K, dict[str, Any]],
    *,
    owned: Callable[[dict[str, Any]], bool] | None = None,
    compare: Projection | None = None,
    prune: bool = True,
) -> Plan:
    """Compare the desired and observed objects of one scope, by key.

    ``owned`` (default: every observed object is owned) filters observed objects: one failing it is
    never updated nor deleted, and a desired key that collides with it becomes a
    :class:`Conflict`. ``compare`` (default :func:`owned_fields`) chooses the compared fields.
    ``prune`` (default on) deletes owned observed objects whose key is not desired; objects already
    terminating (``deletionTimestamp`` set) are not deleted again, and a desired object whose
    observed one is terminating goes to :attr:`Plan.pending`, not to ``update``. Creates carry the
    desired object without server-populated metadata.
    """
    project = compare or owned_fields
    result = Plan()
    for key, want in desired.items():
        have = observed.get(key)
        if have is None:
            result.create.append(_for_create(want))
            result.create_keys.append(key)
            continue
        if owned is not None and not owned(have):
            result.conflicts.append(Conflict(key, want, have))
            continue
        if (have.get("metadata") or {}).get("deletionTimestamp"):
            result.pending.append(key)  # recreated once it is gone; patching it would be lost
            continue
        want_view, have_view = project(want, have)
        patch = merge_patch(have_view, want_view)
        if patch:
            rv = (have.get("metadata") or {}).get("resourceVersion")
            if rv is not None:
                patch.setdefault("metadata", {})["resourceVersion"] = rv
            result.update.append(Update(key, patch, want, have))
    if prune:
        for key, have in observed.items():
            if key in desired or (owned is not None and not owned(have)):
                continue
            if (have.get("metadata") or {}).get("deletionTimestamp"):
                continue
            result.delete.append(have)
            result.delete_keys.append(key)
    return result


def _for_create(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without server-populated metadata (the server refuses a create carrying a
    resourceVersion); copied only when something must go, since creates are usually clean."""
    meta = obj.get("metadata") or {}
    if not any(k in meta for k in SERVER_POPULATED_METADATA):
        return obj
    clean = dict(obj)
    clean["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_POPULATED_METADATA}
    return clean


def owned_fields(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The default projection (see the module docstring for the rules)."""
    want: dict[str, Any] = {}
    have: dict[str, Any] = {}
    for k, v in desired.items():
        if k in _NOT_COMPARED_AS_IS or v is None:
            continue
        want[k] = v
    for k, v in observed.items():
        if k in _NOT_COMPARED_AS_IS or v is None:
            continue
        have[k] = v
    want_meta: dict[str, Any] = {}
    have_meta: dict[str, Any] = {}
    desired_meta = desired.get("metadata") or {}
    observed_meta = observed.get("metadata") or {}
    for k, v in desired_meta.items():
        if k in SERVER_POPULATED_METADATA or v is None:
            continue
        if k in _PER_KEY_METADATA and isinstance(v, Mapping):
            theirs = observed_meta.get(k) or {}
            want_meta[k] = {lk: lv for lk, lv in v.items() if lv is not None}
            have_meta[k] = {lk: theirs[lk] for lk in v if lk in theirs}
            continue
        want_meta[k] = v
        if k in observed_meta:
            have_meta[k] = observed_meta[k]
    if want_meta or have_meta:
        want["metadata"] = want_meta
        have["metadata"] = have_meta
    return want, have


def desired_fields_only(
    desired: Mapping[str, Any], observed: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A looser projection: like :func:`owned_fields`, but fields present only in ``observed`` (at
    any depth) are ignored — for kinds whose server fills in defaults (a Service's ``clusterIP``, a
    CRD's schema defaults) that the desired object leaves out. The price: a field someone else
    *added* is not removed.
    """
    want, have = owned_fields(desired, observed)
    return want, _restrict(have, want)


def _restrict(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, want in desired.items():
        if k not in observed:
            continue
        have = observed[k]
        out[k] = _restrict(have, want) if isinstance(have, Mapping) and isinstance(want, Mapping) else have
    return out


def merge_patch(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The minimal RFC 7386 merge patch turning ``observed`` into ``desired`` (``{}`` if equal).

    Keys only in ``observed`` become ``null``; nested objects recurse; lists and scalars that
    differ are replaced whole (merge patches cannot address list items). ``None`` values in
    ``desired`` count as absent.
    """
    # Hot path of every resync (thousands of objects): dispatch on concrete types first, since
    # isinstance() against the Mapping ABC costs more than the comparison itself.
    patch: dict[str, Any] = {}
    for k, want in desired.items():
        if want is None:
            if observed.get(k) is not None:
                patch[k] = None
            continue
        have = observed.get(k, _MISSING)
        if have is _MISSING:
            patch[k] = want
            continue
        if type(want) is str:
            if type(have) is not str or have != want:
                patch[k] = want
        elif _is_mapping(want) and _is_mapping(have):
            sub = merge_patch(have, want)
            if sub:
                patch[k] = sub
        elif not _json_equal(have, want):
            patch[k] = want
    for k, have in observed.items():
        if have is not None and k not in desired:
            patch[k] = None
    return patch


_MISSING: Any = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})
_NUMBERS = frozenset({int, float})


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)


def _is_sequence(x: Any) -> bool:
    return type(x) is list or type(x) is tuple


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: bool is not a number; int and float compare numerically."""
    ta, tb = type(a), type(b)
    if ta is tb and ta in _SCALARS:
        return bool(a == b)
    if ta is bool or tb is bool:
        return False  # True == 1 in Python, never in JSON
    if ta in _NUMBERS and tb in _NUMBERS:
        return bool(a == b)
    if _is_mapping(a):
        if not _is_mapping(b) or a.keys() != b.keys():
            return False
        return all(_json_equal(v, b[k]) for k, v in a.items())
    if _is_sequence(a):
        if not _is_sequence(b) or len(a) != len(b):
            return False
        return all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if _is_mapping(b) or _is_sequence(b):
        return False
    return bool(a == b)


# --------------------------------------------------------------------------------- execution


class Writer(Protocol):
    """Writes single objects (``obj`` carries apiVersion/kind/metadata). Raise on failure.

    The API client's ``KubeClient.writer()`` implements it; tests use an in-memory fake.
    """

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, obj: dict[str, Any]) -> None: ...

    # Optional: ``create_many(objs, connections) -> list[dict | Exception | None] | None``, many
    # creates at once (see ``ObjectWriter.create_many``); ``apply`` uses it when present.


Action = Literal["create", "update", "delete"]


@dataclass
class Outcome:
    """The result of one write (or, with ``dry_run``, of one write that would have been issued)."""

    action: Action
    key: Key
    ok: bool
    error: Exception | None = None
    result: dict[str, Any] | None = None
    """The object the server returned (create/update), when the writer returns one."""
    dry_run: bool = False


@dataclass
class _Write:
    action: Action
    key: Key
    obj: dict[str, Any]
    patch: dict[str, Any] | None = None


def apply(
    plan: Plan,
    writer: Writer,
    *,
    concurrency: int = 8,
    rank: Callable[[dict[str, Any]], int] | None = None,
    dry_run: bool = False,
) -> list[Outcome]:
    """Execute ``plan`` through ``writer``: one :class:`Outcome` per write, in execution order.

    Ordering: creates and updates first, rank by rank in **ascending** order ("create tiers before
    the policies that use them"); then deletes in **descending** rank ("delete policies before their
    tiers"). Each rank is a barrier: nothing of the next rank starts before the current one ended.
    ``rank`` defaults to one rank for everything. Within a rank up to ``concurrency`` (default 8)
    writes run in parallel.

    Failures are collected, never raised: one failed write does not stop the others — including
    later ranks that depend on it (their own write will fail, or succeed and converge on the next
    resync; skipping them would need a dependency graph the plan does not have). A 409 Conflict
    from a stale ``resourceVersion`` is an ordinary failure: requeue and re-plan from a fresh cache.
    A delete answered with 404 is a success (the goal is reached).

    ``dry_run`` (default off) issues nothing and returns ``ok`` outcomes marked ``dry_run``.
    """
    rank_of = rank or (lambda _obj: 0)
    forward: dict[int, list[_Write]] = {}
    for key, obj in plan.creates():
        forward.setdefault(rank_of(obj), []).append(_Write("create", key, obj))
    for upd in plan.update:
        forward.setdefault(rank_of(upd.desired), []).append(_Write("update", upd.key, upd.observed, upd.patch))
    backward: dict[int, list[_Write]] = {}
    for key, obj in plan.deletes():
        backward.setdefault(rank_of(obj), []).append(_Write("delete", key, obj))
    batches = [forward[r] for r in sorted(forward)] + [backward[r] for r in sorted(backward, reverse=True)]

    if dry_run:
        return [Outcome(w.action, w.key, ok=True, dry_run=True) for batch in batches for w in batch]

    outcomes: list[Outcome] = []
    for batch in batches:
        outcomes.extend(_run_batch(writer, batch, concurrency))
    return outcomes


def _run_batch(writer: Writer, batch: list[_Write], concurrency: int) -> list[Outcome]:
    """Run one rank's writes with up to ``concurrency`` in flight; outcomes in ``batch`` order.

    More creates than writers go out multiplexed from this thread when the writer can
    (``create_many``, see :mod:`reconciler._multiplex`): each comes back created, failed, or
    ``None`` to be sent again one by one. Those, and every other batch, run on threads, one
    request each."""
    workers = max(1, min(concurrency, len(batch)))
    create_many = getattr(writer, "create_many", None)
    if create_many is not None and len(batch) > workers and all(w.action == "create" for w in batch):
        try:
            created = create_many([w.obj for w in batch], workers)
        except Exception:  # never lose the batch: the single-request path reports what is wrong
            created = None
        if created is not None:
            done = [None if r is None else Outcome("create", w.key, ok=False, error=r) if isinstance(r, Exception)
                    else Outcome("create", w.key, ok=True, result=r) for w, r in zip(batch, created, strict=True)]
            again = iter(_run_threads(writer, [w for w, o in zip(batch, done, strict=True) if o is None], workers))
            return [o if o is not None else next(again) for o in done]
    return _run_threads(writer, batch, workers)


def _run_threads(writer: Writer, batch: list[_Write], workers: int) -> list[Outcome]:
    """``batch`` on up to ``workers`` threads, one request each; outcomes in ``batch`` order.

    Plain threads pulling the next index from a shared counter, not an executor: a
    ``ThreadPoolExecutor.map`` costs a future, a work item and a condition variable per write —
    tens of microseconds of GIL-held time each, competing with the writes themselves."""
    workers = max(1, min(workers, len(batch)))
    if workers == 1:
        return [_execute(writer, w) for w in batch]
    results: list[Outcome | None] = [None] * len(batch)
    indices = itertools.count()  # next() on a count is atomic under the GIL
    failures: list[BaseException] = []

    def work() -> None:
        try:
            while (i := next(indices)) < len(batch):
                results[i] = _execute(writer, batch[i])
        except BaseException as exc:  # _execute keeps Exceptions; anything else goes to the caller
            failures.append(exc)

    threads = [threading.Thread(target=work, name=f"planner-apply-{n}", daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def _execute(writer: Writer, write: _Write) -> Outcome:
    try:
        if write.action == "create":
            return Outcome("create", write.key, ok=True, result=writer.create(write.obj))
        if write.action == "update":
            assert write.patch is not None
            return Outcome("update", write.key, ok=True, result=writer.patch(write.obj, write.patch))
        writer.delete(write.obj)
        return Outcome("delete", write.key, ok=True)
    except NotFound as exc:
        if write.action == "delete":
            return Outcome("delete", write.key, ok=True)
        return Outcome(write.action, write.key, ok=False, error=exc)
    except Exception as exc:  # one failure must not stop the rest of the plan
        return Outcome(write.action, write.key, ok=False, error=exc)
