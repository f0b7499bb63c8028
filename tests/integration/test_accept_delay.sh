#!/usr/bin/env bash
# The accept-queue histogram against the server's own clock: a server that
# waits 50 ms before each accept(), 20 sequential connections. The median
# the agent reports must be within 3% of the median the server measured.
source "$(dirname "$0")/lib.sh"

N=20
DELAY_MS=50
start_agent --histogram.le-per-octave=32
start_server --accept-delay-ms "$DELAY_MS" --connections "$N" --log "$T/accept.log"
P=$SERVER_PORT
run_client --port "$P" --connections "$N"
wait_server
assert_eq "lines in the server's log" "$N" "$(wc -l <"$T/accept.log")"

truth_ns=$("${PROMQ[@]}" median "$T/accept.log")
truth=$(awk -v n="$truth_ns" 'BEGIN { printf "%.9f", n / 1e9 }')
note "server-measured accept waits (ns): $(sort -n "$T/accept.log" | tr '\n' ' ')"
note "server-measured median: $truth s"

Q=(service_name="$SERVER_COMM" server_port="$P")
wait_metric 10 "$N" reqlens_tcp_accept_queue_seconds_count "${Q[@]}"

# Full resolution: /api/v1/histograms.
scrape /api/v1/histograms
json_median=$("${PROMQ[@]}" json-quantile "$SCRAPE" 0.5 reqlens_tcp_accept_queue_seconds "${Q[@]}" 2>&1)
case $? in
0) ;;
3) fail "/api/v1/histograms has no reqlens_tcp_accept_queue_seconds histogram with ${Q[*]}: $(head -c 1500 "$SCRAPE")" ;;
*) fail "/api/v1/histograms: $json_median" ;;
esac
assert_within_pct "median accept wait from /api/v1/histograms" "$truth" "$json_median" 3

# The exported buckets, with 32 edges per octave.
scrape
S=$SCRAPE
prom_median=$("${PROMQ[@]}" quantile "$S" 0.5 reqlens_tcp_accept_queue_seconds "${Q[@]}") ||
	fail "no reqlens_tcp_accept_queue_seconds_bucket for ${Q[*]}"
assert_within_pct "median accept wait from /metrics buckets" "$truth" "$prom_median" 3

read -r lo hi < <("${PROMQ[@]}" le-around "$S" reqlens_tcp_accept_queue_seconds "$truth" "${Q[@]}") ||
	fail "no le edges around $truth"
width=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.4f", (hi - lo) / lo * 100 }')
note "le edges around the median: $lo .. $hi ($width% wide)"
assert_lt "relative width (%) of the le bucket holding 50 ms with --histogram.le-per-octave=32" 3.2 "$width"

# The mean too: _sum / _count against the server's mean.
metric_in "$S" reqlens_tcp_accept_queue_seconds_sum "${Q[@]}"
sum=$VAL
mean=$(awk -v s="$sum" -v n="$N" 'BEGIN { printf "%.9f", s / n }')
truth_mean=$(awk '{ t += $1 } END { printf "%.9f", t / NR / 1e9 }' "$T/accept.log")
assert_within_pct "mean accept wait (_sum/_count)" "$truth_mean" "$mean" 3

stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
