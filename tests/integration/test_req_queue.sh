#!/usr/bin/env bash
# reqlens_request_queue_seconds: how long a request's first bytes wait in the
# socket before the server reads them, in both request tracking modes.
#
# rl_http_threads --stall-ms 20 sleeps 20 ms before each read that begins a
# request. One keep-alive connection sends N requests one after the other,
# each as soon as the previous response has arrived: every request then
# arrives right after the server finished the previous one and waits there
# for the rest of the 20 ms, less the client's turnaround (tens of
# microseconds on a quiet machine; milliseconds when busy loops compete with
# the client, which runs at nice 19). The truth is the kernel's own: the
# server reads each request with SO_TIMESTAMPNS (--queue-log), which gives
# when the segment was received, and logs its clock before and after the
# read less that. The agent's median queue wait must lie between the two
# medians, give or take 3% (the buckets) and 20 us (the agent takes the
# arrival a few microseconds later, as TCP queues the segment), and the
# durations must leave it out (they start at the read): median below 1 ms.
# The same without the stall: the server is blocked in read() when a
# request arrives, so the wait is a wake-up, median below 1 ms.
source "$(dirname "$0")/lib.sh"

N=${REQ_QUEUE_N:-40}
STALL_MS=20
MODES=(${REQ_MODES:-sock syscall})

# queue_case MODE STALL_MS: N sequential requests to the server started
# with that stall (HS_* of it set); checks the medians.
queue_case() {
	local mode=$1 stall=$2 what med dmed truth_dmed qlo qhi
	what="$mode, stall ${stall} ms"
	http_client "seq:$N:/status/200"
	wait_log_stable "$HS_LOG" 5
	assert_eq "$what: requests the server logged" "$N" "$(wc -l <"$HS_LOG")"
	assert_eq "$what: queue waits the server logged" "$N" "$(wc -l <"$HS_QLOG")"
	qlo=$(log_quantile "$HS_QLOG" 0.5 1)
	qhi=$(log_quantile "$HS_QLOG" 0.5 2)

	Q=(service_name="$HS_COMM" server_port="$HS_PORT")
	wait_sum 10 "$N" reqlens_request_queue_seconds_count "${Q[@]}" ||
		expect_eq "$what: reqlens_request_queue_seconds_count" "$N" "$SUM"
	wait_sum 10 "$N" http_server_request_duration_seconds_count "${Q[@]}" ||
		expect_eq "$what: http_server_request_duration_seconds_count" "$N" "$SUM"

	scrape /api/v1/histograms
	med=$("${PROMQ[@]}" json-quantile "$SCRAPE" 0.5 reqlens_request_queue_seconds "${Q[@]}")
	dmed=$("${PROMQ[@]}" json-quantile "$SCRAPE" 0.5 http_server_request_duration_seconds "${Q[@]}")
	truth_dmed=$("${PROMQ[@]}" log-quantile "$HS_LOG" 0.5)
	note "$what: queue p10..p90: $("${PROMQ[@]}" json-quantile "$SCRAPE" 0.1 reqlens_request_queue_seconds "${Q[@]}") .. $med .. $("${PROMQ[@]}" json-quantile "$SCRAPE" 0.9 reqlens_request_queue_seconds "${Q[@]}") s"
	note "$what: duration median $dmed s (the server's own: $truth_dmed s)"
	expect_in_range "$what: median request queue wait (s), against the kernel's receive timestamps" \
		"$qlo" "$qhi" "$med" 3 0.00002
	(( stall > 0 )) ||
		expect_true "$what: median request queue wait ${med:-<none>} s, expected < 1 ms" \
			awk -v m="${med:-1}" 'BEGIN { exit !(m < 0.001) }'
	expect_true "$what: median request duration ${dmed:-<none>} s, expected < 1 ms (the stall is queue time)" \
		awk -v m="${dmed:-1}" 'BEGIN { exit !(m < 0.001) }'
	stop_pid "$HS_PID"
}

for mode in "${MODES[@]}"; do
	# Both servers first: the agent watches their ports only (--port).
	start_http threads --stall-ms "$STALL_MS" --queue-log "$T/queue.$mode.stall.log"
	S1=("$HS_PORT" "$HS_LOG" "$HS_PID" "$T/queue.$mode.stall.log")
	start_http threads --queue-log "$T/queue.$mode.log"
	S0=("$HS_PORT" "$HS_LOG" "$HS_PID" "$T/queue.$mode.log")
	start_agent_nowait "--request-tracking=$mode" --histogram.le-per-octave=32 "--port=${S1[0]}" "--port=${S0[0]}"
	wait_ready 60	# 15 s is not always enough on a loaded 2-core machine
	HS_PORT=${S1[0]} HS_LOG=${S1[1]} HS_PID=${S1[2]} HS_QLOG=${S1[3]}
	queue_case "$mode" "$STALL_MS"
	HS_PORT=${S0[0]} HS_LOG=${S0[1]} HS_PID=${S0[2]} HS_QLOG=${S0[3]}
	queue_case "$mode" 0
	lossless_stop "$mode" 3000
done
check_expectations
