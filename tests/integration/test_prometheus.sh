#!/usr/bin/env bash
# A real Prometheus scrapes the agent every second; histogram_quantile()
# over the exported buckets finds the 50 ms accept delay. And promtool
# accepts a real scrape without a word.
source "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || fail "prometheus is not installed (apt-get install prometheus)"
command -v promtool >/dev/null || fail "promtool is not installed"

N=20
DELAY_MS=50
start_agent --histogram.le-per-octave=32

PROM_PORT=$(free_port)
PROM_URL=http://127.0.0.1:$PROM_PORT
cat >"$T/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reqlens
    static_configs:
      - targets: ['127.0.0.1:$AGENT_PORT']
YAML
promtool check config "$T/prometheus.yml" >"$T/promtool-config.out" 2>&1 ||
	fail "promtool check config: $(cat "$T/promtool-config.out")"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
	>"$T/prometheus.out" 2>"$T/prometheus.err" </dev/null &
PROM_PID=$!
track "$PROM_PID"
prom_ready() {
	_exited "$PROM_PID" && fail "prometheus exited: $(tail -n 5 "$T/prometheus.err")"
	curl --noproxy '*' -sf --max-time 1 -o /dev/null "$PROM_URL/-/ready"
}
wait_until 30 "prometheus to be ready on $PROM_URL" prom_ready

# query EXPR: the single value of an instant query, in QVAL (empty if none).
query() {
	curl --noproxy '*' -sf --max-time 5 -G --data-urlencode "query=$1" \
		-o "$T/query.json" "$PROM_URL/api/v1/query" || fail "query $1: curl status $?"
	QVAL=$("${PROMQ[@]}" prom-scalar "$T/query.json" 2>&1)
	case $? in
	0) ;;
	3) QVAL= ;;
	*) fail "query $1: $QVAL" ;;
	esac
}
# wait_query SECONDS EXPECTED EXPR
wait_query() {
	local deadline=$(( $(now_ms) + $1 * 1000 ))
	while :; do
		query "$3"
		[[ "$QVAL" == "$2" ]] && return 0
		(( $(now_ms) < deadline )) || fail "query $3: expected $2, got ${QVAL:-<empty>} (after $1 s)"
		sleep 0.5
	done
}

wait_query 20 1 'up{job="reqlens"}'

start_server --accept-delay-ms "$DELAY_MS" --connections "$N" --log "$T/accept.log"
P=$SERVER_PORT
run_client --port "$P" --connections "$N"
wait_server
truth=$("${PROMQ[@]}" median "$T/accept.log" | awk '{ printf "%.9f", $1 / 1e9 }')
note "server-measured median accept wait: $truth s"

SEL="service_name=\"$SERVER_COMM\",server_port=\"$P\""
wait_query 20 "$N" "sum(reqlens_tcp_accept_queue_seconds_count{$SEL})"
query "histogram_quantile(0.5, sum by (le) (reqlens_tcp_accept_queue_seconds_bucket{service_name=\"$SERVER_COMM\"}))"
note "Prometheus histogram_quantile(0.5): ${QVAL:-<empty>}"
assert_within_pct "histogram_quantile(0.5) of the accept queue vs 50 ms" 0.050 "$QVAL" 5
assert_within_pct "histogram_quantile(0.5) of the accept queue vs the server's median" "$truth" "$QVAL" 5

# promtool lints a real scrape (with histograms and counters in it).
scrape
promtool check metrics <"$SCRAPE" >"$T/promtool.out" 2>&1
rc=$?
[[ $rc -eq 0 && ! -s "$T/promtool.out" ]] ||
	fail "promtool check metrics: expected exit 0 and no output, got exit $rc and: $(head -c 3000 "$T/promtool.out")"

kill -TERM "$PROM_PID"
wait_exit "$PROM_PID" 15
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
