#!/usr/bin/env python3
"""Judge-runner throughput: gavel against Python asyncio clients, on the same loopback server.

Generates N pairwise items (two models each, every response tagged `quality=K`), starts the
zero-latency fake OpenAI server (`gavel-fake-openai --reply quality`: a fair judge that names the
shown response with the higher tag), and makes the same 2N calls (both presentation orders) with:

  * gavel judge (release build, cache on: every answer is committed to SQLite before it counts),
  * a Python asyncio client on the openai package (AsyncOpenAI), and
  * a Python asyncio client on raw httpx (AsyncClient), which the openai package wraps, and
  * a Python asyncio client on aiohttp (ClientSession), the fastest common Python HTTP client
    (httpx's AsyncClient is known to be slow under concurrency: encode/httpx#3215),

each with the same concurrency, each mapping both orders back to model_a/model_b and writing one
JSON line per item. It checks that every client made exactly 2N calls (server counters) and that
gavel's labels equal the Python clients' labels, then prints calls per second, peak RSS (from
wait4, per process) and ratios. It also runs gavel at N/10 to show that memory does not grow
with the number of items, and reruns gavel on the warm cache (0 calls).

Usage: /work/pyref/venv/bin/python bench/judge.py [--items 100000] [--concurrency 64]
       [--clients openai,httpx,aiohttp] [--skip-build]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "judge"

SYSTEM = (
    "You are an impartial judge. Compare two AI assistants' answers to the user's question and "
    "decide which one is better. End with [[A]], [[B]] or [[C]] for a tie."
)
VERDICT = re.compile(r"\[\[([ABC])\]\]")


def generate(path: Path, n: int) -> None:
    # Deterministic: quality tags from a fixed linear congruential sequence.
    state = 12345
    with path.open("w") as f:
        for i in range(n):
            state = (state * 1103515245 + 12345) % (1 << 31)
            qa, qb = state % 10, (state >> 8) % 10
            item = {
                "id": f"q{i}",
                "instruction": f"Explain point {i} of the style guide in two sentences.",
                "responses": {
                    "model-x": f"Point {i} says to keep functions small and names honest. quality={qa}",
                    "model-y": f"Point {i} is about writing comments that say why, not what. quality={qb}",
                },
            }
            f.write(json.dumps(item) + "\n")


def expected_label(line: str) -> str:
    item = json.loads(line)
    qa = int(item["responses"]["model-x"].rsplit("=", 1)[1])
    qb = int(item["responses"]["model-y"].rsplit("=", 1)[1])
    return "A" if qa > qb else "B" if qb > qa else "tie"


def server_stats(url: str) -> dict:
    base = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(base + "/stats") as r:
        return json.load(r)


def run_measured(cmd, **kw):
    """Runs a command; returns (returncode, wall seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, **kw)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, usage.ru_maxrss / 1024.0, out


# ---- the Python clients (run as subprocesses of this script, so each is measured alone) ----

def render(item: dict, first: str, second: str) -> list:
    user = (
        f"<<<question>>>\n{item['instruction']}\n<<<end question>>>\n"
        f"<<<assistant A>>>\n{item['responses'][first]}\n<<<end assistant A>>>\n"
        f"<<<assistant B>>>\n{item['responses'][second]}\n<<<end assistant B>>>\n"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def shown_to_frame(verdict: str, swapped: bool) -> str:
    if verdict == "C":
        return "tie"
    if swapped:
        return "B" if verdict == "A" else "A"
    return verdict


async def client_main(kind: str, data: str, out: str, url: str, concurrency: int) -> None:
    if kind == "openai":
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="bench-key", max_retries=3)

        async def ask(messages):
            r = await client.chat.completions.create(
                model="bench-judge", messages=messages, temperature=0
            )
            return r.choices[0].message.content or ""
    elif kind == "aiohttp":
        import aiohttp

        client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        async def ask(messages):
            body = {"model": "bench-judge", "messages": messages, "temperature": 0}
            async with client.post(url + "/chat/completions", json=body,
                                   headers={"Authorization": "Bearer bench-key"}) as r:
                r.raise_for_status()
                return (await r.json())["choices"][0]["message"]["content"] or ""
    else:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(limits=limits, timeout=60)

        async def ask(messages):
            body = {"model": "bench-judge", "messages": messages, "temperature": 0}
            r = await client.post(url + "/chat/completions", json=body,
                                  headers={"Authorization": "Bearer bench-key"})
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"] or ""

    sem = asyncio.Semaphore(concurrency)

    async def call(messages):
        async with sem:
            return await ask(messages)

    async def judge(line: str) -> str:
        item = json.loads(line)
        a, b = list(item["responses"])[:2]
        ab, ba = await asyncio.gather(call(render(item, a, b)), call(render(item, b, a)))
        labels = []
        for text, swapped in ((ab, False), (ba, True)):
            m = VERDICT.findall(text)
            labels.append(shown_to_frame(m[-1], swapped) if m else None)
        label = None if None in labels else (labels[0] if labels[0] == labels[1] else "tie")
        return json.dumps({"item": item["id"], "model_a": a, "model_b": b, "label": label,
                           "consistent": labels[0] == labels[1]})

    # A bounded window of items in progress, written in input order: flat memory, like gavel.
    window = max(concurrency * 4, 16)
    pending = []
    with open(data) as f, open(out, "w") as w:
        for line in f:
            pending.append(asyncio.ensure_future(judge(line)))
            if len(pending) >= window:
                w.write(await pending.pop(0) + "\n")
        for t in pending:
            w.write(await t + "\n")
    if kind in ("openai", "aiohttp"):
        await client.close()
    else:
        await client.aclose()


# ---- the benchmark ----

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--clients", default="openai,httpx,aiohttp")
    ap.add_argument("--server-threads", type=int, default=1)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.client:
        asyncio.run(client_main(args.client, args.data, args.out, args.url, args.concurrency))
        return

    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "-p", "gavel", "-p", "gavel-fake-openai"],
                       cwd=ROOT, check=True)
    gavel = ROOT / "target" / "release" / "gavel"
    fake = ROOT / "target" / "release" / "gavel-fake-openai"
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    large, small = args.items, max(args.items // 10, 1)
    for n in (small, large):
        generate(OUT / f"items_{n}.jsonl", n)

    server = subprocess.Popen([str(fake), "--reply", "quality", "--threads", str(args.server_threads)],
                              stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    print(f"server {url} ({args.server_threads} thread(s)); load average {os.getloadavg()[0]:.1f}")
    results = {}
    try:
        def run_gavel(n, tag, cache):
            before = server_stats(url)["requests"]
            out = OUT / f"gavel_{tag}.jsonl"
            cmd = [str(gavel), "judge", "--data", str(OUT / f"items_{n}.jsonl"),
                   "--template", "mt-bench-pair", "--model", "bench-judge", "--base-url", url,
                   "--concurrency", str(args.concurrency), "--cache", str(cache),
                   "--out", str(out), "--format", "json", "--quiet"]
            rc, wall, rss, stdout = run_measured(cmd, env={**os.environ, "OPENAI_API_KEY": "bench-key"})
            if rc != 0:
                sys.exit(f"gavel failed ({rc})")
            calls = server_stats(url)["requests"] - before
            summary = json.loads(stdout)
            results[tag] = dict(n=n, wall=wall, rss=rss, calls=calls,
                                cps=summary["calls"]["total"] / wall, out=out)
            print(f"gavel {tag:>10}: {n:>7} items  {calls:>7} calls sent  {wall:7.2f} s  "
                  f"{summary['calls']['total'] / wall:9.0f} calls/s  peak RSS {rss:6.1f} MB")
            return summary

        run_gavel(small, "small", OUT / "cache_small.sqlite")
        run_gavel(large, "large", OUT / "cache_large.sqlite")
        rerun = run_gavel(large, "rerun", OUT / "cache_large.sqlite")
        assert results["small"]["calls"] == 2 * small and results["large"]["calls"] == 2 * large
        assert results["rerun"]["calls"] == 0 and rerun["calls"]["cached"] == 2 * large

        for kind in [c for c in args.clients.split(",") if c]:
            before = server_stats(url)["requests"]
            out = OUT / f"python_{kind}.jsonl"
            cmd = [sys.executable, __file__, "--client", kind, "--data", str(OUT / f"items_{large}.jsonl"),
                   "--out", str(out), "--url", url, "--concurrency", str(args.concurrency)]
            rc, wall, rss, _ = run_measured(cmd)
            if rc != 0:
                sys.exit(f"python {kind} client failed ({rc})")
            calls = server_stats(url)["requests"] - before
            assert calls == 2 * large, (kind, calls)
            results[kind] = dict(n=large, wall=wall, rss=rss, calls=calls, cps=calls / wall, out=out)
            print(f"python {kind:>9}: {large:>7} items  {calls:>7} calls sent  {wall:7.2f} s  "
                  f"{calls / wall:9.0f} calls/s  peak RSS {rss:6.1f} MB")
    finally:
        server.kill()
        server.wait()

    # Agreement: gavel's labels equal the expected ones and the Python clients' labels.
    with open(OUT / f"items_{large}.jsonl") as f:
        expected = [expected_label(line) for line in f]
    gavel_labels = [json.loads(line)["label"] for line in open(results["large"]["out"])]
    assert gavel_labels == expected, "gavel's labels differ from the expected ones"
    for kind in [c for c in args.clients.split(",") if c]:
        labels = [json.loads(line)["label"] for line in open(results[kind]["out"])]
        assert labels == gavel_labels, f"labels differ between gavel and python {kind}"
    print(f"labels: gavel = expected = every Python client on all {large} items")

    g = results["large"]
    for kind in [c for c in args.clients.split(",") if c]:
        p = results[kind]
        print(f"gavel vs python {kind}: {g['cps'] / p['cps']:.1f}x calls/s, "
              f"{p['rss'] / g['rss']:.1f}x less memory")
    print(f"gavel memory: {results['small']['rss']:.1f} MB at {small} items, "
          f"{g['rss']:.1f} MB at {large} items")
    print(f"rerun on the warm cache: 0 calls, {results['rerun']['wall']:.2f} s "
          f"({results['rerun']['cps']:.0f} cached calls/s)")


if __name__ == "__main__":
    main()
