#!/usr/bin/env bash
# The real node of a test cluster: real containers (containerd, runc),
# a real kubelet and a real kube-proxy (iptables mode) beside the cluster's
# simulated kwok nodes, so that requests sent to a Service reach real
# programs and a release can be judged by the requests it loses.
#
#   hack/node.sh alloc   reserve this cluster's addresses; prints the Service CIDR
#   hack/node.sh up      bring the node up, or repair it (idempotent)
#   hack/node.sh down    stop it and remove everything it made
#   hack/node.sh status  say whether it is up; exit 1 if not
#   hack/node.sh check   say what this machine lacks to run one; exit 1 if anything
#   hack/node.sh env     print the node's facts as KEY=VALUE lines
#
# hack/cluster.sh calls it; ZDD_CLUSTER_NAME names the cluster, as there.
#
# Everything lives in a network namespace of its own, "zdd-NAME": containerd,
# the kubelet, kube-proxy and the pods' bridge. So several clusters can each
# have a real node, kube-proxy's iptables rules never touch the machine's own
# tables, and deleting the namespace removes every rule and link it made.
# The machine keeps only two routes to the namespace (the pods' and the
# Services' CIDRs), which go with its veth link. Nothing is routed out of the
# namespace but to this machine: no request a test sends can leave it. The
# namespace reaches the API server on 127.0.0.1 through a pair of socat
# relays joined by a unix socket, so the API server stays on loopback.
#
# Addresses, from the cluster's index K (1..250, allocated by `alloc`):
#   172.30.K.1/30   this machine's end of the veth link (zddhK)
#   172.30.K.2/30   the node's address (eth0 in the namespace)
#   10.201.K.0/24   pods, on the bridge zdd0 (gateway 10.201.K.1)
#   10.202.K.0/24   Services (the API server's --service-cluster-ip-range)
#
# Images come from .cluster/images.tar (test/images/build), imported with
# ctr; pods use imagePullPolicy: Never. The node is tainted
# zdd.dev/real-node=true:NoSchedule and labelled zdd.dev/real-node=true, so
# only pods that ask for it run there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
state="$root/.cluster"
name="${ZDD_CLUSTER_NAME:-zdd-e2e}"
kubeconfig="$state/kubeconfig"
[ "$name" = zdd-e2e ] || kubeconfig="$state/kubeconfig-$name"
nodedir="$state/node-$name"
# set by addresses, from the cluster's index K (unique on this machine even
# for clusters of the same name in two checkouts): the network namespace
# zdd-nK and the sockets' directory /run/zdd/nK (short: a unix socket path
# has at most 107 bytes)
netns=
run=
nsexec=()
images="$bin/images.tar"
pause_image=zdd.local/pause:1
taint_key=zdd.dev/real-node

log() { echo "node: $*" >&2; }
die() { log "$*"; exit 1; }

kubectl_bin() {
	if command -v kubectl >/dev/null 2>&1; then command -v kubectl
	elif [ -x "$bin/kubectl" ]; then echo "$bin/kubectl"
	else die "no kubectl on PATH and none in $bin (run make tools)"; fi
}
k() { "$(kubectl_bin)" --kubeconfig "$kubeconfig" "$@"; }

# alive: the process exists and is not a zombie
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

pid_of() {
	local f="$nodedir/pids/$1.pid" p
	[ -f "$f" ] || return 1
	p=$(cat "$f")
	alive "$p" || return 1
	echo "$p"
}

# --- what the machine must have -------------------------------------------

# missing prints one line per thing this machine lacks to run a real node.
missing() {
	[ "$(id -u)" = 0 ] || echo "not root (the kubelet, containerd and network namespaces need root)"
	local c
	for c in containerd containerd-shim-runc-v2 runc ctr iptables iptables-restore conntrack socat nsenter ip; do
		command -v "$c" >/dev/null 2>&1 || echo "no $c on PATH (hack/install-deps.sh installs it)"
	done
	for c in bridge host-local loopback; do
		[ -x "/usr/lib/cni/$c" ] || echo "no CNI plugin /usr/lib/cni/$c (Debian package containernetworking-plugins)"
	done
	for c in kubelet kube-proxy crictl; do
		[ -x "$bin/$c" ] || echo "no $bin/$c (make tools builds it)"
	done
	[ -d /sys/fs/cgroup ] || echo "no /sys/fs/cgroup"
}

check() {
	local m
	m=$(missing)
	if [ -n "$m" ]; then
		echo "$m"
		return 1
	fi
	echo "this machine can run a real node"
}

# --- addresses ---------------------------------------------------------------

# alloc gives the cluster an index K (kept in $nodedir/index) that no other
# cluster on this machine holds; the registry of indexes is /run/zdd/index.
alloc() {
	mkdir -p "$nodedir" /run/zdd/index
	if [ -s "$nodedir/index" ]; then
		local k owner
		k=$(cat "$nodedir/index")
		owner=$(cat "/run/zdd/index/$k" 2>/dev/null || true)
		if [ -z "$owner" ] || [ "$owner" = "$nodedir" ]; then
			echo "$nodedir" >"/run/zdd/index/$k"
			return
		fi
		# another cluster holds it (this one was copied, or /run was
		# cleared and the index taken): choose again
		rm -f "$nodedir/index"
	fi
	exec 8>/run/zdd/index.lock
	flock 8
	local k
	for k in $(seq 1 250); do
		local f="/run/zdd/index/$k" owner
		owner=$(cat "$f" 2>/dev/null || true)
		# free, or held by a cluster whose state is gone
		if [ -z "$owner" ] || [ ! -d "$owner" ]; then
			echo "$nodedir" >"$f"
			echo "$k" >"$nodedir/index"
			exec 8>&-
			return
		fi
	done
	die "no free index for a real node (250 in use under /run/zdd/index)"
}

addresses() {
	[ -s "$nodedir/index" ] || alloc
	K=$(cat "$nodedir/index")
	host_if="zddh$K"
	host_ip="172.30.$K.1"
	node_ip="172.30.$K.2"
	pod_cidr="10.201.$K.0/24"
	pod_gw="10.201.$K.1"
	service_cidr="10.202.$K.0/24"
	netns="zdd-n$K"
	run="/run/zdd/n$K"
	nsexec=(nsenter "--net=/run/netns/$netns")
}

env_out() {
	addresses
	echo "NODE_NAME=$name"
	echo "NODE_IP=$node_ip"
	echo "HOST_IP=$host_ip"
	echo "POD_CIDR=$pod_cidr"
	echo "SERVICE_CIDR=$service_cidr"
	echo "NETNS=$netns"
	echo "TAINT_KEY=$taint_key"
	echo "CONTAINERD_SOCKET=$run/containerd.sock"
}

# --- network ---------------------------------------------------------------

network_up() {
	addresses
	if [ ! -e "/run/netns/$netns" ]; then
		ip netns add "$netns"
	fi
	if ! ip link show "$host_if" >/dev/null 2>&1; then
		ip -n "$netns" link del eth0 2>/dev/null || true
		ip link add "$host_if" type veth peer name eth0 netns "$netns"
	fi
	ip addr replace "$host_ip/30" dev "$host_if"
	ip link set "$host_if" up
	ip -n "$netns" addr replace "$node_ip/30" dev eth0
	ip -n "$netns" link set eth0 up
	ip -n "$netns" link set lo up
	# the pods' bridge, made before the first pod so that the Service CIDR
	# can be routed to it: a packet to a Service address that kube-proxy
	# has not rewritten yet stays here
	if ! ip -n "$netns" link show zdd0 >/dev/null 2>&1; then
		ip -n "$netns" link add zdd0 type bridge
	fi
	# a fixed MAC: a bridge without one takes the lowest MAC of its ports,
	# so it changes as pods come and go, and the pods' ARP entries for
	# their gateway go stale: their answers to this machine are lost for a
	# second or more (the meter saw dial timeouts on new connections at a
	# pod's start or stop, with nothing wrong in the release)
	ip -n "$netns" link set zdd0 address "$(printf '02:7a:64:64:%02x:01' "$K")"
	ip -n "$netns" addr replace "$pod_gw/24" dev zdd0
	ip -n "$netns" link set zdd0 up
	ip -n "$netns" route replace "$service_cidr" dev zdd0
	"${nsexec[@]}" sysctl -qw net.ipv4.ip_forward=1
	# this machine reaches the pods and the Services through the link
	ip route replace "$pod_cidr" via "$node_ip" dev "$host_if"
	ip route replace "$service_cidr" via "$node_ip" dev "$host_if"
}

# --- processes ---------------------------------------------------------------

# put FILE: write stdin to FILE only when it differs from what FILE holds.
# kube-proxy exits when its configuration file is written to ("content of
# the proxy server's configuration file was updated"), even with the same
# content: an `up` that repairs a node must not touch the files of running
# components.
put() {
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$1"
	fi
}

# start NAME CMD...: run CMD detached, logging to $nodedir/logs/NAME.log
start() {
	local c=$1
	shift
	mkdir -p "$nodedir/logs" "$nodedir/pids"
	if pid_of "$c" >/dev/null; then return; fi
	if [ -f "$nodedir/pids/$c.pid" ]; then
		log "$c (pid $(cat "$nodedir/pids/$c.pid")) had stopped; starting it again (its log: $nodedir/logs/$c.log)"
	fi
	(exec setsid "$@" >>"$nodedir/logs/$c.log" 2>&1 </dev/null 8>&- 9>&-) &
	echo "$!" >"$nodedir/pids/$c.pid"
}

stop() {
	local c=$1 p
	p=$(pid_of "$c") || { rm -f "$nodedir/pids/$c.pid"; return 0; }
	kill "$p" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while alive "$p"; do
		[ $SECONDS -lt $deadline ] || { kill -9 "$p" 2>/dev/null || true; }
		sleep 0.1
	done
	rm -f "$nodedir/pids/$c.pid"
}

wait_for() {
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
	log "$what ready"
}

apiserver_port() {
	local server
	server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
	echo "${server##*:}"
}

relay_up() {
	local port
	port=$(apiserver_port)
	mkdir -p "$run"
	# this machine's end: the unix socket to the API server on loopback
	start relay-host socat "UNIX-LISTEN:$run/apiserver.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$port"
	wait_for "relay to the API server" 10 test -S "$run/apiserver.sock" || die "the relay's socket $run/apiserver.sock did not appear"
	# the namespace's end: the same address, 127.0.0.1:PORT, in the namespace
	start relay-node "${nsexec[@]}" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$run/apiserver.sock"
}

containerd_up() {
	addresses
	mkdir -p "$run" "$nodedir/containerd" "$nodedir/cni/net.d" "$nodedir/cni/ipam"
	put "$nodedir/containerd/config.toml" <<EOF
# containerd of the real node of cluster $name (hack/node.sh)
version = 2
root = "$nodedir/containerd/root"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$nodedir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # this VM withholds CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    # containerd 1.6 with a version 2 config: without this, sandboxes fail
    # with "container.Runtime.Name must be set"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nodedir/cni/net.d"
    max_conf_num = 1
EOF
	put "$nodedir/cni/net.d/10-zdd.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "zdd-$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "zdd0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$nodedir/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gw"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
	start containerd "${nsexec[@]}" containerd --config "$nodedir/containerd/config.toml"
	wait_for containerd 30 ctr --address "$run/containerd.sock" version || die "containerd did not start; see $nodedir/logs/containerd.log"
}

images_up() {
	[ -f "$images" ] || die "no image archive $images (hack/build-tools.sh images makes it)"
	local sum
	sum=$(sha256sum "$images" | cut -d' ' -f1)
	if [ "$(cat "$nodedir/images.sum" 2>/dev/null)" = "$sum" ] \
		&& ctr --address "$run/containerd.sock" -n k8s.io images ls -q | grep -qx "$pause_image"; then
		return
	fi
	ctr --address "$run/containerd.sock" -n k8s.io images import "$images" >/dev/null
	echo "$sum" >"$nodedir/images.sum"
	log "images imported: $(ctr --address "$run/containerd.sock" -n k8s.io images ls -q | grep '^zdd.local/' | tr '\n' ' ')"
}

kubelet_up() {
	addresses
	mkdir -p "$nodedir/kubelet"
	put "$nodedir/kubelet.yaml" <<EOF
# kubelet of the real node of cluster $name (hack/node.sh)
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$run/containerd.sock
# this machine: cgroup v1 hierarchy, no systemd, swap allowed
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# the imported images are all there is: never collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
maxPods: 40
serializeImagePulls: false
registerWithTaints:
- key: $taint_key
  value: "true"
  effect: NoSchedule
EOF
	start kubelet "${nsexec[@]}" "$bin/kubelet" \
		--config "$nodedir/kubelet.yaml" \
		--kubeconfig "$kubeconfig" \
		--root-dir "$nodedir/kubelet" \
		--cert-dir "$nodedir/kubelet/pki" \
		--hostname-override "$name" \
		--node-ip "$node_ip" \
		--node-labels "$taint_key=true" \
		--v 1
}

proxy_up() {
	addresses
	put "$nodedir/kube-proxy.yaml" <<EOF
# kube-proxy of the real node of cluster $name (hack/node.sh)
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $kubeconfig
hostnameOverride: $name
clusterCIDR: $pod_cidr
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  # leave the kernel's conntrack settings alone
  maxPerCore: 0
  min: 0
iptables:
  localhostNodePorts: false
EOF
	start kube-proxy "${nsexec[@]}" "$bin/kube-proxy" --config "$nodedir/kube-proxy.yaml" --v 1
}

node_ready() {
	[ "$(k get node "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

up() {
	local m
	m=$(missing)
	if [ -n "$m" ]; then
		mkdir -p "$nodedir"
		echo "$m" >"$nodedir/unavailable"
		log "no real node on this machine:"
		sed 's/^/node:   /' <<<"$m" >&2
		return 1
	fi
	rm -f "$nodedir/unavailable"
	local t0=$SECONDS
	addresses
	network_up
	relay_up
	containerd_up
	images_up
	kubelet_up
	proxy_up
	wait_for "node $name" 90 node_ready || die "node $name not Ready after 90s; see $nodedir/logs/kubelet.log"
	wait_for kube-proxy 30 "${nsexec[@]}" iptables -t nat -S KUBE-SERVICES || die "kube-proxy made no rules; see $nodedir/logs/kube-proxy.log"
	# the facts a test needs, readable with the cluster's own credentials
	k -n kube-system create configmap zdd-real-node --from-literal=node="$name" \
		--from-literal=nodeIP="$node_ip" --from-literal=podCIDR="$pod_cidr" \
		--from-literal=serviceCIDR="$service_cidr" --from-literal=taint="$taint_key" \
		--dry-run=client -o yaml | k apply -f - >/dev/null
	log "real node $name up in $((SECONDS - t0))s: node $node_ip, pods $pod_cidr, services $service_cidr (netns $netns)"
}

down() {
	[ -d "$nodedir" ] || return 0
	if [ ! -s "$nodedir/index" ]; then
		rm -rf "$nodedir"
		return 0
	fi
	addresses
	stop kube-proxy
	stop kubelet
	# remove the pods' sandboxes through the runtime, which also removes
	# their network namespaces and IP allocations
	if pid_of containerd >/dev/null && [ -x "$bin/crictl" ]; then
		local cri=("$bin/crictl" --runtime-endpoint "unix://$run/containerd.sock" --timeout 20s)
		"${cri[@]}" stopp $("${cri[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
		"${cri[@]}" rmp -f $("${cri[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
	fi
	stop containerd
	# shims whose containerd is gone
	local p
	for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $run/containerd.sock" || true); do
		kill -9 "$p" 2>/dev/null || true
	done
	stop relay-node
	stop relay-host
	# mounts left under the node's directories (overlay rootfs, volumes)
	local m
	for m in $(awk -v a="$nodedir/" -v b="$run/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	if [ -e "/run/netns/$netns" ]; then
		ip netns del "$netns"
	fi
	# the link and its routes go with the namespace; in case the
	# namespace was already gone:
	ip link del "$host_if" 2>/dev/null || true
	rm -rf "$run"
	local owner
	owner=$(cat "/run/zdd/index/$K" 2>/dev/null || true)
	[ "$owner" != "$nodedir" ] || rm -f "/run/zdd/index/$K"
	rm -rf "$nodedir"
	log "real node $name removed"
}

status() {
	if [ -f "$nodedir/unavailable" ]; then
		log "no real node: $(tr '\n' ';' <"$nodedir/unavailable")"
		return 1
	fi
	local c
	for c in containerd kubelet kube-proxy relay-host relay-node; do
		pid_of "$c" >/dev/null || { log "real node $name: $c is not running"; return 1; }
	done
	node_ready || { log "real node $name is not Ready"; return 1; }
	log "real node $name is up"
}

case "${1:-}" in
alloc) alloc; addresses; echo "$service_cidr" ;;
up) up ;;
down) down ;;
status) status ;;
check) check ;;
env) env_out ;;
*) echo "usage: $0 alloc|up|down|status|check|env" >&2; exit 2 ;;
esac
