"""Garbage-collector settings for a simulator run as its own process (``python -m sim.…``).

A simulator's store keeps every object it was given alive (hundreds of dicts and lists per custom
resource or NSX object), and makes almost no cyclic garbage. With CPython's default thresholds the
cyclic GC rescans that growing, garbage-free heap over and over: under the CCP benchmark it was
about 40 % of the CPU of a create in the emulated API server, and the NSX simulator's cost per
inventory batch grew with the size of its store. A real API server or NSX Manager has no such
cost, so a simulator that paid it would make the adapter's growth with N look worse than it is.
A higher first threshold only delays the collection of what little cyclic garbage there is.
Everything allocated at start-up (modules, registries) is frozen out of the scans. Called by the
simulators' ``__main__`` modules only: GC settings belong to the process that owns it, so tests that
embed a simulator keep their own.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000
"""Net container allocations between young collections (CPython: 700)."""


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, second, third)
