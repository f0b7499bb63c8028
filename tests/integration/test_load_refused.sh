#!/usr/bin/env bash
# A BPF load the kernel refuses: exit 1 with one line that says why, quoting
# the last lines from libbpf and the verifier. rl_deny_bpf makes every
# bpf(BPF_PROG_LOAD) fail through seccomp, as a locked-down kernel or a
# verifier rejection would; the agent has no test hook for it. Nothing of
# ours may stay loaded afterwards.
source "$(dirname "$0")/lib.sh"

deny=.output/fixtures/rl_deny_bpf
[[ -x $deny ]] || fail "$deny is missing: make fixtures"
before=$(bpftool prog show 2>/dev/null | grep -c ' name rl_' || true)

for case in "EPERM:the kernel refused (Operation not permitted): run as root" \
	    "EACCES:the last lines from libbpf and the verifier"; do
	errno=${case%%:*} says=${case#*:}
	port=$(free_port)
	timeout -k 2 15 "$deny" "$errno" "$AGENT_BIN" "--web.listen-address=127.0.0.1:$port" \
		>"$T/out" 2>"$T/err" </dev/null
	rc=$?
	err=$(cat "$T/err")
	assert_eq "$errno: exit status (stderr: $err)" 1 "$rc"
	assert_eq "$errno: lines on stderr (stderr: $err)" 1 "$(grep -c '' "$T/err")"
	grep -qF "$says" "$T/err" || fail "$errno: stderr does not say \"$says\": $err"
	grep -q "level=error" "$T/err" || fail "$errno: not an error line: $err"
	note "$errno: $err"
done
after=$(bpftool prog show 2>/dev/null | grep -c ' name rl_' || true)
[[ $after -le $before ]] || fail "rl_ programs left loaded: $before before, $after after"

