#!/usr/bin/env bash
# --bpf.stats: the per-program run counts and times are exported while the
# agent runs, and the kernel setting is as it was once the agent is gone.
source "$(dirname "$0")/lib.sh"

before=$(cat /proc/sys/kernel/bpf_stats_enabled)

# Without the flag (and with the kernel's statistics off, as they are unless
# someone turned them on), no per-program statistics.
if [[ $before == 0 ]]; then
	start_agent
	scrape
	count_in "$SCRAPE" reqlens_bpf_program_runs_total
	assert_eq "reqlens_bpf_program_runs_total samples without --bpf.stats" 0 "$COUNT"
	# Skipped runs are the kernel's count whether statistics are on or not.
	count_in "$SCRAPE" reqlens_bpf_program_missed_runs_total
	assert_gt "reqlens_bpf_program_missed_runs_total samples without --bpf.stats" 0 "$COUNT"
	stop_agent
	assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
else
	note "kernel.bpf_stats_enabled is $before: skipping the check without --bpf.stats"
fi

start_agent --bpf.stats
start_server --connections 10
run_client --port "$SERVER_PORT" --connections 10
wait_server
scrape
programs=$("${PROMQ[@]}" labels "$SCRAPE" reqlens_bpf_program_runs_total program)
[[ -n "$programs" ]] || fail "no reqlens_bpf_program_runs_total sample with --bpf.stats"
note "programs: $(oneline "$programs")"
while read -r p; do
	[[ "$p" == rl_* ]] || fail "program label \"$p\": expected a name starting with rl_"
done <<<"$programs"
# The state-change tracepoint runs on every connection.
runs=$("${PROMQ[@]}" sum "$SCRAPE" reqlens_bpf_program_runs_total)
assert_gt "sum of reqlens_bpf_program_runs_total" 0 "$runs"
secs=$("${PROMQ[@]}" sum "$SCRAPE" reqlens_bpf_program_run_seconds_total)
assert_gt "sum of reqlens_bpf_program_run_seconds_total" 0 "$secs"
count_in "$SCRAPE" reqlens_bpf_program_run_seconds_total
assert_eq "run_seconds samples == runs samples" "$(echo "$programs" | wc -l)" "$COUNT"
count_in "$SCRAPE" reqlens_bpf_program_missed_runs_total
assert_eq "missed_runs samples == runs samples" "$(echo "$programs" | wc -l)" "$COUNT"
note "missed runs: $("${PROMQ[@]}" sum "$SCRAPE" reqlens_bpf_program_missed_runs_total)"
stop_agent
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"

assert_eq "kernel.bpf_stats_enabled after the agent exited (as before it started)" "$before" "$(cat /proc/sys/kernel/bpf_stats_enabled)"
