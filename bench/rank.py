#!/usr/bin/env python3
"""Benchmark: gavel rank against the Chatbot Arena reference method, on the same data, in one run.

Data: 1,000,000 battles among 100 models (Bradley-Terry strengths, 10% ties, a third of them
"tie (bothbad)"), written once as JSONL; both sides read that file.

gavel: `gavel rank --data battles.jsonl --method bt --bootstrap 1000 --format json` (reading,
aggregation, the maximum-likelihood fit and 1,000 bootstrap fits, all cores).

The reference method, restated in our own code from the Chatbot Arena notebook:
- `compute_mle_elo`: pivot tables of wins and ties per pair, the +ln(10)/-ln(10) design with
  one row per ordered pair and outcome, weighted by the counts, and scikit-learn's
  LogisticRegression(fit_intercept=False, penalty=None, tol=1e-6); ratings 400 * coef + 1000.
- `get_bootstrap_result`: each round resamples the battles table with replacement
  (`battles.sample(frac=1.0, replace=True)`) and refits.
At a million battles one reference round takes seconds, so the reference runs `--ref-rounds`
rounds (default 10) and the time of 1,000 is extrapolated linearly (the rounds are independent
and identical in cost); the printed ratio says so. A second, faster reference resamples the
aggregated counts instead (multinomial weights per pair and outcome, as FastChat's newer
`compute_bootstrap_bt` does) and refits with the same solver; it is also extrapolated from
`--ref-rounds-agg` rounds.

Checks: gavel's ratings equal a tight solution of the same likelihood (numpy Newton on the
counts) to 1e-6 rating points, and the notebook's scikit-learn fit to its own tolerance; the
bootstrap standard deviations agree with the reference rounds' to Monte Carlo error.

Usage (release build first):
    cargo build --release -p gavel
    /work/pyref/venv/bin/python bench/rank.py [--gavel target/release/gavel] [--quick]
Prints wall time, peak RSS (of each child process, via GNU time) and ratios.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


TIME = "/usr/bin/time"
LAST_CPU = {"s": float("nan")}  # user + system seconds of the last child


def run(cmd, **kw):
    """Runs a child; returns (stdout, wall seconds, peak RSS in MiB).

    Peak RSS comes from GNU time wrapped around the child: a child forked from this Python
    process and measured with wait4 would report this process's own size (the high-water mark
    survives exec), which is not the child's memory.
    """
    timed = os.path.exists(TIME)
    full = ([TIME, "-f", "BENCH_MAXRSS_KB %M %U %S"] if timed else []) + list(cmd)
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{err.decode()[-2000:]}")
    rss = float("nan")
    LAST_CPU["s"] = float("nan")
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("BENCH_MAXRSS_KB "):
            parts = line.split()
            rss = int(parts[1]) / 1024.0
            LAST_CPU["s"] = float(parts[2]) + float(parts[3])
    return out.decode(), wall, rss


def write_battles(path, n_models, n_battles, seed):
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models  # never a itself
    p_a = 1.0 / (1.0 + np.exp(-(strength[a] - strength[b])))
    u = rng.random(n_battles)
    v = rng.random(n_battles)
    winner = np.where(
        u < 0.1,
        np.where(v < 1 / 3, "tie (bothbad)", "tie"),
        np.where(v < p_a, "model_a", "model_b"),
    )
    names = [f"model-{i:03d}" for i in range(n_models)]
    with open(path, "w") as f:
        for k in range(0, n_battles, 100_000):
            f.write(
                "".join(
                    f'{{"model_a":"{names[a[i]]}","model_b":"{names[b[i]]}","winner":"{winner[i]}"}}\n'
                    for i in range(k, min(k + 100_000, n_battles))
                )
            )


REFERENCE = r"""
import json, math, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

path, rounds, rounds_agg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
battles = pd.read_json(path, lines=True)
t_read = time.perf_counter() - t0


def compute_mle_elo(df, SCALE=400, BASE=10, INIT_RATING=1000):
    # Pivot tables of A wins, B wins and ties (both directions) per ordered pair.
    a_win = pd.pivot_table(df[df["winner"] == "model_a"], index="model_a", columns="model_b",
                           aggfunc="size", fill_value=0)
    ties = df[df["winner"].isin(["tie", "tie (bothbad)"])]
    tie = pd.pivot_table(ties, index="model_a", columns="model_b", aggfunc="size", fill_value=0)
    tie = tie.add(tie.T, fill_value=0)
    b_win = pd.pivot_table(df[df["winner"] == "model_b"], index="model_a", columns="model_b",
                           aggfunc="size", fill_value=0)
    win = a_win.mul(2).add(b_win.T.mul(2), fill_value=0).add(tie, fill_value=0)
    models = sorted(set(win.index) | set(win.columns))
    win = win.reindex(index=models, columns=models)
    return fit(win.to_numpy(dtype=float), models, SCALE, BASE, INIT_RATING)


def fit(win, models, SCALE=400, BASE=10, INIT_RATING=1000):
    # One row per ordered pair (m_a, m_b) that met: Y=1 weighted by win[a, b], Y=0 by win[b, a].
    p = len(models)
    ia, ib = np.nonzero(~np.isnan(win) & ~np.isnan(win.T) & ~np.eye(p, dtype=bool))
    n = len(ia)
    X = np.zeros([2 * n, p])
    X[np.arange(n), ia] = math.log(BASE)
    X[np.arange(n), ib] = -math.log(BASE)
    X[n:] = X[:n]
    Y = np.concatenate([np.ones(n), np.zeros(n)])
    w = np.concatenate([win[ia, ib], win[ib, ia]])
    lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-6)
    lr.fit(X, Y, sample_weight=w)
    return dict(zip(models, SCALE * lr.coef_[0] + INIT_RATING))


t1 = time.perf_counter()
point = compute_mle_elo(battles)
t_fit = time.perf_counter() - t1

# Notebook bootstrap: resample the battles, refit.
t2 = time.perf_counter()
reps = []
for r in range(rounds):
    reps.append(compute_mle_elo(battles.sample(frac=1.0, replace=True, random_state=r)))
t_boot = time.perf_counter() - t2

# Aggregated bootstrap: multinomial weights on (ordered pair, outcome) counts, same solver.
t3 = time.perf_counter()
key = battles.groupby(["model_a", "model_b", "winner"]).size().reset_index(name="n")
models = sorted(point)
idx = {m: i for i, m in enumerate(models)}
ka = key["model_a"].map(idx).to_numpy()
kb = key["model_b"].map(idx).to_numpy()
kind = key["winner"].map({"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 2}).to_numpy()
counts = key["n"].to_numpy(dtype=float)
total = counts.sum()
rng = np.random.default_rng(0)
reps_agg = []
p = len(models)
for r in range(rounds_agg):
    c = rng.multinomial(int(total), counts / total).astype(float)
    win = np.full((p, p), np.nan)
    met = np.zeros((p, p), dtype=bool)
    met[ka, kb] = True
    met |= met.T
    win[met] = 0.0
    np.add.at(win, (ka[kind == 0], kb[kind == 0]), 2 * c[kind == 0])
    np.add.at(win, (kb[kind == 1], ka[kind == 1]), 2 * c[kind == 1])
    np.add.at(win, (ka[kind == 2], kb[kind == 2]), c[kind == 2])
    np.add.at(win, (kb[kind == 2], ka[kind == 2]), c[kind == 2])
    reps_agg.append(fit(win, models))
t_boot_agg = time.perf_counter() - t3

print(json.dumps({
    "ratings": point,
    "boot": reps,
    "boot_agg": reps_agg,
    "read_s": t_read,
    "fit_s": t_fit,
    "boot_s": t_boot,
    "boot_agg_s": t_boot_agg,
    "prep_agg_s": 0.0,
}))
"""


def newton_ratings(path, scale=400.0, base=10.0, init=1000.0):
    """The maximum-likelihood ratings, solved tightly by Newton's method on the counts."""
    seen, a_idx, b_idx, outcome = {}, [], [], []
    code = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 2}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            for m in (r["model_a"], r["model_b"]):
                seen.setdefault(m, len(seen))
            a_idx.append(seen[r["model_a"]])
            b_idx.append(seen[r["model_b"]])
            outcome.append(code[r["winner"]])
    p = len(seen)
    a_idx, b_idx, outcome = np.array(a_idx), np.array(b_idx), np.array(outcome)
    w = np.zeros((p, p))  # w[i, j]: weight of "i beat j", ties half
    np.add.at(w, (a_idx[outcome == 0], b_idx[outcome == 0]), 1.0)
    np.add.at(w, (b_idx[outcome == 1], a_idx[outcome == 1]), 1.0)
    np.add.at(w, (a_idx[outcome == 2], b_idx[outcome == 2]), 0.5)
    np.add.at(w, (b_idx[outcome == 2], a_idx[outcome == 2]), 0.5)
    beta = np.zeros(p)
    n = w + w.T
    for _ in range(100):
        s = 1.0 / (1.0 + np.exp(-(beta[:, None] - beta[None, :])))
        grad = (w - n * s).sum(axis=1)
        h = n * s * (1 - s)
        H = np.diag(h.sum(axis=1)) - h
        step = np.zeros(p)
        step[:-1] = np.linalg.solve(H[:-1, :-1], grad[:-1])
        beta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    beta -= beta.mean()
    return {m: init + scale * beta[i] / math.log(base) for m, i in seen.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", default=os.path.join(ROOT, "target", "release", "gavel"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--battles", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1000, help="gavel's bootstrap rounds")
    ap.add_argument("--ref-rounds", type=int, default=10, help="reference notebook bootstrap rounds run")
    ap.add_argument("--ref-rounds-agg", type=int, default=50, help="reference aggregated bootstrap rounds run")
    ap.add_argument("--quick", action="store_true", help="a tenth of the battles, for a smoke run")
    args = ap.parse_args()
    n_battles = args.battles // (10 if args.quick else 1)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    tmp = tempfile.mkdtemp(prefix="gavel-bench-rank-")
    path = os.path.join(tmp, "battles.jsonl")
    t0 = time.perf_counter()
    write_battles(path, args.models, n_battles, 7)
    print(f"wrote {n_battles:,} battles among {args.models} models in {time.perf_counter() - t0:.1f} s "
          f"({os.path.getsize(path) / 2**20:.0f} MiB)")

    cmd = [args.gavel, "rank", "--data", path, "--method", "bt", "--bootstrap", str(args.rounds), "--format", "json"]
    out, g_wall, g_rss = run(cmd)
    g_cpu = LAST_CPU["s"]
    g = json.loads(out)
    # Second run: the time of a warm page cache for both sides alike is the first run's; report both.
    _, g_wall2, _ = run(cmd)
    out, g0_wall, g0_rss = run(cmd[:-4] + ["--bootstrap", "0", "--format", "json"])
    out, g10k_wall, g10k_rss = run(cmd[:-4] + ["--bootstrap", "10000", "--format", "json"]) if not args.quick else ("", 0, 0)

    out, p_wall, p_rss = run([args.python, "-c", REFERENCE, path, str(args.ref_rounds), str(args.ref_rounds_agg)])
    p = json.loads(out)

    tight = newton_ratings(path)
    gr = {m["model"]: m["rating"] for m in g["models"]}
    worst_tight = max(abs(gr[m] - tight[m]) for m in tight)
    worst_sk = max(abs(gr[m] - p["ratings"][m]) for m in tight)
    assert worst_tight < 1e-6, worst_tight
    assert worst_sk < 0.05, worst_sk  # scikit-learn's tol=1e-6 stops short of the optimum

    # Bootstrap spread: gavel's 95% interval half-width / 1.96 against the reference rounds' sd.
    def sds(reps):
        arr = np.array([[r[m] for m in sorted(tight)] for r in reps])
        return arr.std(axis=0, ddof=1)

    g_sd = np.array([(g_m["ci"][1] - g_m["ci"][0]) / (2 * 1.959964) for g_m in sorted(g["models"], key=lambda x: x["model"])])
    ratio_sd = np.median(sds(p["boot_agg"]) / g_sd)
    ratio_sd_nb = np.median(sds(p["boot"]) / g_sd) if len(p["boot"]) > 2 else float("nan")
    assert 0.8 < ratio_sd < 1.25, ratio_sd

    ref_total_nb = p["read_s"] + p["fit_s"] + p["boot_s"] / args.ref_rounds * args.rounds
    ref_total_agg = p["read_s"] + p["fit_s"] + p["boot_agg_s"] / args.ref_rounds_agg * args.rounds
    print(f"\nBradley-Terry, {g['n_battles']:,} battles among {g['n_models']} models, {args.rounds} bootstrap rounds")
    print(f"  gavel rank       {g_wall:8.2f} s (again: {g_wall2:.2f} s; CPU {g_cpu:.2f} s on 2 cores)  peak RSS {g_rss:8.1f} MiB")
    print(f"  gavel rank without bootstrap (read, aggregate, fit): {g0_wall:.2f} s")
    print(f"  gavel peak RSS at 0 / {args.rounds} / 10000 rounds: {g0_rss:.1f} / {g_rss:.1f} / {g10k_rss:.1f} MiB"
          + (f" (10000 rounds: {g10k_wall:.2f} s)" if g10k_wall else ""))
    print(f"  reference: read {p['read_s']:.2f} s, point fit {p['fit_s']:.2f} s, peak RSS {p_rss:.1f} MiB (process wall {p_wall:.1f} s)")
    print(f"    notebook bootstrap (resample battles): {args.ref_rounds} rounds in {p['boot_s']:.2f} s "
          f"-> {args.rounds} rounds extrapolated: {ref_total_nb:.0f} s in all")
    print(f"    aggregated bootstrap (multinomial counts): {args.ref_rounds_agg} rounds in {p['boot_agg_s']:.2f} s "
          f"-> {args.rounds} rounds extrapolated: {ref_total_agg:.0f} s in all")
    print(f"  ratio (reference extrapolated / gavel): notebook {ref_total_nb / g_wall:.0f}x, aggregated {ref_total_agg / g_wall:.0f}x")
    print(f"  ratings: gavel vs tight Newton max |diff| {worst_tight:.2e}; vs notebook scikit-learn (tol 1e-6) {worst_sk:.2e}")
    print(f"  bootstrap sd, median reference/gavel: aggregated {ratio_sd:.3f}, notebook {ratio_sd_nb:.3f} "
          f"(Monte Carlo error of {args.ref_rounds_agg} / {args.ref_rounds} rounds)")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
