#!/usr/bin/env bash
# Unmodified servers and clients from Debian, in both request tracking modes
# (needs the Debian packages redis-server, redis-tools, nginx-light, wrk).
#
# redis: redis-server on a free loopback port (no persistence), driven by
#   redis-benchmark -n 2000 -c 4 -t get,set. Ground truth: the server's own
#   count of commands executed (INFO commandstats, calls= per command), read
#   before and after the benchmark. redis-benchmark 7.0 sends 2 x 2000 GET
#   and SET, one at a time per connection, and at its start CONFIG GET save
#   and CONFIG GET appendonly on a connection of its own, PIPELINED
#   (getRedisConfig: two redisAppendCommand(), then two redisGetReply(): one
#   write, one read on each side). A request, as the agent frames it, is a
#   read-then-write exchange, and only HTTP's pipelined requests are told
#   apart (by each response's "HTTP/1."): those two commands are one
#   request. The INFO reads are requests too (a command's stats are
#   updated after it ran: the second INFO sees the first, not itself). So,
#   with B = the benchmark's commands (the calls delta less the first INFO)
#   and P = the CONFIG GETs among them:
#     server side, reqlens_request_duration_seconds{service_name=
#       "redis-server",protocol="redis"}: + (B - (P - 1)) + 2 (the INFOs)
#     client side, reqlens_client_request_duration_seconds{service_name=
#       "redis-benchmark",protocol="redis"}: B - (P - 1)
# nginx: nginx (master and one worker) from a generated configuration on a
#   free loopback port, serving a static index.html (sendfile on, as
#   Debian's default configuration has it), driven by wrk for 3 s and then
#   by one curl that fetches it 5 times over one connection. Ground truth:
#   nginx's access log (a line per request, written when it ends).
#     http_server_request_duration_seconds{service_name="nginx"}: count ==
#       access log lines; route "/index.html", method GET, status 200.
#     http_client_request_duration_seconds{service_name="wrk"}: count ==
#       the requests wrk completed; {service_name="curl"}: 5 + the
#       readiness probes' (the access log's lines before wrk).
source "$(dirname "$0")/lib.sh"

MODES=(${REQ_MODES:-sock syscall})
for bin in redis-server redis-cli redis-benchmark nginx wrk; do
	command -v "$bin" >/dev/null ||
		fail "$bin is missing: apt-get install redis-server redis-tools nginx-light wrk"
done

# commandstats PORT: CALLS = the sum of calls= over INFO commandstats, and
# CMDS = "name=calls ..." (one redis-cli INFO, itself a command).
commandstats() {
	local out
	out=$(timeout 10 redis-cli -h 127.0.0.1 -p "$1" INFO commandstats) || fail "redis-cli INFO failed: $out"
	CALLS=$(sed -n 's/^cmdstat_.*:calls=\([0-9]*\),.*/\1/p' <<<"$out" | awk '{ s += $1 } END { print s + 0 }')
	CMDS=$(sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1=\2/p' <<<"$out" | tr '\n' ' ')
}

redis_case() {
	local mode=$1 port=$2 pid c0 s0 s1 cmds0 bench cfg exchanges
	mkdir -p "$T/redis.$mode"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$T/redis.$mode" --logfile "$T/redis.$mode/redis.log" --daemonize no </dev/null &
	pid=$!
	track "$pid"
	wait_until 10 "redis-server on port $port" \
		sh -c "timeout 2 redis-cli -h 127.0.0.1 -p $port PING 2>/dev/null | grep -q PONG"
	Q=(service_name=redis-server server_port="$port" protocol=redis)
	# The readiness PINGs are requests too: wait until the agent has them all.
	local last=-1
	for _ in $(seq 50); do
		scrape
		sum_in "$SCRAPE" reqlens_request_duration_seconds_count "${Q[@]}"
		[[ $SUM == "$last" && $SUM != 0 ]] && break
		last=$SUM
		sleep 0.2
	done
	c0=$SUM
	commandstats "$port"
	s0=$CALLS cmds0=$CMDS
	timeout 60 redis-benchmark -h 127.0.0.1 -p "$port" -n 2000 -c 4 -t get,set -q >"$T/bench.out" 2>&1 ||
		fail "redis-benchmark failed: $(tail -c 500 "$T/bench.out")"
	commandstats "$port"
	s1=$CALLS
	bench=$((s1 - s0 - 1))
	cfg=$(sed -n 's/.*config|get=\([0-9]*\).*/\1/p' <<<"$CMDS")
	cfg=${cfg:-0}
	exchanges=$((bench - (cfg > 1 ? cfg - 1 : 0)))
	note "$mode/redis: commands before: $cmds0; after: $CMDS"
	note "$mode/redis: redis-benchmark sent $bench commands (2 x 2000 + $((bench - 4000)) of its own, $cfg CONFIG GET pipelined): $exchanges exchanges"
	wait_sum 10 $((c0 + exchanges + 2)) reqlens_request_duration_seconds_count "${Q[@]}" ||
		expect_eq "$mode/redis: redis-server requests (agent's count before: $c0; then $exchanges exchanges of the benchmark + 2 INFO)" \
			$((c0 + exchanges + 2)) "$SUM"
	wait_sum 10 "$exchanges" reqlens_client_request_duration_seconds_count service_name=redis-benchmark \
		peer_port="$port" protocol=redis ||
		expect_eq "$mode/redis: redis-benchmark's requests (client side)" "$exchanges" "$SUM"
	note "$mode/redis: series: $(series_in "$SCRAPE" reqlens_request_duration_seconds_count server_port="$port" | tr '\n' ' ')"
	sum_in "$SCRAPE" reqlens_requests_aborted_total server_port="$port"
	note "$mode/redis: aborted (inbound): $SUM"
	stop_pid "$pid"
}

nginx_case() {
	local mode=$1 port=$2 pid dir lines
	dir=$T/nginx.$mode
	start_nginx "$dir" "$port" '<html><body>reqlens</body></html>'
	pid=$NGINX_PID
	sleep 0.3
	local before
	before=$(wc -l <"$dir/access.log")

	run_wrk -c 4 -t 2 -d 3s --timeout 10s "http://127.0.0.1:$port/index.html"
	timeout 10 curl --noproxy '*' -sf -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
		"http://127.0.0.1:$port/index.html" "http://127.0.0.1:$port/index.html" \
		"http://127.0.0.1:$port/index.html" "http://127.0.0.1:$port/index.html" \
		"http://127.0.0.1:$port/index.html" || fail "curl against nginx failed"
	wait_log_stable "$dir/access.log" 10
	lines=$(wc -l <"$dir/access.log")
	note "$mode/nginx: wrk completed $WRK_REQUESTS requests; access log: $lines lines ($before before wrk)"
	note "$mode/nginx: statuses in the access log: $(awk '{ print $9 }' "$dir/access.log" | sort | uniq -c | tr -s ' \n' ' ')"

	Q=(service_name=nginx server_port="$port")
	wait_sum 10 "$lines" http_server_request_duration_seconds_count "${Q[@]}" || {
		local ab
		ab=$("${PROMQ[@]}" sum "$SCRAPE" reqlens_requests_aborted_total "${Q[@]}" direction=inbound)
		expect_eq "$mode/nginx: requests (access log: $lines lines; the agent counted ${ab:-0} as aborted)" "$lines" "$SUM"
	}
	for l in http_request_method:GET http_route:/index.html http_response_status_code:200; do
		expect_eq "$mode/nginx: values of ${l%%:*}" "${l#*:}" \
			"$("${PROMQ[@]}" labels "$SCRAPE" http_server_request_duration_seconds "${l%%:*}" "${Q[@]}" | tr '\n' ' ' | sed 's/ $//')"
	done
	# wrk counts the responses it completed before its timer ended; the agent
	# also counts a response wrk read after that, up to the ones nginx sent it.
	wait_sum 10 "$WRK_REQUESTS" http_client_request_duration_seconds_count service_name=wrk peer_port="$port" || {
		local ab sent=$((lines - before))
		ab=$("${PROMQ[@]}" sum "$SCRAPE" reqlens_requests_aborted_total service_name=wrk peer_port="$port")
		if (( SUM < WRK_REQUESTS || SUM > sent )); then
			expect_eq "$mode/nginx: wrk's requests, client side, between wrk's $WRK_REQUESTS and nginx's $sent (the agent counted ${ab:-0} as aborted)" "$WRK_REQUESTS" "$SUM"
		fi
	}
	wait_sum 10 $((before + 5)) http_client_request_duration_seconds_count service_name=curl peer_port="$port" ||
		expect_eq "$mode/nginx: curl's requests, client side (5 + $before readiness probes)" $((before + 5)) "$SUM"
	for l in http_request_method:GET http_response_status_code:200 peer_address:127.0.0.1; do
		expect_eq "$mode/nginx: wrk's client series: values of ${l%%:*}" "${l#*:}" \
			"$("${PROMQ[@]}" labels "$SCRAPE" http_client_request_duration_seconds "${l%%:*}" service_name=wrk peer_port="$port" | tr '\n' ' ' | sed 's/ $//')"
	done
	stop_pid "$pid"
}

for mode in "${MODES[@]}"; do
	# The agent watches these two ports only (--port), so that the counts
	# and events_lost are about this test's traffic alone.
	rport=$(free_port)
	nport=$(free_port)
	while [[ $nport == "$rport" ]]; do nport=$(free_port); done
	start_agent_nowait "--request-tracking=$mode" "--port=$rport" "--port=$nport"
	wait_ready 60	# 15 s is not always enough on a loaded 2-core machine
	redis_case "$mode" "$rport"
	nginx_case "$mode" "$nport"
	lossless_stop "$mode" 3000
done
check_expectations
