#!/usr/bin/env bash
# --uprobe and --usdt when things are wrong or change under the agent.
#
#  1. Refused at start, each with exactly one line on stderr that names the
#     problem, and exit status 1: a binary that does not exist; a symbol that
#     does not (the line suggests the close match work_us); a symbol that is
#     a variable (rl_counter: "not a function"); a USDT probe the binary does
#     not have (misspelt ones get the close match suggested: rl_func:tik ->
#     rl_func:tick); a binary with no USDT probe at all.
#  2. The binary replaced on disk while probed: a copy of rl_func_c in $T/bin
#     runs (probed by path); a new copy is written next to it and renamed
#     over it (a new inode, as a package upgrade does). The process still
#     running the old inode is still counted, exactly; then it is restarted
#     from the new file: within 5 s its calls are counted again and the agent
#     has logged "following ..."; a later run of the new file is counted
#     exactly.
#  3. The target killed (SIGKILL, in the middle of its calls) and started
#     again, same inode: the new process's calls are counted right away,
#     exactly.
#  4. A process name with no process yet: the agent runs, and probes the
#     process when it appears (within 5 s).
#  5. 8 processes of one binary at once: the calls of all are counted.
# Throughout, every target exits 0 and the agent stays ready, then exits 0 on
# SIGTERM.
source "$(dirname "$0")/lib.sh"

need_rl_func_c

# ------------------------------------------------------------ 1. refused
# refused WHAT NEEDLE FLAGS...: the agent exits 1 within 10 s, with exactly
# one line on stderr that mentions NEEDLE.
refused() {
	local what=$1 needle=$2 rc lines
	shift 2
	timeout -k 2 10 "$AGENT_BIN" --web.listen-address=127.0.0.1:"$(free_port)" "$@" \
		>"$T/refused.out" 2>"$T/refused.err" </dev/null
	rc=$?
	lines=$(wc -l <"$T/refused.err")
	note "$what: exit $rc: $(cat "$T/refused.err")"
	expect_eq "$what: exit status" 1 "$rc"
	expect_eq "$what: lines on stderr ($(oneline "$(cat "$T/refused.err")"))" 1 "$lines"
	expect_true "$what: the line mentions '$needle': $(cat "$T/refused.err")" \
		grep -qiF -- "$needle" "$T/refused.err"
}

refused "missing binary" "/nonexistent/rl_func_c" --uprobe=/nonexistent/rl_func_c:work_us
refused "missing symbol (a suggestion)" "did you mean work_us" --uprobe="$F:work_uss"
refused "missing symbol (named)" "work_uss" --uprobe="$F:work_uss"
refused "a variable" "not a function" --uprobe="$F:rl_counter"
refused "a variable (named)" "rl_counter" --uprobe="$F:rl_counter"
refused "missing USDT probe" "rl_func:nosuch" --usdt="$F:rl_func:nosuch"
refused "missing USDT end probe" "rl_func:nosuch_end" --usdt="$F:rl_func:work_start,nosuch_end"
refused "missing USDT provider" "noprov:work_start" --usdt="$F:noprov:work_start"
refused "missing USDT probe (a suggestion)" "did you mean rl_func:tick?" --usdt="$F:rl_func:tik"
refused "missing USDT end probe (a suggestion)" "did you mean rl_func:work_end?" \
	--usdt="$F:rl_func:work_start,work_ned"
refused "USDT probe under a misspelt provider (a suggestion)" "did you mean rl_func:work_start?" \
	--usdt="$F:rl_fnc:work_start"
refused "a binary without USDT probes" "no USDT probes at all" --usdt="$FIXTURES/rl_tcp_server:rl_func:tick"

# ----------------------------------------------------------------- helpers
# counted [MATCHER...]: N = reqlens_function_calls_total{function=work_us}.
counted() {
	scrape
	sum_in "$SCRAPE" reqlens_function_calls_total function=work_us "$@"
	N=$SUM
}

# start_forever NAME BIN [ARGS...]: BIN --forever (work_us(50), every 2 ms)
# in the background: FPID; output in $T/NAME.out.
start_forever() {
	local name=$1 bin=$2
	shift 2
	"$bin" --forever --us 50 --interval-us 2000 --timeout-s 100 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	FPID=$!
	track "$FPID"
}

# stop_forever NAME PID: SIGTERM; it must exit 0; MADE = the calls it made.
stop_forever() {
	kill -TERM "$2"
	wait_exit "$2" 10
	expect_eq "$1 (pid $2): exit status after SIGTERM ($(cat "$T/$1.err"))" 0 "$EXIT_RC"
	MADE=$(field calls "$(grep '^calls=' "$T/$1.out")")
	[[ -n $MADE ]] || fail "$1 printed no summary: $(cat "$T/$1.out")"
}

# run_exact NAME BIN CALLS: a foreground run of CALLS calls of work_us(100).
run_exact() {
	timeout -k 2 60 "$2" --calls "$3" --us 100 --timeout-s 55 >"$T/$1.out" 2>"$T/$1.err" ||
		fail "$1: $2 exited $?: $(cat "$T/$1.err")"
	grep -q "^calls=$3 " "$T/$1.out" || fail "$1: $2 did not make $3 calls: $(cat "$T/$1.out")"
}

# wait_counted SECONDS WHAT PREDICATE_AWK [MATCHER...]: polls until N
# satisfies the awk condition on n (e.g. "n > 100").
wait_counted() {
	local secs=$1 what=$2 cond=$3 deadline
	shift 3
	deadline=$(( $(now_ms) + secs * 1000 ))
	while :; do
		counted "$@"
		awk -v n="$N" "BEGIN { exit !($cond) }" && return 0
		(( $(now_ms) < deadline )) || { expect_true "$what (calls counted: $N, want $cond; after ${secs}s)" false; return 1; }
		sleep 0.2
	done
}

agent_ready() {
	expect_true "the agent is still ready ($1)" \
		curl --noproxy '*' -sf --max-time 2 -o /dev/null "$AGENT_URL/readyz"
}

# ------------------------------------------------ 2. replaced on disk
note "2. the binary replaced on disk"
mkdir -p "$T/bin"
B=$T/bin/rl_func_c
cp "$F" "$B"
start_agent --uprobe="$B:work_us"
ino0=$(stat -c %i "$B")
start_forever old "$B"
OLD=$FPID
wait_counted 5 "the process of the original file is counted" "n > 50"
cp "$F" "$T/bin/.rl_func_c.new"
mv -f "$T/bin/.rl_func_c.new" "$B"
ino1=$(stat -c %i "$B")
assert_ne "inode of $B after the rename" "$ino0" "$ino1"
note "replaced $B: inode $ino0 -> $ino1"
sleep 3	# a rescan or more: the old inode's probes must stay
counted
before=$N
wait_counted 5 "the process still running the old inode is still counted" "n > $before"
stop_forever old "$OLD"
sleep 0.3
counted
expect_eq "calls counted == calls made by the process of the old inode" "$MADE" "$N"
c_old=$N
t_new=$(now_ms)
start_forever new "$B"
NEW=$FPID
wait_counted 5 "the restarted process (new inode) is counted within 5 s" "n > $c_old" &&
	note "the new inode's calls counted $(( $(now_ms) - t_new )) ms after the process started"
wait_until 5 "the agent to log that it follows $B" grep -q "following" "$AGENT_ERR"
note "agent: $(grep following "$AGENT_ERR")"
stop_forever new "$NEW"
sleep 0.3
counted
expect_true "calls of the new process counted ($((N - c_old))) <= calls it made ($MADE)" \
	test $((N - c_old)) -le "$MADE"
c1=$N
run_exact exact_new "$B" 200
sleep 0.3
counted
expect_eq "a later run of the new file (200 calls)" 200 $((N - c1))
agent_ready "after the binary was replaced"

# ------------------------------------------------ 3. killed and restarted
note "3. the target killed and restarted (same inode)"
counted
c0=$N
start_forever killed "$B"
KILLED=$FPID
wait_counted 5 "the process to be killed is counted" "n > $c0 + 20"
kill -KILL "$KILLED"
wait_exit "$KILLED" 5
counted
c1=$N
sleep 0.3
counted
expect_eq "nothing more counted once it was killed" "$c1" "$N"
run_exact restarted "$B" 300
sleep 0.3
counted
expect_eq "the restarted process's 300 calls, counted right away" 300 $((N - c1))
agent_ready "after the target was killed"
stop_agent 10000
expect_eq "agent exit status after SIGTERM (replaced, killed)" 0 "$AGENT_RC"

# ------------------------------------------------ 4. a process name not running yet
note "4. a process name with no process yet"
mkdir -p "$T/late"
L=$T/late/rl_func_late
cp "$F" "$L"
start_agent --uprobe=rl_func_late:work_us
grep -q "no process named rl_func_late" "$AGENT_ERR" ||
	expect_true "the agent warns that no process is named rl_func_late yet: $(cat "$AGENT_ERR")" false
start_forever late "$L"
LATE=$FPID
wait_counted 5 "the process that appeared later is counted within 5 s" "n > 0" service_name=rl_func_late
stop_forever late "$LATE"
counted service_name=rl_func_late
expect_true "calls counted ($N) <= calls made ($MADE)" test "$N" -le "$MADE"
agent_ready "after a late process"
stop_agent 10000
expect_eq "agent exit status after SIGTERM (late process)" 0 "$AGENT_RC"

# ------------------------------------------------ 5. many processes
note "5. 8 processes of one binary"
rm -f "$T/go.many"
PIDS=()
for i in $(seq 8); do
	"$F" --go-file "$T/go.many" --calls 250 --us 100 --timeout-s 60 >"$T/many.$i.out" 2>"$T/many.$i.err" </dev/null &
	PIDS+=($!)
	track "$!"
done
for i in $(seq 8); do
	wait_until 5 "copy $i to be ready" grep -q '^ready' "$T/many.$i.out"
done
start_agent --uprobe="$F:work_us"
touch "$T/go.many"
for i in $(seq 8); do
	wait_exit "${PIDS[$((i - 1))]}" 60
	expect_eq "copy $i exit status ($(cat "$T/many.$i.err"))" 0 "$EXIT_RC"
done
wait_sum 5 2000 reqlens_function_calls_total function=work_us service_name=rl_func_c ||
	expect_eq "calls of 8 processes x 250" 2000 "$SUM"
agent_ready "after 8 processes"
events_lost
expect_eq "reqlens_events_lost_total (non-zero: ${LOST_SERIES:-none})" 0 "$LOST"
stop_agent 10000
expect_eq "agent exit status after SIGTERM (8 processes)" 0 "$AGENT_RC"
check_expectations
