#!/usr/bin/env bash
# 200 connections from rl_tcp_client to rl_tcp_server under an unfiltered
# agent: every inbound and outbound count is exact, no connection stays
# active, and the byte counters equal what the fixtures say they moved.
source "$(dirname "$0")/lib.sh"

N=200
start_agent
start_server --connections "$N"
P=$SERVER_PORT
run_client --port "$P" --connections "$N" --concurrency 4 --message "reqlens counts test line"
wait_server
note "client: $CLIENT_SUMMARY; server: $(tail -n1 "$SERVER_OUT")"

server_summary=$(tail -n1 "$SERVER_OUT")
srv_rx=$(field received "$server_summary")
srv_tx=$(field sent "$server_summary")
cli_tx=$(field sent "$CLIENT_SUMMARY")
cli_rx=$(field received "$CLIENT_SUMMARY")
assert_eq "client ok connections" "$N" "$(field ok "$CLIENT_SUMMARY")"
assert_eq "server received == client sent" "$cli_tx" "$srv_rx"

IN=(service_name="$SERVER_COMM" direction=inbound server_port="$P")
OUT=(service_name="$CLIENT_COMM" direction=outbound peer_port="$P")

# Closes are asynchronous (the last ACK/FIN): poll until they are all counted.
wait_metric 10 "$N" reqlens_tcp_connections_total "${IN[@]}"
wait_metric 10 "$N" reqlens_tcp_connections_total "${OUT[@]}"
wait_metric 10 0 reqlens_tcp_connections_active "${IN[@]}"
wait_metric 10 0 reqlens_tcp_connections_active "${OUT[@]}"
wait_metric 10 "$N" reqlens_tcp_connection_duration_seconds_count "${IN[@]}"
wait_metric 10 "$N" reqlens_tcp_connection_duration_seconds_count "${OUT[@]}"

# From here on, one scrape: every number must hold at the same time.
scrape
S=$SCRAPE
check() {	# WHAT EXPECTED NAME MATCHERS...
	local what=$1 want=$2
	shift 2
	metric_in "$S" "$@"
	expect_eq "$what ($1{$(IFS=,; echo "${*:2}")})" "$want" "$VAL"
}
check "inbound connections" "$N" reqlens_tcp_connections_total "${IN[@]}"
check "accept-queue observations" "$N" reqlens_tcp_accept_queue_seconds_count service_name="$SERVER_COMM" server_port="$P"
check "accept-queue +Inf bucket" "$N" reqlens_tcp_accept_queue_seconds_bucket service_name="$SERVER_COMM" server_port="$P" le=+Inf
check "inbound durations" "$N" reqlens_tcp_connection_duration_seconds_count "${IN[@]}"
check "inbound active" 0 reqlens_tcp_connections_active "${IN[@]}"
check "outbound connections" "$N" reqlens_tcp_connections_total "${OUT[@]}"
check "outbound durations" "$N" reqlens_tcp_connection_duration_seconds_count "${OUT[@]}"
check "outbound active" 0 reqlens_tcp_connections_active "${OUT[@]}"

assert_gt "server bytes received" 0 "$srv_rx"
check "inbound received bytes" "$srv_rx" reqlens_tcp_received_bytes_total "${IN[@]}"
check "inbound sent bytes" "$srv_tx" reqlens_tcp_sent_bytes_total "${IN[@]}"
check "outbound sent bytes" "$cli_tx" reqlens_tcp_sent_bytes_total "${OUT[@]}"
check "outbound received bytes" "$cli_rx" reqlens_tcp_received_bytes_total "${OUT[@]}"

# Clean request/response exchanges: no connect error and no reset (a series
# that is absent counts as 0).
for m in "reqlens_tcp_connect_errors_total ${OUT[*]}" \
	"reqlens_tcp_resets_total ${IN[*]} reset=sent" "reqlens_tcp_resets_total ${IN[*]} reset=received" \
	"reqlens_tcp_resets_total ${OUT[*]} reset=sent" "reqlens_tcp_resets_total ${OUT[*]} reset=received"; do
	read -r -a args <<<"$m"
	metric_in "$S" "${args[@]}"
	expect_eq "${args[*]}" 0 "${VAL:-0}"
done
check_expectations

# Histogram sanity: the sums are positive, the buckets cumulative.
metric_in "$S" reqlens_tcp_accept_queue_seconds_sum service_name="$SERVER_COMM" server_port="$P"
assert_gt "accept-queue _sum (s)" 0 "$VAL"
metric_in "$S" reqlens_tcp_connection_duration_seconds_sum "${IN[@]}"
assert_gt "inbound duration _sum (s)" 0 "$VAL"
"${PROMQ[@]}" series "$S" reqlens_tcp_accept_queue_seconds_bucket service_name="$SERVER_COMM" server_port="$P" |
	awk '{ v = $NF + 0; if (v < prev) { print "bucket counts decrease at: " $0; bad = 1 } prev = v } END { exit bad }' ||
	fail "accept-queue buckets are not cumulative"

stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
