#!/usr/bin/env bash
# Releases at scale: kubectl zdd rollout, bluegreen deploy and canary --steps
# 10,50,100 on Deployments of 100 and 1,000 replicas (maxSurge 10%,
# maxUnavailable 0), each beside the same change made by the controllers
# alone with plain kubectl (see bench/scale/main.go for exactly what each
# side does), on a private cluster of simulated nodes (zdd-scale, no real
# node) whose API server writes an audit log: the API requests of each
# command are counted from it by user agent. Prints a Markdown table of the
# medians (wall time, ratio, requests, kubectl zdd's peak memory and CPU,
# the API server's CPU during each side's change) and fails
# when kubectl zdd's requests for an operation are above twice the budget in
# bench/scale-budget.txt.
#   RUNS   runs of each operation and size (default 3)
#   SIZES  replica counts (default 100,1000)
#   OPS    operations (default rollout,bluegreen,canary)
#   KEEP=1 leaves the cluster up at the end
#   PROFILE a folder: a CPU profile of each kubectl zdd run is written there
#   ZDD    the kubectl-zdd binary to measure (default bin/kubectl-zdd, built
#          here): another build, to compare two builds on one cluster
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export ZDD_CLUSTER_NAME=zdd-scale ZDD_REAL_NODE=0 ZDD_CLUSTER_NODES=${ZDD_CLUSTER_NODES:-10}
export ZDD_CLUSTER_AUDIT_POLICY="$root/bench/scale-audit.yaml"
audit="$root/.cluster/kwok/clusters/zdd-scale/logs/audit.log"
tmp=$(mktemp -d)
out=$(mktemp /tmp/zdd-scale.XXXXXX.jsonl)
echo "scale: one JSON line per measurement in $out" >&2
cleanup() {
	rm -rf "$tmp"
	[ "${KEEP:-0}" = 1 ] || hack/cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
make build tools >/dev/null
go build -o "$tmp/scale" ./bench/scale
hack/cluster.sh up >&2
[ -f "$audit" ] || { echo "scale: no audit log at $audit (a cluster created before without ZDD_CLUSTER_AUDIT_POLICY? hack/cluster.sh down, then again)" >&2; exit 1; }
export KUBECONFIG="$root/.cluster/kubeconfig-zdd-scale"
kubectl=$(command -v kubectl || echo "$root/bin/kubectl")
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d), load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/scale" -zdd "${ZDD:-$root/bin/kubectl-zdd}" -kubectl "$kubectl" -audit "$audit" \
	-runs "${RUNS:-3}" -sizes "${SIZES:-100,1000}" -ops "${OPS:-rollout,bluegreen,canary}" \
	-out "$out" -pids "$root/.cluster/kwok/clusters/zdd-scale/pids" -profile "${PROFILE:-}" -budget "$root/bench/scale-budget.txt"
