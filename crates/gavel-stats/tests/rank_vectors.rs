//! Ranking statistics against vectors from the Python references
//! (`scripts/reference/gen_rank.py`; see its docstring for which reference computes what).

use serde_json::Value;

use gavel_stats::rank::{Battles, Outcome, bt, elo, lc, significance, winrate};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cases(v: &Value) -> &Vec<Value> {
    v["cases"].as_array().expect("cases")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn battles(v: &Value) -> Battles {
    let mut b = Battles::new();
    for t in v.as_array().expect("battles") {
        let outcome = match t[2].as_str().unwrap() {
            "model_a" => Outcome::WinA,
            "model_b" => Outcome::WinB,
            "tie" | "tie (bothbad)" => Outcome::Tie,
            other => panic!("{other}"),
        };
        b.push(
            t[0].as_str().unwrap(),
            t[1].as_str().unwrap(),
            outcome,
            None,
        )
        .unwrap();
    }
    b
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (diff {:e})",
        (got - want).abs()
    );
}

#[test]
fn bradley_terry_matches_the_tight_reference() {
    let v = load("rank_bt.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let b = battles(&case["battles"]);
        let p = &case["params"];
        let anchor = match &p["anchor"] {
            Value::Null => None,
            a => Some((
                b.model_index(a["model"].as_str().unwrap()).unwrap(),
                f(&a["rating"]),
            )),
        };
        let params = bt::Params {
            scale: f(&p["scale"]),
            base: f(&p["base"]),
            init: f(&p["init"]),
            anchor,
        };
        let ratings = bt::fit_named(&b.counts(), b.models(), &params).unwrap();
        let sklearn_gap = f(&case["max_abs_sklearn_vs_reference"]);
        for (m, model) in b.models().iter().enumerate() {
            let want = f(&case["ratings"][model]);
            assert_close(ratings[m], want, 1e-9, &format!("{name} {model}"));
            // scikit-learn's own solution is off by its tolerance gap, no more.
            let sk = f(&case["ratings_sklearn"][model]);
            assert_close(
                ratings[m],
                sk,
                sklearn_gap + 1e-9,
                &format!("{name} {model} (sklearn)"),
            );
        }
    }
}

#[test]
fn elo_matches_the_notebook_exactly() {
    let v = load("rank_elo.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let b = battles(&case["battles"]);
        let p = &case["params"];
        let params = elo::Params {
            k: f(&p["k"]),
            scale: f(&p["scale"]),
            base: f(&p["base"]),
            init: f(&p["init"]),
        };
        let ratings = elo::ratings(&b, &params, elo::Order::Given).unwrap();
        for (m, model) in b.models().iter().enumerate() {
            let want = f(&case["ratings"][model]);
            // The same operations in the same order on the same libm: bit for bit.
            assert_eq!(ratings[m], want, "{name} {model}");
        }
    }
}

#[test]
fn win_rates_match_pandas() {
    let v = load("rank_winrate.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let b = battles(&case["battles"]);
        let m = winrate::matrix(&b.counts());
        let means = m.mean_win_rates();
        for (i, row) in b.models().iter().enumerate() {
            assert_close(
                means[i].unwrap(),
                f(&case["mean_win_rate"][row]),
                1e-12,
                &format!("{name} mean {row}"),
            );
            for (j, col) in b.models().iter().enumerate() {
                if i == j {
                    continue;
                }
                let want = &case["matrix"][row][col];
                match (m.rates[i][j], want) {
                    (None, Value::Null) => {}
                    (Some(x), w) if !w.is_null() => {
                        assert_close(x, f(w), 1e-15, &format!("{name} {row} vs {col}"))
                    }
                    (got, w) => panic!("{name} {row} vs {col}: got {got:?}, want {w}"),
                }
            }
        }
    }
    let base = &v["baseline_case"];
    let b = battles(&base["battles"]);
    let bi = b.model_index(base["baseline"].as_str().unwrap()).unwrap();
    let rates = winrate::against_baseline(&b.counts(), bi);
    for (m, model) in b.models().iter().enumerate() {
        if m == bi {
            assert!(rates[m].is_none());
            continue;
        }
        let want = &base["expected"][model];
        let got = rates[m].unwrap();
        assert_close(100.0 * got.win_rate, f(&want["win_rate"]), 1e-12, model);
        assert_close(
            100.0 * got.standard_error.unwrap(),
            f(&want["standard_error"]),
            1e-12,
            model,
        );
        assert_eq!(got.wins, want["n_wins"].as_u64().unwrap());
        assert_eq!(got.losses, want["n_wins_base"].as_u64().unwrap());
        assert_eq!(got.ties, want["n_draws"].as_u64().unwrap());
    }
}

#[test]
fn length_controlled_matches_statsmodels() {
    let v = load("rank_lc.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let col = |k: &str| -> Vec<f64> { case[k].as_array().unwrap().iter().map(f).collect() };
        let (pref, lm, lb) = (
            col("preference"),
            col("model_length"),
            col("baseline_length"),
        );
        let obs: Vec<lc::Observation> = (0..pref.len())
            .map(|k| lc::Observation {
                preference: pref[k],
                model_length: lm[k],
                baseline_length: lb[k],
            })
            .collect();
        let got = lc::length_controlled(&obs).unwrap();
        let want = &case["expected"];
        assert_close(got.win_rate, f(&want["win_rate"]), 1e-10, name);
        assert_close(got.standard_error, f(&want["standard_error"]), 1e-10, name);
        assert_close(got.model_coef, f(&want["model_coef"]), 1e-9, name);
        assert_close(got.length_coef, f(&want["length_coef"]), 1e-9, name);
        assert_close(got.length_sd, f(&want["length_sd"]), 1e-9, name);
    }
}

#[test]
fn sign_test_matches_scipy_binomtest() {
    let v = load("rank_sign.json");
    for case in cases(&v) {
        let better = case["better"].as_u64().unwrap();
        let worse = case["worse"].as_u64().unwrap();
        let t = significance::sign_test(better, worse, 0);
        let what = format!("{better} vs {worse}");
        let (p, g) = (f(&case["p_value"]), f(&case["p_greater"]));
        assert_close(t.p_value, p, 1e-12 * p.max(1e-300) + 1e-300, &what);
        assert_close(t.p_greater, g, 1e-12 * g.max(1e-300) + 1e-300, &what);
    }
}
