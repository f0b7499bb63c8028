#!/usr/bin/env bash
# --comm, --port and --pid narrow what is measured: the selected process or
# port shows up with exact counts, everything else does not show up at all.
source "$(dirname "$0")/lib.sh"

N=20

# assert_only FILE LABEL VALUE...: every reqlens_tcp_* sample that has LABEL
# has one of the VALUEs.
assert_only() {
	local f=$1 label=$2 got v ok
	shift 2
	got=$("${PROMQ[@]}" labels "$f" reqlens_tcp_ "$label" | grep -v '^<none>$')
	while read -r v; do
		[[ -z "$v" ]] && continue
		ok=0
		for want in "$@"; do [[ "$v" == "$want" ]] && ok=1; done
		[[ $ok -eq 1 ]] || fail "$label=\"$v\" appears on /metrics; expected only $*; series: $(series_in "$f" reqlens_tcp_connections_total | tr '\n' ' ')"
	done <<<"$got"
}

# ---- --comm: the server only, not its client (nor the agent's own HTTP).
start_agent --comm="$SERVER_COMM"
start_server --connections "$N"
P=$SERVER_PORT
run_client --port "$P" --connections "$N" --concurrency 2
wait_server
wait_metric 10 "$N" reqlens_tcp_connections_total service_name="$SERVER_COMM" direction=inbound server_port="$P"
wait_metric 10 0 reqlens_tcp_connections_active service_name="$SERVER_COMM" direction=inbound server_port="$P"
scrape
count_in "$SCRAPE" reqlens_tcp_connections_total service_name="$CLIENT_COMM"
assert_eq "--comm=$SERVER_COMM: series of $CLIENT_COMM" 0 "$COUNT"
assert_only "$SCRAPE" service_name "$SERVER_COMM"
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"

# ---- --port: two servers, the agent watches one port. Both sides of the
# watched port show (inbound server_port, outbound peer_port); the other
# port never does.
start_server --connections "$N"
PA=$SERVER_PORT
PID_A=$SERVER_PID
start_server --connections "$N"
PB=$SERVER_PORT
PID_B=$SERVER_PID
start_agent --port="$PA"
run_client --port "$PA" --connections "$N" --concurrency 2
run_client --port "$PB" --connections "$N" --concurrency 2
wait_exit "$PID_A" 30
wait_exit "$PID_B" 30
wait_metric 10 "$N" reqlens_tcp_connections_total service_name="$SERVER_COMM" direction=inbound server_port="$PA"
wait_metric 10 "$N" reqlens_tcp_connections_total service_name="$CLIENT_COMM" direction=outbound peer_port="$PA"
wait_metric 10 0 reqlens_tcp_connections_active service_name="$SERVER_COMM" direction=inbound server_port="$PA"
scrape
count_in "$SCRAPE" reqlens_tcp_connections_total server_port="$PB"
assert_eq "--port=$PA: inbound series for port $PB" 0 "$COUNT"
count_in "$SCRAPE" reqlens_tcp_connections_total peer_port="$PB"
assert_eq "--port=$PA: outbound series for port $PB" 0 "$COUNT"
assert_only "$SCRAPE" server_port "$PA"
assert_only "$SCRAPE" peer_port "$PA"
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"

# ---- --pid: the server's process only.
start_server --connections "$N"
P=$SERVER_PORT
start_agent --pid="$SERVER_PID"
run_client --port "$P" --connections "$N" --concurrency 2
wait_server
wait_metric 10 "$N" reqlens_tcp_connections_total service_name="$SERVER_COMM" direction=inbound server_port="$P"
scrape
count_in "$SCRAPE" reqlens_tcp_connections_total service_name="$CLIENT_COMM"
assert_eq "--pid=<server>: series of $CLIENT_COMM" 0 "$COUNT"
assert_only "$SCRAPE" service_name "$SERVER_COMM"
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
