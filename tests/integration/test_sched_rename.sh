#!/usr/bin/env bash
# A service renamed while it runs: the scheduler hooks keep each thread's
# service in its state and check it at every switch-out, so CPU time run
# under the old name stays with it and what runs after the rename goes to
# the new name, each within 10% of the process's own thread clock.
source "$(dirname "$0")/lib.sh"

start_agent
/usr/bin/python3 - "$T/phases" >"$T/srv.out" 2>"$T/srv.err" </dev/null <<'PY' &
import ctypes, socket, sys, time
libc = ctypes.CDLL(None)
def rename(name):
    libc.prctl(15, name.encode(), 0, 0, 0)      # PR_SET_NAME, on the group leader
def burn(s):
    t = time.thread_time()
    while time.thread_time() - t < s:
        pass
rename("rl_sched_a")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print("port=%d" % srv.getsockname()[1], flush=True)
conn, _ = srv.accept()          # from here on a service
t0 = time.thread_time()
burn(0.3)
t1 = time.thread_time()
time.sleep(0.05)                # off the CPU: its time so far is accounted
t2 = time.thread_time()
rename("rl_sched_b")
burn(0.3)
t3 = time.thread_time()
time.sleep(0.05)
with open(sys.argv[1], "w") as f:
    f.write("%.9f %.9f\n" % (t1 - t0, t3 - t2))
time.sleep(10)
PY
SPID=$!
track "$SPID"
wait_until 5 "the server to print its port" grep -q '^port=' "$T/srv.out"
exec 3<>/dev/tcp/127.0.0.1/"$(sed -n 's/^port=//p' "$T/srv.out")"
wait_until 10 "the server to burn under both names" test -s "$T/phases"
read -r truth_a truth_b <"$T/phases"
scrape
val() { metric_in "$SCRAPE" "$1" service_name=\"$2\"; echo "${VAL:-0}"; }
note "CPU by name: rl_sched_a $(val reqlens_process_oncpu_seconds_total rl_sched_a)s, rl_sched_b $(val reqlens_process_oncpu_seconds_total rl_sched_b)s; the thread's clock: ${truth_a}s, ${truth_b}s"
assert_within_pct "on-CPU under the first name vs the thread's clock" "$truth_a" \
	"$(val reqlens_process_oncpu_seconds_total rl_sched_a)" 10
assert_within_pct "on-CPU under the second name vs the thread's clock" "$truth_b" \
	"$(val reqlens_process_oncpu_seconds_total rl_sched_b)" 10
assert_gt "blocked stretches under the second name" 0 "$(val reqlens_offcpu_seconds_count rl_sched_b)"
exec 3>&-
