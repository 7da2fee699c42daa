"""``python -m sim.antrea --kubeconfig FILE``: run the Antrea stand-in until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from sim.antrea import AntreaSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.antrea", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--realization-delay", type=float, default=0.5, metavar="SECONDS",
                        help="time from a policy change to Realized (default: 0.5)")
    parser.add_argument("--heartbeat-interval", type=float, default=60.0, metavar="SECONDS",
                        help="AntreaControllerInfo/AntreaAgentInfo heartbeat period (default: 60, as Antrea)")
    parser.add_argument("--stats-interval", type=float, default=60.0, metavar="SECONDS",
                        help="how often policy statistics counters grow (default: 60)")
    parser.add_argument("--no-aggregated-api", action="store_true",
                        help="do not serve antrea-controller's aggregated API (system.antrea.io, "
                             "controlplane.antrea.io) nor the agents' APIs")
    args = parser.parse_args(argv)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sim = AntreaSimulator(args.kubeconfig, realization_delay=args.realization_delay,
                          heartbeat_interval=args.heartbeat_interval, stats_interval=args.stats_interval,
                          aggregated_api=not args.no_aggregated_api).start()
    print(f"antrea simulator ready kubeconfig={args.kubeconfig}", flush=True)
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
