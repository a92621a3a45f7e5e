#!/usr/bin/env bash
# Runs every fuzz target for a short time (FUZZTIME, default 10s each).
# Minimizing is bounded (FUZZMINIMIZETIME, default 100 runs of the target per
# input; go test's own default is 60s): go test -fuzz minimizes every input
# that reaches new code, not only crashers, and with manifests of a few KB as
# seeds almost every mutation does, so with 60s per input the workers spent
# the whole short run minimizing (see pkg/lint/fuzz_setup_test.go).
# Every func Fuzz* of a package's _test.go files is run: the manifest
# loaders and lint rules (pkg/lint), and the parsers of what comes from the
# cluster, which anyone who may patch an object's annotations writes: the
# operation record (pkg/state FuzzFromAnnotations), its params
# (pkg/strategies/{rolling,bluegreen,canary}: FuzzConfigFromParams,
# FuzzApplyParams, FuzzRecordParams) and the recorded analysis (pkg/analysis
# FuzzDecodeParam).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
minimizetime=${FUZZMINIMIZETIME:-100x}
# Every func Fuzz* is found by itself; among them the decoder of the release
# summary read from the zdd.dev/summary annotation (pkg/report FuzzDecode):
# anyone who may patch the object writes it.
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "fuzz $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg"
	done
done
