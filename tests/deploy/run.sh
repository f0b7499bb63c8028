#!/usr/bin/env bash
# The deployment tests (make deploy-test), as root:
#   (a) the Kubernetes manifests and the Prometheus config, validated without a cluster
#       (tests/deploy/validate.mjs), and proof that its guards catch a bad change;
#   (b) the image: deploy/Dockerfile built for real with podman on a debootstrapped
#       debian:bookworm (no registry here), then run with runc the way each DaemonSet
#       variant runs it (config generated from the manifests), measuring a server on the
#       host: its connections, and a function in it through a uprobe (--uprobe=NAME:SYMBOL,
#       NAME resolved through /proc/PID/root, the binary being invisible to the container);
#   (c) Prometheus scraping the containerised agent with deploy/prometheus/scrape.yml.
# Ends with "N passed, N failed"; exits 1 when a test failed. Every network test talks to
# 127.0.0.1 only. It installs the Debian and npm packages it needs when they are missing.
# shellcheck disable=SC2015,SC2317  # pass/fail always succeed; functions run from traps and wait_for
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
repo=$PWD
here=$repo/tests/deploy

IMAGE=${REQLENS_TEST_IMAGE:-localhost/reqlens:test}
CONNS=5                          # connections (one request each) made to the test server per variant
PY=/usr/bin/python3              # Debian's (not a pyenv shim)
SRV_NAME=rl-deploy-srv           # the host server's binary and process name (tests/deploy/handler-server.c)
SRV_USER=nobody                  # ...and the user it runs as: not the agent's

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "skip - $1${2:+: $2}"; }

timings=()
step_name='' step_start=0
step() {
	step_end
	step_name=$1 step_start=$EPOCHREALTIME
	echo "== $1"
}
step_end() {
	[ -n "$step_name" ] || return 0
	local t
	t=$(awk -v a="$step_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1fs", b - a }')
	timings+=("$t  $step_name")
	step_name=''
}

finish() {
	step_end
	echo "== timings"
	printf '%s\n' "${timings[@]}"
	[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# ---- clean-up: containers, the image mount, processes, temporary files ------------------
tmp=$(mktemp -d /tmp/reqlens-deploy.XXXXXX)
state=$tmp/runc
containers=() pids=() image_mounted=''
cleanup() {
	local id p
	for id in "${containers[@]}"; do
		runc --root "$state" kill "$id" KILL >/dev/null 2>&1
		runc --root "$state" delete -f "$id" >/dev/null 2>&1
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "$image_mounted" ] && podman image unmount "$IMAGE" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# ---- dependencies ---------------------------------------------------------------------
step "dependencies"
if [ "$(id -u)" -ne 0 ]; then
	fail "running as root" "the deploy tests build images and run containers: run them as root"
	finish
fi
want=(podman buildah debootstrap runc prometheus curl python3 gcc libc6-dev)
# node and npm may come from elsewhere than Debian (they do on the build machines): a
# working node is kept, never replaced by Debian's.
command -v node >/dev/null || want+=(nodejs)
command -v npm >/dev/null || want+=(npm)
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1 ||
		{ tail -n 20 "$tmp/apt.log"; fail "install ${missing[*]}"; finish; }
fi
if [ ! -e "$here/node_modules/.package-lock.json" ] ||
	[ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
		{ cat "$tmp/npm.log"; fail "npm ci in tests/deploy"; finish; }
fi

# ---- (a) manifests --------------------------------------------------------------------
step "(a) manifests: kubernetes-models, kustomize, security settings"
node "$here/validate.mjs" >"$tmp/validate.out" 2>&1
while IFS= read -r line; do
	case "$line" in
	"ok - "*) pass "${line#ok - }" ;;
	"not ok - "*) fail "${line#not ok - }" ;;
	"skip - "*) skip "${line#skip - }" ;;
	"validate: "*) ;;
	*) echo "$line" ;;
	esac
done <"$tmp/validate.out"
grep -q '^validate: 0 failed$' "$tmp/validate.out" || grep -q '^not ok' "$tmp/validate.out" ||
	fail "validate.mjs ran to its end" "$(tail -n 5 "$tmp/validate.out")"

step "(a) the guards catch a bad change"
# mutate NAME EXPECTED-FAILING-CHECK FILE SED-SCRIPT: the check must fail on a copy of
# deploy/ changed by SED-SCRIPT.
mutate() {
	local name=$1 expect=$2 file=$3 script=$4 root=$tmp/mutant
	rm -rf "$root" && mkdir -p "$root" && cp -r deploy "$root/"
	sed -i -e "$script" "$root/$file"
	if cmp -s "$file" "$root/$file"; then
		fail "$name" "the change did not apply to $file"
		return
	fi
	if REQLENS_DEPLOY_ROOT=$root node "$here/validate.mjs" >"$tmp/mutant.out" 2>&1; then
		fail "$name" "validate.mjs passed"
	elif grep -q "^not ok - $expect" "$tmp/mutant.out"; then
		pass "$name"
	else
		fail "$name" "$(grep '^not ok' "$tmp/mutant.out" | head -n 3 | tr '\n' ' ')"
	fi
}
mutate "minimal variant gaining BPF (its commented-out alternative) is caught" "minimal variant:" \
	deploy/kubernetes/minimal/securitycontext.yaml 's/^\( *\)# - BPF$/\1- BPF/'
mutate "minimal variant gaining NET_ADMIN is caught" "minimal variant:" \
	deploy/kubernetes/minimal/securitycontext.yaml 's/^\( *\)- SYS_PTRACE$/&\n\1- NET_ADMIN/'
mutate "minimal variant losing SYS_PTRACE is caught" "minimal variant:" \
	deploy/kubernetes/minimal/securitycontext.yaml '/^ *- SYS_PTRACE$/d'
mutate "minimal variant allowing privilege escalation is caught" "minimal variant:" \
	deploy/kubernetes/minimal/securitycontext.yaml 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/'
mutate "a misspelt field is caught" "kubernetes-models deploy/kubernetes/base/daemonset.yaml" \
	deploy/kubernetes/base/daemonset.yaml 's/readOnlyRootFilesystem:/readOnlyRootFileSystem:/'
mutate "hostNetwork is caught" "both variants: no hostNetwork" \
	deploy/kubernetes/base/daemonset.yaml 's/^\( *\)hostPID: true$/&\n\1hostNetwork: true/'
mutate "a wider ClusterRole is caught" "RBAC:" \
	deploy/kubernetes/base/rbac.yaml 's/resources: \["pods"\]/resources: ["pods", "secrets"]/'

# ---- (b) the image --------------------------------------------------------------------
step "(b) base image debian:bookworm (debootstrap, cached)"
if "$here/base-image.sh" >"$tmp/base.log" 2>&1; then
	pass "base image debian:bookworm from debootstrap"
	cat "$tmp/base.log"
else
	cat "$tmp/base.log"
	fail "base image debian:bookworm from debootstrap"
	finish
fi

step "(b) podman build -f deploy/Dockerfile"
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# --network=host: the RUN steps reach the Debian mirror as the host does, with no CNI
# network needed. --pull=never: there is no registry; debian:bookworm is the local one.
build() { podman build --pull=never --network=host -f deploy/Dockerfile --build-arg REQLENS_REVISION="$rev" "$@" .; }
# The build stage is tagged too, so that pruning the images of earlier runs (below) keeps
# its layers: the next run then reinstalls no toolchain.
if build --target build -t "$IMAGE-build" >"$tmp/build.log" 2>&1 &&
	build -t "$IMAGE" >>"$tmp/build.log" 2>&1; then
	pass "podman build -f deploy/Dockerfile"
else
	tail -n 30 "$tmp/build.log"
	fail "podman build -f deploy/Dockerfile"
	finish
fi
# Earlier runs' images: untagged, nothing built on them, made from our base image.
podman image prune -f --filter label=org.reqlens.rootfs >/dev/null 2>&1

step "(b) image contents"
podman image inspect "$IMAGE" --format '{{json .Config}}' >"$tmp/image.json"
cfg_check() { node -e 'const c = require(process.argv[1]); process.exit(eval(process.argv[2]) ? 0 : 1)' "$tmp/image.json" "$1"; }
cfg_check 'JSON.stringify(c.Entrypoint) === JSON.stringify(["/usr/bin/reqlens"])' &&
	pass "image: ENTRYPOINT /usr/bin/reqlens" || fail "image: ENTRYPOINT /usr/bin/reqlens" "$(cat "$tmp/image.json")"
cfg_check '"10470/tcp" in (c.ExposedPorts ?? {})' &&
	pass "image: EXPOSE 10470" || fail "image: EXPOSE 10470"
rootfs=$(podman image mount "$IMAGE") && image_mounted=1
if [ -z "$image_mounted" ]; then
	fail "podman image mount $IMAGE"
	finish
fi
version=$(chroot "$rootfs" /usr/bin/reqlens --version 2>&1)
if [ "$version" = "reqlens $(cat VERSION) (revision $rev)" ]; then
	pass "image: reqlens --version runs in the runtime image ($version)"
else
	fail "image: reqlens --version runs in the runtime image" "$version"
fi
extra=$(ls "$rootfs"/usr/bin/{cc,gcc,clang,make,bpftool} "$rootfs"/var/lib/apt/lists/*_Packages* 2>/dev/null)
[ -z "$extra" ] && pass "image: slim (no toolchain, no apt lists)" || fail "image: slim" "$extra"
echo "image size: $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"

# start_agent VARIANT PORT [ARG...]: runs the image as the DaemonSet variant would, with
# ARGs after the manifest's, in the background; sets $cid.
start_agent() {
	local variant=$1 port=$2 bundle=$tmp/bundle-$1 a extra=()
	shift 2
	for a in "$@"; do extra+=(--arg="$a"); done
	cid=reqlens-deploy-$$-$variant
	mkdir -p "$bundle"
	node "$here/oci-config.mjs" --variant "$variant" --rootfs "$rootfs" --image-config "$tmp/image.json" \
		--listen "127.0.0.1:$port" --node "$(hostname)" "${extra[@]}" >"$bundle/config.json" || return 1
	containers+=("$cid")
	runc --root "$state" run --bundle "$bundle" "$cid" </dev/null >"$tmp/agent-$variant.log" 2>&1 &
	runc_pid=$!
	pids+=("$runc_pid")
}

prometheus_test() {
	local agent_port=$1 prom_port conf=$tmp/prometheus.yml out
	# The shipped file as it is: Debian's promtool knows no kubernetes_sd_configs.
	if out=$(promtool check config deploy/prometheus/scrape.yml 2>&1); then
		pass "promtool check config deploy/prometheus/scrape.yml"
	elif grep -q 'field kubernetes_sd_configs not found' <<<"$out"; then
		skip "promtool check config deploy/prometheus/scrape.yml" \
			"this Prometheus is built without Kubernetes discovery (Debian's is); validate.mjs checks that job"
	else
		fail "promtool check config deploy/prometheus/scrape.yml" "$out"
	fi
	node "$here/prom-config.mjs" "127.0.0.1:$agent_port" >"$conf"
	if out=$(promtool check config "$conf" 2>&1); then
		pass "promtool check config (scrape.yml's static job, aimed at the container)"
	else
		fail "promtool check config (scrape.yml's static job)" "$out"
		return
	fi
	job=$(node "$here/prom-config.mjs" --job)
	prom_port=$(free_port)
	prometheus --config.file="$conf" --storage.tsdb.path="$tmp/prometheus" \
		--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
	pids+=($!)
	query() { curl -fsS --max-time 2 -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null; }
	up_is_1() {
		query "up{job=\"$job\"}" | node -e '
			let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
				const r = JSON.parse(s).data.result;
				process.exit(r.length === 1 && r[0].value[1] === "1" ? 0 : 1);
			});' 2>/dev/null
	}
	if wait_for 30 up_is_1; then
		pass "Prometheus: up{job=\"$job\"} == 1"
	else
		tail -n 5 "$tmp/prometheus.log"
		fail "Prometheus: up{job=\"$job\"} == 1" "$(query "up{job=\"$job\"}")"
		return
	fi
	out=$(query "reqlens_build_info{job=\"$job\"}")
	if node -e '
		const r = JSON.parse(process.argv[1]).data.result;
		process.exit(r.length === 1 && r[0].metric.version === process.argv[2] && r[0].value[1] === "1" ? 0 : 1);' \
		"$out" "$(cat VERSION)" 2>/dev/null; then
		pass "Prometheus: reqlens_build_info{job=\"$job\"} present, version $(cat VERSION)"
	else
		fail "Prometheus: reqlens_build_info{job=\"$job\"} present" "$out"
	fi
}

# ---- the host server -------------------------------------------------------------------
step "(b) the host server (tests/deploy/handler-server.c)"
# Where a service's binary can be hard to reach: owned by a user of its own, readable by
# that user only (mode 0700), in a directory only that user can enter. The container sees
# none of the host's /tmp: the agent gets at the binary only through /proc/PID/root (or
# /proc/PID/exe) of the running server.
chmod 0711 "$tmp" # the server's user has to reach its directory
srv_dir=$tmp/srv srv_bin=$tmp/srv/$SRV_NAME
srv_group=$(id -gn "$SRV_USER")
if mkdir -p "$tmp/srv-build" && gcc -O2 -Wall -Werror -o "$tmp/srv-build/$SRV_NAME" "$here/handler-server.c" 2>"$tmp/srv-build.log" &&
	install -d -o "$SRV_USER" -g "$srv_group" -m 0700 "$srv_dir" &&
	install -o "$SRV_USER" -g "$srv_group" -m 0700 "$tmp/srv-build/$SRV_NAME" "$srv_bin" &&
	nm "$srv_bin" | grep -q ' T handle_request$'; then
	pass "host server built: $srv_bin, mode 0700, owner $SRV_USER, handle_request in .symtab"
else
	cat "$tmp/srv-build.log"
	fail "host server built"
	finish
fi
# The premise of DAC_READ_SEARCH in the minimal set: root without capabilities cannot read it.
if setpriv --inh-caps=-all --bounding-set=-all --securebits=+noroot,+noroot_locked -- \
	cat "$srv_bin" >/dev/null 2>&1; then
	fail "host server's binary is unreadable to root without capabilities" "it was read"
else
	pass "host server's binary is unreadable to root without capabilities"
fi
# tcp_open PORT: something listens there. The connection sends nothing, so the server
# closes it without calling handle_request.
tcp_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
stop_server() { kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; }
# metric_is EXPECTED NAME LABEL=VALUE...: the agent's sample equals EXPECTED ("+": is > 0);
# sets $got.
metric_is() {
	local expect=$1
	shift
	got=$(node "$here/metric.mjs" "http://127.0.0.1:$port/metrics" "$@")
	if [ "$expect" = + ]; then
		awk -v v="${got:-0}" 'BEGIN { exit !(v > 0) }'
	else
		[ "$got" = "$expect" ]
	fi
}

for variant in base minimal; do
	label=$([ "$variant" = base ] && echo privileged || echo minimal-capability)
	step "(b) $label variant in runc"
	# The server first, so that the agent finds it when it starts.
	srv_port=$(free_port)
	setpriv --reuid="$SRV_USER" --regid="$srv_group" --clear-groups -- "$srv_bin" "$srv_port" \
		>"$tmp/srv-$variant.log" 2>&1 &
	srv_pid=$!
	pids+=("$srv_pid")
	if ! wait_for 10 tcp_open "$srv_port"; then
		cat "$tmp/srv-$variant.log"
		fail "$label: host server listening on 127.0.0.1:$srv_port"
		stop_server
		continue
	fi
	port=$(free_port)
	if ! start_agent "$variant" "$port" "--uprobe=$SRV_NAME:handle_request"; then
		fail "$label: OCI config from the manifests"
		stop_server
		continue
	fi
	# Ready, or given up: an agent that exits at start is not waited for.
	ready_or_exited() { http_ok "http://127.0.0.1:$port/readyz" || ! kill -0 "$runc_pid" 2>/dev/null; }
	if wait_for 30 ready_or_exited && http_ok "http://127.0.0.1:$port/readyz"; then
		pass "$label: agent ready in the container (/readyz 200)"
	else
		cat "$tmp/agent-$variant.log"
		fail "$label: agent ready in the container (/readyz 200)"
		stop_server
		continue
	fi
	http_ok "http://127.0.0.1:$port/healthz" && pass "$label: /healthz 200" || fail "$label: /healthz 200"
	if runc --root "$state" exec "$cid" /bin/touch /written-by-test >/dev/null 2>&1; then
		fail "$label: root filesystem is read-only" "touch /written-by-test succeeded"
	else
		pass "$label: root filesystem is read-only"
	fi

	# The uprobe: resolved from the process name, on the host process's binary.
	if runc --root "$state" exec "$cid" /usr/bin/test -e "$srv_bin" >/dev/null 2>&1; then
		fail "$label: the host server's binary is not in the container's filesystem" "$srv_bin is there"
	else
		pass "$label: the host server's binary is not in the container's filesystem"
	fi
	probing="msg=\"probing handle_request in $srv_bin (1 process now)\""
	if grep -qF "$probing" "$tmp/agent-$variant.log"; then
		pass "$label: agent log: $probing"
	else
		fail "$label: agent log: $probing" "$(tr '\n' ' ' <"$tmp/agent-$variant.log")"
	fi

	# CONNS requests, one per connection; each answer numbers the handle_request call.
	bad=''
	for i in $(seq 1 "$CONNS"); do
		body=$(curl -fsS --max-time 2 "http://127.0.0.1:$srv_port/hello" 2>&1)
		[ "$body" = "handled /hello #$i" ] || bad+="request $i: '$body' "
	done
	[ -z "$bad" ] && pass "$label: the host server answered $CONNS requests, handle_request once each" ||
		fail "$label: the host server answered $CONNS requests" "$bad"

	svc=(service_name="$SRV_NAME")
	fn=("${svc[@]}" binary="$SRV_NAME" function=handle_request)
	checks=(
		"$CONNS reqlens_tcp_connections_total ${svc[*]} direction=inbound server_port=$srv_port"
		"$CONNS reqlens_function_calls_total ${fn[*]}"
		"$CONNS reqlens_function_duration_seconds_count ${fn[*]}"
		# The scheduler's tp_btf programs, and /proc/PID/status of another user's process.
		"+ reqlens_process_oncpu_seconds_total ${svc[*]}"
		"+ reqlens_process_resident_memory_bytes ${svc[*]}"
	)
	for c in "${checks[@]}"; do
		read -r -a w <<<"$c"
		what="${w[1]}{$(printf '%s,' "${w[@]:2}" | sed -E 's/=([^,]*)/="\1"/g; s/,$//')}"
		what+=$([ "${w[0]}" = + ] && echo ' > 0' || echo " == ${w[0]}")
		if wait_for 10 metric_is "${w[@]}"; then
			pass "$label: $what"
		else
			fail "$label: $what" "got '${got:-}'"
		fi
	done
	stop_server

	if [ "$variant" = minimal ]; then
		step "(c) Prometheus scrapes the container"
		prometheus_test "$port"
	fi

	runc --root "$state" kill "$cid" TERM >/dev/null 2>&1
	wait_for 5 eval '! kill -0 '"$runc_pid"' 2>/dev/null'
	wait "$runc_pid" 2>/dev/null
	rc=$?
	[ "$rc" -eq 0 ] && pass "$label: agent exits 0 on SIGTERM" ||
		{ tail -n 5 "$tmp/agent-$variant.log"; fail "$label: agent exits 0 on SIGTERM" "exit $rc"; }
	runc --root "$state" delete -f "$cid" >/dev/null 2>&1
done
finish
