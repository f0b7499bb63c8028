#!/usr/bin/env bash
# reqlens snapshot and compare through the built binary, without an agent:
# every CLI error is one line on stderr and the documented exit status
# (1 runtime, 2 usage, 3 gate); a snapshot from a fake agent (canned
# documents) has the right counts and reads back; compare's JSON, gate and
# Prometheus mode (a fake Prometheus) give the known answers of the
# fixtures in tests/fixtures/compare/ (see gen.py there).
#
# Needs no root, so it does not source lib.sh (whose sourcing demands root
# and the BPF fixtures); it keeps lib.sh's conventions: FAIL: lines, a $T
# directory removed on exit, every background process stopped, only
# 127.0.0.1 contacted.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
BIN=${AGENT_BIN:-./reqlens}
FIX=tests/fixtures/compare
PY=/usr/bin/python3
T=$(mktemp -d /tmp/reqlens-it.compare_cli.XXXXXX)
_PIDS=()

note() { printf '# %s\n' "$*" >&2; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
cleanup() {
	local rc=$? pid
	trap - EXIT
	for pid in "${_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

[[ -x $BIN ]] || fail "$BIN is missing: run make"

# run CMD...: RC, OUT (stdout) and ERR (stderr) of the command (30 s at most).
run() {
	timeout -k 2 30 "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# expect_error RC NEEDLE CMD...: exit status RC, and stderr exactly one line
# that mentions NEEDLE.
expect_error() {
	local want=$1 needle=$2 lines
	shift 2
	run "$@"
	[[ $RC == "$want" ]] || fail "$*: exit status $RC, expected $want (stderr: $ERR)"
	lines=$(wc -l <"$T/err")
	[[ $lines == 1 ]] || fail "$*: $lines lines on stderr, expected one: $ERR"
	grep -qiF -- "$needle" "$T/err" || fail "$*: stderr does not mention '$needle': $ERR"
	note "exit $RC: $ERR"
}

# json FILE EXPR: a Python expression over the JSON document d.
json() {
	$PY -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>"$T/json.err" || fail "json $2 over $1: $(tail -n1 "$T/json.err")"
}

closed_port() {
	$PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# fake MODE ARGS...: fake_http.py in the background; sets FAKE_URL.
fake() {
	local out=$T/fake.$RANDOM
	$PY $FIX/fake_http.py "$@" >"$out" 2>&1 &
	_PIDS+=($!)
	for _ in $(seq 100); do grep -q '^port=' "$out" && break; sleep 0.05; done
	grep -q '^port=' "$out" || fail "fake_http.py $* did not start: $(cat "$out")"
	FAKE_URL=http://127.0.0.1:$(sed -n 's/^port=//p' "$out")
}

# ------------------------------------------------------------ compare errors
expect_error 1 "cannot read $T/missing.json" $BIN compare "$T/missing.json" $FIX/after.json
expect_error 1 "format version 2" $BIN compare $FIX/version2.json $FIX/after.json
expect_error 1 "agent document, not a snapshot" $BIN compare $FIX/agent_t0.json $FIX/after.json
expect_error 1 "different bucket layouts" $BIN compare $FIX/layout2.json $FIX/after.json
expect_error 1 "not JSON" $BIN compare $FIX/truncated.json $FIX/after.json
expect_error 1 "not a reqlens snapshot" $BIN compare $FIX/not_reqlens.json $FIX/after.json
expect_error 1 "no series of" $BIN compare $FIX/before.json $FIX/after.json --metric no_such_seconds
expect_error 2 "two snapshot files" $BIN compare
expect_error 2 "two snapshot files" $BIN compare $FIX/before.json
expect_error 2 "takes two files" $BIN compare $FIX/before.json $FIX/after.json $FIX/after.json
expect_error 2 "invalid --format" $BIN compare $FIX/before.json $FIX/after.json --format xml
expect_error 2 "invalid --fail-if-slower" $BIN compare $FIX/before.json $FIX/after.json --fail-if-slower=lots
expect_error 2 "unknown flag" $BIN compare $FIX/before.json $FIX/after.json --colour
expect_error 2 "invalid --selector" $BIN compare $FIX/before.json $FIX/after.json --selector 'service_name="x"'
expect_error 2 "needs --before" $BIN compare --prometheus http://127.0.0.1:9
expect_error 2 "go with --prometheus" $BIN compare $FIX/before.json $FIX/after.json --before 1,2
expect_error 2 "invalid --before" $BIN compare --prometheus http://127.0.0.1:9 --before yesterday,today --after 1,2

# ----------------------------------------------------------- snapshot errors
PORT=$(closed_port)
expect_error 1 "cannot reach http://127.0.0.1:$PORT/api/v1/histograms" \
	$BIN snapshot --from "http://127.0.0.1:$PORT" --duration 10ms -o "$T/s.json"
expect_error 2 "missing -o" $BIN snapshot --from "http://127.0.0.1:$PORT"
expect_error 2 "invalid --duration" $BIN snapshot --duration 5parsecs -o "$T/s.json"
expect_error 2 "invalid --duration" $BIN snapshot --duration=-1s -o "$T/s.json"
expect_error 2 "invalid --label key" $BIN snapshot --label 9lives=1 -o "$T/s.json"
expect_error 2 "want KEY=VALUE" $BIN snapshot --label build -o "$T/s.json"
expect_error 2 "given twice" $BIN snapshot --label a=1 --label a=2 -o "$T/s.json"
expect_error 2 "unexpected argument" $BIN snapshot extra -o "$T/s.json"

fake status 503
expect_error 1 "answered HTTP 503" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
fake status 200
expect_error 1 "not JSON" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
fake agent $FIX/not_reqlens.json
expect_error 1 "not a reqlens agent document" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
fake agent $FIX/agent_t0.json $FIX/agent_layout2.json
expect_error 1 "layout changed" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
fake agent $FIX/agent_t0.json $FIX/agent_t0.json
expect_error 1 "no requests in the window" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
fake agent $FIX/agent_t0.json $FIX/agent_restart.json
expect_error 1 "restarted" $BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/s.json"
expect_error 1 "cannot write $T/no/such/dir/s.json" \
	$BIN snapshot --from "$FAKE_URL" --duration 10ms -o "$T/no/such/dir/s.json"
[[ ! -e $T/s.json ]] || fail "a failed snapshot left $T/s.json behind"

# ------------------------------------------------------------- a snapshot
# agent_t1 has 300 more GET /cart requests than agent_t0, and one more of
# the snapshot's own reads (service reqlens on the fake's port): left out.
fake agent $FIX/agent_t0.json $FIX/agent_t1.json
run $BIN snapshot --from "$FAKE_URL/api/v1/histograms" --duration 10ms -o "$T/snap.json" --label build=7 --label env=ci
[[ $RC == 0 ]] || fail "snapshot from the fake agent: exit $RC: $ERR"
[[ -z $ERR ]] || fail "snapshot wrote to stderr on success: $ERR"
note "$OUT"
[[ $(json "$T/snap.json" 'd["format"], d["format_version"]') == "('reqlens-snapshot', 1)" ]] ||
	fail "snapshot format: $(json "$T/snap.json" 'd["format"], d["format_version"]')"
got=$(json "$T/snap.json" '[h["count"] for h in d["histograms"]]')
[[ $got == "[300]" ]] || fail "snapshot histograms' counts: expected [300] (the snapshot's own reads left out), got $got"
got=$(json "$T/snap.json" 'd["window"]["seconds"], d["host"], d["labels"], d["layout"]["buckets"]')
[[ $got == "(60, 'shop-1', {'build': '7', 'env': 'ci'}, 1217)" ]] || fail "snapshot metadata: $got"
got=$(json "$T/snap.json" 'sorted(c["labels"]["reason"] for c in d["counters"] if c["name"] == "reqlens_events_lost_total")')
[[ $got == "['conn_map_full', 'hist_map_full', 'ringbuf_full']" ]] || fail "lost-events counters: $got"
ls "$T" | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$T")"

# A file compared with itself: nothing changed, to the last digit.
run $BIN compare "$T/snap.json" "$T/snap.json" --format json
[[ $RC == 0 ]] || fail "compare a snapshot with itself: exit $RC: $ERR"
printf '%s\n' "$OUT" >"$T/self.json"
got=$(json "$T/self.json" '[s["verdict"] for s in d["series"]]')
[[ $got == "['no significant change']" ]] || fail "self-compare verdicts: $got"
got=$(json "$T/self.json" 'sorted(set(q["change_pct"] for s in d["series"] for q in s["quantiles"]))')
[[ $got == "[0]" ]] || fail "self-compare changes: expected all 0, got $got"

# ---------------------------------------------------- compare: known answers
run $BIN compare $FIX/before.json $FIX/after.json --format json
[[ $RC == 0 ]] || fail "compare before after --format json: exit $RC: $ERR"
printf '%s\n' "$OUT" >"$T/cmp.json"
got=$(json "$T/cmp.json" '[(s["labels"].get("service_name"), s["verdict"]) for s in d["series"]]')
[[ $got == "[('checkout', 'slower'), ('cache', 'no significant change')]" ]] || fail "verdicts: $got"
got=$(json "$T/cmp.json" '[round(q["change_pct"]) for q in d["series"][0]["quantiles"] if q["name"] == "p95"][0]')
(( got >= 15 && got <= 30 )) || fail "checkout p95 change: expected about +20%, got $got%"
got=$(json "$T/cmp.json" 'd["series"][0]["before"]["errors"], d["series"][0]["after"]["errors"], d["series"][1]["before"]["errors"]')
[[ $got == "(50, 10, None)" ]] || fail "error counts (checkout before, after; cache before): $got"
got=$(json "$T/cmp.json" 'sorted(w["code"] for w in d["warnings"])')
[[ $got == "['events_lost', 'unmatched_series']" ]] || fail "window warnings: $got"
got=$(json "$T/cmp.json" '[o["key"] for o in d["only_before"]]')
[[ $got == *'http_route="/legacy"'* ]] || fail "series only in before: $got"
got=$(json "$T/cmp.json" 'd["verdict_rule"]')
[[ $got == *'fewer than 200 requests'*'p < 0.01'* ]] || fail "verdict rule in the JSON: $got"

run $BIN compare $FIX/before.json $FIX/after.json --html "$T/r.html"
[[ $RC == 0 ]] || fail "compare with --html: exit $RC: $ERR"
grep -q '^Verdict rule: "not enough data" when' <<<"$OUT" || fail "the table does not state the verdict rule"
grep -q '^  slower: p95 +' <<<"$OUT" || fail "the table has no verdict line for checkout: $OUT"
[[ -s $T/r.html ]] || fail "--html wrote nothing"
grep -qE '<(script|link|img)[^>]* (src|href)=' "$T/r.html" && fail "the HTML report loads external resources"

# The gate: checkout is 20% slower.
run $BIN compare $FIX/before.json $FIX/after.json --fail-if-slower=5%
[[ $RC == 3 ]] || fail "--fail-if-slower=5% with a 20% slowdown: exit $RC, expected 3"
grep -q 'slower by more than 5%' <<<"$ERR" || fail "--fail-if-slower=5%: stderr says: $ERR"
run $BIN compare $FIX/before.json $FIX/after.json --fail-if-slower 50
[[ $RC == 0 ]] || fail "--fail-if-slower 50 with a 20% slowdown: exit $RC, expected 0 ($ERR)"
run $BIN compare $FIX/before.json $FIX/after.json --selector '{service_name="cache"}' --fail-if-slower=0%
[[ $RC == 0 ]] || fail "--fail-if-slower=0% on an unchanged series: exit $RC, expected 0 ($ERR)"

# ------------------------------------------------------- compare: Prometheus
fake prom "$REPO/$FIX" "$T/promq.log" --split 1700001000
run $BIN compare --prometheus "$FAKE_URL" --before 1700000600,1700000660 \
	--after 2023-11-14T23:13:20Z,2023-11-14T23:14:20Z --selector '{service_name="checkout"}' \
	--metric http_server_request_duration_seconds --format json
[[ $RC == 0 ]] || fail "compare --prometheus: exit $RC: $ERR"
printf '%s\n' "$OUT" >"$T/prom.json"
want='sum by (le, service_name, server_port, http_request_method, http_route, http_response_status_code) (increase(http_server_request_duration_seconds_bucket{service_name="checkout"}[60000ms]))'
grep -qF "1700000660.0	$want" "$T/promq.log" || fail "the before query: $(cat "$T/promq.log")"
grep -qF "1700003660.0	$want" "$T/promq.log" || fail "the after query: $(cat "$T/promq.log")"
got=$(json "$T/prom.json" '[(s["before"]["count"], s["after"]["count"], s["before"]["errors"]) for s in d["series"]]')
[[ $got == "[(2050, 2010, 50)]" ]] || fail "counts rebuilt from Prometheus: $got"
got=$(json "$T/prom.json" 'd["before"]["resolution"], sorted(w["code"] for w in d["warnings"])')
[[ $got == "('prometheus_le', ['events_lost', 'events_lost', 'le_resolution'])" ]] || fail "Prometheus-mode warnings: $got"
# At 4 edges per octave a 20% change lies within one le interval: it cannot be proven.
got=$(json "$T/prom.json" 'd["series"][0]["verdict"]')
[[ $got == "no significant change" ]] || fail "verdict at le resolution: $got"
expect_error 1 "cannot reach Prometheus at http://127.0.0.1:$PORT:" $BIN compare \
	--prometheus "http://127.0.0.1:$PORT" --before 1700000600,1700000660 --after 1700003600,1700003660

echo "ok: compare and snapshot CLI"
