#!/usr/bin/python3
"""Open-loop load generator for the demo (standard library only).

Sends GET /task?id=N at a fixed rate, one request every 1/RATE seconds whatever
the answers' latency (so a slow server gets the same load as a fast one, as real
users would give it), over keep-alive connections, for --warmup + --duration +
--tail seconds. Ids come from a seeded generator: a share --hot of them from a
small hot set (the tasks everyone asks for), the rest all different.

Prints how many requests it sent and, for those sent during the --duration part
(not the --warmup before it nor the --tail after it), their count, errors and
latency quantiles, measured from the time each was scheduled to be sent (so
waiting for a free connection counts too).
"""
import argparse
import http.client
import os
import queue
import random
import sys
import threading
import time


def parse_duration(s: str) -> float:
    s = s.strip()
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * mult
    return float(s)


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the app (default %(default)s)")
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second (default %(default)s)")
    ap.add_argument("--duration", default="30s", help="measured part, e.g. 30s (default %(default)s)")
    ap.add_argument("--warmup", default="0s", help="unmeasured lead-in, e.g. 5s (default %(default)s)")
    ap.add_argument("--tail", default="0s", help="unmeasured load after the measured part (default %(default)s)")
    ap.add_argument("--hot", type=float, default=0.9, help="share of ids from the hot set (default %(default)s)")
    ap.add_argument("--hot-ids", type=int, default=10, help="size of the hot set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the id sequence (default %(default)s)")
    ap.add_argument("--concurrency", type=int, default=128, help="connections at most (default %(default)s)")
    ap.add_argument("--label", default="load", help="prefix of the summary line")
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "app"))
    from procname import set_procname

    set_procname("demo-load")

    u = a.url.split("://", 1)[-1]
    host, _, port = u.split("/", 1)[0].partition(":")
    port = int(port or 80)
    warmup, duration, tail = parse_duration(a.warmup), parse_duration(a.duration), parse_duration(a.tail)
    total = int(round((warmup + duration + tail) * a.rate))
    n_warm = int(round(warmup * a.rate))
    n_end = int(round((warmup + duration) * a.rate))
    rng = random.Random(a.seed)
    ids = [rng.randrange(a.hot_ids) if rng.random() < a.hot else 1_000_000 + i for i in range(total)]

    work = queue.Queue()
    lock = threading.Lock()
    idle = []  # kept-alive connections, the most recently used last
    results = []  # (index, latency seconds, ok)

    def worker():
        while True:
            item = work.get()
            if item is None:
                break
            i, due = item
            with lock:
                conn = idle.pop() if idle else None
            ok = False
            for attempt in (0, 1):  # one retry on a fresh connection if a kept-alive one was closed
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(host, port, timeout=60)
                    conn.request("GET", f"/task?id={ids[i]}")
                    r = conn.getresponse()
                    r.read()
                    ok = r.status == 200
                    break
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
            with lock:
                results.append((i, time.monotonic() - due, ok))
                if conn is not None:
                    idle.append(conn)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    start = time.monotonic() + 0.05
    for i in range(total):
        due = start + i / a.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        work.put((i, due))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    for conn in idle:
        conn.close()

    measured = [r for r in results if n_warm <= r[0] < n_end]
    lat = sorted(r[1] for r in measured)
    errors = sum(1 for r in measured if not r[2])
    ms = lambda q: quantile(lat, q) * 1000
    print(f"{a.label}: sent {total} requests at {a.rate:g}/s, {len(measured)} in the window, "
          f"errors {errors}; client-side p50 {ms(0.5):.0f} ms, p95 {ms(0.95):.0f} ms, p99 {ms(0.99):.0f} ms",
          flush=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
