#!/usr/bin/env bash
# Time of `kubectl zdd rollout -f` against `kubectl apply -f` + `kubectl
# rollout status` for the same change (a new image of a 3-replica Deployment
# behind a Service, maxSurge 1 / maxUnavailable 0, pods Ready after kwok's
# ready delay) on the same cluster in the same run. The two are interleaved
# (zdd, kubectl, zdd, kubectl, ...) so drift of the shared machine hits both;
# each is the median of RUNS (default 5) releases. Prints both medians and
# the ratio zdd / kubectl; the target is at most 1.10.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs="${RUNS:-5}"
if [ -z "${KUBECONFIG:-}" ]; then
	hack/cluster.sh up >&2
	export KUBECONFIG="$root/.cluster/kubeconfig"
fi
tmp=$(mktemp -d)
ns="zdd-bench-rollout-$$"
cleanup() {
	kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/kubectl-zdd" ./cmd/kubectl-zdd
export PATH="$tmp:$PATH"

manifest() { # manifest NAME IMAGE
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  labels: {app: $1}
spec:
  replicas: 3
  selector: {matchLabels: {app: $1}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata:
      labels: {app: $1}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: app
        image: $2
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2, failureThreshold: 2}
        lifecycle: {preStop: {sleep: {seconds: 2}}}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: $1
spec:
  selector: {app: $1}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
}

kubectl create namespace "$ns" >/dev/null
for app in zdd plain; do
	manifest "$app" registry.example/web:v0 | kubectl apply -n "$ns" -f - >/dev/null
	kubectl rollout status -n "$ns" "deployment/$app" --timeout 2m >/dev/null
done

now() { date +%s%N; }
zdd_times=() plain_times=()
for i in $(seq 1 "$runs"); do
	img="registry.example/web:v$i"
	manifest zdd "$img" | sed -n '1,/^---$/p' | sed '$d' >"$tmp/zdd.yaml"
	manifest plain "$img" | sed -n '1,/^---$/p' | sed '$d' >"$tmp/plain.yaml"

	t0=$(now)
	kubectl zdd rollout -f "$tmp/zdd.yaml" -n "$ns" --timeout 2m >/dev/null
	t1=$(now)
	kubectl apply -f "$tmp/plain.yaml" -n "$ns" >/dev/null
	kubectl rollout status -n "$ns" deployment/plain --timeout 2m >/dev/null
	t2=$(now)
	zdd_times+=($(( (t1 - t0) / 1000000 )))
	plain_times+=($(( (t2 - t1) / 1000000 )))
	echo "run $i: kubectl zdd rollout ${zdd_times[-1]} ms, kubectl apply + rollout status ${plain_times[-1]} ms" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mz=$(median "${zdd_times[@]}")
mp=$(median "${plain_times[@]}")
ratio=$(awk -v z="$mz" -v p="$mp" 'BEGIN {printf "%.3f", z/p}')
echo "rollout: kubectl zdd rollout median ${mz} ms, kubectl apply + kubectl rollout status median ${mp} ms over $runs runs"
echo "rollout: ratio zdd/kubectl ${ratio} (target <= 1.10)"
