#!/usr/bin/env bash
# What a probed function call costs: reqlens's entry + return handling
# against the bare kernel uprobe + uretprobe, and against bpftrace computing
# the same histogram. Not run in CI; writes bench/uprobe-results.md.
#
# The target is tests/fixtures/rl_func_c (make fixtures), pinned to one CPU,
# calling the trivial work_nop() (a noinline "return x + 1") CALLS times in
# a loop; it measures the loop's wall time itself (loop_ns, CLOCK_MONOTONIC).
# Configurations, each an entry uprobe + a uretprobe on work_nop:
#   none      no probe
#   bare      bpftrace -e 'uprobe:BIN:work_nop {} uretprobe:BIN:work_nop {}':
#             two empty BPF programs, i.e. the kernel's own uprobe and
#             uretprobe cost (trap, dispatch, return trampoline)
#   bare-sys  the same, plus empty programs on the syscalls:sys_exit_accept
#             and sys_exit_accept4 tracepoints, which reqlens's TCP family
#             attaches: while any syscall tracepoint is on, every syscall
#             takes the kernel's slow path, and since Linux 6.11 a
#             uretprobe returns through a syscall (uretprobe(2)), so this
#             is the bare cost on a host where reqlens runs
#   reqlens   reqlens --uprobe=BIN:work_nop (everything else as by default)
#   bpftrace  @start[tid] = nsecs at entry; at return
#             @ = hist(nsecs - @start[tid]); delete(@start[tid])
# A run starts the tracer, waits until its two probes are attached (bpftool
# perf show), runs the loop, stops the tracer. Runs are interleaved (each
# round runs every configuration, in a rotating order); the report takes the
# median loop time of each configuration over the rounds:
#   cost per call = (median with probes - median without) / CALLS.
# reqlens's runs are checked: its count of calls must be CALLS.
#
#   bench/uprobe.sh [-n CALLS] [-r ROUNDS] [-c CPU] [-o FILE] [-s]
#
# work_nop starts with a push, which the kernel emulates under a uprobe, as
# it does for the usual prologues. -s probes work_nop_ss instead, whose
# first instruction (lea) the kernel must single-step out of line: a #DB
# trap more per call, expensive in a virtual machine.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=2000000 rounds=7 cpu=1 out=bench/uprobe-results.md fn=work_nop
while getopts "n:r:c:o:s" opt; do
	case $opt in
	n) calls=$OPTARG ;; r) rounds=$OPTARG ;; c) cpu=$OPTARG ;; o) out=$OPTARG ;; s) fn=work_nop_ss ;;
	*) echo "usage: $0 [-n calls] [-r rounds (>= 5)] [-c cpu] [-o file] [-s]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/uprobe.sh: needs root" >&2; exit 1; }
[ "$rounds" -ge 5 ] || { echo "bench/uprobe.sh: at least 5 rounds" >&2; exit 2; }
for t in bpftrace bpftool taskset curl; do
	command -v $t >/dev/null || { echo "bench/uprobe.sh: $t is missing (apt-get install bpftrace bpftool util-linux curl)" >&2; exit 1; }
done
[ -x .output/reqlens ] || { echo "bench/uprobe.sh: build first (make)" >&2; exit 1; }
[ -x .output/fixtures/rl_func_c ] || { echo "bench/uprobe.sh: build the fixtures first (make fixtures)" >&2; exit 1; }

work=$(mktemp -d /tmp/reqlens-bench-uprobe.XXXXXX)
chmod 755 "$work"
BIN=$work/rl_func_c	# a copy of its own: no other tracer on the host probes this inode
cp .output/fixtures/rl_func_c "$BIN"
tracer_pid=
stats0=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	sysctl -q kernel.bpf_stats_enabled="$stats0" || true
	if [ -n "$tracer_pid" ]; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		wait "$tracer_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(free_port)

# probe_progs PID: a line "entry ID" or "return ID" for each BPF program PID
# has on $BIN: perf-event uprobes (bpftool perf show), and uprobe_multi links
# (their fdinfo: link_type uprobe_multi or uretprobe_multi, the file's path).
probe_progs() {
	bpftool perf show 2>/dev/null | awk -v p="$1" -v f="$BIN" '
		$1 == "pid" && $2 == p && index($0, f) {
			kind = ($0 ~ /uretprobe/) ? "return" : "entry"
			for (i = 1; i <= NF; i++) if ($i == "prog_id") print kind, $(i + 1) }'
	for fi in /proc/"$1"/fdinfo/*; do
		awk -v f="$BIN" '/^link_type:/ { t = $2 } /^prog_id:/ { id = $2 } /^path:/ { path = $2 }
			END { if (path == f && t == "uprobe_multi") print "entry", id
			      if (path == f && t == "uretprobe_multi") print "return", id }' "$fi" 2>/dev/null
	done
}

# attached PID: true when PID holds an entry and a return probe on $BIN.
attached() {
	probe_progs "$1" | awk '$1 == "entry" { e = 1 } $1 == "return" { r = 1 } END { exit !(e && r) }'
}

wait_attached() {	# PID WHAT
	for _ in $(seq 300); do
		attached "$1" && return 0
		kill -0 "$1" 2>/dev/null || { echo "bench/uprobe.sh: $2 exited: $(tail -c 600 "$work/tracer.err")" >&2; exit 1; }
		sleep 0.1
	done
	echo "bench/uprobe.sh: $2 did not attach in 30 s: $(tail -c 600 "$work/tracer.err")" >&2
	exit 1
}

start_tracer() {	# CONFIG
	case $1 in
	none) tracer_pid= ; return ;;
	bare-sys)
		bpftrace -e "uprobe:$BIN:$fn {} uretprobe:$BIN:$fn {}
			tracepoint:syscalls:sys_exit_accept {} tracepoint:syscalls:sys_exit_accept4 {}" \
			>"$work/tracer.out" 2>"$work/tracer.err" &
		tracer_pid=$! ;;
	bare)
		bpftrace -e "uprobe:$BIN:$fn {} uretprobe:$BIN:$fn {}" >"$work/tracer.out" 2>"$work/tracer.err" &
		tracer_pid=$! ;;
	bpftrace)
		bpftrace -e "uprobe:$BIN:$fn { @start[tid] = nsecs; }
			uretprobe:$BIN:$fn /@start[tid]/ { @ = hist(nsecs - @start[tid]); delete(@start[tid]); }" \
			>"$work/tracer.out" 2>"$work/tracer.err" &
		tracer_pid=$! ;;
	reqlens)
		.output/reqlens --web.listen-address=127.0.0.1:"$aport" --uprobe="$BIN:$fn" \
			>"$work/tracer.out" 2>"$work/tracer.err" &
		tracer_pid=$!
		for _ in $(seq 150); do
			curl --noproxy '*' -sf -o /dev/null --max-time 1 "http://127.0.0.1:$aport/readyz" && break
			sleep 0.1
		done ;;
	esac
	wait_attached "$tracer_pid" "$1"
}

stop_tracer() {	# CONFIG
	[ -n "$tracer_pid" ] || return 0
	if [ "$1" = reqlens ]; then
		local n
		n=$(curl --noproxy '*' -sf --max-time 5 "http://127.0.0.1:$aport/metrics" |
			awk -v fn="$fn" '$0 ~ "^reqlens_function_calls_total\\{.*function=\"" fn "\"" { s += $2 } END { print s + 0 }')
		[ "$n" = "$calls" ] || { echo "bench/uprobe.sh: reqlens counted $n calls of $fn, not $calls" >&2; exit 1; }
		kill -TERM "$tracer_pid"
	else
		kill -INT "$tracer_pid"
	fi
	wait "$tracer_pid" 2>/dev/null || true
	tracer_pid=
}

run_loop() {	# -> loop_ns
	local out
	local ss=()
	[ "$fn" = work_nop_ss ] && ss=(--nop-ss)
	out=$(taskset -c "$cpu" "$BIN" --nop-calls "$calls" "${ss[@]}")
	sed -n 's/.*loop_ns=\([0-9]*\).*/\1/p' <<<"$out"
}

configs=(none bare bare-sys reqlens bpftrace)
declare -A results
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/uprobe.sh: $calls calls of $fn per run, $rounds rounds of ${configs[*]} (loadavg $load0)" >&2
for r in $(seq "$rounds"); do
	# Rotate the order, so that no configuration always runs first or last.
	order=()
	for i in "${!configs[@]}"; do order+=("${configs[$(( (i + r) % ${#configs[@]} ))]}"); done
	for c in "${order[@]}"; do
		start_tracer "$c"
		ns=$(run_loop)
		stop_tracer "$c"
		results[$c]="${results[$c]:-} $ns"
		printf '  round %d %-8s %6.1f ns/call\n' "$r" "$c" "$(awk -v n="$ns" -v c="$calls" 'BEGIN { print n / c }')" >&2
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# One more run of each, not timed, with the kernel's BPF run-time statistics
# on: the time the entry and return programs themselves take per call.
sysctl -q kernel.bpf_stats_enabled=1
declare -A progtime
for c in bare reqlens bpftrace; do
	start_tracer "$c"
	run_loop >/dev/null
	progtime[$c]=$(probe_progs "$tracer_pid" |
		while read -r kind id; do
			bpftool prog show id "$id" 2>/dev/null | awk -v k="$kind" -v n="$calls" '
				{ for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") r = $(i + 1) } }
				END { if (r) printf "%s %.0f ns (%d runs); ", k, t / r, r }'
		done)
	stop_tracer "$c"
done
sysctl -q kernel.bpf_stats_enabled="$stats0"

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A med per
for c in "${configs[@]}"; do
	med[$c]=$(median <<<"${results[$c]}")
done
for c in "${configs[@]}"; do
	per[$c]=$(awk -v m="${med[$c]}" -v b="${med[none]}" -v n="$calls" 'BEGIN { printf "%.1f", (m - b) / n }')
done
vs_bare=$(awk -v r="${per[reqlens]}" -v b="${per[bare]}" 'BEGIN { printf "%+.1f", (r - b) / b * 100 }')
handling=$(awk -v r="${per[reqlens]}" -v b="${per[bare]}" 'BEGIN { printf "%.1f", r - b }')
sys_cost=$(awk -v s="${per[bare-sys]}" -v b="${per[bare]}" 'BEGIN { printf "%.1f", s - b }')
own=$(awk -v r="${per[reqlens]}" -v s="${per[bare-sys]}" 'BEGIN { printf "%.1f", r - s }')
vs_sys=$(awk -v r="${per[reqlens]}" -v s="${per[bare-sys]}" 'BEGIN { printf "%+.1f", (r - s) / s * 100 }')
bt_handling=$(awk -v r="${per[bpftrace]}" -v b="${per[bare]}" 'BEGIN { printf "%.1f", r - b }')
vs_bt=$(awk -v r="${per[reqlens]}" -v t="${per[bpftrace]}" 'BEGIN { printf "%+.1f", (r - t) / t * 100 }')
verdict_bare=$(awk -v v="$vs_bare" 'BEGIN { print (v + 0 <= 10) ? "met" : "NOT met" }')
verdict_bt=$(awk -v r="${per[reqlens]}" -v t="${per[bpftrace]}" 'BEGIN { print (r < t) ? "met" : "NOT met" }')

cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
hyper=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
ncpu=$(nproc)
kernel=$(uname -r)
distro=$(. /etc/os-release && echo "$PRETTY_NAME")
bt_ver=$(bpftrace --version 2>/dev/null | head -n 1)
rl_ver="$(.output/reqlens --version 2>&1 | head -n 1), built $(date -u -r .output/reqlens '+%Y-%m-%d %H:%M UTC')"

{
	echo "# Cost of a probed function call"
	echo
	echo "\`bench/uprobe.sh$([ "$fn" = work_nop_ss ] && echo " -s")\` (not run in CI), $(date -u +%Y-%m-%d): $calls calls of a trivial function"
	echo "(\`$fn\`, a noinline \`return x + 1\` in \`tests/fixtures/rl_func_c\`) in a loop pinned to CPU $cpu,"
	echo "timed by the program itself; each configuration puts an entry uprobe and a uretprobe on it."
	if [ "$fn" = work_nop ]; then
		echo "Its first instruction is a push, as in most functions: the kernel emulates it under the uprobe."
	else
		echo "Its first instruction (lea) is one the kernel cannot emulate: it single-steps it out of line."
	fi
	echo "$rounds rounds, each running every configuration once in a rotating order; medians of the loop's"
	echo "wall time. Cost per call = (median with the probes - median without) / calls."
	echo
	echo "Machine: $cpu_model, $ncpu CPUs${hyper:+ (a $hyper guest)}, $distro, Linux $kernel;"
	echo "$bt_ver; $rl_ver. Load average at the start $load0, at the end $load1"
	echo "(the machine is shared: other workloads ran meanwhile, which is why the rounds are"
	echo "interleaved and the medians taken)."
	echo
	echo "| configuration | median loop time | cost per call | over bare |"
	echo "|---|---|---|---|"
	for c in "${configs[@]}"; do
		over='' cost="${per[$c]} ns"
		case $c in
		none) cost=$(awk -v m="${med[none]}" -v n="$calls" 'BEGIN { printf "(the loop: %.1f ns per call)", m / n }') ;;
		bare) ;;
		*) over=$(awk -v r="${per[$c]}" -v b="${per[bare]}" 'BEGIN { printf "%+.1f ns (%+.1f%%)", r - b, (r - b) / b * 100 }') ;;
		esac
		printf '| %s | %.2f ms | %s | %s |\n' "$c" "$(awk -v m="${med[$c]}" 'BEGIN { print m / 1e6 }')" "$cost" "$over"
	done
	echo
	echo "- **none**: no probe. **bare**: \`bpftrace -e 'uprobe:BIN:$fn {} uretprobe:BIN:$fn {}'\`,"
	echo "  two empty BPF programs: the kernel's uprobe + uretprobe cost alone."
	echo "- **reqlens**: \`reqlens --uprobe=BIN:$fn\` (default flags); its count of calls was checked"
	echo "  to be $calls in every run. Its own handling (what its entry and return programs do: keep the"
	echo "  start time, update the histogram, look for a request to attribute the time to) costs"
	echo "  **$handling ns** per call over the bare probes: **$vs_bare%**. Target (at most +10% over bare): **$verdict_bare**."
	echo "- **bare-sys**: bare plus empty programs on \`syscalls:sys_exit_accept{,4}\`, as reqlens's TCP family"
	echo "  has them: $sys_cost ns over bare, what any syscall tracepoint costs a uretprobe, which returns"
	echo "  through a syscall. reqlens over bare-sys, its function probes' own handling: **$own ns ($vs_sys%)**."
	echo "- **bpftrace**: \`@start[tid] = nsecs\` at entry, \`@ = hist(nsecs - @start[tid]); delete(@start[tid])\`"
	echo "  at return: $bt_handling ns over bare. reqlens vs bpftrace: **$vs_bt%** per call. Target (cheaper"
	echo "  than bpftrace): **$verdict_bt**."
	echo
	echo "Time in the BPF programs themselves per call (one more run of each, with"
	echo "\`kernel.bpf_stats_enabled=1\`, which adds some 20 ns to each program's figure):"
	echo
	echo "| configuration | BPF programs' run time per call |"
	echo "|---|---|"
	for c in bare reqlens bpftrace; do
		printf '| %s | %s |\n' "$c" "${progtime[$c]%; }"
	done
	echo
	echo "Every run (ns per call, loop time / calls, in round order):"
	echo
	echo "| configuration | runs |"
	echo "|---|---|"
	for c in "${configs[@]}"; do
		printf '| %s | %s |\n' "$c" "$(tr ' ' '\n' <<<"${results[$c]}" | grep . | awk -v n="$calls" '{ printf "%s%.1f", (NR > 1 ? ", " : ""), $1 / n }')"
	done
} >"$out"
cat "$out"
