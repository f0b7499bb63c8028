#!/usr/bin/env bash
# The README's main job, shortened: the demo service measured before and
# after its optimisation (a Redis cache and a bigger pool, switched on by
# configuration) must come out "faster" on its /task route.
source "$(dirname "$0")/lib.sh"

out=$(DEMO_WINDOW=8s DEMO_WARMUP=3s DEMO_OUT="$T/demo" REQLENS="$AGENT_BIN" timeout -k 5 150 demo/run.sh 2>"$T/demo.err")
rc=$?
note "$(grep -A1 'service_name="demo-app"' <<<"$out" | head -4)"
assert_eq "demo exit status (stderr: $(tail -n 5 "$T/demo.err"))" 0 "$rc"
grep -A1 'service_name="demo-app"' <<<"$out" | grep -q '^  faster:' ||
	fail "the demo's /task route is not \"faster\": $(grep -A3 'service_name="demo-app"' <<<"$out")"
[[ -s $T/demo/report.html ]] || fail "the demo wrote no report"
