#!/usr/bin/env bash
# Builds the test cluster's programs (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok, kwokctl; and for the real node
# kubelet, kube-proxy and crictl) from the pinned modules under hack/tools
# into bin/, and the real node's image archive bin/images.tar (test/images).
# Does nothing when bin/ already holds binaries built from the same
# go.mod/go.sum files and an archive built from the same sources.
#
#   hack/build-tools.sh          all of it
#   hack/build-tools.sh images   the image archive alone
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
tools="$root/hack/tools"
mkdir -p "$bin"
# one build at a time: a second caller waits, then finds the tools up to date
exec 9>"$bin/.tools-lock"
flock 9

# images: the real node's image archive, rebuilt when test/images changes
images() {
	local stamp="$bin/.images-stamp" want
	want=$(cd "$root" && find test/images -type f -name '*.go' | sort | xargs cat | sha256sum | cut -d' ' -f1)
	if [ -f "$bin/images.tar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		echo "tools: images up to date in $bin/images.tar"
		return
	fi
	echo "tools: building the real node's images into $bin/images.tar"
	(cd "$root" && go run ./test/images/build -o "$bin/images.tar")
	echo "$want" >"$stamp"
}
if [ "${1:-}" = images ]; then
	images
	exit 0
fi
images

kube_version=v1.37.2
stamp="$bin/.tools-stamp"
want=$(cat "$tools"/go.mod "$tools"/go.sum "$tools"/etcd/go.mod "$tools"/etcd/go.sum \
	"$tools"/kwok/go.mod "$tools"/kwok/go.sum "$tools"/crictl/go.mod "$tools"/crictl/go.sum \
	"$0" | sha256sum | cut -d' ' -f1)
all_present=true
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd kwok kwokctl crictl; do
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

echo "tools: building Kubernetes $kube_version control plane and node (first build takes several minutes)"
(cd "$tools" && for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
	go build -trimpath -ldflags "$kube_ldflags" -o "$bin/$c" k8s.io/kubernetes/cmd/$c
done)
# kubectl, for machines without one on PATH (the e2e harness prefers the
# kubectl on PATH); its client version lives in client-go as well
cv=k8s.io/client-go/pkg/version
kubectl_ldflags="$kube_ldflags -X $cv.gitVersion=$kube_version -X $cv.gitMajor=1 -X $cv.gitMinor=37"
kubectl_ldflags+=" -X $cv.gitTreeState=clean -X $cv.buildDate=$build_date"
kubectl_ldflags+=" -X $cv.gitCommit=0000000000000000000000000000000000000000"
(cd "$tools" && go build -trimpath -ldflags "$kubectl_ldflags" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl)
echo "tools: building etcd"
(cd "$tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
echo "tools: building kwok and kwokctl"
kwok_ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0"
kwok_ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}"
(cd "$tools/kwok" && go build -trimpath -ldflags "$kwok_ldflags" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok \
	&& go build -trimpath -ldflags "$kwok_ldflags" -o "$bin/kwokctl" sigs.k8s.io/kwok/cmd/kwokctl)
echo "tools: building crictl"
(cd "$tools/crictl" && go build -trimpath -ldflags "-s -w" -o "$bin/crictl" sigs.k8s.io/cri-tools/cmd/crictl)
echo "$want" > "$stamp"
"$bin/kube-apiserver" --version
echo "tools: built into $bin"
