"""Interpreter settings for a controller process (not for a library user's process): the garbage
collector's thresholds and the threads' switch interval.

Garbage collection: a controller keeps tens of thousands of long-lived containers (informer
caches, the desired state, NSX snapshots) and allocates many short-lived ones per object it
decodes or writes. With CPython's defaults (a young collection every 700 net container allocations) the collector keeps
walking that heap: on the CCP benchmark's cold start (5,005 objects) it was about a fifth of the
adapter's CPU (10.4 s → 8.0 s with these settings, ``hack/bench/ccp.py``). The objects the
controller builds are plain trees of dicts and lists with no cycles, so collecting less often
frees the same memory, only later. Called by the command-line entry points before the manager
starts; never by the engine itself, so tests and embedding processes keep their own settings.

Switch interval: a thread reading an HTTPS answer releases the interpreter lock for every TLS
record it reads (16 KB at most), and must then wait, up to the switch interval, for a thread that
is decoding or translating to let go of it. With CPython's 5 ms, an NSX search page of 136 KB,
read while the informers decoded their initial lists, took 50–100 ms instead of 11 ms; the CCP
adapter's restart check waits for fourteen such pages (``hack/bench/ccp.py``).
"""

from __future__ import annotations

import gc
import sys

__all__ = ["GEN0_THRESHOLD", "GEN1_THRESHOLD", "GEN2_THRESHOLD", "SWITCH_INTERVAL", "tune_for_controller"]

GEN0_THRESHOLD = 50_000
"""Net container allocations between young collections (CPython: 700). At 50,000 a young
collection scans at most a few megabytes, and runs a few hundred times less often."""

GEN1_THRESHOLD = 20
"""Young collections between middle ones (CPython: 10)."""

GEN2_THRESHOLD = 100
"""Middle collections between full ones (CPython: 10; CPython also waits until a quarter of the
long-lived objects are new, so large caches do not make full collections quadratic)."""


SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the interpreter lock while another waits for it (CPython: 0.005).
Shorter still (0.2 ms, 0.1 ms) measured no better on the CCP restart: switching costs too."""


def tune_for_controller() -> None:
    """Freeze what start-up built (imports, settings, clients: never garbage) out of every future
    collection, space the collections out, and let threads waiting on I/O back in sooner (see the
    module docstring)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL)
