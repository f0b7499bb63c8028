#!/usr/bin/env bash
# --uprobe and --usdt on a C program against its own clock: rl_func_c
# (tests/fixtures/rl_func_c.c, -O2 -g, every timed function noinline/noipa),
# whose busy-waits last exactly what they are told and which logs each call's
# duration. Needs systemtap-sdt-dev (sys/sdt.h) when the fixtures are built,
# for the USDT part.
#
#  1. By path, several specs at once: work_us 1000 calls (98% of 300 us, 2%
#     of 1500 us), recurse_work at depth 3 (each level a call: 200, 400 and
#     600 us), usdt_work between rl_func:work_start and rl_func:work_end, and
#     the lone probe rl_func:tick. Calls == the calls made, exactly; p50 and
#     p99 (recursion: p1/6, p1/2, p5/6) and the mean (_sum/_count) of
#     reqlens_function_duration_seconds from /api/v1/histograms within 3% of
#     the fixture's log.
#  2. By process name (the process waits for the agent), with a glob
#     (work_us*) that matches exactly two functions: work_us and work_us_alt,
#     each counted and timed.
#  3. --pid: two processes of the binary, only the named one counted. Its
#     recurse_work recurses 12 deep: every call is counted, the outer 8
#     levels are timed (RL_FUNC_DEPTH).
#  4. A stripped PIE (built here with -rdynamic, strip --strip-all: only
#     .dynsym is left) probed by path.
#  5. The TCP server mode: handle_request() (300 us of work_us) on a thread
#     per connection that works 200 us more outside it. Every request gets its
#     handler time: reqlens_request_handler_seconds count == requests, sum ==
#     the function's sum (3%), p50 == the server's handler clock (3%), and sum
#     < reqlens_request_duration_seconds_sum of the same requests.
# The agent exits 0 within a second of SIGTERM each time (the README's
# promise; a slower exit is reported with the rest, at the end);
# reqlens_events_lost_total stays 0.
source "$(dirname "$0")/lib.sh"

need_rl_func_c

# func_json: HJSON = a fresh /api/v1/histograms.
func_json() {
	scrape /api/v1/histograms
	HJSON=$SCRAPE
}

# check_q WHAT Q LOG FUNCTION [MATCHER...]: the agent's Q-quantile of
# reqlens_function_duration_seconds{function=FUNCTION,MATCHERS} (HJSON)
# within 3% of the Q-quantile of the log's lines "FUNCTION NS".
check_q() {
	local what=$1 q=$2 log=$3 fn=$4 truth got
	shift 4
	awk -v f="$fn" '$1 == f' "$log" >"$T/q.log"
	truth=$(log_quantile "$T/q.log" "$q" 2) || fail "$log has no line for $fn"
	got=$("${PROMQ[@]}" json-quantile "$HJSON" "$q" reqlens_function_duration_seconds function="$fn" "$@")
	expect_within_pct "$what" "$truth" "$got" 3
}

# check_mean WHAT LOG FUNCTION [MATCHER...]: _sum/_count (a fresh scrape)
# within 3% of the log's mean.
check_mean() {
	local what=$1 log=$2 fn=$3 truth sum count
	shift 3
	truth=$(awk -v f="$fn" '$1 == f { s += $2; n++ } END { if (n) printf "%.9f", s / n / 1e9 }' "$log")
	scrape
	sum_in "$SCRAPE" reqlens_function_duration_seconds_sum function="$fn" "$@"
	sum=$SUM
	sum_in "$SCRAPE" reqlens_function_duration_seconds_count function="$fn" "$@"
	count=$SUM
	expect_within_pct "$what" "$truth" "$(awk -v s="$sum" -v n="$count" 'BEGIN { if (n) printf "%.9f", s / n }')" 3
}

# run_fixture NAME ARGS...: $F ARGS in the foreground (60 s at most); its
# stdout in FIX_OUT; fails unless it exits 0.
run_fixture() {
	local name=$1
	shift
	FIX_OUT=$(timeout -k 2 60 "$F" --timeout-s 55 "$@" 2>"$T/$name.err") ||
		fail "rl_func_c $* ($name) exited $?: $(cat "$T/$name.err")"
}

# start_waiting NAME BIN ARGS...: BIN --go-file $T/go.NAME ARGS in the
# background, once it has printed "ready": WPID.
start_waiting() {
	local name=$1 bin=$2
	shift 2
	rm -f "$T/go.$name"
	"$bin" --go-file "$T/go.$name" --timeout-s 60 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	WPID=$!
	track "$WPID"
	wait_until 5 "$name to be ready" grep -q '^ready' "$T/$name.out"
}

# finish_waiting NAME PID: lets it go, waits for it to exit 0; its summary
# line in FIX_OUT.
finish_waiting() {
	touch "$T/go.$1"
	wait_exit "$2" 60
	[[ $EXIT_RC -eq 0 ]] || fail "$1 exited $EXIT_RC: $(cat "$T/$1.err")"
	FIX_OUT=$(grep '^calls=' "$T/$1.out")
}

no_events_lost() {
	events_lost
	expect_eq "reqlens_events_lost_total ($1; non-zero: ${LOST_SERIES:-none})" 0 "$LOST"
}

# stop_agent_ok WHAT: SIGTERM; the agent must exit 0 within a second (the
# README's promise; a slower exit is recorded, and the test goes on).
stop_agent_ok() {
	stop_agent 10000
	expect_eq "agent exit status after SIGTERM ($1)" 0 "$AGENT_RC"
	expect_true "agent exits within 1000 ms of SIGTERM ($1: took $AGENT_STOP_MS ms)" \
		test "$AGENT_STOP_MS" -le 1000
}

# ------------------------------------------------ 1. by path, USDT, recursion
note "1. by path: work_us, recurse_work (depth 3), USDT start/end and a lone probe"
start_agent --uprobe="$F:work_us" --uprobe="$F:recurse_work" \
	--usdt="$F:rl_func:work_start,work_end" --usdt="$F:rl_func:tick"
LOG=$T/path.log
run_fixture path --calls 1000 --us 300x98,1500x2 --recurse-calls 200 --depth 3 --recurse-us 200 \
	--usdt-calls 200 --usdt-us 250 --log "$LOG"
note "fixture: $FIX_OUT"
assert_eq "fixture's work_us calls" 1000 "$(field calls "$FIX_OUT")"
assert_eq "fixture's recurse_work calls (200 x depth 3)" 600 "$(field recurse_calls "$FIX_OUT")"
assert_eq "lines in the fixture's log (1000 + 600 + 200)" 1800 "$(wc -l <"$LOG")"
S=(service_name=rl_func_c binary=rl_func_c)
wait_sum 5 1000 reqlens_function_calls_total "${S[@]}" function=work_us ||
	expect_eq "reqlens_function_calls_total{function=work_us}" 1000 "$SUM"
wait_sum 5 600 reqlens_function_calls_total "${S[@]}" function=recurse_work ||
	expect_eq "reqlens_function_calls_total{function=recurse_work} (200 calls x 3 levels)" 600 "$SUM"
wait_sum 5 200 reqlens_function_calls_total "${S[@]}" function=rl_func:work_start,work_end ||
	expect_eq "reqlens_function_calls_total{function=rl_func:work_start,work_end}" 200 "$SUM"
wait_sum 5 200 reqlens_function_calls_total "${S[@]}" function=rl_func:tick ||
	expect_eq "reqlens_function_calls_total{function=rl_func:tick} (a lone USDT probe)" 200 "$SUM"
sum_in "$SCRAPE" reqlens_function_duration_seconds_count "${S[@]}" function=work_us
expect_eq "reqlens_function_duration_seconds_count{function=work_us}" 1000 "$SUM"
count_in "$SCRAPE" reqlens_function_duration_seconds_count function=rl_func:tick
expect_eq "duration series of the lone USDT probe (counted, not timed)" 0 "$COUNT"
note "log: work_us p50 $(awk '$1 == "work_us"' "$LOG" >"$T/w.log"; log_quantile "$T/w.log" 0.5 2) s, p99 $(log_quantile "$T/w.log" 0.99 2) s"
func_json
check_q "work_us p50" 0.5 "$LOG" work_us "${S[@]}"
check_q "work_us p99" 0.99 "$LOG" work_us "${S[@]}"
check_mean "work_us mean" "$LOG" work_us "${S[@]}"
check_q "recurse_work p1/6 (the innermost level, 200 us)" 0.1666 "$LOG" recurse_work "${S[@]}"
check_q "recurse_work p1/2 (the middle level, 400 us)" 0.5 "$LOG" recurse_work "${S[@]}"
check_q "recurse_work p5/6 (the outermost level, 600 us)" 0.8333 "$LOG" recurse_work "${S[@]}"
check_mean "recurse_work mean" "$LOG" recurse_work "${S[@]}"
awk '$1 == "usdt" { $1 = "rl_func:work_start,work_end"; print }' "$LOG" >"$T/usdt.log"
check_q "USDT work_start -> work_end p50" 0.5 "$T/usdt.log" rl_func:work_start,work_end "${S[@]}"
check_q "USDT work_start -> work_end p99" 0.99 "$T/usdt.log" rl_func:work_start,work_end "${S[@]}"
no_events_lost "by path"
stop_agent_ok "by path"

# ------------------------------------------------ 2. by process name, a glob
note "2. by process name, glob work_us*"
start_waiting byname "$F" --calls 300 --us 200 --alt-calls 200 --alt-us 400 --log "$T/byname.log"
BYNAME_PID=$WPID
start_agent "--uprobe=rl_func_c:work_us*"
if ! grep -q 'probing work_us in' "$AGENT_ERR" || ! grep -q 'probing work_us_alt in' "$AGENT_ERR"; then
	fail "the agent did not say it probes work_us and work_us_alt: $(cat "$AGENT_ERR")"
fi
finish_waiting byname "$BYNAME_PID"
note "fixture: $FIX_OUT"
wait_sum 5 300 reqlens_function_calls_total "${S[@]}" function=work_us ||
	expect_eq "by name: reqlens_function_calls_total{function=work_us}" 300 "$SUM"
wait_sum 5 200 reqlens_function_calls_total "${S[@]}" function=work_us_alt ||
	expect_eq "by name: reqlens_function_calls_total{function=work_us_alt}" 200 "$SUM"
labels=$("${PROMQ[@]}" labels "$SCRAPE" reqlens_function_calls_total function | tr '\n' ' ')
expect_eq "functions the glob work_us* matched" "work_us work_us_alt " "$labels"
func_json
check_q "by name: work_us p50" 0.5 "$T/byname.log" work_us "${S[@]}"
check_q "by name: work_us_alt p50" 0.5 "$T/byname.log" work_us_alt "${S[@]}"
stop_agent_ok "by name"

# ------------------------------------------------ 3. --pid
note "3. --pid: two processes of the binary, one counted; recursion 12 deep"
start_waiting pid1 "$F" --calls 150 --us 100 --recurse-calls 20 --depth 12 --recurse-us 20
P1=$WPID
start_waiting pid2 "$F" --calls 250 --us 100 --recurse-calls 10 --depth 12 --recurse-us 20
P2=$WPID
start_agent --pid="$P1" --uprobe="$F:work_us" --uprobe="$F:recurse_work"
touch "$T/go.pid2"
finish_waiting pid1 "$P1"
finish_waiting pid2 "$P2"
sleep 0.5
scrape
sum_in "$SCRAPE" reqlens_function_calls_total function=work_us
expect_eq "--pid=$P1 (150 calls; pid $P2 made 250): reqlens_function_calls_total{function=work_us}" 150 "$SUM"
sum_in "$SCRAPE" reqlens_function_calls_total function=recurse_work
expect_eq "--pid=$P1: reqlens_function_calls_total{function=recurse_work} (20 x 12 levels, every one)" 240 "$SUM"
sum_in "$SCRAPE" reqlens_function_duration_seconds_count function=recurse_work
expect_eq "--pid=$P1: recurse_work calls timed (the outer 8 levels of each)" 160 "$SUM"
stop_agent_ok "--pid"

# ------------------------------------------------ 4. a stripped PIE
note "4. a stripped PIE, symbols from .dynsym only"
mkdir -p "$T/stripped"
SF=$T/stripped/rl_func_c
${CC:-cc} -O2 -g -std=gnu11 -D_GNU_SOURCE -fPIE -pie -rdynamic tests/fixtures/rl_func_c.c -lpthread -lm -o "$SF" 2>"$T/cc.err" ||
	fail "building the -rdynamic copy: $(cat "$T/cc.err")"
strip --strip-all "$SF" || fail "strip --strip-all $SF failed"
readelf -h "$SF" | grep -q 'DYN' || fail "$SF is not a PIE: $(readelf -h "$SF" | grep Type)"
readelf -S "$SF" | grep -q '\.symtab' && fail "$SF still has a .symtab after strip --strip-all"
readelf --dyn-syms "$SF" | grep -qw work_us || fail "$SF does not export work_us in .dynsym"
start_agent --uprobe="$SF:work_us"
FIXSAVE=$F
F=$SF
run_fixture stripped --calls 500 --us 250 --log "$T/stripped.log"
F=$FIXSAVE
wait_sum 5 500 reqlens_function_calls_total function=work_us ||
	expect_eq "stripped PIE: reqlens_function_calls_total{function=work_us}" 500 "$SUM"
func_json
check_q "stripped PIE: work_us p50" 0.5 "$T/stripped.log" work_us
stop_agent_ok "stripped PIE"

# ------------------------------------------------ 5. the handler of a TCP server
note "5. handle_request() of a thread-per-connection server"
start_agent --uprobe="$F:handle_request"
"$F" --serve --port 0 --handler-us 300 --extra-us 200 --log "$T/server.log" --timeout-s 120 \
	>"$T/server.out" 2>"$T/server.err" </dev/null &
SPID=$!
track "$SPID"
wait_until 5 "the server's port" grep -q '^port=' "$T/server.out"
PORT=$(sed -n 's/^port=//p' "$T/server.out")
N=400
CLIENT=$(timeout -k 2 60 nice -n 19 "$F" --client --port "$PORT" --conns 2 --requests "$N" 2>"$T/client.err") ||
	fail "the client failed: $CLIENT $(cat "$T/client.err")"
note "client: $CLIENT"
assert_eq "requests the client got right" "$N" "$(field requests "$CLIENT")"
wait_log_stable "$T/server.log" 10
assert_eq "requests in the server's log" "$N" "$(wc -l <"$T/server.log")"
H=(service_name=rl_func_c server_port="$PORT")
wait_sum 5 "$N" reqlens_function_calls_total function=handle_request ||
	expect_eq "reqlens_function_calls_total{function=handle_request}" "$N" "$SUM"
wait_sum 5 "$N" reqlens_request_handler_seconds_count "${H[@]}" ||
	expect_eq "reqlens_request_handler_seconds_count{server_port=$PORT}: every request has its handler time" "$N" "$SUM"
sum_in "$SCRAPE" reqlens_request_duration_seconds_count "${H[@]}"
expect_eq "reqlens_request_duration_seconds_count{server_port=$PORT}" "$N" "$SUM"
sum_in "$SCRAPE" reqlens_request_duration_seconds_sum "${H[@]}"
REQ_SUM=$SUM
sum_in "$SCRAPE" reqlens_request_handler_seconds_sum "${H[@]}"
HANDLER_SUM=$SUM
sum_in "$SCRAPE" reqlens_function_duration_seconds_sum function=handle_request
FUNC_SUM=$SUM
note "sums: handler $HANDLER_SUM s, handle_request $FUNC_SUM s, requests $REQ_SUM s"
expect_within_pct "handler time per request (sum) vs the calls of handle_request (sum)" "$FUNC_SUM" "$HANDLER_SUM" 3
expect_true "handler time ($HANDLER_SUM s) < request time ($REQ_SUM s)" \
	awk -v h="$HANDLER_SUM" -v r="$REQ_SUM" 'BEGIN { exit !(h > 0 && h < r) }'
truth=$(log_quantile "$T/server.log" 0.5 2)
func_json
got=$("${PROMQ[@]}" json-quantile "$HJSON" 0.5 reqlens_request_handler_seconds "${H[@]}")
expect_within_pct "handler time p50 vs the server's clock around handle_request()" "$truth" "$got" 3
truth=$(log_quantile "$T/server.log" 0.5 3)
got=$("${PROMQ[@]}" json-quantile "$HJSON" 0.5 reqlens_request_duration_seconds "${H[@]}")
note "request p50: agent $got s, server $truth s"
no_events_lost "TCP server"
stop_pid "$SPID"
stop_agent_ok "TCP server"
check_expectations
