#!/usr/bin/env bash
# Blue-green switch and rollback latency (patch sent -> EndpointSlices list
# only the new colour's ready pods), median of RUNS (default 20) on the local
# test cluster (or the one KUBECONFIG names), printed beside a plain
# `kubectl patch` of the Service selector measured in the same run.
# See bench/bgbench/main.go for exactly what is timed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs="${RUNS:-20}"
if [ -z "${KUBECONFIG:-}" ]; then
	hack/cluster.sh up >&2
	export KUBECONFIG="$root/.cluster/kubeconfig"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/kubectl-zdd" ./cmd/kubectl-zdd
go build -o "$tmp/bgbench" ./bench/bgbench
# kubectl finds the freshly built plugin first on PATH
PATH="$tmp:$PATH" "$tmp/bgbench" -runs "$runs"
