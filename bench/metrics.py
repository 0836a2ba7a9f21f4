#!/usr/bin/env python3
"""Benchmark: gavel metrics against sacrebleu (BLEU, chrF) and rouge-score (ROUGE-1/2/L with the
stemmer) on the same 100,000 generated pairs, in one run.

Each metric is computed in its own child process, both for gavel and for the reference, from the
same JSONL file (reading included), so that each has its own wall time and peak RSS (via wait4).
gavel runs single-threaded first (`--threads 1`, the comparison), then with more threads (the
scaling). The scores must agree to 1e-9.

Usage (release build first):
    cargo build --release -p gavel
    /work/pyref/venv/bin/python bench/metrics.py [--gavel target/release/gavel] [--pairs 100000]
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


def run_measured(cmd):
    """Runs a child and measures its own peak RSS (ru_maxrss of that child alone)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd[:3]} failed ({status}):\n{err.decode()[-2000:]}")
    return out.decode(), wall, usage.ru_maxrss / 1024.0


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
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    tmp = tempfile.mkdtemp(prefix="gavel-bench-metrics-")
    data = os.path.join(tmp, "pairs.jsonl")
    write_pairs(data, args.pairs)
    size = os.path.getsize(data) / 2**20
    print(f"{args.pairs:,} pairs, {size:.1f} MiB of JSONL ({data})")

    def gavel(metrics, threads):
        out, wall, rss = run_measured([args.gavel, "--quiet", "metrics", "--data", data,
                                       "--metrics", metrics, "--threads", str(threads),
                                       "--format", "json"])
        return json.loads(out), wall, rss

    rows = []
    failures = []

    # BLEU and chrF against sacrebleu.
    for metric, target in [("bleu", 50), ("chrf", 100)]:
        out, p_wall, p_rss = run_measured([args.python, "-c", REF_SACREBLEU, metric, data])
        ref = json.loads(out)
        g, g_wall, g_rss = gavel(metric, 1)
        got = g[metric]
        if not close(got["score"], ref["score"]):
            failures.append(f"{metric}: gavel {got['score']!r}, sacrebleu {ref['score']!r}")
        if got["signature"] != ref["signature"]:
            failures.append(f"{metric} signature: {got['signature']} vs {ref['signature']}")
        rows.append((metric, ref, p_wall, p_rss, g_wall, g_rss, target,
                     f"{got['score']:.12f} (sacrebleu {ref['score']:.12f})"))

    # ROUGE-1/2/L with the stemmer against rouge-score.
    out, p_wall, p_rss = run_measured([args.python, "-c", REF_ROUGE, data])
    ref = json.loads(out)
    g, g_wall, g_rss = gavel("rouge1,rouge2,rougeL", 1)
    for t in ["rouge1", "rouge2", "rougeL"]:
        for k in ["precision", "recall", "fmeasure"]:
            if not close(g[t][k], ref[t][k]):
                failures.append(f"{t}.{k}: gavel {g[t][k]!r}, rouge-score {ref[t][k]!r}")
    rows.append(("rouge1/2/L", ref, p_wall, p_rss, g_wall, g_rss, 100,
                 f"rougeL F {g['rougeL']['fmeasure']:.12f} (rouge-score {ref['rougeL']['fmeasure']:.12f})"))

    print("\nsingle-threaded (gavel --threads 1), wall time from reading the file, peak RSS per process")
    print(f"{'metric':12} {'reference':>12} {'ref RSS':>10} {'gavel':>9} {'gavel RSS':>10} {'ratio':>8} {'target':>7}")
    for metric, ref, p_wall, p_rss, g_wall, g_rss, target, detail in rows:
        ratio = p_wall / g_wall
        print(f"{metric:12} {p_wall:10.2f} s {p_rss:7.0f} MiB {g_wall:7.3f} s {g_rss:7.1f} MiB "
              f"{ratio:7.1f}x {target:6d}x")
        print(f"{'':12} reference: read {ref['read_s']:.2f} s + compute {ref['compute_s']:.2f} s;"
              f" compute alone / gavel: {ref['compute_s'] / g_wall:.1f}x; {detail}")

    print("\nscaling (gavel, all three metric groups; wall time, peak RSS)")
    for metrics in ["bleu", "chrf", "rouge1,rouge2,rougeL"]:
        line = []
        for threads in [1] + [int(t) for t in args.threads.split(",") if t]:
            _, wall, rss = gavel(metrics, threads)
            line.append(f"{threads} thr {wall:6.3f} s {rss:6.1f} MiB")
        print(f"  {metrics:22} " + " | ".join(line))

    _, wall, rss = gavel("bleu,chrf,chrf++,rouge1,rouge2,rougeL,rougeLsum,exact_match,token_f1", 1)
    print(f"\nall metrics but TER in one gavel run, 1 thread: {wall:.2f} s, {rss:.1f} MiB")
    _, wall, rss = gavel("ter", 1)
    print(f"TER alone, 1 thread: {wall:.2f} s, {rss:.1f} MiB")
    print(f"load average after: {os.getloadavg()}")
    if failures:
        print("\nMISMATCHES:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nall scores agree to 1e-9")


if __name__ == "__main__":
    main()
