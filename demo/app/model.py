#!/usr/bin/python3
"""The slow dependency: a stand-in for an LLM completion API.

POST /v1/chat/completions answers after a delay drawn from a lognormal
distribution (median MODEL_MEDIAN_MS, default 400 ms; sigma MODEL_SIGMA, default
0.6, so p95 ~1.1 s and p99 ~1.6 s: the heavy tail of generation times), from a
seeded generator so that every run draws the same sequence. It serves any number
of requests at once, like a hosted model API: the delay does not depend on load.

Environment: MODEL_PORT (default 8001), MODEL_MEDIAN_MS, MODEL_SIGMA, MODEL_SEED.
"""
import json
import math
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procname import set_procname

MEDIAN = float(os.environ.get("MODEL_MEDIAN_MS", "400")) / 1000.0
SIGMA = float(os.environ.get("MODEL_SIGMA", "0.6"))
rng = random.Random(int(os.environ.get("MODEL_SEED", "42")))
rng_lock = threading.Lock()


def generation_time() -> float:
    with rng_lock:
        return MEDIAN * math.exp(SIGMA * rng.gauss(0.0, 1.0))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients' connection pools expect
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server_version = "model/1.0"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        try:
            prompt = json.loads(body)["messages"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            self.reply(400, {"error": "bad request"})
            return
        time.sleep(generation_time())  # the model "generates"
        words = prompt.split()
        completion = " ".join(reversed(words)) or "ok"
        self.reply(200, {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion}}],
            "usage": {"prompt_tokens": len(words), "completion_tokens": len(words)},
        })

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # no access log
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


if __name__ == "__main__":
    set_procname("demo-model")
    Server(("127.0.0.1", int(os.environ.get("MODEL_PORT", "8001"))), Handler).serve_forever()
