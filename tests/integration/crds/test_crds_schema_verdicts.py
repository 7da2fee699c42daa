"""Every sample gets the same verdict from the project's schema as from Antrea's, in the emulator's
schema engine directly (``sim.kubeapi.schema.StructuralSchema``): prune, default, then validate,
as the API server does on create. This runs without HTTP, so it pinpoints schema-engine problems.
"""

from __future__ import annotations

import copy
from typing import Any


def _engine() -> Any:
    from sim.kubeapi.schema import StructuralSchema
    return StructuralSchema


def _admit(engine: Any, schema: dict[str, Any], manifest: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """Prune, default and validate a copy of ``manifest``; returns (stored form, errors)."""
    structural = engine(copy.deepcopy(schema))
    obj = copy.deepcopy(manifest)
    structural.prune(obj)
    defaulted = structural.apply_defaults(obj)
    if defaulted is not None:
        obj = defaulted
    return obj, list(structural.validate(obj))


def test_schema_engine_verdict(sample: Any, schema_of: Any, upstream_crds_if_present: list[dict[str, Any]]) -> None:
    """Ours gives the recorded verdict; Antrea's (when present) gives the same errors and result."""
    from crds import load_crds

    engine = _engine()
    ours, our_errors = _admit(engine, schema_of(load_crds(), sample.resource), sample.manifest())
    verdict = "reject" if our_errors else "accept"
    assert verdict == sample.expect, f"{sample.id}: expected {sample.expect} ({sample.why}); errors {our_errors}"
    if verdict == "accept":
        assert sample.after_mismatches(ours) == {}
    if not upstream_crds_if_present:
        return
    theirs, their_errors = _admit(engine, schema_of(upstream_crds_if_present, sample.resource), sample.manifest())
    assert our_errors == their_errors, f"{sample.id}: ours {our_errors} vs Antrea's {their_errors}"
    assert ours == theirs
