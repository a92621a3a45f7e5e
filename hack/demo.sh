#!/usr/bin/env bash
# make demo: walk a release of the sample app (examples/good/web.yaml)
# through the local test cluster with kubectl zdd, the way a user would:
#   1. lint the good and the bad example manifests
#   2. deploy the app, then a guarded rolling update (rollout)
#   3. a canary progression, step by step
#   4. blue-green: init, then deploy a new colour and switch
# Every release command prints its progress and, at the end, the smallest
# number of ready endpoints it saw behind the Service (the downtime figure).
#
# It starts the local cluster if it is not running (hack/cluster.sh up) and,
# on exit, deletes what it created: its namespace, and the cluster too if it
# was the one that started it (ZDD_DEMO_KEEP_CLUSTER=1 keeps it).
# A step whose command is not in this build is skipped with a note.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bold() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
say() { printf '$ %s\n' "$*"; }
# run: print a command, then run it; a non-zero exit is reported, and fails
# the demo unless the step expects it (run_expect CODE ...)
run() { run_expect 0 "$@"; }
run_expect() {
	local want=$1 code=0
	shift
	say "$*"
	"$@" || code=$?
	if [ "$code" != "$want" ]; then
		echo "demo: '$*' exited $code (expected $want)" >&2
		exit 1
	fi
}
has() { kubectl zdd "$@" --help >/dev/null 2>&1; }

[ -x bin/kubectl-zdd ] || make build
export PATH="$root/bin:$PATH"
command -v kubectl >/dev/null || { echo "demo: kubectl is needed on PATH" >&2; exit 2; }

started_cluster=false
if ! hack/cluster.sh status >/dev/null 2>&1; then
	started_cluster=true
fi
bold "local cluster (real control plane, kwok nodes)"
make cluster-up
export KUBECONFIG="$root/.cluster/kubeconfig"

ns="zdd-demo-$(date +%s)"
cleanup() {
	local code=$?
	bold "cleaning up"
	kubectl delete namespace "$ns" --wait=false --ignore-not-found >/dev/null 2>&1 || true
	echo "deleted namespace $ns"
	if $started_cluster && [ "${ZDD_DEMO_KEEP_CLUSTER:-}" != 1 ]; then
		hack/cluster.sh down || true
		echo "stopped the local cluster this demo started"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the sample app in the demo's own namespace; pods become ready after 2s
app() {
	sed -e "s/namespace: shop/namespace: $ns/" examples/good/web.yaml
}
image=ghcr.io/zdd-dev/shop-web

bold "1. lint: the settings zero downtime depends on"
if has lint; then
	run kubectl zdd lint -f examples/good/
	echo "(a bad example: findings, exit code 1 expected)"
	run_expect 1 kubectl zdd lint -f examples/bad/web.yaml
else
	echo "skipped: this build has no 'kubectl zdd lint'"
fi

bold "2. deploy the sample app, then a guarded rolling update"
run kubectl create namespace "$ns"
app | kubectl apply -f - >/dev/null
say "kubectl apply -f examples/good/web.yaml (namespace $ns)"
run kubectl -n "$ns" rollout status deployment/web --timeout 3m
if has rollout; then
	run kubectl zdd -n "$ns" rollout deployment/web --image "web=$image:1.9.0" --timeout 3m
	run kubectl zdd -n "$ns" status deployment/web
else
	echo "skipped: this build has no 'kubectl zdd rollout'"
fi

bold "3. canary: 25%, 50%, then all of the traffic to 2.0.0"
if has canary; then
	run kubectl zdd -n "$ns" canary deployment/web --image "web=$image:2.0.0" --steps 25,50,100 --pause 3s --timeout 3m
	run kubectl -n "$ns" get deployments -o wide
else
	echo "skipped: this build has no 'kubectl zdd canary'"
fi

bold "4. blue-green: make web blue-green, then bring up 2.1.0 beside it and switch"
if has bluegreen init && has bluegreen deploy; then
	run kubectl zdd -n "$ns" bluegreen init service/web --timeout 3m
	run kubectl zdd -n "$ns" bluegreen deploy service/web --image "web=$image:2.1.0" --scale-down-delay 2s --timeout 3m
	run kubectl zdd -n "$ns" bluegreen status service/web
else
	echo "skipped: this build has no 'kubectl zdd bluegreen init/deploy'"
fi

bold "done"
echo "Every step above kept the Service's ready endpoints at or above its replica"
echo "count; the figure is printed at the end of each release command."
