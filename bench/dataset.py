#!/usr/bin/env python3
"""Benchmark: `gavel dataset build` on 1,000,000 teacher judgments, beside a Python baseline
that does the same filtering and swap augmentation, in one run.

Data (generated, seeded): 100,000 items (5 models' responses each; 2% repeat an earlier
instruction with other case and punctuation, 2% change one word of one, a near duplicate) and
their 10 pairs each = 1,000,000 Judgment records shaped like `gavel judge`'s (both orders,
`raw`, `rationale` naming both assistants, usage): 8% position-inconsistent, 2% unparseable,
1% truncated.

Runs:
1. gavel with the defaults (exact and MinHash near-duplicate detection, swap both orders,
   mt-bench-pair template): wall time, peak RSS.
2. gavel with near-duplicate detection off, and the Python baseline (json, dicts, re, the
   same normalisation, drops and swap with rationale rewriting; f-string prompts), on the same
   files: wall time, peak RSS, and equality of every drop count and of the label counts of
   the examples written.

Usage (release build first):
    cargo build --release -p gavel
    /work/pyref/venv/bin/python bench/dataset.py [--gavel target/release/gavel] [--judgments N]
Inputs and outputs go under /dev/shm when it exists (--dir to choose), removed at the end.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORDS = ("river mountain engine poem tax volcano chess bridge vaccine jazz glacier printing "
         "orbit harvest ledger canvas signal protein market lantern compass theory garden "
         "archive thunder mirror velvet socket quartz meadow cipher harbor falcon voltage "
         "pepper tunnel saddle cobalt quiver ember nickel raven timber walnut zephyr").split()
MODELS = ["m1", "m2", "m3", "m4", "m5"]
PAIRS = [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i + 1:]]


def timed(cmd):
    """Runs a child; returns (stdout, wall seconds, peak RSS MiB) via wait4."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd[0]} failed ({status}):\n{err.decode()[-3000:]}")
    return out.decode(), wall, usage.ru_maxrss / 1024.0


def generate(d, n_judgments, seed=7):
    rng = random.Random(seed)
    n_items = n_judgments // len(PAIRS)
    instructions = []
    with open(os.path.join(d, "items.jsonl"), "w") as f:
        for i in range(n_items):
            roll = rng.random()
            if i > 100 and roll < 0.02:
                src = instructions[rng.randrange(i)]
                ins = src.upper().replace(" ", "  ") + "!"
            elif i > 100 and roll < 0.04:
                words = instructions[rng.randrange(i)].split(" ")
                words[-3] = rng.choice(WORDS)
                ins = " ".join(words)
            else:
                ins = "Write about " + " ".join(rng.choice(WORDS) for _ in range(22)) + f" for case {i}"
            instructions.append(ins)
            responses = {m: f"{m} answers case {i}: " + " ".join(rng.choice(WORDS) for _ in range(20))
                         for m in MODELS}
            f.write(json.dumps({"id": f"q{i}", "instruction": ins, "responses": responses}) + "\n")
    labels = ["A", "B", "tie"]
    with open(os.path.join(d, "judgments.jsonl"), "w") as f:
        for i in range(n_items):
            for a, b in PAIRS:
                roll = rng.random()
                lab = rng.choices(labels, weights=[45, 40, 15])[0]
                why = (f"Assistant A covers the {rng.choice(WORDS)} point while Assistant B misses it; "
                       f"Assistant B is shorter but less accurate than Assistant A.")
                ab = ba = lab
                consistent = True
                if roll < 0.08:
                    ba = labels[(labels.index(lab) + 1) % 3]
                    consistent = False
                rec = {"item": f"q{i}", "annotator": "judge:teacher/mt-bench-pair", "label": lab if consistent else "tie",
                       "model_a": a, "model_b": b, "mode": "pairwise", "template": "mt-bench-pair",
                       "orders": [{"order": "AB", "label": ab, "raw": why + " [[" + ab + "]]", "parse_error": None},
                                  {"order": "BA", "label": ba, "raw": why + " [[" + ba + "]]", "parse_error": None}],
                       "consistent": consistent, "score": None, "scores": None, "rationale": why,
                       "usage": {"prompt_tokens": 812, "completion_tokens": 201}, "cached": False}
                if 0.08 <= roll < 0.10:
                    rec["label"] = None
                    rec["parse_error"] = "order BA: no [[A]], [[B]] or [[C]] verdict"
                    rec["orders"][1]["label"] = None
                elif 0.10 <= roll < 0.11:
                    rec["orders"][0]["truncated"] = True
                f.write(json.dumps(rec) + "\n")


BASELINE = r'''
import json, re, sys, time
from collections import Counter
items_path, judgments_path, out_path = sys.argv[1:4]
t0 = time.perf_counter()
NONWORD = re.compile(r"[^0-9a-z\u00c0-\uffff]+")  # a close stand-in for "letters and digits"
def normalize(t):
    return NONWORD.sub(" ", t.lower()).strip()
items = {}
with open(items_path) as f:
    for line in f:
        r = json.loads(line)
        items[r["id"]] = r
MENTION = re.compile(r"\b(Assistant|assistant) (A|B)\b")
SWAP = {"A": "B", "B": "A"}
def remap(text):
    return MENTION.sub(lambda m: m.group(1) + " " + SWAP[m.group(2)], text)
SYSTEM = "You are an impartial judge comparing two answers; end with [[A]], [[B]] or [[C]]."
VERDICT = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}
drops = Counter(); labels = Counter()
owner = {}; done_units = set()
with open(judgments_path) as f, open(out_path, "w") as out:
    for line in f:
        r = json.loads(line)
        orders = r.get("orders") or []
        if r.get("truncated") or any(o.get("truncated") for o in orders):
            drops["truncated"] += 1; continue
        lab = r.get("label")
        if lab not in ("A", "B", "tie") or (lab is None and r.get("parse_error")):
            drops["unparseable"] += 1; continue
        if r.get("consistent") is False:
            drops["position_inconsistent"] += 1; continue
        item = items.get(r["item"])
        if item is None:
            drops["missing_item"] += 1; continue
        a, b = r["model_a"], r["model_b"]
        unit = (r["item"],) + tuple(sorted((a, b)))
        if unit in done_units:
            drops["repeated_pair"] += 1; continue
        key = normalize(item["instruction"] + ("\n" + item["input"] if item.get("input") else ""))
        first = owner.setdefault(key, r["item"])
        if first != r["item"]:
            drops["duplicate_instruction"] += 1; continue
        done_units.add(unit)
        why = r.get("rationale") or ""
        for order in ("AB", "BA"):
            swap = order == "BA"
            ma, mb = (b, a) if swap else (a, b)
            label = {"A": "B", "B": "A"}.get(lab, lab) if swap else lab
            text = remap(why) if swap else why
            ra, rb = item["responses"][ma], item["responses"][mb]
            user = (f"[User Question]\n{item['instruction']}\n\n[The Start of Assistant A's Answer]\n{ra}\n"
                    f"[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{rb}\n"
                    f"[The End of Assistant B's Answer]")
            target = f"{text}\n\n{VERDICT[label]}"
            ex = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user},
                               {"role": "assistant", "content": target}],
                  "id": f"{r['item']}:{ma}:{mb}", "item": r["item"], "instruction": item["instruction"],
                  "input": item.get("input"), "reference": None, "mode": "pairwise", "response_a": ra,
                  "response_b": rb, "model_a": ma, "model_b": mb, "label": label, "scores": None,
                  "order": order, "template": "mt-bench-pair", "source": r["annotator"]}
            out.write(json.dumps(ex) + "\n")
            labels[label] += 1
print(json.dumps({"drops": drops, "labels": labels, "seconds": time.perf_counter() - t0}))
'''


def gavel_counts(report):
    drops = {f["reason"]: f["records"] for f in report["filters"] if f["records"]}
    labels = {"A": 0, "B": 0, "tie": 0}
    for s in report["splits"].values():
        for k in labels:
            labels[k] += s["labels"][k]
    return drops, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", default=os.path.join(ROOT, "target", "release", "gavel"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--judgments", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gavel-bench-dataset-", dir=a.dir)
    try:
        t0 = time.perf_counter()
        generate(work, a.judgments)
        j = os.path.join(work, "judgments.jsonl")
        items = os.path.join(work, "items.jsonl")
        print(f"data: {a.judgments:,} judgments ({os.path.getsize(j) / 2**20:.0f} MiB), "
              f"{a.judgments // len(PAIRS):,} items ({os.path.getsize(items) / 2**20:.0f} MiB), "
              f"generated in {time.perf_counter() - t0:.1f}s; cores: {os.cpu_count()}")
        out = os.path.join(work, "ds")
        base = [a.gavel, "-q", "dataset", "build", "--judgments", j, "--items", items, "--out", out,
                "--report-format", "json"]

        stdout, wall, rss = timed(base)
        r = json.loads(stdout)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"gavel (defaults, near duplicates on): {wall:.1f}s, peak RSS {rss:.0f} MiB, "
              f"{r['examples'] if 'examples' in r else sum(s['examples'] for s in r['splits'].values()):,} examples "
              f"({size / 2**20:.0f} MiB written), {r['distinct_instructions']:,} instructions indexed")
        print("  drops:", {f["reason"]: f["records"] for f in r["filters"] if f["records"]})
        shutil.rmtree(out)

        stdout, g_wall, g_rss = timed(base + ["--near-duplicates", "off"])
        g_drops, g_labels = gavel_counts(json.loads(stdout))
        shutil.rmtree(out)
        print(f"gavel (near duplicates off): {g_wall:.1f}s, peak RSS {g_rss:.0f} MiB")

        py_out = os.path.join(work, "python.jsonl")
        stdout, p_wall, p_rss = timed([a.python, "-c", BASELINE, items, j, py_out])
        p = json.loads(stdout)
        os.remove(py_out)
        print(f"python baseline: {p_wall:.1f}s, peak RSS {p_rss:.0f} MiB")
        p_drops = {k: v for k, v in p["drops"].items() if v}
        same = p_drops == g_drops and p["labels"] == g_labels
        print(f"  drops: gavel {g_drops}\n         python {p_drops}")
        print(f"  labels written: gavel {g_labels}, python {p['labels']}")
        print(f"equal: {same}; gavel is {p_wall / g_wall:.1f}x faster than the Python baseline "
              f"(same work), {p_rss / g_rss:.1f}x less memory")
        if not same:
            sys.exit("the drop or label counts differ")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
