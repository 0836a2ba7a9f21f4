#!/usr/bin/env python3
"""Benchmark: gavel agree against the Python references, on the same data, in one run.

1. Krippendorff's alpha (nominal) and Fleiss' kappa on 1,000,000 labels (200,000 items x 5
   annotators, 5 categories): `gavel agree --bootstrap 0` against `krippendorff.alpha` and
   `statsmodels.stats.inter_rater.fleiss_kappa`, both timed from the same JSONL file (reading
   included) and for the computation alone.
2. 1,000 bootstrap resamples of Cohen's kappa on 100,000 items (two annotators): `gavel agree
   --bootstrap 1000` (which also resamples alpha, Fleiss' kappa, AC1 and percent agreement)
   against a loop of `sklearn.metrics.cohen_kappa_score` on numpy resamples.
3. Memory against the number of bootstrap rounds: peak RSS of gavel at 100, 1,000 and 10,000
   resamples.

Usage (release build first):
    cargo build --release -p gavel
    /work/pyref/venv/bin/python bench/agreement.py [--gavel target/release/gavel] [--quick]
Prints wall time, peak RSS (of each child process, via GNU time) and ratios; checks the results agree.
"""

import argparse
import atexit
import json
import os
import shutil
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


def write_labels(path, n_items, n_annotators, n_categories, noise, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, n_categories + 1, size=n_items)
    labels = np.where(
        rng.random((n_annotators, n_items)) < noise,
        rng.integers(1, n_categories + 1, size=(n_annotators, n_items)),
        truth,
    )
    with open(path, "w") as f:
        for a in range(n_annotators):
            name = f"ann{a}"
            row = labels[a]
            f.write("".join(f'{{"item":"i{i}","annotator":"{name}","label":{int(row[i])}}}\n' for i in range(n_items)))
    return labels


REF_ALPHA = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, krippendorff
from statsmodels.stats.inter_rater import fleiss_kappa, aggregate_raters
df = pd.read_json(sys.argv[1], lines=True, dtype={"item": str})
m = df.pivot(index="annotator", columns="item", values="label").to_numpy(dtype=float)
t1 = time.perf_counter()
alpha = krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")
t2 = time.perf_counter()
table, _ = aggregate_raters(m.T.astype(int))
kappa = fleiss_kappa(table, method="fleiss")
t3 = time.perf_counter()
print(json.dumps({"alpha": alpha, "fleiss": kappa, "read": t1 - t0, "alpha_s": t2 - t1, "fleiss_s": t3 - t2}))
"""

REF_BOOT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from sklearn.metrics import cohen_kappa_score
df = pd.read_json(sys.argv[1], lines=True, dtype={"item": str})
m = df.pivot(index="annotator", columns="item", values="label").to_numpy()
y1, y2 = m[0], m[1]
t1 = time.perf_counter()
rng = np.random.default_rng(0)
n = len(y1)
reps = int(sys.argv[2])
vals = np.empty(reps)
for r in range(reps):
    idx = rng.integers(0, n, n)
    vals[r] = cohen_kappa_score(y1[idx], y2[idx])
t2 = time.perf_counter()
lo, hi = np.percentile(vals, [2.5, 97.5])
print(json.dumps({"kappa": cohen_kappa_score(y1, y2), "lo": lo, "hi": hi, "read": t1 - t0, "boot_s": t2 - t1}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", default=os.path.join(ROOT, "target", "release", "gavel"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes, for a smoke run")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    tmp = tempfile.mkdtemp(prefix="gavel-bench-agree-")
    # The generated files (about 55 MiB) are removed however the run ends.
    atexit.register(shutil.rmtree, tmp, True)

    # 1. Alpha and Fleiss on 1,000,000 labels.
    big = os.path.join(tmp, "labels.jsonl")
    write_labels(big, 200_000 // scale, 5, 5, 0.4, 1)
    out, g_wall, g_rss = run([args.gavel, "agree", "--data", big, "--bootstrap", "0", "--format", "json"])
    g_cpu = LAST_CPU["s"]
    g = json.loads(out)
    out, p_wall, p_rss = run([args.python, "-c", REF_ALPHA, big])
    p_cpu = LAST_CPU["s"]
    p = json.loads(out)
    assert abs(g["krippendorff_alpha"] - p["alpha"]) < 1e-9, (g["krippendorff_alpha"], p["alpha"])
    assert abs(g["fleiss_kappa"] - p["fleiss"]) < 1e-9, (g["fleiss_kappa"], p["fleiss"])
    n_labels = g["n_labels"]
    print(f"\n[1] alpha + Fleiss' kappa, {n_labels:,} labels (gavel also computes pairs, AC1, majority)")
    print(f"  gavel agree      {g_wall:8.2f} s  {g_rss:8.1f} MiB   alpha {g['krippendorff_alpha']:.12f}  (CPU {g_cpu:.2f} s)")
    print(f"  python (total)   {p_wall:8.2f} s  {p_rss:8.1f} MiB   alpha {p['alpha']:.12f}  (CPU {p_cpu:.2f} s)")
    print(f"  python compute: alpha {p['alpha_s']:.2f} s, fleiss {p['fleiss_s']:.2f} s, read+pivot {p['read']:.2f} s")
    print(f"  ratio (total wall): {p_wall / g_wall:.1f}x; CPU (user + system): {p_cpu / g_cpu:.1f}x")

    # 2. 1,000 bootstrap resamples of kappa on 100,000 items.
    pairs = os.path.join(tmp, "pairs.jsonl")
    write_labels(pairs, 100_000 // scale, 2, 3, 0.3, 2)
    reps = 1000
    out, gb_wall, gb_rss = run([args.gavel, "agree", "--data", pairs, "--bootstrap", str(reps), "--format", "json"])
    gb_cpu = LAST_CPU["s"]
    gb = json.loads(out)
    out, pb_wall, pb_rss = run([args.python, "-c", REF_BOOT, pairs, str(reps)])
    pb = json.loads(out)
    pair = gb["cohen_kappa"][0]
    assert abs(pair["kappa"] - pb["kappa"]) < 1e-9, (pair["kappa"], pb["kappa"])
    lo, hi = pair["kappa_ci"]
    # Different generators draw different resamples: the intervals agree to Monte Carlo error.
    assert abs(lo - pb["lo"]) < 0.01 and abs(hi - pb["hi"]) < 0.01, ((lo, hi), (pb["lo"], pb["hi"]))
    print(f"\n[2] {reps} bootstrap resamples of Cohen's kappa, {gb['n_items']:,} items")
    print(f"  gavel agree      {gb_wall:8.2f} s  {gb_rss:8.1f} MiB   kappa CI [{lo:.4f}, {hi:.4f}] (+ 4 more statistics; CPU {gb_cpu:.2f} s)")
    print(f"  python (total)   {pb_wall:8.2f} s  {pb_rss:8.1f} MiB   kappa CI [{pb['lo']:.4f}, {pb['hi']:.4f}]")
    print(f"  python bootstrap loop alone: {pb['boot_s']:.2f} s")
    print(f"  ratio (total wall): {pb_wall / gb_wall:.1f}x; bootstrap loop vs whole gavel run: {pb['boot_s'] / gb_wall:.1f}x")

    # 3. Memory against bootstrap rounds.
    print("\n[3] gavel peak RSS against bootstrap rounds (same 100,000 items)")
    for r in [100, 1000, 10000]:
        _, w, rss = run([args.gavel, "agree", "--data", pairs, "--bootstrap", str(r), "--format", "json"])
        print(f"  {r:6d} rounds: {w:7.2f} s  {rss:8.1f} MiB")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
