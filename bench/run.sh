#!/usr/bin/env bash
# The overhead benchmark: wrk against a local nginx with the agent off and
# on, interleaved, for each request-tracking mode. Reports the medians of
# throughput, p50 and p99 latency, their changes, and the BPF time per
# request from the kernel's run-time statistics. Writes bench/results.md.
#
#   bench/run.sh [-p PAIRS] [-d SECONDS] [-m "sock syscall"] [-o FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=5 dur=5 modes="sock sock-server sock-noresources syscall" out=bench/results.md extra=()
while getopts "p:d:m:o:x:" opt; do
	case $opt in
	p) pairs=$OPTARG ;; d) dur=$OPTARG ;; m) modes=$OPTARG ;; o) out=$OPTARG ;;
	x) extra+=("$OPTARG") ;;
	*) echo "usage: $0 [-p pairs] [-d seconds] [-m modes] [-o file] [-x agent-flag]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in nginx wrk; do command -v $t >/dev/null || { echo "bench: $t is missing (scripts/deps.sh bench)" >&2; exit 1; }; done
[ -x .output/reqlens ] || { echo "bench: build first (make)" >&2; exit 1; }

work=$(mktemp -d /tmp/reqlens-bench.XXXXXX)
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) aport=$(free_port)
mkdir -p "$work/html"
printf 'hello from nginx\n' > "$work/html/index.html"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
	uwsgi_temp_path $work; scgi_temp_path $work;
	keepalive_requests 1000000;
	server { listen 127.0.0.1:$port; root $work/html; }
}
CONF
# The server on CPU 0, the load generator on CPU 1.
taskset -c 0 nginx -c "$work/nginx.conf"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done

# wrk -> "rps p50_us p99_us requests"
run_wrk() {
	taskset -c 1 wrk -t1 -c32 -d"${dur}s" --latency "http://127.0.0.1:$port/" | awk '
		function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
		/^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
		/requests in/ { n = $1 } /^Requests\/sec/ { rps = $2 }
		END { printf "%s %s %s %s\n", rps, p50, p99, n }'
}

start_agent() {
	.output/reqlens --web.listen-address=127.0.0.1:$aport --log.level=warn "$@" "${extra[@]}" \
		2>"$work/agent.err" &
	agent_pid=$!
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$aport/readyz" >/dev/null && return; sleep 0.1; done
	echo "bench: agent did not start:" >&2; cat "$work/agent.err" >&2; exit 1
}
stop_agent() { kill "$agent_pid"; wait "$agent_pid" || true; agent_pid=; }
bpf_ns() {
	curl -sf "http://127.0.0.1:$aport/metrics" | awk '/^reqlens_bpf_program_run_seconds_total/ { s += $2 } END { printf "%.0f\n", s * 1e9 }'
}
# "program ns" per program, run time so far.
bpf_prog_ns() {
	curl -sf "http://127.0.0.1:$aport/metrics" | awk '/^reqlens_bpf_program_run_seconds_total/ {
		match($0, /program="[^"]+"/); printf "%s %.0f\n", substr($0, RSTART + 9, RLENGTH - 10), $2 * 1e9 }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }

# A configuration's agent flags: the tracking mode, and -noresources turns the
# scheduler hooks off (the difference from the plain mode is their cost).
mode_flags() {
	case $1 in
	*-noresources) echo "--request-tracking=${1%-noresources} --resources=off" ;;
	# Only the server watched, as on a node whose load comes from elsewhere:
	# wrk's traffic still fires every hook, which returns early.
	*-server) echo "--request-tracking=${1%-server} --comm=nginx" ;;
	*) echo "--request-tracking=$1" ;;
	esac
}

run_wrk >/dev/null # warm-up
declare -A res
for mode in $modes; do
	: > "$work/off.$mode"; : > "$work/on.$mode"; : > "$work/ns.$mode"; : > "$work/prog.$mode"
	for i in $(seq "$pairs"); do
		run_wrk >> "$work/off.$mode"
		# shellcheck disable=SC2046
		start_agent $(mode_flags "$mode")
		run_wrk >> "$work/on.$mode"
		stop_agent
		# BPF time per request, in a run of its own: the statistics cost time too.
		# shellcheck disable=SC2046
		start_agent $(mode_flags "$mode") --bpf.stats
		bpf_prog_ns > "$work/p0"; b0=$(bpf_ns); r=$(run_wrk); b1=$(bpf_ns); bpf_prog_ns > "$work/p1"
		stop_agent
		echo "$r $b0 $b1" | awk '{ printf "%.1f\n", ($6 - $5) / $4 }' >> "$work/ns.$mode"
		n=$(echo "$r" | awk '{ print $4 }')
		awk -v n="$n" 'NR == FNR { a[$1] = $2; next } { printf "%s %.1f\n", $1, ($2 - a[$1]) / n }' \
			"$work/p0" "$work/p1" >> "$work/prog.$mode"
		echo "bench: $mode pair $i: off $(tail -1 "$work/off.$mode") | on $(tail -1 "$work/on.$mode") | bpf ns/req $(tail -1 "$work/ns.$mode")" >&2
	done
done

{
	echo "# reqlens overhead benchmark"
	echo
	echo "Generated by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d)."
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")."
	echo "Server: nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker pinned to CPU 0, a 17-byte static file, keep-alive."
	echo "Load: wrk -t1 -c32 -d${dur}s pinned to CPU 1. $pairs pairs per mode, agent off then on, interleaved;"
	echo "medians of the pairs. BPF time per request comes from separate runs with \`--bpf.stats\`"
	echo "(the kernel's run-time statistics), summed over every reqlens program, divided by wrk's request count."
	echo "Both ends are on this host, so it includes the client side's framing (wrk's connections) and the"
	echo "syscall-entry hooks that fire for every read and write on the host."
	echo
	echo "Configurations: sock and syscall are the request-tracking modes with everything else on (the"
	echo "scheduler hooks included), watching every process, so wrk's side is framed too (as HTTP client"
	echo "requests); sock-server watches nginx only (\`--comm=nginx\`), as on a node whose load comes from"
	echo "elsewhere; sock-noresources is sock with \`--resources=off\`, so that sock beside it is the"
	echo "scheduler hooks' own cost. The throughput change is the median of each pair's own change."
	echo
	echo "| configuration | req/s off | req/s on | throughput change | p50 off | p50 on | p99 off | p99 on | BPF ns/request |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for mode in $modes; do
		roff=$(awk '{print $1}' "$work/off.$mode" | median); ron=$(awk '{print $1}' "$work/on.$mode" | median)
		p50off=$(awk '{print $2}' "$work/off.$mode" | median); p50on=$(awk '{print $2}' "$work/on.$mode" | median)
		p99off=$(awk '{print $3}' "$work/off.$mode" | median); p99on=$(awk '{print $3}' "$work/on.$mode" | median)
		ns=$(median < "$work/ns.$mode")
		# Each pair's own change, then their median: slow drifts of the machine cancel.
		chg=$(paste -d' ' "$work/off.$mode" "$work/on.$mode" | awk '{ print ($5 - $1) / $1 * 100 }' |
			median | awk '{ printf "%+.1f%%", $1 }')
		echo "| $mode | $roff | $ron | $chg | ${p50off} us | ${p50on} us | ${p99off} us | ${p99on} us | $ns |"
	done
	echo
	echo "BPF ns per request by program (medians over the pairs; the kernel's statistics add some 20 ns"
	echo "to every run of a program):"
	echo
	for mode in $modes; do
		printf -- "- **%s**:" "$mode"
		awk '{ print $1 }' "$work/prog.$mode" | sort -u | while read -r p; do
			v=$(awk -v p="$p" '$1 == p { print $2 }' "$work/prog.$mode" | median)
			if awk -v v="$v" 'BEGIN { exit !(v >= 1) }'; then printf " %s %s," "$p" "$v"; fi
		done | sed 's/,$//'
		echo
	done
	echo
	echo "Raw pairs (req/s p50_us p99_us requests):"
	echo
	echo '```'
	for mode in $modes; do
		echo "$mode off:"; cat "$work/off.$mode"; echo "$mode on:"; cat "$work/on.$mode"; echo "$mode bpf ns/request:"; cat "$work/ns.$mode"
	done
	echo '```'
} > "$out"
cat "$out"
