#!/usr/bin/env bash
# Starts and stops a throw-away Prometheus server (Debian's prometheus
# package) on a loopback port, scraping the given targets every second, for
# the analysis tests.
#
#   hack/prometheus.sh start DIR [PORT] [TARGET,...]   # PORT defaults to 19090
#   hack/prometheus.sh stop DIR
#
# DIR holds the config, the TSDB, the log and the pid file; stop removes it.
# start prints the server's address and returns once it is ready.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
	echo "usage: $0 start DIR [PORT] [TARGET,...] | stop DIR" >&2
	exit 2
fi

case "$cmd" in
start)
	port=${3:-19090}
	targets=${4:-}
	bin=${PROMETHEUS:-$(command -v prometheus || true)}
	if [ -z "$bin" ]; then
		echo "prometheus is not installed: run hack/install-deps.sh" >&2
		exit 1
	fi
	mkdir -p "$dir/data"
	if [ -f "$dir/prometheus.pid" ] && kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
		echo "prometheus already running from $dir (pid $(cat "$dir/prometheus.pid"))" >&2
		exit 1
	fi
	{
		echo "global:"
		echo "  scrape_interval: 1s"
		echo "  scrape_timeout: 1s"
		echo "  evaluation_interval: 1s"
		echo "scrape_configs:"
		echo "- job_name: exporter"
		echo "  static_configs:"
		echo "  - targets: ["
		IFS=, read -r -a list <<<"$targets"
		for t in "${list[@]}"; do
			case "$t" in
			127.0.0.1:* | localhost:* | \[::1\]:*) echo "      \"$t\"," ;;
			*) echo "target $t is not on loopback" >&2; exit 2 ;;
			esac
		done
		echo "    ]"
	} >"$dir/prometheus.yml"
	"$bin" --config.file="$dir/prometheus.yml" \
		--storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$port" \
		--log.level=warn \
		>"$dir/prometheus.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/prometheus.pid"
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null; then
			echo "http://127.0.0.1:$port"
			exit 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "prometheus exited; its log:" >&2
			cat "$dir/prometheus.log" >&2
			rm -f "$dir/prometheus.pid"
			exit 1
		fi
		sleep 0.1
	done
	echo "prometheus did not become ready on 127.0.0.1:$port within 30s; its log:" >&2
	cat "$dir/prometheus.log" >&2
	kill "$pid" 2>/dev/null || true
	exit 1
	;;
stop)
	if [ -f "$dir/prometheus.pid" ]; then
		pid=$(cat "$dir/prometheus.pid")
		if kill "$pid" 2>/dev/null; then
			for _ in $(seq 1 100); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	case "$dir" in
	"" | / ) ;;
	*) rm -rf "$dir" ;;
	esac
	;;
*)
	echo "usage: $0 start DIR [PORT] [TARGET,...] | stop DIR" >&2
	exit 2
	;;
esac
