#!/usr/bin/env bash
# A kind cluster running a released Antrea and this adapter, talking to the NSX Manager simulator
# on the host. Needs Docker (a running engine), kind, kubectl and the project's .venv (`make test`
# creates it). Linux: the simulator listens on the kind network's gateway address, which is the
# host's own address on that Docker bridge. See docs/kind.md.
#
#   hack/kind/up.sh                       # create or update everything
#   ANTREA_MODE=crds hack/kind/up.sh      # only the project's copy of the Antrea CRDs, no Antrea
#   hack/kind/down.sh                     # remove the cluster and stop the simulator
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-antrea-nsx}"
# Pinned: the Antrea release whose CRD schemas crds/ was written from (shared/specs/antrea.md).
ANTREA_VERSION="${ANTREA_VERSION:-v2.7.0}"
ANTREA_MODE="${ANTREA_MODE:-release}"            # release | crds
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.32.2}"
IMAGE="${IMAGE:-antrea-nsx-adapter:kind-dev}"     # not :latest, so the Pod never tries to pull it
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WORKDIR="${WORKDIR:-${TMPDIR:-/tmp}/antrea-nsx-kind}"
NSX_PORT="${NSX_PORT:-8443}"
NAMESPACE="vmware-system-antrea"
ADAPTER_CLUSTER_NAME="${ADAPTER_CLUSTER_NAME:-dev-cluster}"

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not on the PATH (see docs/kind.md)"
  done
  docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
  [[ -x "$PYTHON" ]] || die "$PYTHON not found: run 'make test' (or set PYTHON)"
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "kind cluster $CLUSTER_NAME exists"
  else
    log "creating kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
    kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
      --config "$ROOT/hack/kind/kind-config.yaml"   # no --wait: Nodes are NotReady until Antrea runs
  fi
  kubectl config use-context "kind-$CLUSTER_NAME" >/dev/null
}

install_antrea() {
  case "$ANTREA_MODE" in
    release)
      log "installing Antrea $ANTREA_VERSION"
      kubectl apply -f "https://github.com/antrea-io/antrea/releases/download/$ANTREA_VERSION/antrea.yml"
      kubectl -n kube-system rollout status deployment/antrea-controller --timeout=300s
      kubectl -n kube-system rollout status daemonset/antrea-agent --timeout=300s
      ;;
    crds)
      log "installing the project's copy of the Antrea CRDs (no Antrea: nothing realizes policies)"
      kubectl apply -k "$ROOT/config/crd"
      ;;
    *) die "ANTREA_MODE must be release or crds, not $ANTREA_MODE" ;;
  esac
}

build_image() {
  log "building $IMAGE and loading it into the kind Nodes"
  docker build -t "$IMAGE" "$ROOT"
  kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"
}

gateway() {
  docker network inspect kind -f '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}' \
    | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'
}

start_nsx_simulator() {
  local host="$1"
  mkdir -p "$WORKDIR"
  if [[ -f "$WORKDIR/nsx-sim.pid" ]] && kill -0 "$(cat "$WORKDIR/nsx-sim.pid")" 2>/dev/null; then
    log "NSX simulator already running (pid $(cat "$WORKDIR/nsx-sim.pid"))"
    return
  fi
  [[ -s "$WORKDIR/nsx-password" ]] || { umask 077; "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(18))' \
    > "$WORKDIR/nsx-password"; }
  log "starting the NSX Manager simulator on https://$host:$NSX_PORT"
  (cd "$ROOT" && nohup "$PYTHON" -m sim.nsx --host "$host" --port "$NSX_PORT" --data-dir "$WORKDIR/nsx-sim" \
    --password-file "$WORKDIR/nsx-password" >"$WORKDIR/nsx-sim.log" 2>&1 & echo $! >"$WORKDIR/nsx-sim.pid")
  local i
  for i in $(seq 1 50); do
    [[ -s "$WORKDIR/nsx-sim/pki/ca.pem" ]] && return
    sleep 0.2
  done
  die "the NSX simulator did not start: see $WORKDIR/nsx-sim.log"
}

deploy_adapter() {
  local host="$1"
  log "applying config/overlays/dev with image $IMAGE"
  # With a real Antrea, its CRDs are Antrea's: render_dev.py leaves the overlay's copy of them out.
  "$PYTHON" "$ROOT/hack/kind/render_dev.py" --mode "$ANTREA_MODE" --image "$IMAGE" | kubectl apply -f -
  kubectl -n "$NAMESPACE" create configmap bootstrap-config --from-literal=bootstrap.conf="bootstrapFrom: Inline
clusterName: $ADAPTER_CLUSTER_NAME
NSXManagers: [\"$host:$NSX_PORT\"]
" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$NAMESPACE" create configmap nsx-ca --from-file=ca.crt="$WORKDIR/nsx-sim/pki/ca.pem" \
    --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$NAMESPACE" create secret generic nsx-cert --from-literal=username=admin \
    --from-file=password="$WORKDIR/nsx-password" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$NAMESPACE" rollout restart deployment/antrea-nsx-adapter-controller
  kubectl -n "$NAMESPACE" rollout status deployment/antrea-nsx-adapter-controller --timeout=180s
}

main() {
  require docker kind kubectl
  create_cluster
  install_antrea
  build_image
  local host="${NSX_SIM_HOST:-$(gateway)}"
  [[ -n "$host" ]] || die "cannot find the kind network's gateway; set NSX_SIM_HOST"
  start_nsx_simulator "$host"
  deploy_adapter "$host"
  cat <<DONE

The adapter runs in kind cluster $CLUSTER_NAME (context kind-$CLUSTER_NAME), Antrea: $ANTREA_MODE $ANTREA_VERSION.
  kubectl -n $NAMESPACE logs deploy/antrea-nsx-adapter-controller -c ccp-adapter -f
  NSX simulator: https://$host:$NSX_PORT/ (user admin, password in $WORKDIR/nsx-password,
    CA $WORKDIR/nsx-sim/pki/ca.pem), log $WORKDIR/nsx-sim.log
  conformance tests: USE_EXISTING_CLUSTER=true .venv/bin/pytest -m conformance
  remove: hack/kind/down.sh
DONE
}

main "$@"
