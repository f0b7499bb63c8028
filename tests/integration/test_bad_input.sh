#!/usr/bin/env bash
# Usage errors exit 2 with one line on stderr; runtime failures (address in
# use, not privileged, no kernel BTF) exit 1 with one line that names the
# cause; an unmounted tracefs is not a failure (the agent mounts it).
source "$(dirname "$0")/lib.sh"

# run_agent ARGS...: the agent in the foreground, 15 s at most. RC, ERR
# (stderr) and OUT (stdout).
run_agent() {
	timeout -k 2 15 "$@" >"$T/run.out" 2>"$T/run.err" </dev/null
	RC=$?
	ERR=$(cat "$T/run.err")
	OUT=$(cat "$T/run.out")
	[[ $RC -ne 124 ]] || fail "$* did not exit within 15 s (stderr: $ERR)"
}
lines() { [[ -z "$1" ]] && echo 0 || grep -c '' <<<"$1"; }
expect_exit() {	# WHAT STATUS ONE_LINE(yes|no) ARGS...
	local what=$1 want=$2 one=$3
	shift 3
	run_agent "$@"
	assert_eq "$what: exit status (stderr: ${ERR:-<empty>})" "$want" "$RC"
	if [[ $one == yes ]]; then
		assert_eq "$what: lines on stderr (stderr: ${ERR:-<empty>})" 1 "$(lines "$ERR")"
	fi
	note "$what: exit $RC: $ERR"
}

port=$(free_port)
addr=127.0.0.1:$port

# ---- usage errors: 2, one line
expect_exit "unknown flag" 2 yes "$AGENT_BIN" --no-such-flag "--web.listen-address=$addr"
expect_exit "--web.listen-address=nonsense" 2 yes "$AGENT_BIN" --web.listen-address=nonsense
for bad in --histogram.le-per-octave=3 --histogram.le-per-octave=x --log.level=verbose \
	--port=70000 --port=abc --pid=abc --pid=-1 --web.telemetry-path=; do
	expect_exit "$bad" 2 yes "$AGENT_BIN" "--web.listen-address=$addr" "$bad"
done

# ---- --help and --version: 0, something on stdout
run_agent "$AGENT_BIN" --version
assert_eq "--version: exit status (stderr: $ERR)" 0 "$RC"
[[ -n "$OUT" ]] || fail "--version printed nothing on stdout"
note "--version: $OUT"
run_agent "$AGENT_BIN" --help
assert_eq "--help: exit status (stderr: $ERR)" 0 "$RC"
assert_contains "--help output" "--web.listen-address" "$OUT"

# ---- the address is taken: 1, one line naming it
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(60)' "$port" "$T/bound" &
BINDER_PID=$!
track "$BINDER_PID"
wait_until 5 "python3 to bind $addr" test -e "$T/bound"
expect_exit "address in use" 1 yes "$AGENT_BIN" "--web.listen-address=$addr"
assert_contains "address in use: stderr" "$addr" "$ERR"
kill -TERM "$BINDER_PID" 2>/dev/null

# ---- not privileged: 1, a line naming CAP_BPF
command -v setpriv >/dev/null || fail "setpriv is not installed"
port=$(free_port)
expect_exit "unprivileged (setpriv nobody, no capabilities)" 1 no \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	"$AGENT_BIN" "--web.listen-address=127.0.0.1:$port"
assert_contains "unprivileged: stderr" "CAP_BPF" "$ERR"

# ---- no kernel BTF: 1, a line naming BTF
port=$(free_port)
expect_exit "no /sys/kernel/btf/vmlinux" 1 no \
	unshare -m bash -c 'mount -t tmpfs none /sys/kernel/btf && exec "$@"' bash \
	"$AGENT_BIN" "--web.listen-address=127.0.0.1:$port"
assert_contains "no BTF: stderr" "BTF" "$ERR"

# ---- tracefs not mounted: the agent mounts it, starts and measures.
AGENT_WRAP=(unshare -m bash -c '
	for d in /sys/kernel/tracing /sys/kernel/debug/tracing /sys/kernel/debug; do
		mountpoint -q "$d" && umount "$d"
	done
	if mountpoint -q /sys/kernel/tracing || [ -e /sys/kernel/tracing/events ]; then
		echo "test setup: tracefs is still mounted" >&2; exit 99
	fi
	exec "$@"' bash)
start_agent_nowait
wait_ready 15
AGENT_WRAP=()
start_server --connections 3
run_client --port "$SERVER_PORT" --connections 3
wait_server
wait_metric 10 3 reqlens_tcp_connections_total service_name="$SERVER_COMM" direction=inbound server_port="$SERVER_PORT"
stop_agent
assert_eq "agent (tracefs unmounted at start) exit status after SIGTERM" 0 "$AGENT_RC"
