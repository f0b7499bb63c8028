#!/usr/bin/env bash
# Container attribution: a server moved into a cgroup named the way Docker's
# systemd driver names a container's scope gets container_id on its series,
# from the cgroup v2 id the kernel reports, while a host process gets none.
source "$(dirname "$0")/lib.sh"

v2=
for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
	[[ "$(stat -f -c %T "$d" 2>/dev/null)" == cgroup2fs ]] && { v2=$d; break; }
done
[[ -n $v2 ]] || fail "no cgroup v2 hierarchy mounted"

id=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
cg=$v2/system.slice/docker-$id.scope
mkdir -p "$cg" || fail "cannot create $cg"
cleanup_cgroup() {
	[[ -f $cg/cgroup.procs ]] && while read -r p; do echo "$p" >"$v2/cgroup.procs"; done <"$cg/cgroup.procs"
	rmdir "$cg" 2>/dev/null
}
trap 'cleanup_cgroup; cleanup' EXIT

start_agent
start_server --connections 20
echo "$SERVER_PID" >"$cg/cgroup.procs" || fail "cannot move the server into $cg"
run_client --port "$SERVER_PORT" --connections 20
wait_server

wait_metric 10 20 reqlens_tcp_connections_total service_name=\"rl_tcp_server\" \
	container_id=\"$id\" direction=\"inbound\" server_port=\"$SERVER_PORT\"
# The client stayed on the host: no container label at all.
scrape
count_in "$SCRAPE" reqlens_tcp_connections_total service_name=\"rl_tcp_client\" container_id=\"$id\"
assert_eq "client series labelled with the server's container" 0 "$COUNT"
grep -q "^reqlens_tcp_connections_total{service_name=\"rl_tcp_client\",direction=\"outbound\"" "$SCRAPE" ||
	fail "the client's series should carry no container label: $(grep rl_tcp_client "$SCRAPE" | head -3)"
stop_agent
assert_eq "agent exit status" 0 "$AGENT_RC"
