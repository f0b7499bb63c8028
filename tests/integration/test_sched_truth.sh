#!/usr/bin/env bash
# Resources against the kernel's own accounting and the program's clocks.
# rl_work_server (thread per connection) burns 8 ms of CPU and sleeps 12 ms
# per request, timing both itself. reqlens's per-request CPU and blocked
# time must agree with those clocks within 5%, its process CPU with
# /proc/PID/schedstat within 5%, and on-CPU + run queue + blocked must add
# up to each request's duration. Then CPU hogs on the server's core must
# show up as run-queue latency, which must agree with the kernel's own
# run-queue accounting (run_delay in /proc/PID/task/*/schedstat) within 5%.
#
# The agent times run-queue waits from the kernel's sched_info at the
# switch alone, and keeps the histograms of its first services in dense
# arrays; with RL_SCHED_FALLBACKS=1 (test_sched_fallbacks.sh) it is made to
# use the wakeup hooks instead, as on kernels without sched_info, and to
# hash every service's histogram buckets, as beyond those first services.
source "$(dirname "$0")/lib.sh"

N=40
if [[ ${RL_SCHED_FALLBACKS:-} == 1 ]]; then
	AGENT_WRAP=(env REQLENS_SCHED_INFO=0 REQLENS_SCHED_DENSE_SVCS=0)
fi
start_agent --histogram.le-per-octave=32 --bpf.stats
taskset -c 0 "$FIXTURES/rl_work_server" --port 0 --burn-ms 8 --sleep-ms 12 --log "$T/work.log" \
	--timeout-s 120 >"$T/work.out" 2>"$T/work.err" </dev/null &
WPID=$!
track "$WPID"
wait_until 5 "rl_work_server to print its port" grep -q '^port=' "$T/work.out"
WPORT=$(sed -n 's/^port=//p' "$T/work.out")

# drive N: N sequential requests on one connection, which then stays open
# for a while (its thread's schedstat disappears when the thread exits).
drive() {
	rm -f "$T/driven"
	/usr/bin/python3 - "$WPORT" "$1" "$T/driven" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for _ in range(int(sys.argv[2])):
    s.sendall(b"x\n")
    assert s.recv(16) == b"ok\n"
open(sys.argv[3], "w").close()
time.sleep(3)
s.close()
PY
	track $!
	wait_until 30 "the client to finish $1 requests" test -e "$T/driven"
}
# schedstat: on-CPU ns of every live thread of the server (a process's own
# /proc/PID/schedstat is its main thread only).
schedstat() { cat /proc/"$WPID"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
# sum_of METRIC_SUFFIX: the server's sample of a request metric.
val() { metric_in "$SCRAPE" "$1" service_name=\"rl_work_server\" "${@:2}"; echo "${VAL:-0}"; }

cpu0=$(schedstat)
# A request ends when the next one is read (or the connection closes): N + 1
# requests on the open connection make N complete ones.
drive $((N + 1))
wait_until 10 "the server to log $((N + 1)) requests" bash -c "[[ \$(wc -l <'$T/work.log') -gt $N ]]"
head -n "$N" "$T/work.log" >"$T/work.truth"
sleep 0.3	# the server's threads block: their CPU is accounted at that switch
cpu1=$(schedstat)
scrape

for m in reqlens_request_duration_seconds reqlens_request_cpu_seconds reqlens_request_runqueue_seconds \
	 reqlens_request_blocked_seconds; do
	assert_eq "$m count" "$N" "$(val ${m}_count)"
done
dur=$(val reqlens_request_duration_seconds_sum)
cpu=$(val reqlens_request_cpu_seconds_sum)
runq=$(val reqlens_request_runqueue_seconds_sum)
blk=$(val reqlens_request_blocked_seconds_sum)
truth_cpu=$(awk '{ s += $1 } END { printf "%.9f", s / 1e9 }' "$T/work.truth")
truth_sleep=$(awk '{ s += $2 } END { printf "%.9f", s / 1e9 }' "$T/work.truth")
# Blocked is the sleep itself: the server's clock around nanosleep also holds
# the wait for a CPU after the wakeup, which reqlens counts as run queue.
asked_sleep=$(awk -v n="$N" 'BEGIN { printf "%.9f", n * 0.012 }')
note "per-request sums: duration ${dur}s = cpu ${cpu}s + runq ${runq}s + blocked ${blk}s; the server's clocks: cpu ${truth_cpu}s, slept ${truth_sleep}s"
assert_within_pct "request CPU vs the server's thread CPU clock" "$truth_cpu" "$cpu" 5
assert_within_pct "request blocked time vs the sleeps the server asked for" "$asked_sleep" "$blk" 5
assert_within_pct "cpu + runqueue + blocked vs duration" "$dur" "$(awk -v a="$cpu" -v b="$runq" -v c="$blk" 'BEGIN { printf "%.9f", a + b + c }')" 3

oncpu=$(val reqlens_process_oncpu_seconds_total)
truth_oncpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.9f", (b - a) / 1e9 }')
note "process on-CPU: reqlens ${oncpu}s, /proc/$WPID/schedstat ${truth_oncpu}s"
assert_within_pct "process on-CPU vs /proc/PID/schedstat" "$truth_oncpu" "$oncpu" 5
user=$(val reqlens_process_cpu_seconds_total mode=\"user\")
sys=$(val reqlens_process_cpu_seconds_total mode=\"system\")
assert_gt "user+system CPU (tick-based)" 0 "$(awk -v a="$user" -v b="$sys" 'BEGIN { print a + b }')"
assert_gt "resident memory" 0 "$(val reqlens_process_resident_memory_bytes)"
assert_eq "threads of the server (main + the open connection's)" 2 "$(val reqlens_process_threads)"

# The wakeup hooks run only where the run-queue waits need them: not on a
# kernel that keeps sched_info (its schedstat counts this shell's slices).
runs() { metric_in "$SCRAPE" reqlens_bpf_program_runs_total program=\"$1\"; echo "${VAL:-0}"; }
assert_gt "runs of the switch hook" 0 "$(runs rl_sched_switch)"
if [[ ${RL_SCHED_FALLBACKS:-} == 1 ]]; then
	assert_gt "runs of the wakeup hook (REQLENS_SCHED_INFO=0)" 0 "$(runs rl_sched_wakeup)"
elif [[ $(awk '{ print $3 }' /proc/self/schedstat 2>/dev/null) -gt 0 ]]; then
	assert_eq "runs of the wakeup hook (run-queue waits from sched_info)" 0 "$(runs rl_sched_wakeup)"
fi

# rundelay FILE: "TID RUN_DELAY_NS" for each live thread of the server.
rundelay() {
	local f
	for f in /proc/"$WPID"/task/*/schedstat; do
		f=${f%/schedstat}
		echo "${f##*/} $(awk '{ print $2 }' "$f/schedstat" 2>/dev/null)"
	done >"$1"
}

# The first connection's thread wakes up to exit when its client closes:
# let it go first, so that no wait of a thread outside the window is in it.
wait_until 10 "the first connection's thread to exit" bash -c "[[ \$(ls /proc/$WPID/task | wc -l) -eq 1 ]]"
scrape

# CPU hogs on the server's core: it now waits for the CPU.
rq0=$(val reqlens_runqueue_latency_seconds_sum)
rundelay "$T/rundelay0"
hogs=()
for _ in 1 2; do
	taskset -c 0 timeout 20 sh -c 'while :; do :; done' &
	track $!
	hogs+=($!)
done
drive 21
# Without the hogs a wait lasts microseconds: the scrape and the snapshot
# that follow agree whatever the server's threads do between them.
kill "${hogs[@]}"
wait "${hogs[@]}" 2>/dev/null
scrape
rundelay "$T/rundelay1"
rq1=$(val reqlens_runqueue_latency_seconds_sum)
runq_hog=$(val reqlens_request_runqueue_seconds_sum)
note "run-queue latency: ${rq0}s before the hogs, ${rq1}s after 20 requests beside them; per-request run queue ${runq}s -> ${runq_hog}s"
assert_gt "run-queue latency added by the hogs (s)" 0.05 "$(awk -v a="$rq0" -v b="$rq1" 'BEGIN { print b - a }')"
assert_gt "per-request run-queue time added by the hogs (s)" 0.05 "$(awk -v a="$runq" -v b="$runq_hog" 'BEGIN { print b - a }')"
# The kernel's count over the same stretch: each thread's run_delay since
# the first snapshot (all of it for a thread born since).
truth_rq=$(awk 'NR == FNR { before[$1] = $2; next } { s += $2 - before[$1] } END { printf "%.9f", s / 1e9 }' \
	"$T/rundelay0" "$T/rundelay1")
assert_within_pct "run-queue latency vs the kernel's run_delay (/proc/PID/task/*/schedstat)" "$truth_rq" \
	"$(awk -v a="$rq0" -v b="$rq1" 'BEGIN { printf "%.9f", b - a }')" 5

# ---- An event loop, where one thread serves overlapping requests. The split
# is the serving thread's time during each request's span, so it still adds
# up to the duration, but a request's CPU includes the other requests the
# loop served meanwhile: summed over requests it exceeds the process's CPU
# (the README says so).
/usr/bin/python3 tests/fixtures/rl_async_py.py 60 >"$T/async.out" 2>"$T/async.err" </dev/null &
APID=$!
track "$APID"
wait_until 10 "rl_async_py to print its port" grep -q '^port=' "$T/async.out"
APORT=$(sed -n 's/^port=//p' "$T/async.out")
aval() { metric_in "$SCRAPE" "$1" service_name=\"rl_async_py\" "${@:2}"; echo "${VAL:-0}"; }
acpu() { cat /proc/"$APID"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
c0=$(acpu)
/usr/bin/python3 - "$APORT" <<'PY' || fail "the event-loop clients failed"
import socket, sys, threading
def client():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    for _ in range(26):   # 25 complete requests: the last ends at close
        s.sendall(b"x\n")
        assert s.recv(16) == b"ok\n"
    s.close()
ts = [threading.Thread(target=client) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
sleep 0.5
c1=$(acpu)
scrape
adur=$(aval reqlens_request_duration_seconds_sum)
acpu_req=$(aval reqlens_request_cpu_seconds_sum)
arunq=$(aval reqlens_request_runqueue_seconds_sum)
ablk=$(aval reqlens_request_blocked_seconds_sum)
acount=$(aval reqlens_request_cpu_seconds_count)
aproc=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.9f", (b - a) / 1e9 }')
note "event loop: $acount requests, duration ${adur}s = cpu ${acpu_req}s + runq ${arunq}s + blocked ${ablk}s; the process's CPU ${aproc}s"
assert_eq "event-loop requests with a split" 208 "$acount"
assert_within_pct "event loop: cpu + runqueue + blocked vs duration" "$adur" \
	"$(awk -v a="$acpu_req" -v b="$arunq" -v c="$ablk" 'BEGIN { printf "%.9f", a + b + c }')" 3
assert_gt "event loop: per-request CPU summed over overlapping requests / process CPU" 1.5 \
	"$(awk -v a="$acpu_req" -v b="$aproc" 'BEGIN { print a / b }')"
