#!/usr/bin/env bash
# The HTTP side: status codes, content types, 100 idle connections, a huge
# header line, a custom telemetry path, and a clean stop with clients still
# connected.
source "$(dirname "$0")/lib.sh"

start_agent

http GET "$AGENT_URL/no-such-path"
assert_eq "GET /no-such-path status" 404 "$HTTP_CODE"
http POST "$AGENT_URL/metrics" -d x=1
assert_eq "POST /metrics status" 405 "$HTTP_CODE"
http GET "$AGENT_URL/healthz"
assert_eq "GET /healthz status" 200 "$HTTP_CODE"
http GET "$AGENT_URL/readyz"
assert_eq "GET /readyz status" 200 "$HTTP_CODE"

ctype=$(curl --noproxy '*' -sf --max-time 5 -o /dev/null -w '%{content_type}' "$AGENT_URL/metrics")
assert_contains "GET /metrics Content-Type" "text/plain; version=0.0.4" "$ctype"
scrape
grep -q '^reqlens_build_info{' "$SCRAPE" || fail "reqlens_build_info missing from /metrics: $(head -c 1000 "$SCRAPE")"

scrape /api/v1/histograms
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d.get("format") == "reqlens-histograms", "format is %r" % d.get("format")
assert isinstance(d.get("histograms"), list), "no histograms list"' "$SCRAPE" 2>"$T/json.err" ||
	fail "/api/v1/histograms: $(tail -n1 "$T/json.err"); body: $(head -c 500 "$SCRAPE")"

# ---- 100 idle connections (connected, sending nothing) must not starve
# /metrics. They stay open until the agent is stopped at the end.
/usr/bin/python3 -c '
import socket, sys, time
conns = []
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    conns.append(s)
open(sys.argv[2], "w").close()
time.sleep(60)' "$AGENT_PORT" "$T/idle.ready" 2>"$T/idle.err" &
IDLE_PID=$!
track "$IDLE_PID"
wait_until 10 "100 idle connections to the agent" test -e "$T/idle.ready"
t0=$(now_ms)
curl --noproxy '*' -sf --max-time 2 -o "$T/idle.metrics" "$AGENT_URL/metrics"
rc=$?
ms=$(( $(now_ms) - t0 ))
[[ $rc -eq 0 ]] || fail "GET /metrics with 100 idle connections open: curl status $rc after $ms ms (expected an answer within 2 s)"
note "/metrics answered in $ms ms with 100 idle connections open"
_exited "$IDLE_PID" && fail "the idle connections were not all made: $(cat "$T/idle.err")"

# ---- a 100 KB header line: any answer or a closed connection, no crash.
/usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 102400 + b"\r\n\r\n")
    print(s.recv(200).split(b"\r\n", 1)[0].decode(errors="replace") or "<closed without an answer>")
except OSError as e:
    print("<%s>" % e)' "$AGENT_PORT" >"$T/big.out" 2>&1
note "100 KB header line answered: $(cat "$T/big.out")"
_exited "$AGENT_PID" && fail "agent died after a request with a 100 KB header line: $(tail -n 5 "$AGENT_ERR")"
http GET "$AGENT_URL/metrics"
assert_eq "GET /metrics after the 100 KB header" 200 "$HTTP_CODE"

# A stop with the idle connections still open is still prompt.
stop_agent 1000
assert_eq "agent exit status after SIGTERM (100 idle connections open)" 0 "$AGENT_RC"
kill -TERM "$IDLE_PID" 2>/dev/null

# ---- --web.telemetry-path
start_agent --web.telemetry-path=/custom-metrics
http GET "$AGENT_URL/custom-metrics"
assert_eq "GET /custom-metrics with --web.telemetry-path=/custom-metrics" 200 "$HTTP_CODE"
grep -q '^reqlens_build_info{' <<<"$BODY" || fail "/custom-metrics has no reqlens_build_info"
http GET "$AGENT_URL/metrics"
assert_eq "GET /metrics with --web.telemetry-path=/custom-metrics" 404 "$HTTP_CODE"
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
