#!/usr/bin/python3
"""The demo service: a small FastAPI orchestrator in front of a slow model.

GET /task?id=N builds a prompt for task N, asks the model service for a
completion (the slow part, like an LLM call), post-processes the answer and
returns it. It has no instrumentation of any kind: reqlens measures it from the
kernel.

Configuration, read once at start (environment):
  APP_PORT      port to serve on, on 127.0.0.1 (default 8000)
  MODEL_URL     the model service (default http://127.0.0.1:8001)
  MODEL_POOL    connections to the model, and requests in flight to it at once
                (default 4); a request waits for a free one
  CACHE_URL     a Redis URL such as redis://127.0.0.1:6379/0 to cache answers by
                task id; empty (default) for no cache
  CACHE_TTL     seconds an answer stays cached (default 600)
"""
import asyncio
import hashlib
import json
import os

import httpx
from fastapi import FastAPI, HTTPException, Query

MODEL_URL = os.environ.get("MODEL_URL", "http://127.0.0.1:8001")
MODEL_POOL = int(os.environ.get("MODEL_POOL", "4"))
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHE_TTL = int(os.environ.get("CACHE_TTL", "600"))

app = FastAPI(title="reqlens demo")
state = {}


@app.on_event("startup")
async def startup():
    state["model"] = httpx.AsyncClient(
        base_url=MODEL_URL,
        limits=httpx.Limits(max_connections=MODEL_POOL, max_keepalive_connections=MODEL_POOL),
        timeout=httpx.Timeout(30.0, pool=None),  # wait for a pool slot as long as it takes
    )
    state["slots"] = asyncio.Semaphore(MODEL_POOL)
    state["cache"] = None
    if CACHE_URL:
        import redis.asyncio as redis

        state["cache"] = redis.from_url(CACHE_URL, max_connections=64)


@app.on_event("shutdown")
async def shutdown():
    await state["model"].aclose()
    if state["cache"] is not None:
        await state["cache"].close()


def build_prompt(task_id: int) -> str:
    # The small CPU step: render and normalise the prompt for this task.
    context = " ".join(f"fact{(task_id * 7919 + i) % 1000}" for i in range(200))
    digest = hashlib.sha256(context.encode())
    for _ in range(10000):
        digest = hashlib.sha256(digest.digest())
    return f"Summarise task {task_id} ({digest.hexdigest()[:12]}): {context}"


async def ask_model(prompt: str) -> str:
    async with state["slots"]:
        r = await state["model"].post(
            "/v1/chat/completions",
            json={"model": "demo", "messages": [{"role": "user", "content": prompt}]},
        )
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


@app.get("/task")
async def task(id: int = Query(..., ge=0)):
    cache = state["cache"]
    key = f"task:{id}"
    if cache is not None:
        hit = await cache.get(key)
        if hit is not None:
            return json.loads(hit)
    prompt = build_prompt(id)
    try:
        completion = await ask_model(prompt)
    except httpx.HTTPError as e:
        raise HTTPException(status_code=502, detail=f"model: {e.__class__.__name__}")
    result = {"id": id, "summary": completion[:200], "words": len(completion.split())}
    if cache is not None:
        await cache.set(key, json.dumps(result), ex=CACHE_TTL)
    return result


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


if __name__ == "__main__":
    import uvicorn

    from procname import set_procname

    set_procname("demo-app")
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("APP_PORT", "8000")),
                log_level="warning", access_log=False)
