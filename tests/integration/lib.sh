# shellcheck shell=bash
# Shared helpers of the integration tests; each test_*.sh sources this file.
#
# A test runs from the repository top as root. It starts the agent and the
# fixtures in the background through the helpers below, which remember what
# they started: an EXIT trap stops all of it and removes $T, the test's
# temporary directory. Every wait has a deadline. Nothing but 127.0.0.1 is
# ever contacted (curl is told to ignore any proxy settings).
#
# Failing: `fail MSG` prints "FAIL: MSG" and ends the test with status 1;
# the assert_* helpers say what was expected and what was got.

set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
AGENT_BIN=${AGENT_BIN:-./reqlens}
FIXTURES=${FIXTURES:-$REPO/.output/fixtures}
PROMQ=("/usr/bin/python3" "$REPO/tests/integration/promq.py")
TEST_NAME=$(basename "$0" .sh)
SERVER_COMM=rl_tcp_server
CLIENT_COMM=rl_tcp_client

T=$(mktemp -d "/tmp/reqlens-it.${TEST_NAME}.XXXXXX")
chmod 755 "$T"
_PIDS=()		# background processes to stop on exit
_CLEANUPS=()		# commands to run on exit (at_cleanup)

# ---------------------------------------------------------------- reporting

note() { printf '# %s\n' "$*" >&2; }
oneline() { tr '\n' ' ' <<<"$1"; }

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

assert_eq() {	# WHAT EXPECTED GOT
	[[ "$3" == "$2" ]] || fail "$1: expected $2, got ${3:-<nothing>}"
}

# expect_eq WHAT EXPECTED GOT: like assert_eq, but the test goes on; the
# failures are reported together by check_expectations.
_EXPECT_FAILED=()
expect_eq() {
	[[ "$3" == "$2" ]] && return 0
	_EXPECT_FAILED+=("$1: expected $2, got ${3:-<nothing>}")
	printf 'MISMATCH: %s: expected %s, got %s\n' "$1" "$2" "${3:-<nothing>}" >&2
}
check_expectations() {
	local n=${#_EXPECT_FAILED[@]}
	(( n == 0 )) && return 0
	(( n == 1 )) && fail "${_EXPECT_FAILED[0]}"
	fail "$n mismatches: $(IFS=';'; echo "${_EXPECT_FAILED[*]}")"
}

assert_ne() {	# WHAT UNEXPECTED GOT
	[[ "$3" != "$2" ]] || fail "$1: expected anything but $2, got $3"
}

assert_gt() {	# WHAT LIMIT GOT: GOT > LIMIT (numbers)
	[[ -n "$3" ]] && awk -v g="$3" -v l="$2" 'BEGIN { exit !(g + 0 > l + 0) }' ||
		fail "$1: expected > $2, got ${3:-<nothing>}"
}

assert_lt() {	# WHAT LIMIT GOT: GOT < LIMIT (numbers)
	[[ -n "$3" ]] && awk -v g="$3" -v l="$2" 'BEGIN { exit !(g + 0 < l + 0) }' ||
		fail "$1: expected < $2, got ${3:-<nothing>}"
}

assert_within_pct() {	# WHAT EXPECTED GOT PCT: |GOT - EXPECTED| <= PCT% of EXPECTED
	local what=$1 want=$2 got=$3 pct=$4 dev
	[[ -n "$got" ]] || fail "$what: expected $want (+-$pct%), got <nothing>"
	dev=$(awk -v g="$got" -v w="$want" 'BEGIN { d = (g - w) / w * 100; printf "%.3f", d }')
	awk -v d="$dev" -v p="$pct" 'BEGIN { exit !(d <= p && d >= -p) }' ||
		fail "$what: expected $want (+-$pct%), got $got (off by $dev%)"
	note "$what: $got vs $want: off by $dev% (allowed $pct%)"
}

assert_contains() {	# WHAT NEEDLE TEXT (case-insensitive)
	grep -qiF -- "$2" <<<"$3" || fail "$1: expected a mention of '$2', got: $3"
}

# ------------------------------------------------------------------ processes

cleanup() {
	local rc=$? pid cmd
	trap - EXIT
	for cmd in "${_CLEANUPS[@]}"; do
		eval "$cmd" || note "cleanup failed: $cmd"
	done
	for pid in "${_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_PIDS[@]}"; do
		_wait_gone "$pid" 3000 || kill -KILL "$pid" 2>/dev/null
	done
	if [[ $rc -ne 0 && -d "$T" ]]; then
		# Leave what the agent said in the test's output.
		local f
		for f in "$T"/agent*.err; do
			[[ -s "$f" ]] && { note "--- $f (last lines)"; tail -n 15 "$f" | sed 's/^/#   /' >&2; }
		done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

track() { _PIDS+=("$1"); }

# at_cleanup CMD: CMD (a shell command line) runs when the test ends, however
# it ends, before its processes are stopped: for what it changed outside $T.
at_cleanup() { _CLEANUPS+=("$1"); }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# True when PID has exited (gone, or a zombie not yet reaped).
_exited() {
	local state
	[[ -r /proc/$1/stat ]] || return 0
	state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z "$state" || "$state" == Z ]]
}

# _wait_gone PID MS: polls until PID has exited; 1 if it is still there.
_wait_gone() {
	local deadline=$(( $(now_ms) + $2 ))
	until _exited "$1"; do
		(( $(now_ms) < deadline )) || return 1
		sleep 0.01
	done
}

# wait_exit PID SECONDS: waits for a child of this shell to exit and sets
# EXIT_RC to its status; fails the test when it outlives the deadline.
wait_exit() {
	local pid=$1 secs=$2
	_wait_gone "$pid" $(( secs * 1000 )) || fail "process $pid ($(cat /proc/"$pid"/comm 2>/dev/null)) still running after ${secs}s"
	wait "$pid" 2>/dev/null
	EXIT_RC=$?
}

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(( $(now_ms) + secs * 1000 ))
	until "$@"; do
		(( $(now_ms) < deadline )) || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

# ---------------------------------------------------------------------- HTTP

# http METHOD URL [curl args...]: sets HTTP_CODE (000 when there was no
# answer) and BODY.
http() {
	local method=$1 url=$2
	shift 2
	HTTP_CODE=$(curl --noproxy '*' -s -o "$T/http.body" -w '%{http_code}' --max-time 5 -X "$method" "$@" "$url")
	HTTP_CODE=${HTTP_CODE:-000}
	BODY=$(cat "$T/http.body" 2>/dev/null)
}

# --------------------------------------------------------------------- agent

# start_agent [FLAGS...]: starts the agent on a free loopback port and waits
# until /readyz answers (15 s). Sets AGENT_PID, AGENT_PORT, AGENT_URL and
# AGENT_ERR (its stderr). Set AGENT_WRAP=(cmd args) to run it through a
# wrapper that execs it (unshare, setpriv).
AGENT_WRAP=()
start_agent() {
	start_agent_nowait "$@"
	wait_ready 15
}

start_agent_nowait() {
	AGENT_PORT=$(free_port)
	AGENT_URL=http://127.0.0.1:$AGENT_PORT
	AGENT_ERR=$T/agent.$AGENT_PORT.err
	"${AGENT_WRAP[@]}" "$AGENT_BIN" "--web.listen-address=127.0.0.1:$AGENT_PORT" "$@" \
		>"$T/agent.$AGENT_PORT.out" 2>"$AGENT_ERR" </dev/null &
	AGENT_PID=$!
	track "$AGENT_PID"
}

_ready() {
	if _exited "$AGENT_PID"; then
		wait "$AGENT_PID" 2>/dev/null
		fail "agent exited (status $?) before /readyz answered; stderr: $(head -c 2000 "$AGENT_ERR")"
	fi
	curl --noproxy '*' -sf --max-time 1 -o /dev/null "$AGENT_URL/readyz"
}

wait_ready() {
	wait_until "${1:-15}" "the agent's /readyz on $AGENT_URL" _ready
}

# stop_agent [MAX_MS]: SIGTERM, then waits (default 5000 ms) for the agent
# to exit. Sets AGENT_RC and AGENT_STOP_MS; fails if it outlives MAX_MS.
# The exit time itself is test_shutdown's subject (and test_func_c's, with
# uprobes), held to 1 s there; elsewhere a bound that a loaded 2-core
# machine cannot trip by accident, still far inside Kubernetes' 30 s grace.
stop_agent() {
	local max=${1:-5000} t0
	t0=$(now_ms)
	kill -TERM "$AGENT_PID" 2>/dev/null
	if ! _wait_gone "$AGENT_PID" "$max"; then
		_wait_gone "$AGENT_PID" 5000
		fail "agent still running ${max} ms after SIGTERM (it had exited $(_exited "$AGENT_PID" && echo "after $(( $(now_ms) - t0 )) ms" || echo "not even after 5 s"))"
	fi
	AGENT_STOP_MS=$(( $(now_ms) - t0 ))
	wait "$AGENT_PID" 2>/dev/null
	AGENT_RC=$?
}

# scrape [PATH]: the agent's /metrics (or PATH) into a new file, named by
# SCRAPE. (These helpers set variables rather than print, so that a failure
# inside them ends the test instead of a command substitution.)
_SCRAPES=0
scrape() {
	local path=${1:-/metrics}
	_SCRAPES=$((_SCRAPES + 1))
	SCRAPE=$T/scrape.$_SCRAPES
	curl --noproxy '*' -sf --max-time 5 -o "$SCRAPE" "$AGENT_URL$path" ||
		fail "GET $AGENT_URL$path failed (curl status $?)"
}

# metric NAME [MATCHER...]: VAL = the one matching sample of a fresh scrape,
# empty when there is none; fails the test when more than one sample matches.
# A MATCHER is label="value" (see promq.py).
metric() {
	scrape
	metric_in "$SCRAPE" "$@"
}

metric_in() {	# FILE NAME [MATCHER...]
	local rc
	VAL=$("${PROMQ[@]}" value "$@" 2>"$T/promq.err")
	rc=$?
	[[ $rc -eq 0 || $rc -eq 3 ]] || fail "metric $2{$(IFS=,; echo "${*:3}")}: $(cat "$T/promq.err")"
}

# count_in FILE NAME [MATCHER...]: COUNT = how many samples match.
count_in() {
	COUNT=$("${PROMQ[@]}" count "$@" 2>"$T/promq.err") || fail "promq count $*: $(cat "$T/promq.err")"
}

# series_in FILE NAME [MATCHER...]: the matching sample lines (for messages).
series_in() { "${PROMQ[@]}" series "$@" 2>/dev/null | head -n 20; }

# wait_metric SECONDS EXPECTED NAME [MATCHER...]: polls fresh scrapes until
# the sample equals EXPECTED; on the deadline fails with the last value.
wait_metric() {
	local secs=$1 want=$2 name=$3 deadline
	shift 3
	deadline=$(( $(now_ms) + secs * 1000 ))
	while :; do
		metric "$name" "$@"
		[[ "$VAL" == "$want" ]] && return 0
		(( $(now_ms) < deadline )) ||
			fail "$name{$(IFS=,; echo "$*")}: expected $want, got ${VAL:-<no such series>} (after ${secs}s)"
		sleep 0.2
	done
}

# ------------------------------------------------------------------ fixtures

# start_server [ARGS...]: rl_tcp_server in the background; sets SERVER_PID,
# SERVER_PORT and SERVER_OUT (its stdout). ARGS as rl_tcp_server takes them.
_SERVERS=0
start_server() {
	_SERVERS=$((_SERVERS + 1))
	SERVER_OUT=$T/server.$_SERVERS.out
	"$FIXTURES/rl_tcp_server" --port 0 --timeout-s 120 "$@" >"$SERVER_OUT" 2>"$T/server.$_SERVERS.err" </dev/null &
	SERVER_PID=$!
	track "$SERVER_PID"
	wait_until 5 "rl_tcp_server to print its port" grep -q '^port=' "$SERVER_OUT"
	SERVER_PORT=$(sed -n 's/^port=//p' "$SERVER_OUT")
}

# wait_server [SECONDS]: waits for the last server to exit 0.
wait_server() {
	wait_exit "$SERVER_PID" "${1:-30}"
	[[ $EXIT_RC -eq 0 ]] || fail "rl_tcp_server exited $EXIT_RC: $(cat "$T/server.$_SERVERS.err")"
}

# run_client ARGS...: rl_tcp_client in the foreground (60 s at most); its
# summary line goes to CLIENT_SUMMARY. Fails the test if the client fails.
run_client() {
	CLIENT_SUMMARY=$(timeout -k 2 60 "$FIXTURES/rl_tcp_client" --timeout-s 55 "$@" 2>"$T/client.err")
	local rc=$?
	[[ $rc -eq 0 ]] || fail "rl_tcp_client $* exited $rc: $(cat "$T/client.err")"
}

# field KEY TEXT: the value of KEY=VALUE in a summary line.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# ------------------------------------------------------------------- checks

require_root_and_binaries() {
	[[ $(id -u) -eq 0 ]] || fail "must run as root"
	[[ -x "$AGENT_BIN" ]] || fail "$AGENT_BIN is missing: run make"
	[[ -x "$FIXTURES/rl_tcp_server" && -x "$FIXTURES/rl_tcp_client" ]] ||
		fail "fixtures missing: run make fixtures"
}
require_root_and_binaries

# ------------------------------------------------------- request tracking
# Helpers of the test_req_*.sh tests: the HTTP fixtures (their own clocks are
# the ground truth), load generators, and checks that go on after a
# mismatch (the expect_* family, reported by check_expectations).

HTTP_CLIENT=("/usr/bin/python3" "$REPO/tests/fixtures/rl_http_client.py")

# expect_in_range WHAT LO HI GOT PCT [ABS]: like assert_within_pct, against
# the range LO..HI, but the test goes on: LO - (PCT% of LO + ABS) <= GOT <=
# HI + PCT% of HI + ABS. "Off by" is the distance to the nearer end, in % of
# it.
expect_in_range() {
	local what=$1 lo=$2 hi=$3 got=$4 pct=$5 abs=${6:-0} want=$2 dev allowed="$5%${6:+ + $6}"
	[[ $lo == "$hi" ]] || want="$lo..$hi"
	if [[ -z "$got" ]]; then
		_EXPECT_FAILED+=("$what: expected $want, got <nothing>")
		printf 'MISMATCH: %s: expected %s, got <nothing>\n' "$what" "$want" >&2
		return 1
	fi
	dev=$(awk -v g="$got" -v l="$lo" -v h="$hi" 'BEGIN {
		d = 0; if (g > h) d = (g - h) / h * 100; else if (g < l) d = (g - l) / l * 100
		printf "%.2f", d }')
	if awk -v g="$got" -v l="$lo" -v h="$hi" -v p="$pct" -v a="$abs" \
		'BEGIN { exit !(g >= l - l * p / 100 - a && g <= h + h * p / 100 + a) }'; then
		note "$what: $got vs $want: off by $dev% (allowed $allowed)"
		return 0
	fi
	_EXPECT_FAILED+=("$what: expected $want (+-$allowed), got $got (off by $dev%)")
	printf 'MISMATCH: %s: expected %s (+-%s), got %s (off by %s%%)\n' \
		"$what" "$want" "$allowed" "$got" "$dev" >&2
}

# expect_within_pct WHAT EXPECTED GOT PCT [ABS]: expect_in_range with
# LO = HI = EXPECTED: |GOT - EXPECTED| <= PCT% of EXPECTED + ABS.
expect_within_pct() {
	expect_in_range "$1" "$2" "$2" "$3" "$4" ${5:+"$5"}
}

# lossless_stop WHAT MS: how a request test ends each mode: no events lost,
# then SIGTERM (stop_agent MS), and the agent must exit 0.
lossless_stop() {
	events_lost
	expect_eq "$1: reqlens_events_lost_total (non-zero: ${LOST_SERIES:-none})" 0 "$LOST"
	stop_agent "$2"
	assert_eq "$1: agent exit status after SIGTERM" 0 "$AGENT_RC"
}

# need_rl_func_c: F = the C function fixture, built with its USDT probes.
need_rl_func_c() {
	F=$FIXTURES/rl_func_c
	[[ -x $F ]] || fail "$F is missing: run make fixtures"
	readelf -n "$F" 2>/dev/null | grep -q 'Provider: rl_func' ||
		fail "$F has no USDT probes: apt-get install systemtap-sdt-dev, then make fixtures"
}

# expect_true WHAT CMD...: records a mismatch unless CMD succeeds.
expect_true() {
	local what=$1
	shift
	"$@" && return 0
	_EXPECT_FAILED+=("$what")
	printf 'MISMATCH: %s\n' "$what" >&2
	return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 3 s; reaps it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	_wait_gone "$1" 3000 || kill -KILL "$1" 2>/dev/null
	_wait_gone "$1" 3000
	wait "$1" 2>/dev/null
	return 0
}

# start_http KIND [ARGS...]: an HTTP fixture on an ephemeral loopback port.
# KIND: threads or epoll (rl_http_threads, rl_http_epoll), py (rl_http_py.py
# run by /usr/bin/python3) or echo (rl_echo_py.py, not HTTP). Sets HS_PID,
# HS_PORT, HS_LOG (its per-request log: METHOD PATH STATUS DURATION_NS),
# HS_COMM (the service_name the agent gives it) and HS_ERR.
_HTTP_SERVERS=0
start_http() {
	local kind=$1 out cmd=()
	shift
	_HTTP_SERVERS=$((_HTTP_SERVERS + 1))
	out=$T/http.$_HTTP_SERVERS.out
	HS_LOG=$T/http.$_HTTP_SERVERS.log
	HS_ERR=$T/http.$_HTTP_SERVERS.err
	case $kind in
	threads | epoll)
		cmd=("$FIXTURES/rl_http_$kind")
		HS_COMM=rl_http_$kind
		[[ -x ${cmd[0]} ]] || fail "${cmd[0]} is missing: run make fixtures" ;;
	py)
		cmd=(/usr/bin/python3 "$REPO/tests/fixtures/rl_http_py.py")
		HS_COMM=python3 ;;
	echo)
		cmd=(/usr/bin/python3 "$REPO/tests/fixtures/rl_echo_py.py")
		HS_COMM=rl_echo_py ;;
	*) fail "start_http: unknown server kind $kind" ;;
	esac
	"${cmd[@]}" --port 0 --log "$HS_LOG" --timeout-s 300 "$@" >"$out" 2>"$HS_ERR" </dev/null &
	HS_PID=$!
	track "$HS_PID"
	wait_until 30 "the $kind server to print its port" grep -q '^port=' "$out"
	HS_PORT=$(sed -n 's/^port=//p' "$out")
}

# start_nginx DIR PORT BODY [FORMAT]: an unmodified nginx from Debian (one
# worker, keep-alive) serving BODY as /index.html on 127.0.0.1:PORT, its
# files under DIR, its access log DIR/access.log (with FORMAT's fields when
# given). Sets NGINX_PID (the master) once it answers.
start_nginx() {
	local dir=$1 port=$2 body=$3 format=${4:-} log
	command -v nginx >/dev/null || fail "nginx is missing: apt-get install nginx-light"
	mkdir -p "$dir/www" "$dir/tmp"
	chmod 755 "$dir" "$dir/www"
	printf '%s\n' "$body" >"$dir/www/index.html"
	chmod 644 "$dir/www/index.html"
	log="access_log $dir/access.log;"
	[[ -n $format ]] && log="log_format rl '$format';
	access_log $dir/access.log rl;"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
http {
	$log
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	sendfile on;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	server {
		listen 127.0.0.1:$port;
		root $dir/www;
		location / { index index.html; }
	}
}
EOF
	nginx -p "$dir" -c "$dir/nginx.conf" </dev/null >"$dir/stdout" 2>&1 &
	NGINX_PID=$!
	track "$NGINX_PID"
	wait_until 10 "nginx on port $port" curl --noproxy '*' -sf -o /dev/null --max-time 1 \
		"http://127.0.0.1:$port/index.html"
}

# http_client STEP...: rl_http_client.py on HS_PORT (see its header for the
# steps), at most 60 s, as SCHED_BATCH at nice 19 (as run_wrk, so that it
# does not preempt the server between a syscall and the server's clock
# read); its output goes
# to CLIENT_OUT. Fails the test when the client fails, unless
# CLIENT_MAY_FAIL=1.
http_client() {
	CLIENT_OUT=$(timeout -k 2 60 chrt --batch 0 nice -n 19 "${HTTP_CLIENT[@]}" --port "$HS_PORT" --timeout-s 50 "$@" 2>"$T/client.err")
	CLIENT_RC=$?
	[[ $CLIENT_RC -eq 0 || ${CLIENT_MAY_FAIL:-0} == 1 ]] ||
		fail "rl_http_client $* exited $CLIENT_RC: $(cat "$T/client.err")"
}

# wait_log_stable FILE [SECONDS]: waits until FILE has stopped growing for
# half a second (the server has finished what was in flight).
wait_log_stable() {
	local f=$1 secs=${2:-10} last=-1 n stable=0 deadline
	deadline=$(( $(now_ms) + secs * 1000 ))
	while :; do
		n=$(wc -l <"$f" 2>/dev/null || echo 0)
		if [[ $n == "$last" ]]; then
			stable=$((stable + 1))
			(( stable >= 5 )) && return 0
		else
			stable=0
			last=$n
		fi
		(( $(now_ms) < deadline )) || fail "$f still growing after ${secs}s"
		sleep 0.1
	done
}

# log_quantile FILE Q [FIELD]: the Q-quantile (nearest rank) of the
# nanosecond numbers in FIELD (default 4, the duration of the fixtures'
# logs), printed in seconds. Status 3 when FILE holds no line.
log_quantile() {
	awk -v f="${3:-4}" '{ print $f }' "$1" | sort -n |
		awk -v q="$2" '{ a[NR] = $1 } END {
			if (!NR) exit 3
			i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1
			printf "%.9f\n", a[i] / 1e9 }'
}

# sum_in FILE NAME [MATCHER...]: SUM = the sum of the matching samples (0
# when none matches).
sum_in() {
	local rc
	SUM=$("${PROMQ[@]}" sum "$@" 2>"$T/promq.err")
	rc=$?
	[[ $rc -eq 3 ]] && SUM=0 && return 0
	[[ $rc -eq 0 ]] || fail "promq sum $*: $(cat "$T/promq.err")"
}

# wait_sum SECONDS EXPECTED NAME [MATCHER...]: polls fresh scrapes until the
# sum of the matching samples equals EXPECTED. Returns 1 (SUM = the last
# value) on the deadline, without failing the test.
wait_sum() {
	local secs=$1 want=$2 deadline
	shift 2
	deadline=$(( $(now_ms) + secs * 1000 ))
	while :; do
		scrape
		sum_in "$SCRAPE" "$@"
		[[ "$SUM" == "$want" ]] && return 0
		(( $(now_ms) < deadline )) || return 1
		sleep 0.2
	done
}

# events_lost: LOST = the sum of reqlens_events_lost_total over its reasons
# in a fresh scrape, LOST_SERIES the non-zero ones.
events_lost() {
	scrape
	sum_in "$SCRAPE" reqlens_events_lost_total
	LOST=$SUM
	LOST_SERIES=$(grep '^reqlens_events_lost_total' "$SCRAPE" | grep -v ' 0$' | tr '\n' ' ')
}

# run_wrk ARGS...: wrk as SCHED_BATCH at nice 19 (at most 60 s), so that on
# a busy machine it never preempts the server between a syscall and the
# server's own clock read (which would skew the ground truth, not the
# agent). nice alone does not stop it: a send that wakes a nice-19 client on
# loopback let the client run first, 1-3 ms, on Linux 6.18 (EEVDF); a
# SCHED_BATCH task never preempts on wakeup. Sets WRK_OUT and
# WRK_REQUESTS (the completed requests wrk counted).
run_wrk() {
	WRK_OUT=$(timeout -k 2 60 chrt --batch 0 nice -n 19 wrk "$@" 2>&1) || fail "wrk $* failed: $WRK_OUT"
	WRK_REQUESTS=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$WRK_OUT")
	[[ -n $WRK_REQUESTS ]] || fail "no request count in wrk's output: $WRK_OUT"
}

# agent_map_ids NAME: the ids of the BPF maps called NAME that the agent
# (AGENT_PID) holds open (other agents may run on the host).
agent_map_ids() {
	local name=$1 fd id
	for fd in /proc/"$AGENT_PID"/fdinfo/*; do
		id=$(sed -n 's/^map_id:[[:space:]]*//p' "$fd" 2>/dev/null)
		[[ -n $id ]] || continue
		bpftool map show id "$id" 2>/dev/null | grep -q " name $name " && echo "$id"
	done | sort -un
}

# conns_entries: CONNS = the entries of the agent's conns map(s).
conns_entries() {
	local ids id n
	ids=$(agent_map_ids conns)
	[[ -n $ids ]] || fail "the agent (pid $AGENT_PID) holds no BPF map named conns"
	CONNS=0
	for id in $ids; do
		n=$(bpftool map dump id "$id" 2>/dev/null | grep -c '"key"')
		CONNS=$((CONNS + n))
	done
}
