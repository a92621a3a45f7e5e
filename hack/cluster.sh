#!/usr/bin/env bash
# The local test cluster: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler built by hack/build-tools.sh) with
# simulated nodes and pod lifecycles (kwok, stages in hack/kwok/stages),
# orchestrated by `kwokctl --runtime binary`, and one real node (containerd,
# kubelet, kube-proxy: hack/node.sh) for the tests that send requests.
# Everything lives under the repo's ignored .cluster/ directory; every port
# of the control plane is on 127.0.0.1.
#
#   hack/cluster.sh up              start the cluster, or reuse the running one
#   hack/cluster.sh down            delete it
#   hack/cluster.sh status          say whether it is up
#   hack/cluster.sh apiserver-stop  stop kube-apiserver alone (the rest keeps running);
#                                   --kill: SIGKILL at once, as a crash
#   hack/cluster.sh apiserver-start start it again with the same command line
#
# The kubeconfig is written to .cluster/kubeconfig. Several people may share
# one cluster: `up` never restarts a healthy cluster. ZDD_CLUSTER_NAME=other
# manages a second, private cluster (kubeconfig .cluster/kubeconfig-other).
#
# ZDD_CLUSTER_AUDIT_POLICY=FILE creates the cluster with that audit policy
# (the log: .cluster/kwok/clusters/NAME/logs/audit.log); bench/scale.sh
# counts each command's API requests from it.
#
# ZDD_REAL_NODE=0 leaves the real node out. Otherwise `up` brings it up when
# the machine can run one (root, containerd and the rest: hack/node.sh check);
# when it cannot, the cluster comes up without it, says why, and records the
# reason in .cluster/node-NAME/unavailable for the tests that need it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
state="$root/.cluster"
name="${ZDD_CLUSTER_NAME:-zdd-e2e}"
nodes="${ZDD_CLUSTER_NODES:-3}"
# the default cluster's kubeconfig is .cluster/kubeconfig; another name (for
# a private cluster next to the shared one) gets .cluster/kubeconfig-NAME
kubeconfig="$state/kubeconfig"
[ "$name" = zdd-e2e ] || kubeconfig="$state/kubeconfig-$name"
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
# fd 9 holds the lock (see lock below): the cluster's processes, started by
# kwokctl, must not inherit it
kwokctl() { "$bin/kwokctl" --name "$name" "$@" 9>&-; }
node() { ZDD_CLUSTER_NAME="$name" "$root/hack/node.sh" "$@" 9>&-; }
real_node=true
[ "${ZDD_REAL_NODE:-1}" != 0 ] || real_node=false
nodedir="$state/node-$name"

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
	# the simulated nodes (the real node carries zdd.dev/real-node)
	have=$(k get nodes -l '!zdd.dev/real-node' -o name 2>/dev/null | wc -l)
	if [ "$have" -lt "$nodes" ]; then
		kwokctl scale node --replicas "$nodes" >/dev/null
	fi
	k wait --for=condition=Ready node -l '!zdd.dev/real-node' --timeout=60s >/dev/null
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
	# the Services' addresses are this cluster's own range, routed to its
	# real node (hack/node.sh alloc); without a real node, kwokctl's default
	local service_args=()
	if $real_node && [ "$(id -u)" = 0 ]; then
		service_args=(--extra-args "kube-apiserver=service-cluster-ip-range=$(node alloc)")
	fi
	local audit_args=()
	if [ -n "${ZDD_CLUSTER_AUDIT_POLICY:-}" ]; then
		[ -f "$ZDD_CLUSTER_AUDIT_POLICY" ] || die "ZDD_CLUSTER_AUDIT_POLICY: no file $ZDD_CLUSTER_AUDIT_POLICY"
		audit_args=(--kube-audit-policy "$ZDD_CLUSTER_AUDIT_POLICY")
	fi
	log "creating kwok cluster $name (workdir $KWOK_WORKDIR)"
	kwokctl "${config_flags[@]}" create cluster \
		--runtime binary \
		--etcd-binary "$bin/etcd" \
		--kube-apiserver-binary "$bin/kube-apiserver" \
		--kube-controller-manager-binary "$bin/kube-controller-manager" \
		--kube-scheduler-binary "$bin/kube-scheduler" \
		--kwok-controller-binary "$bin/kwok" \
		--kube-authorization \
		`# single instances: no leader election, so they outlive an apiserver restart` \
		--extra-args kube-controller-manager=leader-elect=false \
		--extra-args kube-scheduler=leader-elect=false \
		"${service_args[@]}" \
		"${audit_args[@]}" \
		--kubeconfig "$kubeconfig" \
		--wait 90s >&2
}

up() {
	local start=$SECONDS
	if healthy; then
		ensure_nodes
		real_node_up
		log "reusing running cluster $name ($kubeconfig)"
		return
	fi
	if [ -d "$clusterdir" ]; then
		# created before but not answering: its processes stopped (a reboot,
		# or a stopped apiserver); start them again
		log "starting stopped cluster $name"
		kwokctl start cluster >&2 || true
		if [ -d "$records" ]; then apiserver_start; fi
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
	real_node_up
	log "cluster $name up in $((SECONDS - start))s; export KUBECONFIG=$kubeconfig"
}

# real_node_up brings up (or repairs) the cluster's real node. It never fails
# the cluster: when the node cannot run, the reason is logged and recorded
# in $nodedir/unavailable, where the tests that need the node read it.
real_node_up() {
	if ! $real_node; then
		mkdir -p "$nodedir"
		echo "ZDD_REAL_NODE=0: the cluster was brought up without its real node" >"$nodedir/unavailable"
		return
	fi
	if [ ! -s "$nodedir/index" ]; then
		mkdir -p "$nodedir"
		echo "cluster $name was created without a real node (before hack/node.sh, or not as root): recreate it with hack/cluster.sh down; hack/cluster.sh up" >"$nodedir/unavailable"
		log "$(cat "$nodedir/unavailable")"
		return
	fi
	"$root/hack/build-tools.sh" images >&2 || true
	if ! node up; then
		log "cluster $name runs WITHOUT its real node; the tests that send requests need it"
		[ -s "$nodedir/unavailable" ] || echo "hack/node.sh up failed; see its output and $nodedir/logs" >"$nodedir/unavailable"
	fi
}

down() {
	node down || true
	rm -rf "$nodedir"
	if [ -d "$clusterdir" ]; then
		kwokctl delete cluster --kubeconfig "$kubeconfig" >&2
	fi
	rm -rf "$kubeconfig" "$records"
	log "cluster $name deleted"
}

component_pid() {
	local f="$clusterdir/pids/$1.pid"
	[ -f "$f" ] || return 1
	local pid
	pid=$(cat "$f")
	alive "$pid" || return 1
	echo "$pid"
}

# alive: the process exists and is not a zombie (nothing may reap it here)
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

records="$state/components-$name"

# launch starts component $1 again from the command line recorded by
# apiserver-stop, detached, logging where kwokctl logs it.
launch() {
	local c=$1 args=() cwd
	mapfile -t args <"$records/$c.cmdline"
	cwd=$(cat "$records/$c.cwd" 2>/dev/null || echo "$clusterdir")
	mkdir -p "$clusterdir/logs"
	(cd "$cwd" && exec setsid "${args[@]}" >>"$clusterdir/logs/$c.log" 2>&1 </dev/null 9>&-) &
	# no newline: kwokctl parses this file with strconv.Atoi
	printf %s "$!" >"$clusterdir/pids/$c.pid"
}

# kwokctl v0.8.0 can only stop and start a whole cluster (kwokctl stop|start
# cluster), so the apiserver is stopped by signalling its process, after
# recording the command lines of all components, and started again from that
# record.
apiserver_stop() {
	local pid c f
	pid=$(component_pid kube-apiserver) || die "kube-apiserver of $name is not running"
	rm -rf "$records"
	mkdir -p "$records"
	for f in "$clusterdir"/pids/*.pid; do
		c=$(basename "$f" .pid)
		local p
		p=$(component_pid "$c") || continue
		tr '\0' '\n' <"/proc/$p/cmdline" >"$records/$c.cmdline"
		readlink "/proc/$p/cwd" >"$records/$c.cwd"
	done
	# SIGTERM, as an orderly shutdown; SIGKILL after 5s (its graceful
	# shutdown drains watches and can take longer). --kill: SIGKILL at
	# once, as a crash.
	log "kube-apiserver (pid $pid) stopping at $(date +%s.%3N)"
	if [ "${1:-}" = --kill ]; then kill -9 "$pid"; else kill "$pid"; fi
	local deadline=$((SECONDS + 5))
	while alive "$pid"; do
		[ $SECONDS -lt $deadline ] || { kill -9 "$pid" 2>/dev/null || true; }
		sleep 0.1
	done
	log "kube-apiserver (pid $pid) stopped"
}

# apiserver_start starts the apiserver again, then any component that exited
# meanwhile (kube-controller-manager and kube-scheduler exit when they lose
# their leader lease, and a kubelet would restart them).
apiserver_start() {
	[ -d "$records" ] || die "no recorded command lines (run apiserver-stop first)"
	if component_pid kube-apiserver >/dev/null; then
		log "kube-apiserver already running"
	else
		local launched
		launched=$(date +%s.%N)
		launch kube-apiserver
		wait_healthy 60 || die "kube-apiserver not ready 60s after restart"
		# the times (Unix seconds) let a test measure how soon clients
		# pick up after the restart: the apiserver may serve requests
		# before /readyz says so
		log "kube-apiserver started again (pid $(cat "$clusterdir/pids/kube-apiserver.pid")): launched at ${launched:0:14}, ready at $(date +%s.%3N)"
	fi
	local f c
	for f in "$records"/*.cmdline; do
		c=$(basename "$f" .cmdline)
		if ! component_pid "$c" >/dev/null; then
			launch "$c"
			log "$c had exited; started again (pid $(cat "$clusterdir/pids/$c.pid"))"
		fi
	done
	rm -rf "$records"
}

status() {
	if healthy; then
		log "cluster $name is up: $(k get nodes --no-headers 2>/dev/null | wc -l) nodes; KUBECONFIG=$kubeconfig"
		node status || true
	elif [ -d "$clusterdir" ]; then
		log "cluster $name exists but its apiserver does not answer"; return 1
	else
		log "cluster $name does not exist"; return 1
	fi
}

# up and down hold a lock, so that two test runs starting at once do not
# both create the cluster
lock() {
	mkdir -p "$state"
	exec 9>"$state/.lock-$name"
	flock 9
}

case "${1:-}" in
up) lock; up ;;
down) lock; down ;;
status) status ;;
apiserver-stop) apiserver_stop "${2:-}" ;;
apiserver-start) apiserver_start ;;
*) echo "usage: $0 up|down|status|apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
