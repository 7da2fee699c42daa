"""Predicates: filter events before a handler sees them (controller-runtime ``pkg/predicate``).

A predicate answers, per event type, "is this event worth a reconcile?". All predicates given to
``Controller.watches`` must agree (AND); combine with :func:`or_` and :func:`not_` for anything
else. Predicates only save work: a reconciler must stay correct if every event got through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.source import CreateEvent, DeleteEvent, GenericEvent, Obj, UpdateEvent


class Predicate:
    """Base predicate: lets every event through. Override the event types you filter."""

    def create(self, event: CreateEvent) -> bool:
        return True

    def update(self, event: UpdateEvent) -> bool:
        return True

    def delete(self, event: DeleteEvent) -> bool:
        return True

    def generic(self, event: GenericEvent) -> bool:
        return True


class Funcs(Predicate):
    """A predicate built from callables; an event type without a callable passes (``predicate.Funcs``)."""

    def __init__(
        self,
        create: Callable[[CreateEvent], bool] | None = None,
        update: Callable[[UpdateEvent], bool] | None = None,
        delete: Callable[[DeleteEvent], bool] | None = None,
        generic: Callable[[GenericEvent], bool] | None = None,
    ) -> None:
        self._create = create
        self._update = update
        self._delete = delete
        self._generic = generic

    def create(self, event: CreateEvent) -> bool:
        return self._create is None or bool(self._create(event))

    def update(self, event: UpdateEvent) -> bool:
        return self._update is None or bool(self._update(event))

    def delete(self, event: DeleteEvent) -> bool:
        return self._delete is None or bool(self._delete(event))

    def generic(self, event: GenericEvent) -> bool:
        return self._generic is None or bool(self._generic(event))


def new_predicate_funcs(keep: Callable[[Obj], bool]) -> Funcs:
    """One object filter applied to every event type; updates are judged on the new object
    (``predicate.NewPredicateFuncs``)."""
    return Funcs(
        create=lambda e: keep(e.obj),
        update=lambda e: keep(e.new),
        delete=lambda e: keep(e.obj),
        generic=lambda e: keep(e.obj),
    )


def _meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


class ResourceVersionChangedPredicate(Predicate):
    """Drops updates whose resourceVersion did not change: resync re-deliveries."""

    def update(self, event: UpdateEvent) -> bool:
        return _meta(event.old).get("resourceVersion") != _meta(event.new).get("resourceVersion")


class GenerationChangedPredicate(Predicate):
    """Drops updates that did not change ``metadata.generation``: status-only and metadata-only writes.

    Caveats (from controller-runtime's doc): objects without a generation (ConfigMaps) never pass an
    update; a controller behind this predicate does not notice someone overwriting the status it
    wrote, so it "will not self-correct to restore the correct status". OR it with
    :class:`LabelChangedPredicate` / :class:`AnnotationChangedPredicate` to also react to those."""

    def update(self, event: UpdateEvent) -> bool:
        return _meta(event.old).get("generation") != _meta(event.new).get("generation")


class LabelChangedPredicate(Predicate):
    """Passes updates that changed ``metadata.labels``."""

    def update(self, event: UpdateEvent) -> bool:
        return (_meta(event.old).get("labels") or {}) != (_meta(event.new).get("labels") or {})


class AnnotationChangedPredicate(Predicate):
    """Passes updates that changed ``metadata.annotations``."""

    def update(self, event: UpdateEvent) -> bool:
        return (_meta(event.old).get("annotations") or {}) != (_meta(event.new).get("annotations") or {})


class _And(Predicate):
    def __init__(self, preds: tuple[Predicate, ...]) -> None:
        self.preds = preds

    def create(self, event: CreateEvent) -> bool:
        return all(p.create(event) for p in self.preds)

    def update(self, event: UpdateEvent) -> bool:
        return all(p.update(event) for p in self.preds)

    def delete(self, event: DeleteEvent) -> bool:
        return all(p.delete(event) for p in self.preds)

    def generic(self, event: GenericEvent) -> bool:
        return all(p.generic(event) for p in self.preds)


class _Or(Predicate):
    def __init__(self, preds: tuple[Predicate, ...]) -> None:
        self.preds = preds

    def create(self, event: CreateEvent) -> bool:
        return any(p.create(event) for p in self.preds)

    def update(self, event: UpdateEvent) -> bool:
        return any(p.update(event) for p in self.preds)

    def delete(self, event: DeleteEvent) -> bool:
        return any(p.delete(event) for p in self.preds)

    def generic(self, event: GenericEvent) -> bool:
        return any(p.generic(event) for p in self.preds)


class _Not(Predicate):
    def __init__(self, pred: Predicate) -> None:
        self.pred = pred

    def create(self, event: CreateEvent) -> bool:
        return not self.pred.create(event)

    def update(self, event: UpdateEvent) -> bool:
        return not self.pred.update(event)

    def delete(self, event: DeleteEvent) -> bool:
        return not self.pred.delete(event)

    def generic(self, event: GenericEvent) -> bool:
        return not self.pred.generic(event)


def and_(*preds: Predicate) -> Predicate:
    """Passes an event only if every predicate passes it (an empty AND passes everything)."""
    return _And(preds)


def or_(*preds: Predicate) -> Predicate:
    """Passes an event if any predicate passes it (an empty OR passes nothing)."""
    return _Or(preds)


def not_(pred: Predicate) -> Predicate:
    """Inverts a predicate for every event type."""
    return _Not(pred)
