#!/usr/bin/env bash
# Entry point of `make bench`: runs every benchmark script of bench/ in turn.
# Each script prints its own figures; a script that fails fails the run.
# Add a benchmark: drop an executable bench/NAME.sh next to this one.
# BENCH=lint runs only bench/lint.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in bench/*.sh; do
	[ "$script" = bench/run.sh ] && continue
	if [ -n "${BENCH:-}" ] && [ "$script" != "bench/$BENCH.sh" ]; then continue; fi
	echo "== $script"
	"$script"
done
