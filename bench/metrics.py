#!/usr/bin/env python3
"""Benchmark: gavel metrics against sacrebleu (BLEU, chrF) and rouge-score (ROUGE-1/2/L with the
stemmer) on the same 100,000 generated pairs, in one run.

Each metric is computed in its own child process, both for gavel and for the reference, from the
same JSONL file (reading included), so that each has its own wall time, CPU time and peak RSS
(from GNU time wrapped around the child). The references are timed doing what a user would do:
`sacrebleu.metrics.BLEU().corpus_score` / `CHRF().corpus_score` (what `sacrebleu.corpus_bleu` and
`corpus_chrf` call) over the whole corpus, and `rouge_scorer.RougeScorer(["rouge1", "rouge2",
"rougeL"], use_stemmer=True).score_multi(references, hypothesis)` per pair (`score` per
reference, best F-measure kept: gavel's multi-reference rule), then the mean.

Single-threaded means gavel's `--threads 1` flag: no worker pool at all, every pair is scored on
the main thread (rayon is not started). That is the comparison against the single-threaded
references. The scaling runs then use `--threads 2` and `--threads 4`. All scores must agree to
1e-9 (and the sacrebleu signatures must be equal).

Usage (release build first):
    cargo build --release -p gavel
    TMPDIR=/dev/shm /work/pyref/venv/bin/python bench/metrics.py [--gavel target/release/gavel] [--pairs 100000]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TOLERANCE = 1e-9


TIME = "/usr/bin/time"


def run_measured(cmd):
    """Runs a child; returns (stdout, wall seconds, peak RSS in MiB, CPU seconds).

    Peak RSS and CPU come from GNU time wrapped around the child. (wait4's ru_maxrss of a child
    forked from this Python process would include this process's own size: the high-water mark
    survives exec.)
    """
    if not os.path.exists(TIME):
        sys.exit(f"{TIME} (GNU time) is needed to measure peak RSS")
    full = [TIME, "-f", "BENCH_MAXRSS_KB %M %U %S"] + list(cmd)
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({p.returncode}):\n{err.decode()[-2000:]}")
    rss, cpu = float("nan"), float("nan")
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("BENCH_MAXRSS_KB "):
            parts = line.split()
            rss = int(parts[1]) / 1024.0
            cpu = float(parts[2]) + float(parts[3])
    return out.decode(), wall, rss, cpu


# ----------------------------------------------------------------------------------------------
# Data: news-like English sentences from a Zipf-distributed vocabulary, with punctuation,
# numbers and capitals; references are edited copies (substitutions, drops, insertions, moves)
# or, for some pairs, unrelated sentences; 20% of the pairs have two references.

def vocabulary(rng, size=20000):
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12.7, 9.1, 8.2, 7.5, 7.0, 6.3, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2,
               2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
    common = ("the of and to a in is that for it as was with be by on not he this are or his "
              "from at which but have an they you were her she there been one all we their has "
              "would when if so no will more can said who out do about what up its into than them "
              "only other new some could time these two may then first any my now such like our "
              "over man me even most made after also did many before must through back years where "
              "much your way well down should because each just those people how too little state "
              "good very make world still own see men work long get here between both life being "
              "under never day same another know while last might us great old year off come "
              "since against go came right used take three").split()
    words = list(dict.fromkeys(common))
    while len(words) < size:
        n = min(12, max(2, int(rng.gauss(6, 2.5))))
        words.append("".join(rng.choices(letters, weights, k=n)))
    return words


def sentence(rng, words, cum):
    n = max(3, int(rng.gauss(22, 8)))
    out = rng.choices(words, cum_weights=cum, k=n)
    out[0] = out[0].capitalize()
    for i in range(1, n):
        r = rng.random()
        if r < 0.06:
            out[i] = out[i] + ","
        elif r < 0.08:
            out[i] = str(rng.randint(1, 2030))
        elif r < 0.09:
            out[i] = f"{rng.randint(1, 999)}.{rng.randint(0, 99)}%"
        elif r < 0.11:
            out[i] = out[i].capitalize()
        elif r < 0.115:
            out[i] = f'"{out[i]}"'
    return " ".join(out) + rng.choice([".", ".", ".", "?", "!"])


def edit(rng, text, words, cum):
    toks = text.split()
    for _ in range(rng.randint(1, max(1, len(toks) // 3))):
        op = rng.random()
        i = rng.randrange(len(toks))
        if op < 0.45:
            toks[i] = rng.choices(words, cum_weights=cum)[0]
        elif op < 0.65 and len(toks) > 3:
            toks.pop(i)
        elif op < 0.85:
            toks.insert(i, rng.choices(words, cum_weights=cum)[0])
        else:
            j = rng.randrange(len(toks))
            chunk = toks[i:i + 3]
            del toks[i:i + 3]
            toks[j:j] = chunk
    return " ".join(toks)


def write_pairs(path, n, seed=20261205):
    rng = random.Random(seed)
    words = vocabulary(rng)
    cum, total = [], 0.0
    for r in range(1, len(words) + 1):
        total += 1.0 / r
        cum.append(total)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            hyp = sentence(rng, words, cum)
            refs = []
            for _ in range(2 if rng.random() < 0.2 else 1):
                refs.append(edit(rng, hyp, words, cum) if rng.random() < 0.9
                            else sentence(rng, words, cum))
            f.write(json.dumps({"id": f"p{i}", "hypothesis": hyp, "references": refs},
                               ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------------------
# The references, each in its own process, timed from reading the file.

REF_SACREBLEU = r"""
import json, sys, time, logging
t0 = time.perf_counter()
from sacrebleu.metrics import BLEU, CHRF
logging.getLogger("sacrebleu").setLevel(logging.ERROR)
hyps, refs = [], []
with open(sys.argv[2], encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        hyps.append(r["hypothesis"])
        refs.append(r["references"])
k = max(len(r) for r in refs)
streams = [[r[i] if i < len(r) else None for r in refs] for i in range(k)]
t1 = time.perf_counter()
if sys.argv[1] == "bleu":
    metric = BLEU()
    s = metric.corpus_score(hyps, streams)
    out = {"score": s.score, "sys_len": s.sys_len, "ref_len": s.ref_len}
else:
    metric = CHRF()
    s = metric.corpus_score(hyps, streams)
    out = {"score": s.score}
out["signature"] = str(metric.get_signature())
out["read_s"] = t1 - t0
out["compute_s"] = time.perf_counter() - t1
print(json.dumps(out))
"""

REF_ROUGE = r"""
import json, sys, time
t0 = time.perf_counter()
from rouge_score import rouge_scorer
hyps, refs = [], []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        hyps.append(r["hypothesis"])
        refs.append(r["references"])
t1 = time.perf_counter()
types = ["rouge1", "rouge2", "rougeL"]
scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
sums = {t: [0.0, 0.0, 0.0] for t in types}
for h, rs in zip(hyps, refs):
    s = scorer.score_multi(rs, h)
    for t in types:
        sums[t][0] += s[t].precision
        sums[t][1] += s[t].recall
        sums[t][2] += s[t].fmeasure
n = len(hyps)
out = {t: {"precision": v[0] / n, "recall": v[1] / n, "fmeasure": v[2] / n} for t, v in sums.items()}
out["read_s"] = t1 - t0
out["compute_s"] = time.perf_counter() - t1
print(json.dumps(out))
"""


def close(a, b):
    return abs(a - b) <= TOLERANCE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", default=os.path.join(ROOT, "target", "release", "gavel"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--threads", default="2,4", help="thread counts for the scaling runs")
    ap.add_argument("--gavel-only", action="store_true",
                    help="skip the references (gavel timings only, no ratios, no checks)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    tmp = tempfile.mkdtemp(prefix="gavel-bench-metrics-")
    data = os.path.join(tmp, "pairs.jsonl")
    try:
        write_pairs(data, args.pairs)
        size = os.path.getsize(data) / 2**20
        print(f"{args.pairs:,} pairs, {size:.1f} MiB of JSONL ({data})")
        failures = bench(args, data)
    finally:
        os.remove(data)
        os.rmdir(tmp)
    print(f"load average after: {os.getloadavg()}")
    if failures:
        print("\nMISMATCHES:\n  " + "\n  ".join(failures))
        sys.exit(1)
    if not args.gavel_only:
        print("\nall scores agree to 1e-9")


def bench(args, data):
    def gavel(metrics, threads):
        out, wall, rss, cpu = run_measured([args.gavel, "--quiet", "metrics", "--data", data,
                                            "--metrics", metrics, "--threads", str(threads),
                                            "--format", "json"])
        return json.loads(out), wall, rss, cpu

    rows = []
    failures = []
    groups = [("bleu", "bleu", 50), ("chrf", "chrf", 100), ("rouge1/2/L", "rouge1,rouge2,rougeL", 100)]
    for name, metrics, target in groups:
        g, g_wall, g_rss, g_cpu = gavel(metrics, 1)
        if args.gavel_only:
            rows.append((name, None, g_wall, g_rss, g_cpu, target, ""))
            continue
        if name == "rouge1/2/L":
            out, p_wall, p_rss, p_cpu = run_measured([args.python, "-c", REF_ROUGE, data])
            ref = json.loads(out)
            for t in ["rouge1", "rouge2", "rougeL"]:
                for k in ["precision", "recall", "fmeasure"]:
                    if not close(g[t][k], ref[t][k]):
                        failures.append(f"{t}.{k}: gavel {g[t][k]!r}, rouge-score {ref[t][k]!r}")
            detail = " ".join(f"{t} F {g[t]['fmeasure']:.12f} (rouge-score {ref[t]['fmeasure']:.12f})"
                              for t in ["rouge1", "rouge2", "rougeL"])
        else:
            out, p_wall, p_rss, p_cpu = run_measured([args.python, "-c", REF_SACREBLEU, name, data])
            ref = json.loads(out)
            got = g[name]
            if not close(got["score"], ref["score"]):
                failures.append(f"{name}: gavel {got['score']!r}, sacrebleu {ref['score']!r}")
            if got["signature"] != ref["signature"]:
                failures.append(f"{name} signature: {got['signature']} vs {ref['signature']}")
            detail = f"{got['score']:.12f} (sacrebleu {ref['score']:.12f}), {got['signature']}"
        rows.append((name, (ref, p_wall, p_rss, p_cpu), g_wall, g_rss, g_cpu, target, detail))

    print("\nsingle-threaded (gavel --threads 1); wall and CPU time of each child from start to "
          "exit (reading the file included), peak RSS per child")
    print(f"{'metric':11} {'reference':>22} {'ref RSS':>9} {'gavel':>16} {'gavel RSS':>9} "
          f"{'ratio wall':>10} {'ratio CPU':>9} {'target':>6}")
    for name, refm, g_wall, g_rss, g_cpu, target, detail in rows:
        if refm is None:
            print(f"{name:11} {'':>22} {'':>9} {g_wall:6.3f} s ({g_cpu:5.3f} cpu) {g_rss:5.1f} MiB")
            continue
        ref, p_wall, p_rss, p_cpu = refm
        print(f"{name:11} {p_wall:7.2f} s ({p_cpu:6.2f} cpu) {p_rss:5.0f} MiB "
              f"{g_wall:6.3f} s ({g_cpu:5.3f} cpu) {g_rss:5.1f} MiB "
              f"{p_wall / g_wall:9.1f}x {p_cpu / g_cpu:8.1f}x {target:5d}x")
        print(f"{'':11} reference: read {ref['read_s']:.2f} s + compute {ref['compute_s']:.2f} s;"
              f" its compute alone / gavel wall: {ref['compute_s'] / g_wall:.1f}x")
        print(f"{'':11} {detail}")

    print("\nscaling (gavel --threads N; wall time, CPU time, peak RSS)")
    for _, metrics, _ in groups:
        line = []
        for threads in [1] + [int(t) for t in args.threads.split(",") if t]:
            _, wall, rss, cpu = gavel(metrics, threads)
            line.append(f"{threads} thr {wall:6.3f} s ({cpu:5.2f} cpu) {rss:6.1f} MiB")
        print(f"  {metrics:21} " + " | ".join(line))

    _, wall, rss, cpu = gavel("bleu,chrf,chrf++,rouge1,rouge2,rougeL,rougeLsum,exact_match,token_f1", 1)
    print(f"\nall metrics but TER in one gavel run, 1 thread: {wall:.2f} s ({cpu:.2f} cpu), {rss:.1f} MiB")
    _, wall, rss, cpu = gavel("ter", 1)
    print(f"TER alone, 1 thread: {wall:.2f} s ({cpu:.2f} cpu), {rss:.1f} MiB")
    return failures


if __name__ == "__main__":
    main()
