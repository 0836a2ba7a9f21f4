#!/usr/bin/env python3
"""Benchmark: judge training and inference, gavel (candle, CPU) against PyTorch (CPU), one run.

The same model (a local BERT-family directory, all-MiniLM-L6-v2 by default), the same sequence
length and the same batch, on the same machine in the same run:

1. Training: a pairwise judge (mean pooling, a linear score head, Davidson ties), full
   fine-tuning with AdamW, dropout as the config says, gradient clipping at 1.
   gavel: `gavel train --max-steps N` on generated pairs whose every input is cut to exactly
   --seq-len tokens, timed by its own clock (the training loop; tokenization and loading are
   outside). PyTorch 2.15.0 + transformers 5.24.0: the same model and loss, the same number of
   steps on (2 x batch, seq-len) token batches, timed around the loop. Reported: training pairs
   per second (one pair = two sequences) over --steps steps after one untimed warm-up step on
   both sides (gavel runs steps + 1 and reports its first step's time, `first_step_seconds`,
   which is subtracted; the rate with the warm-up step included is printed beside it).
2. Inference: the trained judge scores generated pairs. gavel: `gavel judge --judge local:DIR
   --batch-size B` (tokenization included, loading not); PyTorch: the encoder and head in
   `torch.inference_mode()` on batches of B sequences (tokenization not included). Reported:
   judged pairs per second.
3. Equality: the scores gavel wrote for the first pairs equal the scores PyTorch computes with
   gavel's trained weights loaded into transformers' BertModel, on the same token ids (built
   with the `tokenizers` library and gavel's truncation rule), to 1e-4.

Usage (release build first):
    cargo build --release -p gavel
    /work/pyref/venv/bin/python bench/train.py --base DIR [--seq-len 128] [--batch 16]
        [--steps 20] [--pairs 256] [--threads 2] [--rounds 1]
Prints wall times, peak RSS (gavel: its process, by GNU time; PyTorch: this process, which holds
only the PyTorch side: after training, and after inference) and ratios.
The thread count is the same on both sides: torch.set_num_threads and RAYON_NUM_THREADS.
With --rounds N the gavel and PyTorch measurements alternate N times (the machine may be shared:
a change of load then falls on both sides); every round is printed and the best rounds compared.
"""

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from safetensors.torch import load_file
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly judge every "
         "answer given to questions about history science cooking travel music and code").split()


def run(cmd):
    """Runs a child; returns (stdout, wall seconds, peak RSS in MiB of that child).

    The peak RSS is measured by GNU time, not by wait4 on a child of this process: Linux keeps
    a process's high-water mark across exec, so a child forked from this (PyTorch-sized)
    process would report this process's RSS at the fork."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "GAVEL-BENCH-MAXRSS-KB %M"] + cmd,
                       capture_output=True)
    wall = time.perf_counter() - t0
    err = p.stderr.decode()
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{err[-3000:]}")
    kb = [l for l in err.splitlines() if l.startswith("GAVEL-BENCH-MAXRSS-KB ")][-1]
    return p.stdout.decode(), wall, int(kb.split()[1]) / 1024.0


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_data(d, n_pairs, n_items, seed):
    rng = random.Random(seed)
    os.makedirs(os.path.join(d, "ds"), exist_ok=True)
    with open(os.path.join(d, "ds", "train.jsonl"), "w") as f:
        for i in range(n_pairs):
            f.write(json.dumps({"item": f"q{i}", "instruction": text(rng, 300),
                                "response_a": text(rng, 300), "response_b": text(rng, 300),
                                "label": rng.choice(["A", "B", "tie"])}) + "\n")
    items = []
    with open(os.path.join(d, "items.jsonl"), "w") as f:
        for i in range(n_items):
            it = {"id": f"t{i}", "instruction": text(rng, 300),
                  "responses": {"x": text(rng, 300), "y": text(rng, 300)}}
            items.append(it)
            f.write(json.dumps(it) + "\n")
    return items


class Judge(torch.nn.Module):
    def __init__(self, base):
        super().__init__()
        self.encoder = transformers.BertModel.from_pretrained(base, add_pooling_layer=False)
        h = self.encoder.config.hidden_size
        self.head = torch.nn.Linear(h, 1)
        self.tie_logit = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids, mask, types=None):
        hidden = self.encoder(input_ids=ids, attention_mask=mask,
                              token_type_ids=types).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return self.head(pooled).squeeze(-1)


def torch_train(base, seq_len, batch, steps, vocab):
    model = Judge(base)
    model.train()
    params = dict(model.named_parameters())
    no_decay = [p for n, p in params.items() if n.endswith("bias") or "LayerNorm.weight" in n
                or n == "tie_logit"]
    decay = [p for n, p in params.items() if not (n.endswith("bias") or "LayerNorm.weight" in n
                                                   or n == "tie_logit")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=3e-5)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (2 * batch, seq_len), generator=g)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 3, (batch,), generator=g)

    def step():
        opt.zero_grad()
        s = model(ids, mask)
        d = s[0::2] - s[1::2]
        logits = torch.stack([d / 2, -d / 2, model.tie_logit.expand_as(d)], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def torch_infer(model, n_pairs, seq_len, batch, vocab):
    model.eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, vocab, (batch, seq_len), generator=g)
    mask = torch.ones_like(ids)
    n_batches = (2 * n_pairs + batch - 1) // batch
    with torch.inference_mode():
        model(ids, mask)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            model(ids, mask)
        return time.perf_counter() - t0


def gavel_ids(tok, context, response, max_len):
    """gavel's truncation (crates/gavel-train/src/text.rs) with BERT's pair layout."""
    c = tok.encode(context, add_special_tokens=False).ids
    r = tok.encode(response, add_special_tokens=False).ids
    budget = max_len - 3
    if len(c) + len(r) > budget:
        kc = min(len(c), max(budget // 2, budget - len(r)))
        c, r = c[:kc], r[:min(len(r), budget - kc)]
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    return [cls] + c + [sep] + r + [sep], [0] * (len(c) + 2) + [1] * (len(r) + 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", default=os.path.join(ROOT, "target", "release", "gavel"))
    ap.add_argument("--base", required=True)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16, help="training pairs per step")
    ap.add_argument("--infer-batch", type=int, default=32, help="sequences per forward pass")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=256, help="pairs judged in inference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternating gavel / PyTorch rounds of each measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    cfg = json.load(open(os.path.join(args.base, "config.json")))
    vocab = cfg["vocab_size"]

    print(f"load average at start {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as d:
        items = write_data(d, args.batch * (args.steps + 1), args.pairs, 7)
        out = os.path.join(d, "judge")
        # Rounds alternate the two sides, so that a change in the machine's load (it is shared)
        # falls on both; each side's best round is compared, and every round is printed.
        g_train, t_train = [], []
        for r in range(args.rounds):
            shutil.rmtree(out, ignore_errors=True)
            cmd = [args.gavel, "train", "--data", os.path.join(d, "ds"), "--base", args.base,
                   "--out", out, "--max-len", str(args.seq_len), "--batch-size",
                   str(args.batch), "--max-steps", str(args.steps + 1), "--epochs", "1",
                   "--validation-split", "0", "--patience", "0", "--checkpoint-every", "0",
                   "--warmup", "0", "--lr", "3e-5", "--format", "json", "--quiet"]
            o, wall, g_rss = run(cmd)
            s = json.loads(o)
            assert s["plan"]["truncated_inputs"] == 2 * args.batch * (args.steps + 1), s["plan"]
            warm = s["train_seconds"] - s["first_step_seconds"]
            g_train.append((args.batch * args.steps / warm, warm, s["examples_per_second"],
                            os.getloadavg()[0]))
            t = torch_train(args.base, args.seq_len, args.batch, args.steps, vocab)
            t_train.append((args.batch * args.steps / t, t, os.getloadavg()[0]))
        t_train_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"training, {args.steps} steps of {args.batch} pairs x {args.seq_len} tokens, "
              f"{args.threads} threads, {args.rounds} alternating rounds:")
        for r, (g, t) in enumerate(zip(g_train, t_train)):
            print(f"  round {r + 1}: gavel {g[0]:7.2f} pairs/s ({g[1]:.2f} s; {g[2]:.2f} with the "
                  f"warm-up step; load {g[3]:.1f}), "
                  f"PyTorch {t[0]:7.2f} pairs/s ({t[1]:.2f} s, load {t[2]:.1f})")
        g_best, t_best = max(x[0] for x in g_train), max(x[0] for x in t_train)
        print(f"  best: gavel {g_best:7.2f} pairs/s (peak RSS {g_rss:.0f} MiB), PyTorch "
              f"{t_best:7.2f} pairs/s (peak RSS of this process {t_train_rss:.0f} MiB)")
        print(f"  gavel / PyTorch throughput: {g_best / t_best:.2f}x (best rounds), "
              f"{statistics.median(g[0] / t[0] for g, t in zip(g_train, t_train)):.2f}x "
              f"(median of the rounds)")

        # The same trained weights in PyTorch.
        model = Judge(args.base)
        w = load_file(os.path.join(out, "model.safetensors"))
        enc = {k: v for k, v in w.items() if not k.startswith("judge_head.")}
        missing, unexpected = model.encoder.load_state_dict(enc, strict=False)
        assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
        with torch.no_grad():
            model.head.weight.copy_(w["judge_head.weight"])
            model.head.bias.copy_(w["judge_head.bias"])
        jpath = os.path.join(d, "j.jsonl")
        g_inf, t_inf = [], []
        for r in range(args.rounds):
            o, wall, g_rss2 = run([args.gavel, "judge", "--data", os.path.join(d, "items.jsonl"),
                                   "--judge", "local:" + out, "--batch-size",
                                   str(args.infer_batch), "--out", jpath, "--format", "json",
                                   "--quiet"])
            js = json.loads(o)
            g_inf.append((js["judgments_per_second"], js["judge_seconds"], os.getloadavg()[0]))
            t = torch_infer(model, args.pairs, args.seq_len, args.infer_batch, vocab)
            t_inf.append((args.pairs / t, t, os.getloadavg()[0]))
        print(f"inference, {args.pairs} pairs ({2 * args.pairs} sequences of {args.seq_len} "
              f"tokens), batches of {args.infer_batch}, {args.rounds} alternating rounds:")
        for r, (g, t) in enumerate(zip(g_inf, t_inf)):
            print(f"  round {r + 1}: gavel {g[0]:7.2f} pairs/s ({g[1]:.2f} s, load {g[2]:.1f}; "
                  f"tokenizing included), PyTorch {t[0]:7.2f} pairs/s ({t[1]:.2f} s, "
                  f"load {t[2]:.1f})")
        g_best, t_best = max(x[0] for x in g_inf), max(x[0] for x in t_inf)
        print(f"  best: gavel {g_best:7.2f} pairs/s (peak RSS {g_rss2:.0f} MiB), PyTorch "
              f"{t_best:7.2f} pairs/s (peak RSS of this process so far "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
        print(f"  gavel / PyTorch throughput: {g_best / t_best:.2f}x (best rounds), "
              f"{statistics.median(g[0] / t[0] for g, t in zip(g_inf, t_inf)):.2f}x "
              f"(median of the rounds)")

        # Equality of scores on the first pairs.
        tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        judged = [json.loads(l) for l in open(jpath)]
        worst = 0.0
        model.eval()
        with torch.no_grad():
            for it, j in list(zip(items, judged))[:16]:
                ctx = it["instruction"]
                for k, m in enumerate(("x", "y")):
                    ids, types = gavel_ids(tok, ctx, it["responses"][m], args.seq_len)
                    ids, types = torch.tensor([ids]), torch.tensor([types])
                    s = model(ids, torch.ones_like(ids), types).item()
                    worst = max(worst, abs(s - j["scores"][k]))
        print(f"scores: largest difference gavel vs PyTorch on 32 responses {worst:.2e}")
        assert worst < 1e-4, worst
        print(f"(torch {torch.__version__}, transformers {transformers.__version__}; load average"
              f" at the end {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
