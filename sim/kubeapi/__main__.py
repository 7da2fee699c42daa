"""``python -m sim.kubeapi --kubeconfig FILE [--port N]``: serve until SIGTERM/SIGINT.

Prints exactly one line when ready so a parent process can wait for it.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from sim.gc_tuning import tune_gc

from .server import KubeApiServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.kubeapi", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for this server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--rbac", action="store_true", help="enforce RBAC (the kubeconfig's token stays admin)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (the CA goes into the kubeconfig)")
    args = parser.parse_args(argv)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with KubeApiServer(args.host, args.port, bookmark_interval=args.bookmark_interval, rbac=args.rbac,
                       tls=args.tls) as srv:
        tune_gc()
        path = srv.write_kubeconfig(args.kubeconfig)
        print(f"kubeapi ready at {srv.url} kubeconfig={path}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
