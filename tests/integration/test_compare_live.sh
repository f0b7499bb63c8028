#!/usr/bin/env bash
# reqlens snapshot and compare against the real agent: three windows of N
# requests to an HTTP server that sleeps a known time (slow_server.py),
# the second one 2x slower. Each snapshot counts exactly N requests;
# compare says "slower" with the p95 change near +100%, its CI covering
# the change the server's own clock saw; the third window, like the first,
# is "no significant change"; a snapshot against itself changes nothing.
source "$(dirname "$0")/lib.sh"

SLOW=(/usr/bin/python3 "$REPO/tests/fixtures/compare/slow_server.py")
N=400		# requests per window: enough for p95 (200), not for p99 (1000)
CONNS=8
FAST_MS=40	# large against Python's per-request overhead, so 2x the sleep is ~2x the latency
WINDOW_MS=6000	# each window lasts this long unless its load takes longer

start_agent
SERVER_LOG=$T/slow.log
"${SLOW[@]}" serve --log "$SERVER_LOG" --timeout-s 170 >"$T/slow.out" 2>"$T/slow.err" </dev/null &
track $!
wait_until 10 "slow_server to print its port" grep -q '^port=' "$T/slow.out"
PORT=$(sed -n 's/^port=//p' "$T/slow.out")
SEL="{server_port=\"$PORT\"}"

drive() {	# DELAY_MS COUNT
	timeout -k 2 60 "${SLOW[@]}" drive --port "$PORT" --n "$2" --conns "$CONNS" --path "/work?ms=$1" \
		>"$T/drive.out" 2>"$T/drive.err" || fail "slow_server drive: $(cat "$T/drive.err")"
}

# agent_count: COUNT = the agent's requests of the server's series so far.
agent_count() {
	scrape /api/v1/histograms
	COUNT=$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(h["count"] for h in d["histograms"]
          if h["name"] == "http_server_request_duration_seconds" and h["labels"].get("server_port") == sys.argv[2]))' \
		"$SCRAPE" "$PORT")
}
_count_is() { agent_count; [[ $COUNT == "$1" ]]; }

# Warm the server up (threads, imports) outside any window.
drive "$FAST_MS" 40
wait_until 10 "the agent to count the warm-up requests" _count_is 40
TOTAL=40

_log_has() { (( $(wc -l <"$SERVER_LOG") >= $1 )); }

# window NAME DELAY_MS: a snapshot around N requests of DELAY_MS; its server
# log lines (the ground truth) go to $T/NAME.truth.
window() {
	local name=$1 ms=$2 pid t0 lines0
	"$AGENT_BIN" snapshot --from "$AGENT_URL" --duration 120s -o "$T/$name.json" --label "window=$name" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null &
	pid=$!
	track "$pid"
	wait_until 10 "the $name snapshot's first read" grep -q 'window started' "$T/$name.out"
	t0=$(now_ms)
	lines0=$(wc -l <"$SERVER_LOG")
	drive "$ms" "$N"
	TOTAL=$((TOTAL + N))
	# The agent drains its ring buffer every 100 ms: wait until it has them all.
	wait_until 10 "the agent to count $TOTAL requests (window $name)" _count_is "$TOTAL"
	# The server logs a request after writing its response, which the agent may count first.
	wait_until 10 "the server to log its $N requests (window $name)" _log_has "$((lines0 + N))"
	tail -n +"$((lines0 + 1))" "$SERVER_LOG" | head -n "$N" >"$T/$name.truth"
	while (( $(now_ms) < t0 + WINDOW_MS )); do sleep 0.1; done
	# SIGINT ends the window: the second read happens at once.
	kill -INT "$pid"
	wait_exit "$pid" 10
	[[ $EXIT_RC == 0 ]] || fail "snapshot $name exited $EXIT_RC: $(cat "$T/$name.err")"
	note "$(tail -n1 "$T/$name.out")"
}

# snapshot_count NAME: the requests of the server's series in the file.
snapshot_count() {
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(h["count"] for h in d["histograms"]
          if h["name"] == "http_server_request_duration_seconds" and h["labels"].get("server_port") == sys.argv[2]))' \
		"$T/$1.json" "$PORT"
}

# cmp_json BEFORE AFTER EXPR: a Python expression over compare's JSON (d)
# and its only series (s), for the server's series.
cmp_json() {
	"$AGENT_BIN" compare "$T/$1.json" "$T/$2.json" --selector "$SEL" --format json >"$T/cmp.json" 2>"$T/cmp.err" ||
		fail "compare $1 $2 failed: $(cat "$T/cmp.err")"
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["series"]) == 1, "expected one series, got %d" % len(d["series"])
s = d["series"][0]
q = {x["name"]: x for x in s["quantiles"]}
print(eval(sys.argv[2]))' "$T/cmp.json" "$3" 2>"$T/py.err" || fail "compare $1 $2: $(tail -n1 "$T/py.err")"
}

window w1 "$FAST_MS"
window w2 "$((2 * FAST_MS))"
window w3 "$FAST_MS"

for w in w1 w2 w3; do
	assert_eq "requests in snapshot $w" "$N" "$(snapshot_count $w)"
done

# ---- 2x slower: "slower", about +100% at p95, the CI covering the truth.
"$AGENT_BIN" compare "$T/w1.json" "$T/w2.json" --selector "$SEL" >"$T/table.txt" 2>"$T/table.err" ||
	fail "compare w1 w2: $(cat "$T/table.err")"
sed 's/^/# /' "$T/table.txt" >&2
assert_eq "verdict w1 -> w2" "slower" "$(cmp_json w1 w2 's["verdict"]')"
change=$(cmp_json w1 w2 'q["p95"]["change_pct"]')
assert_within_pct "p95 change w1 -> w2 (%)" 100 "$change" 15
truth1=$(log_quantile "$T/w1.truth" 0.95 2)
truth2=$(log_quantile "$T/w2.truth" 0.95 2)
truth=$(awk -v a="$truth1" -v b="$truth2" 'BEGIN { printf "%.2f", (b / a - 1) * 100 }')
note "the server's own clock: p95 ${truth1}s -> ${truth2}s, $truth%"
ci=$(cmp_json w1 w2 'q["p95"]["change_pct_ci95"]')
awk -v t="$truth" -v ci="$ci" 'BEGIN { gsub(/[][ ]/, "", ci); split(ci, b, ","); exit !(b[1] <= t && t <= b[2]) }' ||
	fail "p95 change CI $ci (%) does not cover the server's own $truth%"
note "p95 change $change%, CI $ci, covers the server's $truth%"
assert_eq "events lost during the windows" "[]" "$(cmp_json w1 w2 '[w["code"] for w in d["warnings"] if w["code"] == "events_lost"]')"

# ---- the same load again: no significant change.
verdict=$(cmp_json w1 w3 's["verdict"]')
[[ $verdict == "no significant change" ]] ||
	fail "verdict w1 -> w3 (the same load): $verdict (p95 change $(cmp_json w1 w3 'q["p95"]["change_pct"], q["p95"]["change_pct_ci95"]'), Mann-Whitney p $(cmp_json w1 w3 's["mann_whitney"]["p"]'); the server's own p95: $(log_quantile "$T/w1.truth" 0.95 2)s, $(log_quantile "$T/w3.truth" 0.95 2)s)"
note "w1 -> w3: $verdict, p95 $(cmp_json w1 w3 'q["p95"]["change_pct"]')%"

# ---- a snapshot against itself: nothing changes, exactly.
assert_eq "verdict w1 -> w1" "no significant change" "$(cmp_json w1 w1 's["verdict"]')"
assert_eq "changes w1 -> w1" "[0]" "$(cmp_json w1 w1 'sorted(set(x["change_pct"] for x in s["quantiles"]))')"
assert_eq "Mann-Whitney p w1 -> w1" "1" "$(cmp_json w1 w1 's["mann_whitney"]["p"]')"

stop_agent 3000
assert_eq "agent exit status" 0 "$AGENT_RC"
