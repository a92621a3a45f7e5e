#!/usr/bin/env bash
# make demo: walk a release of the sample app (examples/good/web.yaml)
# through the local test cluster with kubectl zdd, the way a user would:
#   1. lint the good and the bad example manifests
#   2. deploy the app, then a guarded rolling update (rollout)
#   3. a canary progression, step by step
#   4. blue-green: init, then deploy a new colour and switch
#   5. on the real node, requests measured by kubectl zdd probe: a plain
#      release of a naive manifest loses some, kubectl zdd rollout of the
#      zero-downtime one none
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

bold "5. requests, measured: the same release of a real program, twice, under load"
# On the cluster's real node (hack/node.sh: containerd, kubelet, kube-proxy)
# the pods are real processes behind a real ClusterIP; kubectl zdd probe
# sends 100 requests a second to it, each on a new connection, while the
# release runs, and counts the ones that fail.
if hack/node.sh status >/dev/null 2>&1 && has probe; then
	measured() { # NAME COMMAND...: the release, with the probe running beside it
		local svc=$1 out code=0
		shift
		local ip
		ip=$(kubectl -n "$ns" get service "$svc" -o jsonpath='{.spec.clusterIP}')
		out=$(mktemp)
		say "kubectl zdd probe http://$ip/ --for 30s --probe-rate 100 --probe-version-header X-Zdd-Version &"
		kubectl zdd probe "http://$ip/" --for 30s --probe-rate 100 --probe-version-header X-Zdd-Version >"$out" 2>/dev/null &
		local pid=$!
		sleep 3
		"$@"
		wait "$pid" || code=$?
		cat "$out"
		rm -f "$out"
		return "$code"
	}
	deploy() { # FILE NAME
		sed -e "s/^metadata:/metadata:\n  namespace: $ns/" "$1" | kubectl apply -f - >/dev/null
		say "kubectl apply -f $1 (namespace $ns)"
		run kubectl -n "$ns" rollout status "deployment/$2" --timeout 3m
		sleep 2 # the Service's rules reach kube-proxy
	}
	echo "(a) the common manifest: no preStop hook, a program that exits on SIGTERM"
	run_expect 1 kubectl zdd lint -f examples/realnode/naive.yaml
	deploy examples/realnode/naive.yaml naive
	if measured naive run kubectl -n "$ns" set image deployment/naive app=zdd.local/testserver:v2; then
		echo "demo: the plain release of the naive manifest lost no request this time (it usually loses about 1%)"
	else
		echo "=> a plain kubectl set image of it lost the requests counted above"
	fi
	run kubectl -n "$ns" rollout status deployment/naive --timeout 3m
	echo
	echo "(b) the zero-downtime manifest, released by kubectl zdd rollout"
	run kubectl zdd lint -f examples/realnode/zero-downtime.yaml
	deploy examples/realnode/zero-downtime.yaml api
	if ! measured api run kubectl zdd -n "$ns" rollout deployment/api --image app=zdd.local/testserver:v2 --timeout 3m; then
		echo "demo: kubectl zdd rollout of the zero-downtime manifest lost requests (see above)" >&2
		exit 1
	fi
	echo "=> not one request failed"
else
	echo "skipped: no real node on this cluster (it needs root, containerd and the rest: hack/node.sh check), or no 'kubectl zdd probe' in this build"
fi

bold "done"
echo "Every release above kept the Service's ready endpoints at or above its replica"
echo "count (printed at the end of each release command), and on the real node no"
echo "request sent to the Service failed during the kubectl zdd release."
