#!/usr/bin/env bash
# Runs every tests/integration/test_*.sh (or the ones named on the command
# line, e.g. `run.sh counts shutdown`), one after the other, each bounded in
# time. Prints "ok NAME" or "FAIL NAME: reason" per test (with the end of a
# failed test's output), then exactly one line "N passed, N failed".
# Exit status 1 if any test failed.
#
# Needs root, ./reqlens (make) and .output/fixtures/* (make fixtures).
# IT_TIMEOUT (seconds, default 180) bounds each test; IT_VERBOSE=1 shows
# every test's full output.
set -u

cd "$(dirname "$0")/../.." || exit 1
dir=tests/integration
timeout_s=${IT_TIMEOUT:-180}
passed=0
failed=0

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: the integration tests need root" >&2
	exit 1
fi
for need in ./reqlens .output/fixtures/rl_tcp_server .output/fixtures/rl_tcp_client; do
	if [[ ! -x $need ]]; then
		echo "run.sh: $need is missing (make && make fixtures)" >&2
		exit 1
	fi
done

tests=()
if [[ $# -gt 0 ]]; then
	for name in "$@"; do
		name=${name#test_}
		name=${name%.sh}
		tests+=("$dir/test_$name.sh")
	done
else
	tests=("$dir"/test_*.sh)
fi

logdir=$(mktemp -d /tmp/reqlens-it-logs.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	name=${name#test_}
	log=$logdir/$name.log
	start=$(date +%s%N)
	if [[ ! -f $t ]]; then
		echo "FAIL: no such test: $t" >"$log"
		rc=127
	else
		timeout -k 10 "$timeout_s" bash "$t" >"$log" 2>&1 </dev/null
		rc=$?
	fi
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [[ $rc -eq 0 ]]; then
		passed=$((passed + 1))
		echo "ok $name (${ms} ms)"
		[[ ${IT_VERBOSE:-0} == 1 ]] && sed 's/^/    /' "$log"
	else
		failed=$((failed + 1))
		reason=$(grep -m1 '^FAIL: ' "$log" | sed 's/^FAIL: //')
		[[ $rc -eq 124 || $rc -eq 137 ]] && reason="timed out after ${timeout_s}s${reason:+; $reason}"
		echo "FAIL $name: ${reason:-exit status $rc}"
		if [[ ${IT_VERBOSE:-0} == 1 ]]; then
			sed 's/^/    /' "$log"
		else
			tail -n 25 "$log" | sed 's/^/    /'
		fi
	fi
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
