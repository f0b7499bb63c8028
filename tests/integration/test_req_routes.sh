#!/usr/bin/env bash
# HTTP labels from the kernel's route cache, in both request tracking modes.
# The first request to a target comes to user space as an event, which
# normalises its route and caches the route's id in the kernel; later
# requests to the same target of the same service are counted in the kernel.
# Both ways must give the same series: every request line here is sent at
# least twice (one event, then the cache), one at a time on one keep-alive
# connection, and every series must hold exactly the requests sent, with the
# labels user space gives (src/http1.c):
#
#   GET /status/200 x3                 GET /status/{id} 200
#   GET /work/100?a=1, ?b=2, #frag     GET /work/{id} (query and fragment
#                                      dropped: three targets, one route;
#                                      the server ignores the query only, so
#                                      the fragment's is a 404)
#   POST /status/201 x2                POST /status/{id} 201
#   DELETE /users/7/orders x2          DELETE /users/{id}/orders 404
#                                      (--http.route pattern)
#   HEAD, OPTIONS, PATCH /status/204   each its own method
#   GET /a x2, GET /b x2               --http.max-routes=4: /a is the 4th
#                                      route, /b is "other", from the cache too
#   FOO /status/200 x2                 _OTHER /status/{id} 200 (a method the
#                                      kernel does not know: events only)
#   GET /<150 bytes> x2                _OTHER other 404 (the line does not fit
#                                      in the 128 bytes the kernel keeps)
#
# The client side (the scripted client's own series) must show the same
# methods and statuses, and the route cache must hold entries.
source "$(dirname "$0")/lib.sh"

H='Host: 127.0.0.1\r\n'
long=$(printf '/%0150d' 0)
steps=()
# one TARGET METHOD [TIMES]: TIMES requests, one after the other.
one() {
	local i
	for ((i = 0; i < ${3:-2}; i++)); do
		steps+=("send:$2 $1 HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" responses:1)
	done
}
one /status/200 GET 3
one '/work/100?a=1' GET 1
one '/work/100?b=2' GET 1
one '/work/100#frag' GET 1
one /status/201 POST
one /users/7/orders DELETE
one /status/204 HEAD
one /status/204 OPTIONS
one /status/204 PATCH
one /a GET
one /b GET
one /status/200 FOO
one "$long" GET

# Sorted as the scrape's series are (byte order).
server_expected=$(LC_ALL=C sort <<'EOF' | tr '\n' ';'
DELETE /users/{id}/orders 404 2
GET /a 404 2
GET /status/{id} 200 3
GET /work/{id} 200 2
GET /work/{id} 404 1
GET other 404 2
HEAD /status/{id} 204 2
OPTIONS /status/{id} 204 2
PATCH /status/{id} 204 2
POST /status/{id} 201 2
_OTHER /status/{id} 200 2
_OTHER other 404 2
EOF
)
client_expected=$(LC_ALL=C sort <<'EOF' | tr '\n' ';'
DELETE 404 2
GET 200 5
GET 404 5
HEAD 204 2
OPTIONS 204 2
PATCH 204 2
POST 201 2
_OTHER 200 2
_OTHER 404 2
EOF
)

# labels FAMILY PORT KEYS...: "values count;" of FAMILY's series on PORT, sorted.
labels() {
	/usr/bin/python3 - "$SCRAPE" "$@" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
import promq
scrape, family, port, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
out = []
for name, l, value, _ in promq.parse_text(promq.read(scrape)):
    if name == family + "_count" and port in (l.get("server_port"), l.get("peer_port")):
        out.append(" ".join([l.get(k, "-") for k in keys] + [promq.fmt(value)]))
print("".join(x + ";" for x in sorted(out)))
EOF
}

for mode in sock syscall; do
	start_http threads
	start_agent "--request-tracking=$mode" "--port=$HS_PORT" "--http.route=/users/{id}/orders" \
		--http.max-routes=4
	http_client "${steps[@]}"
	total=$(( ${#steps[@]} / 2 ))
	wait_sum 5 "$total" http_server_request_duration_seconds_count server_port="$HS_PORT" ||
		fail "$mode: the agent counted $SUM HTTP server requests, $total were sent"
	scrape
	got=$(labels http_server_request_duration_seconds "$HS_PORT" http_request_method http_route \
		http_response_status_code)
	note "$mode: server series: $got"
	expect_eq "$mode: server series (method route status count)" "$server_expected" "$got"
	got=$(labels http_client_request_duration_seconds "$HS_PORT" http_request_method \
		http_response_status_code)
	note "$mode: client series: $got"
	expect_eq "$mode: client series (method status count)" "$client_expected" "$got"
	sum_in "$SCRAPE" reqlens_request_queue_seconds_count server_port="$HS_PORT"
	expect_eq "$mode: queue waits counted" "$total" "$SUM"
	# bpftool can come back empty-handed on a busy machine: a few tries.
	for _ in 1 2 3 4 5; do
		cached=0
		for id in $(agent_map_ids routes); do
			cached=$((cached + $(bpftool map dump id "$id" 2>/dev/null | grep -c '"path_hash"')))
		done
		((cached > 0)) && break
		sleep 0.5
	done
	note "$mode: targets in the kernel's route cache: $cached"
	# /status/200, /work/100 (one target for the three), /status/201,
	# /users/7/orders, /status/204 (one for three methods), /a, /b
	expect_eq "$mode: targets in the kernel's route cache" 7 "$cached"
	events_lost
	expect_eq "$mode: events lost" 0 "$LOST"
	stop_agent
	stop_pid "$HS_PID"
done
check_expectations
