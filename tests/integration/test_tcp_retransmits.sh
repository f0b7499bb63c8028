#!/usr/bin/env bash
# reqlens_tcp_retransmits_total against the kernel's own count on each
# socket (needs iptables).
#
# Two iptables rules on lo drop, at random, RETRANS_DROP_PCT (30) percent of
# the data segments rl_tcp_server and rl_tcp_client send each other (the
# server's port as source or destination; SYN, FIN and RST segments and pure
# ACKs pass) as they arrive (INPUT: a segment dropped
# on its way out, in OUTPUT, is not lost to TCP, which sees the error and
# sends it later as new), so that the kernel sends them again (after a
# retransmission timeout or a tail-loss probe, on loopback about 200 ms),
# and a retransmission can be dropped too. The fixtures add up TCP_INFO's tcpi_total_retrans over
# their connections: the server after the client acknowledged everything
# (none can come later), the client once the echo is back.
#
# Then, for each side, reqlens_tcp_retransmits_total == the fixture's sum,
# exactly, and neither is 0 (the rules did drop something); every
# connection was still served and counted.
source "$(dirname "$0")/lib.sh"

command -v iptables >/dev/null || fail "iptables is missing: apt-get install iptables"
N=${RETRANS_CONNECTIONS:-40}
PCT=${RETRANS_DROP_PCT:-30}

start_server --connections "$N" --retrans 1
P=$SERVER_PORT
start_agent "--port=$P"

for dir in --sport --dport; do
	RULE=(INPUT -i lo -p tcp "$dir" "$P" --tcp-flags SYN,FIN,RST NONE -m length --length 53:65535
		-m statistic --mode random --probability "0.$PCT" -j DROP)
	iptables -w 10 -I "${RULE[@]}" 2>"$T/ipt.err" ||
		fail "iptables could not add a drop rule: $(cat "$T/ipt.err")"
	at_cleanup "iptables -w 10 -D ${RULE[*]}"
done

run_client --port "$P" --connections "$N" --concurrency 4 --retrans \
	--message "a line that the server echoes, on a lossy loopback"
wait_server 60
note "client: $CLIENT_SUMMARY; server: $(tail -n1 "$SERVER_OUT")"

srv=$(field retrans "$(tail -n1 "$SERVER_OUT")")
cli=$(field retrans "$CLIENT_SUMMARY")
assert_eq "client ok connections" "$N" "$(field ok "$CLIENT_SUMMARY")"
expect_true "the server retransmitted something ($srv segments): the drop rules work" test "${srv:-0}" -gt 0
expect_true "the client retransmitted something ($cli segments): the drop rules work" test "${cli:-0}" -gt 0

IN=(service_name="$SERVER_COMM" direction=inbound server_port="$P")
OUT=(service_name="$CLIENT_COMM" direction=outbound peer_port="$P")
wait_metric 10 "$N" reqlens_tcp_connections_total "${IN[@]}"
wait_metric 10 "$N" reqlens_tcp_connections_total "${OUT[@]}"
scrape
metric_in "$SCRAPE" reqlens_tcp_retransmits_total "${IN[@]}"
expect_eq "server's retransmits (the kernel's tcpi_total_retrans, summed)" "$srv" "${VAL:-0}"
metric_in "$SCRAPE" reqlens_tcp_retransmits_total "${OUT[@]}"
expect_eq "client's retransmits (the kernel's tcpi_total_retrans, summed)" "$cli" "${VAL:-0}"

stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
check_expectations
