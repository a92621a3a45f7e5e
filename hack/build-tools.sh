#!/usr/bin/env bash
# Builds the test cluster's programs (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd, kwok, kwokctl) from the pinned modules under hack/tools
# into bin/. Does nothing when bin/ already holds binaries built from the same
# go.mod/go.sum files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
tools="$root/hack/tools"
mkdir -p "$bin"

kube_version=v1.37.2
stamp="$bin/.tools-stamp"
want=$(cat "$tools"/go.mod "$tools"/go.sum "$tools"/etcd/go.mod "$tools"/etcd/go.sum \
	"$tools"/kwok/go.mod "$tools"/kwok/go.sum "$0" | sha256sum | cut -d' ' -f1)
all_present=true
for b in kube-apiserver kube-controller-manager kube-scheduler etcd kwok kwokctl; do
	[ -x "$bin/$b" ] || all_present=false
done
if $all_present && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "tools: up to date in $bin"
	exit 0
fi

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kv=k8s.io/component-base/version
kube_ldflags="-s -w -X $kv.gitVersion=$kube_version -X $kv.gitMajor=1 -X $kv.gitMinor=37"
kube_ldflags+=" -X $kv.gitTreeState=clean -X $kv.buildDate=$build_date"
kube_ldflags+=" -X $kv.gitCommit=0000000000000000000000000000000000000000"

echo "tools: building Kubernetes $kube_version control plane (first build takes several minutes)"
(cd "$tools" && for c in kube-apiserver kube-controller-manager kube-scheduler; do
	go build -trimpath -ldflags "$kube_ldflags" -o "$bin/$c" k8s.io/kubernetes/cmd/$c
done)
echo "tools: building etcd"
(cd "$tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
echo "tools: building kwok and kwokctl"
kwok_ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0"
kwok_ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}"
(cd "$tools/kwok" && go build -trimpath -ldflags "$kwok_ldflags" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok \
	&& go build -trimpath -ldflags "$kwok_ldflags" -o "$bin/kwokctl" sigs.k8s.io/kwok/cmd/kwokctl)
echo "$want" > "$stamp"
"$bin/kube-apiserver" --version
echo "tools: built into $bin"
