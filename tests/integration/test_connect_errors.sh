#!/usr/bin/env bash
# Outbound connects to a loopback port where nothing listens: each is a
# connect error of the client, and none is counted as a connection.
source "$(dirname "$0")/lib.sh"

N=5
start_agent
closed=$(free_port)	# bound and released at once: nothing listens there
run_client --port "$closed" --connections "$N" --allow-errors
assert_eq "client failed connections" "$N" "$(field failed "$CLIENT_SUMMARY")"

OUT=(service_name="$CLIENT_COMM" direction=outbound peer_port="$closed")
wait_metric 10 "$N" reqlens_tcp_connect_errors_total "${OUT[@]}"
scrape
metric_in "$SCRAPE" reqlens_tcp_connections_total "${OUT[@]}"
assert_eq "connections_total for refused connects" 0 "${VAL:-0}"
metric_in "$SCRAPE" reqlens_tcp_connections_active "${OUT[@]}"
assert_eq "connections_active for refused connects" 0 "${VAL:-0}"
metric_in "$SCRAPE" reqlens_tcp_resets_total "${OUT[@]}" reset=received
note "resets_total{reset=received} for the refused connects: ${VAL:-<absent>}"

stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
