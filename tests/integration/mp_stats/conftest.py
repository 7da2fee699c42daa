"""Exposes :mod:`mp_stats_world`'s module-scoped ``world`` fixture to the tests of this folder."""

from __future__ import annotations

from tests.integration.mp_stats.mp_stats_world import world

__all__ = ["world"]
