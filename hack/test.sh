#!/usr/bin/env bash
# The project's whole test run, as CI runs it (`make test`): installs what is
# missing, checks formatting and vet, runs the unit tests, a short fuzz run,
# builds the test cluster's programs and runs the e2e suite against the local
# cluster (or the one KUBECONFIG names). Fails on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

hack/install-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^hack/tools/') || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
go vet -tags e2e ./test/...

echo "== unit tests"
go test -count=1 ./...

echo "== fuzz (short)"
hack/fuzz.sh

echo "== build"
make build
hack/build-tools.sh

echo "== the kind path (test/kind, a module of its own: unit tests; kind itself needs Docker)"
(cd test/kind && go vet ./... && go test -count=1 ./...)

echo "== release archives and krew (test/krew: cross-builds once, krew v0.4.3 validates and installs offline)"
(cd test/krew && go test -count=1 -timeout 40m ./...)

echo "== e2e"
# The cluster KUBECONFIG names, or the local one (hack/cluster.sh): brought
# up here if it is not running, and then taken down at the end; a cluster
# that was already running (someone else's) is reused and left alone.
if [ -z "${KUBECONFIG:-}" ]; then
	if ! hack/cluster.sh status >/dev/null 2>&1; then
		trap 'hack/cluster.sh down || true' EXIT
	fi
	hack/cluster.sh up
	export KUBECONFIG="$root/.cluster/kubeconfig"
	# the traffic tests need the real node: say loudly when it is missing
	# (on CI they fail, naming the reason)
	hack/node.sh status || echo "WARNING: no real node; the traffic tests (TestTraffic*) will fail on CI and skip elsewhere"
fi
# the tests mostly wait on the cluster: run more of them at once than cores;
# one package (not ./test/e2e/...) so go test streams its output as it runs
log=$(mktemp /tmp/zdd-e2e.XXXXXX.log)
set +e
go test -tags e2e -count=1 -timeout 50m -parallel 8 ./test/e2e/ -v 2>&1 | tee "$log" \
	| grep --line-buffered -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+\S+_test.go)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
	echo "e2e failed (go test exit $rc); the end of the full log ($log):"
	tail -150 "$log"
	exit "$rc"
fi
grep -qE '^ok ' "$log" || { echo "e2e produced no result"; tail -50 "$log"; exit 1; }
echo "all tests passed"
