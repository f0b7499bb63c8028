#!/usr/bin/env bash
# --uprobe on unmodified servers from Debian (needs nginx-light, redis-server,
# redis-tools, wrk): their stripped binaries export the functions in .dynsym.
#
# nginx: master + one worker from a generated configuration on a free
#   loopback port, serving a static /index.html; the agent probes
#   /usr/sbin/nginx:ngx_http_process_request (by path; --pid=the worker, as
#   other nginx processes may run on the host) once nginx runs, then
#   wrk (3 s, 4 connections) and one curl of 5 requests. Ground truth: the
#   access log's lines written meanwhile (N).
#     reqlens_function_calls_total{function=ngx_http_process_request} == N;
#     reqlens_request_handler_seconds{http_route="/index.html"} count == N,
#     and its sum < http_server_request_duration_seconds_sum of the route.
# redis: redis-server on a free loopback port; the agent probes
#   redis-server:processCommand (by process name; --pid=this one), then
#   redis-benchmark
#   -n 2000 -c 4 -t get,set. Ground truth: INFO commandstats before and
#   after, calls + rejected_calls summed over the commands (processCommand
#   runs for both; the second INFO is not in its own output, hence + 1).
#     calls of processCommand == that delta + 1;
#     reqlens_request_handler_seconds{protocol=redis} sum <
#     reqlens_request_duration_seconds_sum of the same requests.
source "$(dirname "$0")/lib.sh"

for bin in nginx redis-server redis-cli redis-benchmark wrk; do
	command -v "$bin" >/dev/null ||
		fail "$bin is missing: apt-get install nginx-light redis-server redis-tools wrk"
done
NGINX=$(command -v nginx)

stop_agent_ok() {
	stop_agent 10000
	expect_eq "agent exit status after SIGTERM ($1)" 0 "$AGENT_RC"
	expect_true "agent exits within 1000 ms of SIGTERM ($1: took $AGENT_STOP_MS ms)" \
		test "$AGENT_STOP_MS" -le 1000
}

# ------------------------------------------------------------------ nginx
port=$(free_port)
dir=$T/nginx
start_nginx "$dir" "$port" '<html><body>reqlens</body></html>'
# --pid: only this nginx's worker (other nginx processes on the host run the
# same binary, so the probe, on its inode, sees their calls too).
WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
[[ -n $WORKER ]] || fail "no nginx worker under the master $NGINX_PID"
start_agent --pid="$WORKER" --uprobe="$NGINX:ngx_http_process_request"
grep -q "probing ngx_http_process_request in $NGINX" "$AGENT_ERR" ||
	fail "the agent does not say it probes ngx_http_process_request: $(cat "$AGENT_ERR")"
wait_log_stable "$dir/access.log" 10
before=$(wc -l <"$dir/access.log")
run_wrk -c 4 -t 2 -d 3s --timeout 10s "http://127.0.0.1:$port/index.html"
U=http://127.0.0.1:$port/index.html
timeout 10 curl --noproxy '*' -sf -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
	"$U" "$U" "$U" "$U" "$U" || fail "curl against nginx failed"
wait_log_stable "$dir/access.log" 10
N=$(( $(wc -l <"$dir/access.log") - before ))
note "nginx: wrk completed $WRK_REQUESTS requests; the access log got $N lines (statuses: $(tail -n "$N" "$dir/access.log" | awk '{ print $9 }' | sort | uniq -c | tr -s ' \n' ' '))"
assert_gt "requests nginx served" 1000 "$N"
S=(service_name=nginx binary=nginx function=ngx_http_process_request)
wait_sum 5 "$N" reqlens_function_calls_total "${S[@]}" ||
	expect_eq "nginx: reqlens_function_calls_total{function=ngx_http_process_request}" "$N" "$SUM"
R=(service_name=nginx server_port="$port" http_route=/index.html)
wait_sum 5 "$N" reqlens_request_handler_seconds_count "${R[@]}" ||
	expect_eq "nginx: reqlens_request_handler_seconds_count{http_route=/index.html}" "$N" "$SUM"
sum_in "$SCRAPE" http_server_request_duration_seconds_count "${R[@]}"
note "nginx: http_server_request_duration_seconds_count{http_route=/index.html}: $SUM"
sum_in "$SCRAPE" reqlens_request_handler_seconds_sum "${R[@]}"
hs=$SUM
sum_in "$SCRAPE" http_server_request_duration_seconds_sum "${R[@]}"
rs=$SUM
sum_in "$SCRAPE" reqlens_function_duration_seconds_sum "${S[@]}"
note "nginx: handler time $hs s, request time $rs s, ngx_http_process_request $SUM s"
expect_true "nginx: handler time ($hs s) < request time ($rs s) on /index.html" \
	awk -v h="$hs" -v r="$rs" 'BEGIN { exit !(h > 0 && h < r) }'
events_lost
expect_eq "nginx: reqlens_events_lost_total (non-zero: ${LOST_SERIES:-none})" 0 "$LOST"
stop_agent_ok nginx
expect_true "nginx still serves after the agent stopped" \
	curl --noproxy '*' -sf -o /dev/null --max-time 5 "$U"
stop_pid "$NGINX_PID"

# ------------------------------------------------------------------ redis
# commandstats PORT: CALLS = calls + rejected_calls over INFO commandstats.
commandstats() {
	local out
	out=$(timeout 10 redis-cli -h 127.0.0.1 -p "$1" INFO commandstats) || fail "redis-cli INFO failed: $out"
	CALLS=$(tr -d '\r' <<<"$out" | awk -F'[:,=]' '/^cmdstat_/ {
		for (i = 2; i < NF; i += 2) if ($i == "calls" || $i == "rejected_calls") s += $(i + 1)
	} END { print s + 0 }')
	CMDS=$(sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1=\2/p' <<<"$out" | tr '\n' ' ')
}

port=$(free_port)
mkdir -p "$T/redis"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$T/redis" --logfile "$T/redis/redis.log" --daemonize no </dev/null &
REDIS_PID=$!
track "$REDIS_PID"
wait_until 10 "redis-server on port $port" \
	sh -c "timeout 2 redis-cli -h 127.0.0.1 -p $port PING 2>/dev/null | grep -q PONG"
start_agent --pid="$REDIS_PID" --uprobe=redis-server:processCommand
grep -q "probing processCommand in" "$AGENT_ERR" ||
	fail "the agent does not say it probes processCommand: $(cat "$AGENT_ERR")"
S=(service_name=redis-server function=processCommand)
scrape
sum_in "$SCRAPE" reqlens_function_calls_total "${S[@]}"
c0=$SUM
Q=(service_name=redis-server server_port="$port")
sum_in "$SCRAPE" reqlens_request_duration_seconds_count "${Q[@]}"
r0=$SUM
commandstats "$port"
s0=$CALLS
timeout 60 redis-benchmark -h 127.0.0.1 -p "$port" -n 2000 -c 4 -t get,set -q >"$T/bench.out" 2>&1 ||
	fail "redis-benchmark failed: $(tail -c 500 "$T/bench.out")"
commandstats "$port"
s1=$CALLS
delta=$((s1 - s0 + 1))
note "redis: commands after: $CMDS; processCommand should have run $delta times (INFO, the benchmark, INFO)"
wait_sum 5 $((c0 + delta)) reqlens_function_calls_total "${S[@]}" ||
	expect_eq "redis: calls of processCommand (before: $c0)" $((c0 + delta)) "$SUM"
sum_in "$SCRAPE" reqlens_request_duration_seconds_count "${Q[@]}"
note "redis: requests the agent framed meanwhile: $((SUM - r0))"
sum_in "$SCRAPE" reqlens_request_handler_seconds_count "${Q[@]}"
note "redis: requests with handler time: $SUM"
sum_in "$SCRAPE" reqlens_request_handler_seconds_sum "${Q[@]}"
hs=$SUM
sum_in "$SCRAPE" reqlens_request_duration_seconds_sum "${Q[@]}"
rs=$SUM
sum_in "$SCRAPE" reqlens_function_duration_seconds_sum "${S[@]}"
note "redis: handler time $hs s, request time $rs s, processCommand $SUM s"
expect_true "redis: handler time ($hs s) < request time ($rs s)" \
	awk -v h="$hs" -v r="$rs" 'BEGIN { exit !(h > 0 && h < r) }'
events_lost
expect_eq "redis: reqlens_events_lost_total (non-zero: ${LOST_SERIES:-none})" 0 "$LOST"
stop_agent_ok redis
expect_true "redis still answers after the agent stopped" \
	sh -c "timeout 2 redis-cli -h 127.0.0.1 -p $port PING | grep -q PONG"
stop_pid "$REDIS_PID"
check_expectations
