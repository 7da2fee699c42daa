"""Garbage-collector settings for a controller process (not for a library user's process).

Why: a controller keeps tens of thousands of long-lived containers (informer caches, the desired
state, NSX snapshots) and allocates many short-lived ones per object it decodes or writes. With
CPython's defaults (a young collection every 700 net container allocations) the collector keeps
walking that heap: on the CCP benchmark's cold start (5,005 objects) it was about a fifth of the
adapter's CPU (10.4 s → 8.0 s with these settings, ``hack/bench/ccp.py``). The objects the
controller builds are plain trees of dicts and lists with no cycles, so collecting less often
frees the same memory, only later. Called by the command-line entry points before the manager
starts; never by the engine itself, so tests and embedding processes keep their own settings.
"""

from __future__ import annotations

import gc

__all__ = ["GEN0_THRESHOLD", "GEN1_THRESHOLD", "GEN2_THRESHOLD", "tune_for_controller"]

GEN0_THRESHOLD = 50_000
"""Net container allocations between young collections (CPython: 700). At 50,000 a young
collection scans at most a few megabytes, and runs a few hundred times less often."""

GEN1_THRESHOLD = 20
"""Young collections between middle ones (CPython: 10)."""

GEN2_THRESHOLD = 100
"""Middle collections between full ones (CPython: 10; CPython also waits until a quarter of the
long-lived objects are new, so large caches do not make full collections quadratic)."""


def tune_for_controller() -> None:
    """Freeze what start-up built (imports, settings, clients: never garbage) out of every future
    collection, and space the collections out (see the module docstring)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
