"""Reference vectors for gavel's ranking statistics (crates/gavel-stats/src/rank, ppi.rs).

Run with the pinned reference environment:

    /work/pyref/venv/bin/python scripts/reference/gen_rank.py

It writes JSON files to crates/gavel-stats/tests/vectors/ (rank_*.json, ppi_*.json), which the
Rust tests in crates/gavel-stats/tests/rank_vectors.rs read. Battles are written as
[model_a, model_b, winner] triples, one case per line. Each method is computed the way its
named reference computes it, restated here in our own code:

- Bradley-Terry: the Chatbot Arena notebook's `compute_mle_elo` (logistic regression without
  intercept on the +ln(base)/-ln(base) design, each battle twice, a tie as one win and one
  loss), solved by statsmodels' Newton method (Logit, tol 1e-15): `ratings`, which
  the Rust tests match to 1e-9. The generator checks it against a numpy Newton solution of
  the same likelihood on aggregated counts. scikit-learn's LogisticRegression, even with
  tol=1e-12, stops when the loss changes by less than 64 machine epsilons, some 1e-5 rating
  points short; its result is kept as `ratings_sklearn` with the gap it leaves.
- Elo: the notebook's `compute_online_elo`, line for line in plain Python floats.
- Win rates: pandas pivot tables as in the notebook's `compute_pairwise_win_fraction`, with
  ties counted as half a win; the baseline win rate and its standard error as AlpacaEval's
  `get_winrate` computes them (pandas mean and sem of preference - 1).
- Length-controlled win rate: AlpacaEval's `length_controlled_minimal` GLM formula fitted
  without penalty by statsmodels (GLM, Binomial family, soft labels).
- Sign test: scipy.stats.binomtest.
- PPI: the formulas of ppi_py's ppi_mean_ci / classical_mean_ci (PPI++ power tuning). ppi_py
  itself needs numba, so it is not in the pinned environment; on these vectors its 0.2.3 release
  gives bit-identical intervals and estimates (checked in a separate environment).
"""

import json
import math
import os
import sys
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy
import sklearn
import statsmodels
import statsmodels.api as sm
from scipy import stats
from sklearn.linear_model import LogisticRegression

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "gavel-stats", "tests", "vectors")

VERSIONS = {
    "numpy": np.__version__,
    "pandas": pd.__version__,
    "scipy": scipy.__version__,
    "scikit-learn": sklearn.__version__,
    "statsmodels": statsmodels.__version__,
    "python": sys.version.split()[0],
}


def write(name, payload):
    """Writes a vector file: one line per case, battles as [model_a, model_b, winner] triples."""

    def compact(value):
        if isinstance(value, dict):
            return {k: (triples(v) if k == "battles" else compact(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [compact(v) for v in value]
        return value

    def triples(battles):
        return [[b["model_a"], b["model_b"], b["winner"]] for b in battles]

    payload = compact({"generator": "scripts/reference/gen_rank.py", "versions": VERSIONS, **payload})
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write("{\n")
        items = list(payload.items())
        for k, (key, value) in enumerate(items):
            if key in ("cases",):
                f.write(f"{json.dumps(key)}: [\n")
                f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in value))
                f.write("\n]")
            else:
                f.write(f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}")
            f.write(",\n" if k + 1 < len(items) else "\n")
        f.write("}\n")
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# Battles


def make_battles(rng, n_models, n_battles, tie_rate, spread=1.0, bothbad_share=0.3, names=None):
    names = names or [f"model-{i:02d}" for i in range(n_models)]
    strength = rng.normal(0.0, spread, n_models)
    rows = []
    for _ in range(n_battles):
        i, j = rng.choice(n_models, size=2, replace=False)
        u = rng.random()
        if u < tie_rate:
            winner = "tie (bothbad)" if rng.random() < bothbad_share else "tie"
        else:
            p_a = 1.0 / (1.0 + math.exp(-(strength[i] - strength[j])))
            winner = "model_a" if rng.random() < p_a else "model_b"
        rows.append({"model_a": names[i], "model_b": names[j], "winner": winner})
    return rows


# ---------------------------------------------------------------------------------------------
# Bradley-Terry


def bt_sklearn(battles, scale=400.0, base=10.0, init=1000.0, anchor=None):
    """compute_mle_elo's design, solved tightly."""
    df = pd.DataFrame(battles)
    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    index = pd.Series(np.arange(len(models)), index=models)
    doubled = pd.concat([df, df], ignore_index=True)
    n, p = doubled.shape[0], len(models)
    X = np.zeros([n, p])
    X[np.arange(n), index[doubled["model_a"]]] = +math.log(base)
    X[np.arange(n), index[doubled["model_b"]]] = -math.log(base)
    Y = np.zeros(n)
    Y[doubled["winner"] == "model_a"] = 1.0
    is_tie = (doubled["winner"] == "tie") | (doubled["winner"] == "tie (bothbad)")
    is_tie[len(is_tie) // 2 :] = False
    Y[is_tie] = 1.0
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100000)
    lr.fit(X, Y)
    ratings = scale * lr.coef_[0] + init
    if anchor is not None:
        ratings += anchor[1] - ratings[index[anchor[0]]]
    return {m: float(r) for m, r in zip(models, ratings)}


def bt_reference(battles, scale=400.0, base=10.0, init=1000.0, anchor=None):
    """compute_mle_elo's design and likelihood, solved by statsmodels' Newton method.

    The likelihood does not change when every coefficient moves together, so the last model's
    column is dropped while solving (a reparametrisation) and the solution is then centred,
    which is where scikit-learn's solver ends when started from zero.
    """
    df = pd.DataFrame(battles)
    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    index = pd.Series(np.arange(len(models)), index=models)
    doubled = pd.concat([df, df], ignore_index=True)
    n, p = doubled.shape[0], len(models)
    X = np.zeros([n, p])
    X[np.arange(n), index[doubled["model_a"]]] = +math.log(base)
    X[np.arange(n), index[doubled["model_b"]]] = -math.log(base)
    Y = np.zeros(n)
    Y[doubled["winner"] == "model_a"] = 1.0
    is_tie = (doubled["winner"] == "tie") | (doubled["winner"] == "tie (bothbad)")
    is_tie[len(is_tie) // 2 :] = False
    Y[is_tie] = 1.0
    res = sm.Logit(Y, X[:, :-1]).fit(method="newton", tol=1e-15, maxiter=200, disp=False)
    coef = np.append(res.params, 0.0)
    coef -= coef.mean()
    ratings = scale * coef + init
    if anchor is not None:
        ratings += anchor[1] - ratings[index[anchor[0]]]
    return {m: float(r) for m, r in zip(models, ratings)}


def bt_newton(battles, scale=400.0, base=10.0, init=1000.0, anchor=None):
    """The same likelihood on aggregated counts, by Newton's method with sum(beta) = 0."""
    models = []
    seen = {}
    for b in battles:
        for m in (b["model_a"], b["model_b"]):
            if m not in seen:
                seen[m] = len(models)
                models.append(m)
    p = len(models)
    a = np.zeros((p, p))  # a[i, j]: weight of "i beat j" (ties half)
    for b in battles:
        i, j = seen[b["model_a"]], seen[b["model_b"]]
        if b["winner"] == "model_a":
            a[i, j] += 1
        elif b["winner"] == "model_b":
            a[j, i] += 1
        else:
            a[i, j] += 0.5
            a[j, i] += 0.5
    beta = np.zeros(p)
    for _ in range(200):
        d = beta[:, None] - beta[None, :]
        s = 1.0 / (1.0 + np.exp(-d))
        nmat = a + a.T
        grad = (a - nmat * s).sum(axis=1)
        w = nmat * s * (1 - s)
        H = -w
        np.fill_diagonal(H, 0.0)
        np.fill_diagonal(H, w.sum(axis=1) - np.diag(w))
        # pin the last model, solve, recentre
        step = np.zeros(p)
        step[:-1] = np.linalg.solve(H[:-1, :-1], grad[:-1])
        beta = beta + step
        if np.max(np.abs(step)) < 1e-14:
            break
    beta -= beta.mean()
    ratings = init + scale * beta / math.log(base)
    if anchor is not None:
        ratings += anchor[1] - ratings[seen[anchor[0]]]
    return {m: float(r) for m, r in zip(models, ratings)}


def bt_vectors():
    rng = np.random.default_rng(20261)
    cases = []

    def add(name, battles, **params):
        sk = bt_sklearn(battles, **params)
        sp = bt_reference(battles, **params)
        nt = bt_newton(battles, **params)
        assert max(abs(sp[m] - nt[m]) for m in sp) < 1e-8, name
        worst = max(abs(sk[m] - sp[m]) for m in sk)
        anchor = params.pop("anchor", None)
        cases.append(
            {
                "name": name,
                "params": {
                    "scale": params.get("scale", 400.0),
                    "base": params.get("base", 10.0),
                    "init": params.get("init", 1000.0),
                    "anchor": None if anchor is None else {"model": anchor[0], "rating": anchor[1]},
                },
                "battles": battles,
                "ratings": sp,
                "ratings_sklearn": sk,
                "max_abs_sklearn_vs_reference": worst,
            }
        )

    add(
        "two models",
        [{"model_a": "x", "model_b": "y", "winner": w} for w in ["model_a"] * 3 + ["model_b", "tie"]],
    )
    add("five models with ties", make_battles(rng, 5, 400, 0.2))
    add("twelve models", make_battles(rng, 12, 1500, 0.1, spread=1.5))
    add("anchored", make_battles(rng, 6, 500, 0.15), anchor=("model-03", 1114.0))
    add("natural log scale", make_battles(rng, 4, 300, 0.25), scale=1.0, base=math.e, init=0.0)
    add("wide spread", make_battles(rng, 8, 2000, 0.05, spread=2.5))
    write("rank_bt.json", {"cases": cases})


# ---------------------------------------------------------------------------------------------
# Elo


def online_elo(battles, K=4, SCALE=400, BASE=10, INIT_RATING=1000):
    """compute_online_elo, restated."""
    rating = defaultdict(lambda: INIT_RATING)
    for b in battles:
        model_a, model_b, winner = b["model_a"], b["model_b"], b["winner"]
        ra = rating[model_a]
        rb = rating[model_b]
        ea = 1 / (1 + BASE ** ((rb - ra) / SCALE))
        eb = 1 / (1 + BASE ** ((ra - rb) / SCALE))
        if winner == "model_a":
            sa = 1
        elif winner == "model_b":
            sa = 0
        elif winner in ("tie", "tie (bothbad)"):
            sa = 0.5
        else:
            raise ValueError(winner)
        rating[model_a] += K * (sa - ea)
        rating[model_b] += K * (1 - sa - eb)
    return {m: float(r) for m, r in rating.items()}


def elo_vectors():
    rng = np.random.default_rng(20262)
    cases = []
    for name, battles, params in [
        ("defaults", make_battles(rng, 6, 800, 0.15), {}),
        ("k32", make_battles(rng, 10, 1500, 0.1, spread=1.5), {"K": 32}),
        ("natural scale", make_battles(rng, 4, 300, 0.3), {"K": 0.1, "SCALE": 1, "BASE": math.e, "INIT_RATING": 0}),
    ]:
        cases.append(
            {
                "name": name,
                "params": {
                    "k": float(params.get("K", 4)),
                    "scale": float(params.get("SCALE", 400)),
                    "base": float(params.get("BASE", 10)),
                    "init": float(params.get("INIT_RATING", 1000)),
                },
                "battles": battles,
                "ratings": online_elo(battles, **params),
            }
        )
    write("rank_elo.json", {"cases": cases})


# ---------------------------------------------------------------------------------------------
# Win rates


def win_fraction_matrix(battles):
    """compute_pairwise_win_fraction with ties counted as half a win to each side."""
    df = pd.DataFrame(battles)
    df["score_a"] = df["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5})
    a_score = pd.pivot_table(df, index="model_a", columns="model_b", values="score_a", aggfunc="sum", fill_value=0)
    b_score = pd.pivot_table(
        df.assign(score_b=1.0 - df["score_a"]), index="model_a", columns="model_b", values="score_b", aggfunc="sum", fill_value=0
    )
    num = pd.pivot_table(df, index="model_a", columns="model_b", aggfunc="size", fill_value=0)
    models = sorted(set(df["model_a"]) | set(df["model_b"]))
    a_score = a_score.reindex(index=models, columns=models, fill_value=0)
    b_score = b_score.reindex(index=models, columns=models, fill_value=0)
    num = num.reindex(index=models, columns=models, fill_value=0)
    total = num + num.T
    frac = (a_score + b_score.T) / total  # row beats column
    frac = frac.where(total > 0)
    mean = frac.mean(axis=1)  # pandas skips missing cells
    matrix = {
        r: {c: (None if pd.isna(frac.loc[r, c]) else float(frac.loc[r, c])) for c in models if c != r} for r in models
    }
    return matrix, {m: float(mean[m]) for m in models}


def alpaca_winrate(battles, model, baseline):
    """AlpacaEval's get_winrate on the model's comparisons with the baseline."""
    prefs = []
    for b in battles:
        if {b["model_a"], b["model_b"]} != {model, baseline}:
            continue
        score_a = {"model_a": 1.0, "model_b": 0.0}.get(b["winner"], 0.5)
        score = score_a if b["model_a"] == model else 1.0 - score_a
        prefs.append(1.0 + score)  # AlpacaEval's 1 (baseline wins) .. 2 (model wins)
    s = pd.Series(prefs) - 1
    return {
        "win_rate": float(s.mean() * 100),
        "standard_error": None if len(s) < 2 else float(s.sem() * 100),
        "n_wins": int((s > 0.5).sum()),
        "n_wins_base": int((s < 0.5).sum()),
        "n_draws": int((s == 0.5).sum()),
    }


def winrate_vectors():
    rng = np.random.default_rng(20263)
    cases = []
    sparse = make_battles(rng, 6, 60, 0.2)
    for name, battles in [
        ("dense", make_battles(rng, 5, 600, 0.2)),
        ("sparse with unmet pairs", sparse),
    ]:
        matrix, mean = win_fraction_matrix(battles)
        cases.append({"name": name, "battles": battles, "matrix": matrix, "mean_win_rate": mean})
    # Baseline (AlpacaEval) case: every model against one baseline.
    base_rng = np.random.default_rng(20264)
    names = ["baseline", "m1", "m2", "m3"]
    battles = []
    for m, p_win in [("m1", 0.3), ("m2", 0.55), ("m3", 0.8)]:
        for k in range(80 + 17 * len(m)):
            u = base_rng.random()
            winner = "tie" if u < 0.1 else ("model_a" if base_rng.random() < p_win else "model_b")
            if k % 2:
                battles.append({"model_a": m, "model_b": "baseline", "winner": winner})
            else:
                flipped = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)
                battles.append({"model_a": "baseline", "model_b": m, "winner": flipped})
    baseline = {m: alpaca_winrate(battles, m, "baseline") for m in names[1:]}
    write(
        "rank_winrate.json",
        {"cases": cases, "baseline_case": {"baseline": "baseline", "battles": battles, "expected": baseline}},
    )


# ---------------------------------------------------------------------------------------------
# Length-controlled win rate


def lc_fit(prefs, len_model, len_base):
    prefs = np.asarray(prefs, float)
    delta = pd.Series(np.asarray(len_base, float) - np.asarray(len_model, float))
    std_delta_len = delta / delta.std()  # pandas: ddof 1
    X = np.column_stack([np.tanh(std_delta_len.to_numpy()), np.ones(len(prefs))])
    model = sm.GLM(prefs, X, family=sm.families.Binomial())
    res = model.fit(tol=1e-14, maxiter=1000)
    phi, theta = res.params
    se_theta = res.bse[1]
    s = 1.0 / (1.0 + math.exp(-theta))
    return {
        "win_rate": s,
        "standard_error": s * (1 - s) * se_theta,
        "model_coef": float(theta),
        "length_coef": float(phi),
        "length_sd": float(delta.std()),
    }


def lc_vectors():
    rng = np.random.default_rng(20265)
    cases = []
    for name, n, bias, quality, tie in [
        ("length-biased judge", 300, 1.5, 0.0, 0.05),
        ("good model, mild bias", 200, 0.5, 0.8, 0.1),
        ("weak model, strong bias", 400, 2.5, -1.0, 0.0),
    ]:
        len_base = rng.integers(200, 3000, n).astype(float)
        len_model = np.maximum(10, len_base + rng.normal(300, 800, n)).round()
        x = np.tanh((len_base - len_model) / np.std(len_base - len_model, ddof=1))
        p = 1 / (1 + np.exp(-(quality - bias * x)))
        u = rng.random(n)
        prefs = np.where(u < tie, 0.5, (rng.random(n) < p).astype(float))
        cases.append(
            {
                "name": name,
                "preference": prefs.tolist(),
                "model_length": len_model.tolist(),
                "baseline_length": len_base.tolist(),
                "expected": lc_fit(prefs, len_model, len_base),
            }
        )
    write("rank_lc.json", {"cases": cases})


# ---------------------------------------------------------------------------------------------
# Sign test


def sign_vectors():
    cases = []
    for better, worse in [(7, 3), (3, 7), (10, 10), (0, 5), (1, 0), (60, 40), (120, 80), (512, 488), (4000, 4200), (0, 0)]:
        n = better + worse
        if n == 0:
            two, greater = 1.0, 1.0
        else:
            two = stats.binomtest(better, n, 0.5).pvalue
            greater = stats.binomtest(better, n, 0.5, alternative="greater").pvalue
        cases.append({"better": better, "worse": worse, "p_value": float(two), "p_greater": float(greater)})
    write("rank_sign.json", {"cases": cases})


# ---------------------------------------------------------------------------------------------
# PPI


def ppi_reference(Y, Yhat, Yhat_u, alpha, lam):
    """ppi_py.ppi_mean_ci / ppi_mean_pointestimate for one dimension, without weights."""
    n, N = len(Y), len(Yhat_u)
    if lam is None:
        g = Y - Y.mean()
        gh = Yhat - Yhat.mean()
        cov0 = (g * gh).mean()
        var1 = np.cov(np.concatenate([Yhat, Yhat_u]))
        lam = float(np.clip(cov0 / ((1 + n / N) * var1), 0, 1))
    est = lam * Yhat_u.mean() + (Y - lam * Yhat).mean()
    se = math.sqrt(((lam * Yhat_u).std() / math.sqrt(N)) ** 2 + ((Y - lam * Yhat).std() / math.sqrt(n)) ** 2)
    z = stats.norm.ppf(1 - alpha / 2)
    return {"estimate": float(est), "std_error": se, "ci": [float(est - z * se), float(est + z * se)], "lambda": lam}


def classical_reference(Y, alpha):
    z = stats.norm.ppf(1 - alpha / 2)
    se = Y.std() / math.sqrt(len(Y))
    return {"estimate": float(Y.mean()), "std_error": float(se), "ci": [float(Y.mean() - z * se), float(Y.mean() + z * se)]}


def ppi_vectors():
    rng = np.random.default_rng(20266)
    cases = []
    for name, n, N, accuracy, bias, alpha in [
        ("accurate judge", 100, 2000, 0.9, 0.0, 0.05),
        ("biased judge", 150, 1500, 0.8, 0.15, 0.1),
        ("noisy judge", 60, 500, 0.55, 0.05, 0.05),
    ]:
        truth_all = np.where(rng.random(n + N) < 0.12, 0.5, (rng.random(n + N) < 0.62).astype(float))
        keep = rng.random(n + N) < accuracy
        noise = np.where(rng.random(n + N) < 0.5 + bias, 1.0, 0.0)
        judge_all = np.where(keep, truth_all, noise)
        Y, Yhat, Yhat_u = truth_all[:n], judge_all[:n], judge_all[n:]
        cases.append(
            {
                "name": name,
                "alpha": alpha,
                "y": Y.tolist(),
                "yhat": Yhat.tolist(),
                "yhat_unlabeled": Yhat_u.tolist(),
                "tuned": ppi_reference(Y, Yhat, Yhat_u, alpha, None),
                "lambda_one": ppi_reference(Y, Yhat, Yhat_u, alpha, 1.0),
                "classical": classical_reference(Y, alpha),
            }
        )
    write("ppi_mean.json", {"cases": cases})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    bt_vectors()
    elo_vectors()
    winrate_vectors()
    lc_vectors()
    sign_vectors()
    ppi_vectors()
