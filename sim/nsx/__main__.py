"""``python -m sim.nsx``: run the NSX Manager simulator until SIGTERM/SIGINT.

Prints one line when ready: ``NSX simulator ready url=… ca_file=… thumbprint=… username=… password_file=…``.
The password is never printed: when it is generated (no ``--password``/``--password-file``) it is
written to ``<data-dir>/admin-password`` (mode 0600) and the line names that file, so it does not end up
in logs or CI output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sim.gc_tuning import tune_gc
from sim.nsx.errors import NsxError
from sim.nsx.simulator import NsxSimulator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.nsx", description="NSX Manager simulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--seed", type=Path, help="YAML/JSON file with groups, services, policies")
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--username", default="admin")
    pw = ap.add_mutually_exclusive_group()
    pw.add_argument("--password", help="admin password (prefer --password-file)")
    pw.add_argument("--password-file", type=Path, help="file whose first line is the admin password")
    ap.add_argument("--data-dir", type=Path, help="where the CA, certificates and password file are written")
    ap.add_argument("--rate-limit", type=float, default=100.0, help="requests/s per client (0 = off)")
    ap.add_argument("--max-concurrent", type=int, default=40, help="in-flight requests per client (0 = off)")
    args = ap.parse_args(argv)

    password = args.password
    if args.password_file is not None:
        password = args.password_file.read_text().splitlines()[0] if args.password_file.read_text() else ""
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="nsx-sim-"))
    tune_gc()  # before the seed is loaded, so that loading it does not rescan what it builds
    try:
        sim = NsxSimulator(tls=not args.http, username=args.username, password=password, seed=args.seed,
                           rate_limit_rps=args.rate_limit, max_concurrent=args.max_concurrent, host=args.host,
                           port=args.port, data_dir=data_dir)
    except NsxError as err:
        print(f"seed rejected ({err.status}): {err.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 2
    tune_gc()  # again: the seeded store is long-lived, frozen out of the collector's scans too
    pw_note = "password=(given)"
    if sim.password_generated:
        pw_file = data_dir / "admin-password"
        fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(sim.password + "\n")
        pw_note = f"password_file={pw_file}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim.start()
    ca = f" ca_file={sim.ca_file} thumbprint={sim.thumbprint}" if not args.http else ""
    print(f"NSX simulator ready url={sim.url}{ca} username={sim.username} {pw_note}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        if args.data_dir is None:  # our own temporary directory: nothing in it outlives the process
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
