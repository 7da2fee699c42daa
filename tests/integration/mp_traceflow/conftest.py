"""Exposes :mod:`mp_traceflow_world`'s module-scoped ``world`` fixture to the tests of this folder."""

from __future__ import annotations

from tests.integration.mp_traceflow.mp_traceflow_world import world

__all__ = ["world"]
