#!/usr/bin/env bash
# SIGTERM and SIGINT: exit status 0 within 1 s, and every BPF program and
# link the agent loaded is gone afterwards.
source "$(dirname "$0")/lib.sh"

command -v bpftool >/dev/null || fail "bpftool is not installed"

# rl_progs: "ID NAME" of every loaded BPF program whose name starts with rl_.
rl_progs() {
	bpftool -j prog show 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("rl_"):
        print(p["id"], p["name"])'
}
# fd_ids PID KEY: the prog_id (or link_id) of every BPF fd the process holds:
# exactly its own, whatever other agents run on this host.
fd_ids() {
	grep -h "^$2:" /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un
}
for sig in TERM INT; do
	start_agent
	# Some traffic so that the programs have run.
	start_server --connections 3
	run_client --port "$SERVER_PORT" --connections 3
	wait_server
	scrape

	ours=$(fd_ids "$AGENT_PID" prog_id)
	[[ -n "$ours" ]] || fail "the agent holds no BPF program fd"
	our_links=$(fd_ids "$AGENT_PID" link_id)
	note "SIG$sig: the agent holds programs $(oneline "$ours") and links $(oneline "$our_links")"

	t0=$(now_ms)
	kill -"$sig" "$AGENT_PID"
	_wait_gone "$AGENT_PID" 1000 || {
		_wait_gone "$AGENT_PID" 5000
		fail "SIG$sig: agent still running 1000 ms after the signal"
	}
	elapsed=$(( $(now_ms) - t0 ))
	wait "$AGENT_PID" 2>/dev/null
	rc=$?
	note "SIG$sig: exited $rc after $elapsed ms"
	assert_eq "exit status after SIG$sig" 0 "$rc"
	assert_lt "ms from SIG$sig to exit" 1000 "$elapsed"
	[[ -s "$AGENT_ERR" ]] && note "agent stderr: $(head -c 500 "$AGENT_ERR")"

	# Programs are freed as their last reference goes; allow a moment.
	leftover() {
		# shellcheck disable=SC2086
		LEFT_PROGS=$(comm -12 <(echo "$ours") <(bpftool -j prog show 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin)]' | sort -un) | grep .)
		LEFT_LINKS=$(comm -12 <(echo "$our_links") <(bpftool -j link show 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys; [print(l["id"]) for l in json.load(sys.stdin)]' | sort -un) | grep .)
		[[ -z "$LEFT_PROGS$LEFT_LINKS" ]]
	}
	deadline=$(( $(now_ms) + 2000 ))
	until leftover; do
		(( $(now_ms) < deadline )) || break
		sleep 0.05
	done
	[[ -z "$LEFT_PROGS" ]] || fail "SIG$sig: BPF programs of the agent still loaded after it exited: $(rl_progs | tr '\n' ' ')"
	[[ -z "$LEFT_LINKS" ]] || fail "SIG$sig: BPF links of the agent still there after it exited: $(oneline "$LEFT_LINKS")"
	note "SIG$sig: none of the agent's programs or links is left"
done
