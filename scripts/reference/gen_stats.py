#!/usr/bin/env python3
"""Reference vectors for gavel-stats (agreement, classification, correlation).

Run with the reference environment (scripts/reference/setup.sh):
    /work/pyref/venv/bin/python scripts/reference/gen_stats.py
Writes crates/gavel-stats/tests/vectors/stats_{agreement,cohen,classification,correlation}.json.
Tests read the committed files; CI never runs Python.

References: scikit-learn (cohen_kappa_score, precision_recall_fscore_support, accuracy_score,
confusion_matrix), statsmodels (fleiss_kappa, cohens_kappa), krippendorff (alpha), irrCAC
(Gwet's AC1 and Fleiss' kappa with missing labels; run with digits=20 so nothing is rounded),
scipy (pearsonr and its Fisher interval, spearmanr, kendalltau b and c).
A value the reference returns as NaN, or an error it raises, is written as null with a note.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import pandas as pd
import krippendorff
import scipy
import sklearn
import statsmodels
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

try:
    from irrCAC.raw import CAC
except ImportError:  # pragma: no cover
    sys.exit("irrCAC is missing: pip install --no-deps irrcac==0.4.4 (see requirements-nodeps.txt)")

warnings.simplefilter("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "gavel-stats", "tests", "vectors")
VERSIONS = {
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "scikit-learn": sklearn.__version__,
    "statsmodels": statsmodels.__version__,
    "krippendorff": "0.9.0",
    "irrcac": "0.4.4",
}


def num(x):
    """A float for JSON, or None for NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def attempt(f):
    """(value, error): the reference's value, or None with why."""
    try:
        v = f()
    except Exception as e:  # the reference raised
        return None, f"raises {type(e).__name__}: {e}"
    v = num(v)
    return v, (None if v is not None else "nan")


# ---------------------------------------------------------------------------------------------
# Agreement among several annotators

def agreement_case(name, matrix):
    """matrix: annotators x units, numbers or None."""
    data = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    case = {"name": name, "matrix": matrix}
    for level in ["nominal", "ordinal", "interval", "ratio"]:
        v, err = attempt(lambda: krippendorff.alpha(reliability_data=data, level_of_measurement=level))
        case[f"alpha_{level}"] = v
        if err:
            case[f"alpha_{level}_note"] = err
    df = pd.DataFrame(data.T)
    present = df.dropna(how="all")
    complete = not np.isnan(data).any()
    if len(present) and present.notna().sum(axis=1).max() >= 2:
        # Categories given explicitly: under pandas 3, irrCAC's own category scan (stack()) keeps
        # NaN as a category, which its pinned pandas 2 did not.
        cats = sorted(float(v) for v in np.unique(data[~np.isnan(data)]))
        cac = CAC(df, categories=cats, digits=20)
        g = cac.gwet()["est"]
        case["gwet_ac1"] = num(g["coefficient_value"])
        case["percent_agreement"] = num(g["pa"])
        try:
            f = CAC(df, categories=cats, digits=20).fleiss()["est"]
            case["fleiss_kappa"] = num(f["coefficient_value"])
        except ZeroDivisionError:
            case["fleiss_kappa"] = None
            case["fleiss_kappa_note"] = "irrCAC divides by zero (chance agreement is 1)"
        case["fleiss_kappa_source"] = "irrCAC"
    else:
        case["gwet_ac1"] = None
        case["percent_agreement"] = None
        case["fleiss_kappa"] = None
        case["note"] = "no unit with two labels: irrCAC divides by zero"
    if complete and data.shape[0] >= 2:
        values = np.unique(data)
        table = np.array([[np.sum(data[:, u] == v) for v in values] for u in range(data.shape[1])])
        v, err = attempt(lambda: fleiss_kappa(table, method="fleiss"))
        case["fleiss_kappa"] = v
        case["fleiss_kappa_source"] = "statsmodels"
        if err:
            case["fleiss_kappa_note"] = err
    return case


def random_matrix(rng, n_annotators, n_units, n_values, missing, values=None):
    vals = values if values is not None else list(range(1, n_values + 1))
    m = []
    for _ in range(n_annotators):
        row = []
        for _ in range(n_units):
            row.append(None if rng.random() < missing else float(rng.choice(vals)))
        m.append(row)
    return m


def correlated_matrix(rng, n_annotators, n_units, n_values, missing, noise):
    truth = rng.integers(1, n_values + 1, size=n_units)
    m = []
    for _ in range(n_annotators):
        row = []
        for u in range(n_units):
            if rng.random() < missing:
                row.append(None)
            elif rng.random() < noise:
                row.append(float(rng.integers(1, n_values + 1)))
            else:
                row.append(float(truth[u]))
        m.append(row)
    return m


def agreement_cases():
    rng = np.random.default_rng(20240501)
    cases = []
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C.
    n = None
    cases.append(agreement_case("krippendorff_2011_c", [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]))
    cases.append(agreement_case("wikipedia_three_coders", [
        [n, n, n, n, n, 3, 4, 1, 2, 1, 1, 3, 3, n, 3],
        [1, n, 2, 1, 3, 3, 4, 3, n, n, n, n, n, n, n],
        [n, n, 2, 1, 3, 4, 4, n, 2, 1, 1, 3, 3, n, 4],
    ]))
    for i in range(12):
        a = int(rng.integers(2, 7))
        u = int(rng.integers(5, 60))
        k = int(rng.integers(2, 7))
        miss = [0.0, 0.1, 0.3][i % 3]
        cases.append(agreement_case(f"random_{i}", correlated_matrix(rng, a, u, k, miss, 0.4)))
    for i in range(4):
        cases.append(agreement_case(f"uncorrelated_{i}", random_matrix(rng, 3, 40, 4, 0.2)))
    cases.append(agreement_case("non_integer_values", random_matrix(rng, 3, 25, 0, 0.1, values=[0.5, 1.25, 2.0, 7.5])))
    cases.append(agreement_case("negative_and_zero_values", random_matrix(rng, 4, 20, 0, 0.1, values=[-2.0, -1.0, 0.0, 1.0, 2.0])))
    # Degenerate cases.
    cases.append(agreement_case("one_category", [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, n, 1]]))
    cases.append(agreement_case("no_variance_in_pairable_units", [[1, 1, 2], [1, 1, n]]))
    cases.append(agreement_case("perfect_agreement", [[1, 2, 3, 1], [1, 2, 3, 1]]))
    cases.append(agreement_case("all_missing_but_singletons", [[1, n, n], [n, 2, n], [n, n, 3]]))
    cases.append(agreement_case("all_missing", [[n, n, n], [n, n, n]]))
    cases.append(agreement_case("two_items", [[1, 2], [1, 1]]))
    cases.append(agreement_case("two_items_disagree", [[1, 2], [2, 1]]))
    cases.append(agreement_case("complete_two_annotators", [[1, 2, 3, 1, 2, 3, 1], [1, 3, 3, 1, 2, 2, 2]]))
    cases.append(agreement_case("complete_five_annotators", correlated_matrix(rng, 5, 30, 3, 0.0, 0.5)))
    return cases


# ---------------------------------------------------------------------------------------------
# Cohen's kappa

def cohen_case(name, y1, y2):
    case = {"name": name, "y1": y1, "y2": y2}
    for w in [None, "linear", "quadratic"]:
        v, err = attempt(lambda: cohen_kappa_score(y1, y2, weights=w))
        key = "kappa" if w is None else f"kappa_{w}"
        case[key] = v
        if err:
            case[key + "_note"] = err
    labels = sorted(set(y1) | set(y2))
    table = confusion_matrix(y1, y2, labels=labels) if y1 else np.zeros((0, 0))
    try:
        res = cohens_kappa(table)
        case["std_kappa"] = num(res["std_kappa"])
        case["kappa_low"] = num(res["kappa_low"])
        case["kappa_upp"] = num(res["kappa_upp"])
    except Exception as e:
        case["std_kappa"] = None
        case["std_kappa_note"] = f"raises {type(e).__name__}"
    return case


def cohen_cases():
    rng = np.random.default_rng(7)
    cases = []
    for i in range(15):
        n = int(rng.integers(2, 200))
        k = int(rng.integers(2, 8))
        y1 = rng.integers(0, k, size=n)
        flip = rng.random(n) < 0.35
        y2 = np.where(flip, rng.integers(0, k, size=n), y1)
        cases.append(cohen_case(f"random_{i}", [int(v) for v in y1], [int(v) for v in y2]))
    cases.append(cohen_case("sparse_labels", [1, 3, 5, 5, 1, 3], [1, 5, 5, 3, 3, 3]))
    cases.append(cohen_case("perfect", [0, 1, 2, 0], [0, 1, 2, 0]))
    cases.append(cohen_case("one_label_both", [2, 2, 2], [2, 2, 2]))
    cases.append(cohen_case("constant_one_side", [1, 1, 1, 1], [0, 1, 2, 1]))
    cases.append(cohen_case("two_items", [0, 1], [1, 1]))
    cases.append(cohen_case("opposite", [0, 1, 0, 1], [1, 0, 1, 0]))
    return cases


# ---------------------------------------------------------------------------------------------
# Classification

def classification_case(name, y_true, y_pred, labels):
    case = {"name": name, "y_true": y_true, "y_pred": y_pred, "labels": labels}
    case["accuracy"] = num(accuracy_score(y_true, y_pred)) if y_true else None
    case["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist() if y_true else []
    for zd_name, zd in [("zero", 0.0), ("one", 1.0), ("nan", np.nan)]:
        per = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=zd)
        out = {
            "precision": [num(v) for v in per[0]],
            "recall": [num(v) for v in per[1]],
            "f1": [num(v) for v in per[2]],
            "support": [int(v) for v in per[3]],
        }
        for avg in ["macro", "micro"]:
            p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=zd)
            out[f"{avg}_precision"] = num(p)
            out[f"{avg}_recall"] = num(r)
            out[f"{avg}_f1"] = num(f)
        case[f"zero_division_{zd_name}"] = out
    return case


def classification_cases():
    rng = np.random.default_rng(11)
    cases = []
    for i in range(12):
        n = int(rng.integers(1, 150))
        k = int(rng.integers(2, 6))
        t = rng.integers(0, k, size=n)
        p = np.where(rng.random(n) < 0.4, rng.integers(0, k, size=n), t)
        cases.append(classification_case(f"random_{i}", [int(v) for v in t], [int(v) for v in p], list(range(k))))
    # A prediction outside the scored classes (an unparsed verdict, coded as class 3).
    cases.append(classification_case("unscored_prediction", [0, 1, 2, 1, 0, 2], [0, 3, 2, 1, 3, 1], [0, 1, 2]))
    cases.append(classification_case("class_never_seen", [0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 2]))
    cases.append(classification_case("never_predicted", [0, 1, 1, 1], [0, 0, 0, 0], [0, 1]))
    cases.append(classification_case("single_sample", [1], [0], [0, 1]))
    return cases


# ---------------------------------------------------------------------------------------------
# Correlation

def correlation_case(name, x, y):
    case = {"name": name, "x": x, "y": y}
    def pear():
        return stats.pearsonr(x, y).statistic
    case["pearson"], err = attempt(pear)
    if err:
        case["pearson_note"] = err
    for level in [0.95, 0.9]:
        try:
            ci = stats.pearsonr(x, y).confidence_interval(confidence_level=level)
            case[f"pearson_ci_{int(level * 100)}"] = [num(ci.low), num(ci.high)]
        except Exception:
            case[f"pearson_ci_{int(level * 100)}"] = None
    case["spearman"], err = attempt(lambda: stats.spearmanr(x, y).statistic)
    if err:
        case["spearman_note"] = err
    case["kendall_tau_b"], err = attempt(lambda: stats.kendalltau(x, y, variant="b").statistic)
    if err:
        case["kendall_tau_b_note"] = err
    case["kendall_tau_c"], err = attempt(lambda: stats.kendalltau(x, y, variant="c").statistic)
    if err:
        case["kendall_tau_c_note"] = err
    return case


def correlation_cases():
    rng = np.random.default_rng(3)
    cases = []
    for i in range(10):
        n = int(rng.integers(4, 300))
        x = rng.normal(size=n)
        y = 0.6 * x + rng.normal(size=n)
        if i % 2 == 0:  # Likert-like ties
            x = np.round(x * 2)
            y = np.round(y * 2)
        cases.append(correlation_case(f"random_{i}", [float(v) for v in x], [float(v) for v in y]))
    cases.append(correlation_case("likert_many_ties", [1, 2, 2, 3, 3, 3, 4, 5, 5, 1, 2], [2, 2, 3, 3, 3, 4, 4, 5, 4, 1, 1]))
    cases.append(correlation_case("rectangular", [1, 1, 2, 2, 3, 3], [1, 2, 1, 2, 1, 2]))
    cases.append(correlation_case("constant_x", [3, 3, 3, 3], [1, 2, 3, 4]))
    cases.append(correlation_case("two_points", [1, 2], [5, 3]))
    cases.append(correlation_case("three_points", [1, 2, 3], [1, 3, 2]))
    cases.append(correlation_case("large_offset", [1e6 + v for v in [0.1, 0.2, 0.35, 0.4]], [2.0, 1.0, 4.0, 3.0]))
    return cases


def write(name, cases):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump({"versions": VERSIONS, "cases": cases}, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(path)}")


if __name__ == "__main__":
    write("stats_agreement.json", agreement_cases())
    write("stats_cohen.json", cohen_cases())
    write("stats_classification.json", classification_cases())
    write("stats_correlation.json", correlation_cases())
