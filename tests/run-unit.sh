#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Runs cmocka unit-test binaries and totals their test cases:
#   tests/run-unit.sh BIN...
# Ends with exactly one line "N passed, N failed" and exits non-zero when a
# test failed or a binary crashed, hung or printed no summary. A binary's
# full output is shown only when it did not pass (VERBOSE=1: always).
# UNIT_TIMEOUT (seconds, default 300) bounds each binary so CI cannot hang.
set -u

if [ $# -eq 0 ]; then
	echo "usage: $0 TEST_BINARY..." >&2
	exit 2
fi

timeout_s=${UNIT_TIMEOUT:-300}
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT

total_pass=0
total_fail=0

for bin in "$@"; do
	name=$(basename "$bin")
	# The summary lines parsed below are cmocka's plain-text format; an
	# inherited CMOCKA_MESSAGE_OUTPUT=TAP or XML would hide them.
	CMOCKA_MESSAGE_OUTPUT=STDOUT timeout "$timeout_s" "$bin" >"$log" 2>&1
	rc=$?

	pass=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$log" | tail -n 1)
	fail=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
	pass=${pass:-0}
	fail=${fail:-0}

	status=PASS
	note=""
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		# Died before cmocka could count a failure: crash, abort, hang, group setup.
		fail=1
		if [ "$rc" -eq 124 ]; then
			note=" (timed out after ${timeout_s}s)"
		elif [ "$rc" -gt 128 ]; then
			note=" (killed by signal $((rc - 128)))"
		else
			note=" (exit status $rc, no failure reported)"
		fi
	elif [ "$rc" -eq 0 ] && [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
		# Exit 0 without a summary is not a cmocka test binary that ran.
		fail=1
		note=" (no cmocka summary in its output)"
	fi
	[ "$fail" -ne 0 ] && status=FAIL

	if [ "$status" = FAIL ] || [ "${VERBOSE:-0}" = 1 ]; then
		cat "$log"
	fi
	printf '%-4s %s: %d passed, %d failed%s\n' "$status" "$name" "$pass" "$fail" "$note"

	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
