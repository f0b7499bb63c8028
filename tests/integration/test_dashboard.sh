#!/usr/bin/env bash
# The Grafana dashboard (deploy/grafana/reqlens.json) queries what the agent
# really exports: with an unmodified nginx under load, a uprobe on its
# request handler and BPF statistics on, a real Prometheus scrapes the agent;
# then every metric a panel names must be in the scrape, and every panel
# query must be valid PromQL that Prometheus evaluates without error, most
# of them returning data.
source "$(dirname "$0")/lib.sh"

DASH=deploy/grafana/reqlens.json
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
command -v prometheus >/dev/null || fail "prometheus is not installed"

# nginx on a free port, one worker, serving a small file.
NPORT=$(free_port)
mkdir -p "$T/html"
echo hello >"$T/html/index.html"
cat >"$T/nginx.conf" <<CONF
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T; proxy_temp_path $T; fastcgi_temp_path $T; uwsgi_temp_path $T; scgi_temp_path $T;
	server { listen 127.0.0.1:$NPORT; root $T/html; }
}
CONF
start_agent --bpf.stats --uprobe=/usr/sbin/nginx:ngx_http_process_request
nginx -c "$T/nginx.conf" || fail "nginx did not start"
stop_nginx() { [[ -f $T/nginx.pid ]] && kill "$(cat "$T/nginx.pid")" 2>/dev/null; cleanup; }
trap stop_nginx EXIT

PROM_PORT=$(free_port)
PROM_URL=http://127.0.0.1:$PROM_PORT
cat >"$T/prometheus.yml" <<YAML
global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: reqlens
    static_configs: [ { targets: ['127.0.0.1:$AGENT_PORT'] } ]
YAML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
	>"$T/prometheus.out" 2>"$T/prometheus.err" </dev/null &
PROM_PID=$!
track "$PROM_PID"
prom_ready() { curl --noproxy '*' -sf --max-time 1 -o /dev/null "$PROM_URL/-/ready"; }
wait_until 30 "prometheus to be ready" prom_ready

# Load for a while, so that rates over several scrapes exist.
timeout 20 wrk -t1 -c4 -d8s "http://127.0.0.1:$NPORT/" >"$T/wrk.out" 2>&1 || fail "wrk failed: $(cat "$T/wrk.out")"
sleep 3
scrape

/usr/bin/python3 - "$DASH" "$SCRAPE" "$PROM_URL" <<'PY' || fail "the dashboard does not match what the agent exports (see above)"
import json, re, sys, urllib.parse, urllib.request
dash, scrape, prom = sys.argv[1:]
d = json.load(open(dash))
exported = set()
for line in open(scrape):
    if line and not line.startswith("#"):
        exported.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
exprs = [(p["title"], t["expr"]) for p in d["panels"] for t in p.get("targets", [])]
bad, empty = [], []
for title, e in exprs:
    for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]", e):
        if name not in exported:
            bad.append(f"{title}: {name} is not in a real scrape")
    q = e.replace("$__rate_interval", "1m").replace("$service", ".*")
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        r = json.load(urllib.request.urlopen(url, timeout=10))
    except Exception as ex:
        bad.append(f"{title}: Prometheus refused {q!r}: {ex}")
        continue
    if r.get("status") != "success":
        bad.append(f"{title}: {r}")
    elif not r["data"]["result"]:
        empty.append(title)
for b in bad:
    print("FAIL:", b)
print(f"# {len(exprs)} queries; without data in this run: {sorted(set(empty))}", file=sys.stderr)
# Only what this run cannot produce may be empty: errors (none served) and
# lost events stay at rate 0 but are present; 5xx error rate has no 5xx.
allowed = {"Error rate (status >= 500)"}
unexpected = sorted(set(empty) - allowed)
if unexpected:
    print("FAIL: panels without data:", unexpected)
sys.exit(1 if bad or unexpected else 0)
PY
