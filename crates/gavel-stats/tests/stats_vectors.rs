//! Exactness against the Python references: vectors written by
//! `scripts/reference/gen_stats.py` (scikit-learn, statsmodels, krippendorff, irrCAC, scipy)
//! into `tests/vectors/stats_*.json`. Every value agrees to 1e-9; every value the reference
//! gives as NaN (or an error) is undefined here.

use gavel_stats::agreement::{
    Level, Ratings, Weighting, cohen_kappa, cohen_kappa_analytic, cohen_kappa_asymptotic,
    fleiss_kappa, gwet_ac1, krippendorff_alpha, percent_agreement,
};
use gavel_stats::classification::{ZeroDivision, classification_report, confusion_matrix};
use gavel_stats::correlation::{TauVariant, fisher_interval, kendall_tau, pearson, spearman};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("vector file is JSON");
    doc["cases"].as_array().expect("cases").clone()
}

/// Compares our value with the reference's (`null` = NaN or an error there).
fn check(case: &str, what: &str, ours: Option<f64>, reference: &Value) {
    match (ours, reference.as_f64()) {
        (Some(a), Some(b)) => assert!(
            (a - b).abs() <= TOL,
            "{case} {what}: ours {a}, reference {b}"
        ),
        (None, None) => {}
        (a, _) => panic!("{case} {what}: ours {a:?}, reference {reference}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn ints(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as u32)
        .collect()
}

#[test]
fn agreement_matches_krippendorff_statsmodels_and_irrcac() {
    let cases = load("stats_agreement.json");
    assert!(cases.len() >= 20);
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let matrix: Vec<Vec<Option<f64>>> = case["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(Value::as_f64).collect())
            .collect();
        let mut domain: Vec<f64> = matrix.iter().flatten().flatten().copied().collect();
        domain.sort_by(f64::total_cmp);
        domain.dedup();
        let coded: Vec<Vec<Option<u32>>> = matrix
            .iter()
            .map(|row| {
                row.iter()
                    .map(|x| {
                        x.and_then(|x| domain.iter().position(|&d| d == x))
                            .map(|p| p as u32)
                    })
                    .collect()
            })
            .collect();
        let tally = Ratings::from_matrix(&coded, domain.len()).unwrap().tally();
        for (level, key) in [
            (Level::Nominal, "alpha_nominal"),
            (Level::Ordinal, "alpha_ordinal"),
            (Level::Interval, "alpha_interval"),
            (Level::Ratio, "alpha_ratio"),
        ] {
            check(
                name,
                key,
                krippendorff_alpha(&tally, level, Some(&domain)).ok(),
                &case[key],
            );
        }
        check(
            name,
            "fleiss_kappa",
            fleiss_kappa(&tally).ok(),
            &case["fleiss_kappa"],
        );
        check(name, "gwet_ac1", gwet_ac1(&tally).ok(), &case["gwet_ac1"]);
        check(
            name,
            "percent_agreement",
            percent_agreement(&tally).ok(),
            &case["percent_agreement"],
        );
    }
}

#[test]
fn cohen_kappa_matches_sklearn_and_statsmodels() {
    for case in &load("stats_cohen.json") {
        let name = case["name"].as_str().unwrap_or("?");
        let y1 = ints(&case["y1"]);
        let y2 = ints(&case["y2"]);
        let k = y1
            .iter()
            .chain(&y2)
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let pairs: Vec<(u32, u32)> = y1.iter().copied().zip(y2.iter().copied()).collect();
        check(
            name,
            "kappa",
            cohen_kappa(&pairs, k, Weighting::Unweighted).ok(),
            &case["kappa"],
        );
        check(
            name,
            "linear",
            cohen_kappa(&pairs, k, Weighting::Linear).ok(),
            &case["kappa_linear"],
        );
        check(
            name,
            "quadratic",
            cohen_kappa(&pairs, k, Weighting::Quadratic).ok(),
            &case["kappa_quadratic"],
        );
        let mut table = vec![vec![0.0; k]; k];
        for &(a, b) in &pairs {
            table[a as usize][b as usize] += 1.0;
        }
        let se = cohen_kappa_asymptotic(&table).ok().map(|(_, se)| se);
        check(name, "std_kappa", se, &case["std_kappa"]);
        // statsmodels' default interval: alpha 0.05.
        let analytic = cohen_kappa_analytic(&table, 0.95).ok();
        check(
            name,
            "kappa_low",
            analytic.map(|a| a.2.lo),
            &case["kappa_low"],
        );
        check(
            name,
            "kappa_upp",
            analytic.map(|a| a.2.hi),
            &case["kappa_upp"],
        );
    }
}

#[test]
fn classification_matches_sklearn() {
    for case in &load("stats_classification.json") {
        let name = case["name"].as_str().unwrap_or("?");
        let t = ints(&case["y_true"]);
        let p = ints(&case["y_pred"]);
        let labels: Vec<usize> = ints(&case["labels"])
            .into_iter()
            .map(|x| x as usize)
            .collect();
        let k = t
            .iter()
            .chain(&p)
            .map(|&x| x as usize + 1)
            .chain(labels.iter().map(|&l| l + 1))
            .max()
            .unwrap_or(0);
        let confusion = confusion_matrix(&t, &p, k, None);
        for (i, row) in case["confusion"].as_array().unwrap().iter().enumerate() {
            for (j, v) in row.as_array().unwrap().iter().enumerate() {
                assert_eq!(
                    confusion[labels[i]][labels[j]],
                    v.as_f64().unwrap(),
                    "{name} confusion"
                );
            }
        }
        for (key, zero) in [
            ("zero_division_zero", ZeroDivision::Zero),
            ("zero_division_one", ZeroDivision::One),
            ("zero_division_nan", ZeroDivision::Nan),
        ] {
            let r = classification_report(&t, &p, k, Some(&labels), zero);
            let want = &case[key];
            check(name, "accuracy", r.accuracy, &case["accuracy"]);
            for (i, c) in r.per_class.iter().enumerate() {
                check(name, "precision", c.precision, &want["precision"][i]);
                check(name, "recall", c.recall, &want["recall"][i]);
                check(name, "f1", c.f1, &want["f1"][i]);
                assert_eq!(
                    c.support,
                    want["support"][i].as_f64().unwrap(),
                    "{name} support"
                );
            }
            for (field, ours) in [
                ("macro_precision", r.macro_precision),
                ("macro_recall", r.macro_recall),
                ("macro_f1", r.macro_f1),
                ("micro_precision", r.micro_precision),
                ("micro_recall", r.micro_recall),
                ("micro_f1", r.micro_f1),
            ] {
                check(name, &format!("{key}.{field}"), ours, &want[field]);
            }
        }
    }
}

#[test]
fn correlation_matches_scipy() {
    for case in &load("stats_correlation.json") {
        let name = case["name"].as_str().unwrap_or("?");
        let x = floats(&case["x"]);
        let y = floats(&case["y"]);
        let r = pearson(&x, &y).ok();
        check(name, "pearson", r, &case["pearson"]);
        check(name, "spearman", spearman(&x, &y).ok(), &case["spearman"]);
        check(
            name,
            "tau_b",
            kendall_tau(&x, &y, TauVariant::B).ok(),
            &case["kendall_tau_b"],
        );
        check(
            name,
            "tau_c",
            kendall_tau(&x, &y, TauVariant::C).ok(),
            &case["kendall_tau_c"],
        );
        for (level, key) in [(0.95, "pearson_ci_95"), (0.9, "pearson_ci_90")] {
            if let (Some(r), Some(ci)) = (r, case[key].as_array()) {
                let ours = fisher_interval(r, x.len(), level);
                check(name, key, Some(ours.lo), &ci[0]);
                check(name, key, Some(ours.hi), &ci[1]);
            }
        }
    }
}
