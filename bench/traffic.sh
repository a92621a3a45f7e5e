#!/usr/bin/env bash
# Failed requests per release, on the local test cluster's real node:
# each strategy (rolling, blue-green, canary) released by plain kubectl and
# by kubectl zdd, on the naive manifest (no preStop, a program that exits on
# SIGTERM, default rolling update) and the zero-downtime one (readiness,
# preStop sleep 5 s, draining program, maxUnavailable 0), under 100 requests
# a second on new connections to the Service's ClusterIP. Prints a Markdown
# table (failed out of sent over all runs, worst run, kinds, p99).
#   RUNS   runs of each cell (default 3)
# Needs root and the real node (make cluster-up brings it up).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-3}
out=$(mktemp /tmp/zdd-traffic-bench.XXXXXX.jsonl)
make build tools >/dev/null
hack/cluster.sh up >/dev/null
export KUBECONFIG=$root/.cluster/kubeconfig
echo "traffic bench: $runs runs per cell; results in $out" >&2
ZDD_TRAFFIC_BENCH_OUT=$out ZDD_TRAFFIC_RUNS=$runs \
	go test -tags e2e,trafficbench -count=1 -timeout 120m -run '^TestTrafficBench$' ./test/e2e/ >&2
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d), load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
go run ./bench/traffictable <"$out"
