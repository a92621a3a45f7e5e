#!/usr/bin/env bash
# Times `kubectl zdd lint -f CORPUS -o json` against `kube-score score
# CORPUS -o json` side by side on two 10,000-object corpora, in the same
# run: RUNS pairs (A B A B ...), median wall time and median peak memory of
# each, and the ratio taken pair by pair (median). Prints a markdown table.
#   corpusgen     bench/corpusgen's generated apps (Deployments, Services, PDBs)
#   bookinfo      Istio's Bookinfo sample, samples/bookinfo/platform/kube/
#                 bookinfo.yaml (a public Apache-2.0 multi-service release
#                 manifest: Deployments, Services, ServiceAccounts), repeated
#                 one namespace per copy. It is taken from the istio.io/istio
#                 module at a pinned version through the Go module proxy
#                 (`go mod download`, about 58 MB once into the module
#                 cache); no other network, and nothing of it is committed.
#   OBJECTS  corpus size (default 10000)
#   RUNS     pairs per corpus (default 5)
# Targets (issue 18): at least 10x faster than kube-score in wall time and
# at most 100 MiB peak, on both corpora; the script exits 1 when one is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
objects=${OBJECTS:-10000}
runs=${RUNS:-5}
kube_score_version=v1.20.0
istio_module=istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x bin/kubectl-zdd ] || make build >/dev/null
if [ ! -x bin/kube-score ] || [ "$(cat bin/.kube-score-version 2>/dev/null)" != "$kube_score_version" ]; then
	echo "installing kube-score $kube_score_version into bin/ (once)"
	GOBIN=$root/bin go install "github.com/zegl/kube-score/cmd/kube-score@$kube_score_version"
	echo "$kube_score_version" >bin/.kube-score-version
fi

# measure CMD...: "wall_seconds peak_KiB" of one run (output thrown away).
if [ -x /usr/bin/time ]; then
	measure() {
		/usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1 || true
		tail -1 "$work/time"
	}
else
	go build -o "$work/rusage" ./bench/rusage
	measure() { "$work/rusage" "$@"; }
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

go run ./bench/corpusgen -objects "$objects" >"$work/corpusgen.yaml"
# The module's directory in the module cache (downloaded from GOPROXY once),
# asked outside this module so that go.mod and go.sum stay as they are.
istio_dir=$(cd "$work" && go mod download -json "$istio_module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
bookinfo=$istio_dir/samples/bookinfo/platform/kube/bookinfo.yaml
[ -f "$bookinfo" ] || { echo "lint.sh: no $bookinfo (go mod download $istio_module)" >&2; exit 2; }
go run ./bench/corpusgen -objects "$objects" -repeat "$bookinfo" >"$work/bookinfo.yaml"

fail=0
rows=()
for corpus in corpusgen bookinfo; do
	f=$work/$corpus.yaml
	n=$(grep -c '^kind:' "$f")
	mb=$(awk -v b="$(wc -c <"$f")" 'BEGIN{printf "%.1f", b/1e6}')
	: >"$work/z" ; : >"$work/k"; : >"$work/r"
	for _ in $(seq "$runs"); do
		read -r zt zm < <(measure bin/kubectl-zdd lint -f "$f" -o json)
		read -r kt km < <(measure bin/kube-score score "$f" -o json)
		echo "$zt $zm" >>"$work/z"
		echo "$kt $km" >>"$work/k"
		awk -v k="$kt" -v z="$zt" 'BEGIN{ if (z > 0) printf "%.2f\n", k/z; else print 0 }' >>"$work/r"
	done
	zt=$(cut -d' ' -f1 "$work/z" | median); zm=$(cut -d' ' -f2 "$work/z" | median)
	kt=$(cut -d' ' -f1 "$work/k" | median); km=$(cut -d' ' -f2 "$work/k" | median)
	ratio=$(median <"$work/r")
	zmib=$(awk -v k="$zm" 'BEGIN{printf "%.0f", k/1024}')
	kmib=$(awk -v k="$km" 'BEGIN{printf "%.0f", k/1024}')
	verdict=ok
	if awk -v r="$ratio" 'BEGIN{exit !(r < 10)}'; then verdict="MISSED: under 10x"; fail=1; fi
	if [ "$zmib" -gt 100 ]; then verdict="MISSED: over 100 MiB"; fail=1; fi
	rows+=("| $corpus | $n | $mb MB | $zt s | $zmib MiB | $kt s | $kmib MiB | ${ratio}x | $verdict |")
done

echo
echo "kubectl zdd lint -o json vs kube-score $kube_score_version score -o json, $runs pairs each, medians:"
echo
echo "| corpus | objects | size | zdd wall | zdd peak | kube-score wall | kube-score peak | kube-score/zdd (wall, per pair) | target 10x, 100 MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
uptime | sed 's/^/load:/'
exit "$fail"
