#!/usr/bin/env bash
# Times `kubectl zdd lint -o json` against `kube-score score` on the same
# generated corpus (realistic Deployments, Services and PDBs), in the same
# run, and prints both times, the ratio and the peak memory of each.
#   OBJECTS  corpus size (default 10000)
#   RUNS     runs of each tool; the best wall time counts (default 1)
# Targets: at least 5x faster than kube-score, under 200 MB peak.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
objects=${OBJECTS:-10000}
runs=${RUNS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x bin/kubectl-zdd ] || make build >/dev/null
if [ ! -x bin/kube-score ]; then
	echo "installing kube-score into bin/ (once)"
	GOBIN=$root/bin go install github.com/zegl/kube-score/cmd/kube-score@latest
fi

# Peak memory: /usr/bin/time -v when present, else a tiny Go wrapper that
# reads the child's rusage.
if [ -x /usr/bin/time ]; then
	measure() { /usr/bin/time -v "$@" 2>"$work/time.err" >/dev/null || true
		local wall rss
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.err")
		rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.err")
		# h:mm:ss or m:ss.cc -> seconds
		echo "$(echo "$wall" | awk -F: '{s=0; for (i=1;i<=NF;i++) s=s*60+$i; printf "%.2f", s}') $rss"; }
else
	go build -o "$work/rusage" ./bench/rusage
	measure() { "$work/rusage" "$@"; }
fi

echo "generating a corpus of $objects objects"
go run ./bench/corpusgen -objects "$objects" > "$work/corpus.yaml"
echo "corpus: $(wc -c < "$work/corpus.yaml") bytes, $(grep -c '^kind:' "$work/corpus.yaml") objects"

best() { # best wall time and its peak RSS over $runs runs of "$@"
	local b="" brss=""
	for _ in $(seq "$runs"); do
		read -r t rss < <(measure "$@")
		if [ -z "$b" ] || awk -v a="$t" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=$t; brss=$rss; fi
	done
	echo "$b $brss"
}
read -r zt zrss < <(best bin/kubectl-zdd lint -o json -f "$work/corpus.yaml")
read -r kt krss < <(best bin/kube-score score "$work/corpus.yaml")
printf '%-40s %8ss %8d MB peak\n' "kubectl zdd lint -o json -f corpus.yaml" "$zt" $((zrss / 1024))
printf '%-40s %8ss %8d MB peak\n' "kube-score score corpus.yaml" "$kt" $((krss / 1024))
ratio=$(awk -v k="$kt" -v z="$zt" 'BEGIN{ if (z > 0) printf "%.1f", k/z; else print "inf" }')
echo "ratio: kubectl zdd lint is ${ratio}x faster than kube-score (target >= 5x); peak $((zrss / 1024)) MB (target < 200 MB)"
uptime | sed 's/^/load: /'
