#!/usr/bin/env bash
# Undo hack/kind/up.sh: delete the kind cluster and stop the NSX simulator it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-antrea-nsx}"
WORKDIR="${WORKDIR:-${TMPDIR:-/tmp}/antrea-nsx-kind}"

if [[ -f "$WORKDIR/nsx-sim.pid" ]]; then
  pid="$(cat "$WORKDIR/nsx-sim.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping the NSX simulator (pid $pid)"
    kill "$pid"
  fi
  rm -f "$WORKDIR/nsx-sim.pid"
fi
if command -v kind >/dev/null 2>&1 && kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "==> deleting kind cluster $CLUSTER_NAME"
  kind delete cluster --name "$CLUSTER_NAME"
fi
