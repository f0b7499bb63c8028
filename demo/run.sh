#!/usr/bin/env bash
# The reqlens demo (`make run`): a FastAPI service that waits on a slow "model"
# service, measured from the kernel with no instrumentation, before and after an
# optimisation switched on by configuration (a Redis cache + a bigger pool to the
# model). Records a `reqlens snapshot` of each phase under the same load and
# prints `reqlens compare` of the two. See demo/README.md.
#
# Environment: DEMO_WINDOW (snapshot window per phase, default 30s),
# DEMO_WARMUP (load before each window, default 5s), DEMO_RATE (requests per
# second, default 40), DEMO_OUT (default demo/out), REQLENS (the binary; default
# the repository's, built when out of date).
set -euo pipefail

DEMO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEMO")
OUT=${DEMO_OUT:-$DEMO/out}
WINDOW=${DEMO_WINDOW:-30s}
WARMUP=${DEMO_WARMUP:-5s}
RATE=${DEMO_RATE:-40}
POOL_BEFORE=20
POOL_AFTER=64
PY=/usr/bin/python3 # Debian's, with Debian's packages (not a pyenv python3 first on PATH)
export PYTHONDONTWRITEBYTECODE=1
PACKAGES=(python3 python3-fastapi python3-uvicorn python3-httpx python3-redis redis-server)

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run me as root (the reqlens agent loads BPF programs)"
T0=$SECONDS

# --- packages -----------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "could not install ${missing[*]}"
fi

# --- reqlens ------------------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/{before,after}.json "$OUT"/report.html "$OUT"/compare.txt "$OUT"/*.log "$OUT"/load-*.txt
if [ -z "${REQLENS:-}" ]; then
	REQLENS=$REPO/reqlens
	if ! make -s -C "$REPO" reqlens >"$OUT/build.log" 2>&1; then
		[ -x "$REQLENS" ] || { cat "$OUT/build.log" >&2; die "make reqlens failed"; }
		say "warning: make reqlens failed (see $OUT/build.log); using the existing $REQLENS"
	fi
fi
[ -x "$REQLENS" ] || die "no reqlens binary at $REQLENS"
for sub in snapshot compare; do
	"$REQLENS" "$sub" --help >/dev/null 2>&1 || die "$REQLENS has no '$sub' subcommand (rebuild it: make)"
done

# --- processes, and their cleanup -----------------------------------------------
declare -A PID=()

stop() { # stop NAME: SIGTERM, then SIGKILL after 5 s
	local name=$1 pid=${PID[$1]:-}
	[ -n "$pid" ] || return 0
	unset "PID[$name]"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local name
	for name in load app model redis agent; do stop "$name"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # start NAME CMD...: in the background, output to $OUT/NAME.log
	local name=$1
	shift
	"$@" >"$OUT/$name.log" 2>&1 &
	PID[$name]=$!
}

wait_http() { # wait_http NAME URL: until it answers 200, while NAME lives (20 s at most)
	local name=$1 url=$2
	for _ in $(seq 100); do
		"$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$url" 2>/dev/null &&
			return 0
		kill -0 "${PID[$name]}" 2>/dev/null || { tail -20 "$OUT/$name.log" >&2; die "$name exited"; }
		sleep 0.2
	done
	tail -20 "$OUT/$name.log" >&2
	die "$name did not answer $url"
}

wait_tcp() { # wait_tcp NAME PORT: until 127.0.0.1:PORT accepts, while NAME lives (20 s at most)
	local name=$1 port=$2
	for _ in $(seq 100); do
		"$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
			"$port" 2>/dev/null && return 0
		kill -0 "${PID[$name]}" 2>/dev/null || { tail -20 "$OUT/$name.log" >&2; die "$name exited"; }
		sleep 0.2
	done
	die "$name did not listen on port $port"
}

read -r AGENT_PORT APP_PORT MODEL_PORT REDIS_PORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
AGENT=http://127.0.0.1:$AGENT_PORT

say "reqlens demo: a FastAPI service (demo-app) whose GET /task waits on a slow model service"
say "(demo-model, lognormal latency: median 400 ms, p99 ~1.6 s); no instrumentation in either."
say "Load: $RATE req/s, open loop, 90% of task ids from a hot set of 10. Window: $WINDOW per phase."

start agent "$REQLENS" --web.listen-address="127.0.0.1:$AGENT_PORT" \
	--port="$APP_PORT" --port="$MODEL_PORT" --port="$REDIS_PORT"
wait_http agent "$AGENT/readyz"
say "agent:  $REQLENS on $AGENT, watching ports $APP_PORT (app), $MODEL_PORT (model), $REDIS_PORT (redis)"

start model env MODEL_PORT="$MODEL_PORT" "$PY" "$DEMO/app/model.py"
start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
	--daemonize no --logfile ""
wait_http model "http://127.0.0.1:$MODEL_PORT/healthz"
wait_tcp redis "$REDIS_PORT"

phase() { # phase NAME POOL CACHE_URL
	local name=$1 pool=$2 cache=$3 rc=0
	start app env APP_PORT="$APP_PORT" MODEL_URL="http://127.0.0.1:$MODEL_PORT" MODEL_POOL="$pool" \
		CACHE_URL="$cache" "$PY" "$DEMO/app/app.py"
	wait_http app "http://127.0.0.1:$APP_PORT/healthz"
	start load "$PY" "$DEMO/load.py" --url "http://127.0.0.1:$APP_PORT" --rate "$RATE" \
		--warmup "$WARMUP" --duration "$WINDOW" --tail 2s --label "$name load"
	sleep "$WARMUP"
	"$REQLENS" snapshot --from "$AGENT" --duration "$WINDOW" -o "$OUT/$name.json" \
		--label phase="$name" || die "reqlens snapshot failed"
	wait "${PID[load]}" || rc=$?
	unset "PID[load]"
	sed 's/^/  /' "$OUT/load.log"
	mv "$OUT/load.log" "$OUT/load-$name.txt"
	stop app
	mv "$OUT/app.log" "$OUT/app-$name.log"
	[ "$rc" -eq 0 ] || die "the load generator saw errors (see $OUT/app-$name.log)"
}

say "before: cache off, pool of $POOL_BEFORE connections to the model (requests queue for one);"
say "        $WARMUP of load to warm up, then reqlens snapshot for $WINDOW under the same load"
phase before "$POOL_BEFORE" ""
say "after:  the same app restarted with a Redis cache (by task id) and a pool of $POOL_AFTER;"
say "        $WARMUP of load to warm up (and fill the cache), then reqlens snapshot for $WINDOW"
phase after "$POOL_AFTER" "redis://127.0.0.1:$REDIS_PORT/0"
cleanup
find "$OUT" -name '*.log' -empty -delete

say ""
say "reqlens compare $OUT/before.json $OUT/after.json --html $OUT/report.html"
rc=0
"$REQLENS" compare "$OUT/before.json" "$OUT/after.json" --html "$OUT/report.html" >"$OUT/compare.txt" || rc=$?
cat "$OUT/compare.txt"
[ "$rc" -eq 0 ] || die "reqlens compare failed ($rc)"
say ""
say "report: $OUT/report.html (also before.json, after.json, compare.txt and the logs in $OUT/); $((SECONDS - T0)) s"
