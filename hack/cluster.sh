#!/usr/bin/env bash
# The local test cluster: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler built by hack/build-tools.sh) with
# simulated nodes and pod lifecycles (kwok, stages in hack/kwok/stages),
# orchestrated by `kwokctl --runtime binary`. Everything lives under the
# repo's ignored .cluster/ directory; every port is on 127.0.0.1.
#
#   hack/cluster.sh up              start the cluster, or reuse the running one
#   hack/cluster.sh down            delete it
#   hack/cluster.sh status          say whether it is up
#   hack/cluster.sh apiserver-stop  stop kube-apiserver alone (the rest keeps running)
#   hack/cluster.sh apiserver-start start it again with the same command line
#
# The kubeconfig is written to .cluster/kubeconfig. Several people may share
# one cluster: `up` never restarts a healthy cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
state="$root/.cluster"
name="${ZDD_CLUSTER_NAME:-zdd-e2e}"
nodes="${ZDD_CLUSTER_NODES:-3}"
kubeconfig="$state/kubeconfig"
export KWOK_WORKDIR="$state/kwok"
clusterdir="$KWOK_WORKDIR/clusters/$name"

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

kubectl_bin() {
	if command -v kubectl >/dev/null 2>&1; then command -v kubectl
	elif [ -x "$bin/kubectl" ]; then echo "$bin/kubectl"
	else die "no kubectl on PATH and none in $bin (run make tools)"; fi
}
k() { "$(kubectl_bin)" --kubeconfig "$kubeconfig" "$@"; }
kwokctl() { "$bin/kwokctl" --name "$name" "$@"; }

healthy() {
	[ -f "$kubeconfig" ] && k get --raw /readyz --request-timeout=3s >/dev/null 2>&1
}

wait_healthy() {
	local deadline=$((SECONDS + ${1:-60}))
	until healthy; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

ensure_nodes() {
	local have
	have=$(k get nodes -o name 2>/dev/null | wc -l)
	if [ "$have" -lt "$nodes" ]; then
		kwokctl scale node --replicas "$nodes" >/dev/null
	fi
	k wait --for=condition=Ready node --all --timeout=60s >/dev/null
	# pods are rejected until the controller-manager has made the default
	# ServiceAccount; wait for it so the first test does not race it
	local deadline=$((SECONDS + 60))
	until k get serviceaccount default -n default >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || die "no default ServiceAccount after 60s"
		sleep 0.2
	done
}

create() {
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwokctl; do
		[ -x "$bin/$b" ] || die "$bin/$b is missing: run make tools"
	done
	mkdir -p "$state"
	local configs=("$root/hack/kwok/kwokctl.yaml")
	for f in "$root"/hack/kwok/stages/*.yaml; do configs+=("$f"); done
	local config_flags=()
	for f in "${configs[@]}"; do config_flags+=(--config "$f"); done
	log "creating kwok cluster $name (workdir $KWOK_WORKDIR)"
	kwokctl "${config_flags[@]}" create cluster \
		--runtime binary \
		--etcd-binary "$bin/etcd" \
		--kube-apiserver-binary "$bin/kube-apiserver" \
		--kube-controller-manager-binary "$bin/kube-controller-manager" \
		--kube-scheduler-binary "$bin/kube-scheduler" \
		--kwok-controller-binary "$bin/kwok" \
		--kube-authorization \
		--kubeconfig "$kubeconfig" \
		--wait 90s >&2
}

up() {
	local start=$SECONDS
	if healthy; then
		ensure_nodes
		log "reusing running cluster $name ($kubeconfig)"
		return
	fi
	if [ -d "$clusterdir" ]; then
		# created before but not answering: its processes stopped (a reboot,
		# or a stopped apiserver); start them again
		log "starting stopped cluster $name"
		kwokctl start cluster >&2 || true
		if [ -f "$state/apiserver.cmdline" ]; then apiserver_start; fi
		if ! wait_healthy 60; then
			log "cluster $name does not come back; recreating it"
			kwokctl delete cluster --kubeconfig "$kubeconfig" >&2 || true
			rm -f "$kubeconfig"
			create
		fi
	else
		create
	fi
	wait_healthy 60 || die "kube-apiserver not ready after 60s"
	ensure_nodes
	log "cluster $name up in $((SECONDS - start))s; export KUBECONFIG=$kubeconfig"
}

down() {
	if [ -d "$clusterdir" ]; then
		kwokctl delete cluster --kubeconfig "$kubeconfig" >&2
	fi
	rm -f "$kubeconfig" "$state/apiserver.cmdline" "$state/apiserver.cwd"
	log "cluster $name deleted"
}

apiserver_pid() {
	local f="$clusterdir/pids/kube-apiserver.pid"
	[ -f "$f" ] || return 1
	local pid
	pid=$(cat "$f")
	[ -d "/proc/$pid" ] || return 1
	echo "$pid"
}

# kwokctl v0.8.0 can only stop and start a whole cluster, so the apiserver is
# stopped by killing its process, after recording its command line, and
# started again from that record.
apiserver_stop() {
	local pid
	pid=$(apiserver_pid) || die "kube-apiserver of $name is not running"
	tr '\0' '\n' <"/proc/$pid/cmdline" >"$state/apiserver.cmdline"
	readlink "/proc/$pid/cwd" >"$state/apiserver.cwd"
	kill "$pid"
	local deadline=$((SECONDS + 30))
	while [ -d "/proc/$pid" ]; do
		[ $SECONDS -lt $deadline ] || { kill -9 "$pid"; break; }
		sleep 0.1
	done
	log "kube-apiserver (pid $pid) stopped"
}

apiserver_start() {
	if apiserver_pid >/dev/null; then
		log "kube-apiserver already running"
		return
	fi
	[ -f "$state/apiserver.cmdline" ] || die "no recorded kube-apiserver command line (run apiserver-stop first)"
	local args=()
	mapfile -t args <"$state/apiserver.cmdline"
	local cwd
	cwd=$(cat "$state/apiserver.cwd" 2>/dev/null || echo "$clusterdir")
	mkdir -p "$clusterdir/logs"
	(cd "$cwd" && exec setsid "${args[@]}" >>"$clusterdir/logs/kube-apiserver.log" 2>&1 </dev/null) &
	echo $! >"$clusterdir/pids/kube-apiserver.pid"
	rm -f "$state/apiserver.cmdline" "$state/apiserver.cwd"
	wait_healthy 60 || die "kube-apiserver not ready 60s after restart"
	log "kube-apiserver started again (pid $(cat "$clusterdir/pids/kube-apiserver.pid"))"
}

status() {
	if healthy; then
		log "cluster $name is up: $(k get nodes --no-headers 2>/dev/null | wc -l) nodes; KUBECONFIG=$kubeconfig"
	elif [ -d "$clusterdir" ]; then
		log "cluster $name exists but its apiserver does not answer"; return 1
	else
		log "cluster $name does not exist"; return 1
	fi
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
apiserver-stop) apiserver_stop ;;
apiserver-start) apiserver_start ;;
*) echo "usage: $0 up|down|status|apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
