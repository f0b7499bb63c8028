#!/usr/bin/env bash
# Probes come and go under load, and the targets never notice (needs
# nginx-light, wrk, golang-go).
#
# Three kinds of target run at once, each under a client that checks every
# answer:
#   - rl_func_c --serve (C, a thread per connection; entry uprobe +
#     uretprobe on handle_request and on work_us, which it calls), driven by
#     rl_func_c --client (each answer's checksum checked);
#   - rl_gofunc -serve (Go net/http; a uprobe on each return instruction of
#     main.workUs and of main.grow, which recurses through it and grows the
#     stack), driven by rl_gofunc -client (keep-alive connections, each
#     answer's checksum checked);
#   - nginx (master + one worker, a static page; uprobes on the glob
#     ngx_http_*_request), driven by wrk (at nice 19) and by a Python
#     keep-alive client that checks status and body of every answer (10 s at
#     most each).
# FUNC_SAFETY_LOAD=moderate (the default): 2 connections per client, 1 ms
# between a connection's requests, wrk -c 2 for 1 s every other second: busy
# targets on a machine with some CPU left. heavy: 4 connections, no pause,
# wrk -c 4 -t 2 back to back: both CPUs saturated (on 2 CPUs, every
# uprobe's detach then waits seconds for an RCU grace period; see the report
# of the agent's exit times).
# Meanwhile the agent is started with all those probes, left 1 s (each
# target's probed function counted in that second, so the probes were live),
# and stopped with SIGTERM, CYCLES (10) times. Then: every client exits 0
# with no wrong answer, no error, no failed request; wrk saw no socket error
# and no non-2xx; the servers exit 0 on SIGTERM (rl_gofunc: no wrong result
# either); nginx's worker is the one it started with (a crashed worker would
# have been replaced by the master) and its error log has no "exited on
# signal"; every agent was ready and exited 0, each within 1 s of its
# SIGTERM (the README's promise). The cycles get FUNC_SAFETY_BUDGET_S (60) s
# in all, and an agent FUNC_SAFETY_STOP_MAX_S (60) s to exit: when its exits
# are so slow that fewer cycles fit, or one does not end, that is a failure
# of its own, and the targets are still checked.
source "$(dirname "$0")/lib.sh"

CYCLES=${FUNC_SAFETY_CYCLES:-10}
LOAD=${FUNC_SAFETY_LOAD:-moderate}
case $LOAD in
moderate)	# every client leaves some CPU idle: 1 ms between requests; wrk every other second
	CONNS=2 PAUSE_US=1000 WRK=(-c 2 -t 1 -d 1s) WRK_REST=1 ;;
heavy)		# closed loops, back to back: both CPUs saturated
	CONNS=4 PAUSE_US=0 WRK=(-c 4 -t 2 -d 2s) WRK_REST=0 ;;
*) fail "FUNC_SAFETY_LOAD: moderate or heavy, not $LOAD" ;;
esac
BUDGET_S=${FUNC_SAFETY_BUDGET_S:-60}
STOP_MAX_S=${FUNC_SAFETY_STOP_MAX_S:-60}
LIFE_S=$((BUDGET_S + STOP_MAX_S + 30))	# the clients' and servers' own deadline
for bin in nginx wrk go; do
	command -v "$bin" >/dev/null || fail "$bin is missing: apt-get install nginx-light wrk golang-go"
done
F=$FIXTURES/rl_func_c
[[ -x $F ]] || fail "$F is missing: run make fixtures"
NGINX=$(command -v nginx)

G=$T/rl_gofunc
(
	cd "$REPO/tests/fixtures/go/rl_gofunc" &&
		GOFLAGS=-mod=mod GOCACHE=$T/gocache GOPATH=$T/gopath GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on \
			timeout 120 go build -o "$G" .
) >"$T/gobuild.log" 2>&1 || fail "building rl_gofunc: $(cat "$T/gobuild.log")"

# ------------------------------------------------------------ the targets
"$F" --serve --port 0 --handler-us 50 --timeout-s "$((LIFE_S + 3))" >"$T/cserver.out" 2>"$T/cserver.err" </dev/null &
CSERVER=$!
track "$CSERVER"
"$G" -serve -port 0 -handler-us 100 -timeout-s "$((LIFE_S + 3))" >"$T/goserver.out" 2>"$T/goserver.err" </dev/null &
GOSERVER=$!
track "$GOSERVER"

nport=$(free_port)
dir=$T/nginx
BODY_TEXT='<html><body>reqlens safety</body></html>'
start_nginx "$dir" "$nport" "$BODY_TEXT" '$msec $status $request_time $connection $request'

wait_until 5 "rl_func_c --serve's port" grep -q '^port=' "$T/cserver.out"
CPORT=$(sed -n 's/^port=//p' "$T/cserver.out")
wait_until 10 "rl_gofunc -serve's port" grep -q '^port=' "$T/goserver.out"
GPORT=$(sed -n 's/^port=//p' "$T/goserver.out")
URL=http://127.0.0.1:$nport/index.html
WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
[[ -n $WORKER ]] || fail "no nginx worker under the master $NGINX_PID"
note "targets: rl_func_c --serve :$CPORT (pid $CSERVER), rl_gofunc -serve :$GPORT (pid $GOSERVER), nginx :$nport (master $NGINX_PID, worker $WORKER)"

# ------------------------------------------------------------ the clients
"$F" --client --port "$CPORT" --conns "$CONNS" --pause-us "$PAUSE_US" --duration-s "$LIFE_S" >"$T/cclient.out" 2>"$T/cclient.err" </dev/null &
CCLIENT=$!
track "$CCLIENT"
"$G" -client -port "$GPORT" -conns "$CONNS" -pause-us "$PAUSE_US" -duration-s "$LIFE_S" -timeout-s "$((LIFE_S + 3))" >"$T/goclient.out" 2>"$T/goclient.err" </dev/null &
GOCLIENT=$!
track "$GOCLIENT"

cat >"$T/verify.py" <<'EOF'
# Keep-alive GETs of one URL until SIGTERM; every answer must be 200 with
# exactly the expected body. Prints "requests=N errors=E"; exit 1 if E > 0.
import http.client, signal, sys, time
port, path, want = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode() + b'\n'
pause = int(sys.argv[4]) / 1e6
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
done = errors = 0
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
while not stop:
    t0 = time.time()
    try:
        conn.request('GET', path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200 or body != want:
            errors += 1
            print('request %d: status %d, body %r' % (done + 1, r.status, body[:200]), file=sys.stderr)
            break
        done += 1
        if pause:
            time.sleep(pause)
    except Exception as e:
        errors += 1
        print('request %d, sent at about %.3f (epoch s): %r' % (done + 1, t0, e), file=sys.stderr)
        break
print('requests=%d errors=%d' % (done, errors))
sys.exit(1 if errors else 0)
EOF
/usr/bin/python3 "$T/verify.py" "$nport" /index.html "$BODY_TEXT" "$PAUSE_US" >"$T/verify.out" 2>"$T/verify.err" </dev/null &
VERIFY=$!
track "$VERIFY"

(
	i=0
	while [[ ! -e $T/stop.wrk ]]; do
		i=$((i + 1))
		timeout -k 2 20 nice -n 19 wrk "${WRK[@]}" --timeout 10s "$URL" >"$T/wrk.$i.out" 2>&1
		echo "$?" >"$T/wrk.$i.rc"
		sleep "$WRK_REST"
	done
) </dev/null &
WRKLOOP=$!
track "$WRKLOOP"

sleep 1
for p in "$CCLIENT" "$GOCLIENT" "$VERIFY"; do
	_exited "$p" && fail "a client (pid $p) ended before the probes came: $(cat "$T"/cclient.err "$T"/goclient.err "$T"/verify.err)"
done

# nginx_gap: the longest pause between two requests nginx logged (its
# $msec: when each ended), and when.
nginx_gap() {
	awk 'NR > 1 && $1 - prev > gap { gap = $1 - prev; at = prev } { prev = $1 }
		END { printf "longest pause between two requests in the access log: %.3f s, after %.3f", gap, at }' "$dir/access.log"
}

# targets_alive CYCLE: fails the test (with what each said) when a target or
# a client has ended.
targets_alive() {
	local p
	for p in "$CSERVER" "$GOSERVER" "$NGINX_PID" "$CCLIENT" "$GOCLIENT" "$VERIFY"; do
		_exited "$p" || continue
		fail "cycle $1: pid $p ended; $(nginx_gap); stderr: $(cat "$T"/cserver.err "$T"/goserver.err \
			"$T"/cclient.err "$T"/goclient.err "$T"/verify.err "$dir/stdout" 2>/dev/null | head -c 2000);" \
			"last wrk: $(oneline "$(tail -n 12 "$(ls -t "$T"/wrk.*.out | head -n 1)")")"
	done
}

# ------------------------------------------------------------ the cycles
PROBES=(--uprobe="$F:handle_request" --uprobe="$F:work_us" --uprobe="$G:main.workUs" --uprobe="$G:main.grow"
	"--uprobe=$NGINX:ngx_http_*_request")
t_cycles=$(now_ms)
STOPS=()
for c in $(seq "$CYCLES"); do
	if (( $(now_ms) - t_cycles > BUDGET_S * 1000 )); then
		expect_true "all $CYCLES cycles within ${BUDGET_S} s: only $((c - 1)) ran, the agent's exits took ${STOPS[*]} ms" false
		break
	fi
	start_agent "${PROBES[@]}"
	sleep 1
	scrape
	for fn in handle_request main.workUs ngx_http_process_request; do
		sum_in "$SCRAPE" reqlens_function_calls_total function="$fn"
		expect_true "cycle $c: calls of $fn counted in the probes' second ($SUM)" test "$SUM" -gt 0
	done
	# SIGTERM; an agent still there after STOP_MAX_S is a failure, and the
	# cycles end (the targets are still checked).
	t0=$(now_ms)
	kill -TERM "$AGENT_PID"
	if ! _wait_gone "$AGENT_PID" $((STOP_MAX_S * 1000)); then
		STOPS+=(">$((STOP_MAX_S * 1000))")
		expect_true "cycle $c: agent exits after SIGTERM: still running after ${STOP_MAX_S} s ($(oneline "$(head -n 4 /proc/"$AGENT_PID"/stack 2>/dev/null)"))" false
		targets_alive "$c"
		break
	fi
	AGENT_STOP_MS=$(( $(now_ms) - t0 ))
	wait "$AGENT_PID" 2>/dev/null
	AGENT_RC=$?
	STOPS+=("$AGENT_STOP_MS")
	expect_eq "cycle $c: agent exit status after SIGTERM" 0 "$AGENT_RC"
	expect_true "cycle $c: agent exits within 1000 ms of SIGTERM (took $AGENT_STOP_MS ms)" \
		test "$AGENT_STOP_MS" -le 1000
	note "cycle $c: agent stopped in $AGENT_STOP_MS ms"
	targets_alive "$c"
done
note "cycles: agent exits took ${STOPS[*]} ms"
sleep 1

# ------------------------------------------------------------ the verdict
touch "$T/stop.wrk"
for name in cclient:$CCLIENT goclient:$GOCLIENT verify:$VERIFY; do
	n=${name%%:*} p=${name#*:}
	kill -TERM "$p"
	wait_exit "$p" 15
	out=$(cat "$T/$n.out")
	note "$n: $(oneline "$out") (exit $EXIT_RC)"
	expect_eq "$n: exit status (stderr: $(head -c 800 "$T/$n.err"))" 0 "$EXIT_RC"
	expect_eq "$n: errors" 0 "$(field errors "$out")"
	expect_true "$n: requests answered right ($(field requests "$out")) > 100" test "$(field requests "$out")" -gt 100
done
wait_exit "$WRKLOOP" 30
runs=0
for f in "$T"/wrk.*.out; do
	runs=$((runs + 1))
	i=${f#"$T"/wrk.}
	i=${i%.out}
	expect_eq "wrk run $i: exit status ($(oneline "$(cat "$f")"))" 0 "$(cat "$T/wrk.$i.rc")"
	expect_true "wrk run $i: no socket error, no non-2xx ($(oneline "$(grep -E 'Socket errors|Non-2xx' "$f")"))" \
		sh -c "! grep -qE 'Socket errors|Non-2xx' '$f'"
done
reqs=$(cat "$T"/wrk.*.out | sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
note "wrk: $runs runs, $reqs requests"

expect_eq "nginx's worker is the one it started with" "$WORKER" "$(pgrep -P "$NGINX_PID" | head -n 1)"
expect_true "nginx's error log has no worker killed by a signal: $(grep -m3 'signal' "$dir/error.log")" \
	sh -c "! grep -q 'exited on signal' '$dir/error.log'"
statuses=$(awk '{ print $2 }' "$dir/access.log" | sort | uniq -c | tr -s ' \n' ' ')
note "nginx: access log statuses: $statuses; $(nginx_gap)"
expect_eq "nginx: statuses other than 200 in the access log" 0 "$(awk '$2 != 200' "$dir/access.log" | wc -l)"

kill -TERM "$CSERVER"
wait_exit "$CSERVER" 10
expect_eq "rl_func_c --serve: exit status after SIGTERM ($(cat "$T/cserver.err"))" 0 "$EXIT_RC"
kill -TERM "$GOSERVER"
wait_exit "$GOSERVER" 10
expect_eq "rl_gofunc -serve: exit status after SIGTERM ($(head -c 800 "$T/goserver.err"))" 0 "$EXIT_RC"
served=$(grep '^served=' "$T/goserver.out")
note "rl_gofunc -serve: $served"
expect_eq "rl_gofunc -serve: wrong results" 0 "$(field bad "$served")"
kill -QUIT "$NGINX_PID"
wait_exit "$NGINX_PID" 10
expect_eq "nginx: exit status after a graceful stop" 0 "$EXIT_RC"
check_expectations
