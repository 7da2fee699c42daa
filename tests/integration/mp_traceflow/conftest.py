"""Puts this directory on ``sys.path`` (``--import-mode=importlib`` does not) so the tests can
import ``mp_traceflow_world``, and exposes its module-scoped ``world`` fixture."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from mp_traceflow_world import world

__all__ = ["world"]
