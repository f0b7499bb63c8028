#!/usr/bin/env bash
# Connections held open: connections_active counts them while they last and
# drops to 0 after; the duration histogram finds how long they were held.
source "$(dirname "$0")/lib.sh"

N=10
HOLD_MS=2000
start_agent
start_server --connections "$N"
P=$SERVER_PORT
# All N connect at once, then each waits HOLD_MS before its request.
timeout -k 2 60 "$FIXTURES/rl_tcp_client" --port "$P" --connections "$N" --concurrency "$N" \
	--hold-ms "$HOLD_MS" --timeout-s 55 >"$T/client.out" 2>"$T/client.err" &
CLIENT_PID=$!
track "$CLIENT_PID"

IN=(service_name="$SERVER_COMM" direction=inbound server_port="$P")
OUT=(service_name="$CLIENT_COMM" direction=outbound peer_port="$P")
wait_metric 1 "$N" reqlens_tcp_connections_active "${IN[@]}"
wait_metric 1 "$N" reqlens_tcp_connections_active "${OUT[@]}"
_exited "$CLIENT_PID" && fail "the client finished before the active connections were seen (hold $HOLD_MS ms)"

wait_exit "$CLIENT_PID" 30
assert_eq "client exit status ($(cat "$T/client.out" "$T/client.err"))" 0 "$EXIT_RC"
wait_server
wait_metric 10 0 reqlens_tcp_connections_active "${IN[@]}"
wait_metric 10 0 reqlens_tcp_connections_active "${OUT[@]}"
wait_metric 10 "$N" reqlens_tcp_connection_duration_seconds_count "${IN[@]}"
wait_metric 10 "$N" reqlens_tcp_connection_duration_seconds_count "${OUT[@]}"

# Each connection lived HOLD_MS plus a round trip on loopback.
scrape /api/v1/histograms
want=$(awk -v h="$HOLD_MS" 'BEGIN { printf "%.3f", h / 1000 }')
for sel in IN OUT; do
	declare -n m=$sel
	got=$("${PROMQ[@]}" json-quantile "$SCRAPE" 0.5 reqlens_tcp_connection_duration_seconds "${m[@]}") ||
		fail "/api/v1/histograms: no reqlens_tcp_connection_duration_seconds with ${m[*]}"
	assert_within_pct "median connection duration ($sel)" "$want" "$got" 3
done

stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
