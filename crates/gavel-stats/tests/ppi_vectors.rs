//! Prediction-powered estimates against vectors computed with ppi_py's formulas
//! (`scripts/reference/gen_rank.py`).

use serde_json::Value;

use gavel_stats::ppi::{Lambda, classical_mean, ppi_mean};

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12,
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn ppi_mean_matches_ppi_py() {
    let path = format!("{}/tests/vectors/ppi_mean.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let col = |k: &str| -> Vec<f64> { case[k].as_array().unwrap().iter().map(f).collect() };
        let (y, yhat, unl) = (col("y"), col("yhat"), col("yhat_unlabeled"));
        let alpha = f(&case["alpha"]);
        for (key, lambda) in [("tuned", Lambda::Tuned), ("lambda_one", Lambda::Fixed(1.0))] {
            let want = &case[key];
            let got = ppi_mean(&y, &yhat, &unl, alpha, lambda).unwrap();
            let what = format!("{name} {key}");
            close(got.lambda, f(&want["lambda"]), &what);
            close(got.estimate, f(&want["estimate"]), &what);
            close(got.std_error, f(&want["std_error"]), &what);
            close(got.ci.0, f(&want["ci"][0]), &what);
            close(got.ci.1, f(&want["ci"][1]), &what);
        }
        let want = &case["classical"];
        let got = classical_mean(&y, alpha).unwrap();
        close(got.estimate, f(&want["estimate"]), name);
        close(got.std_error, f(&want["std_error"]), name);
        close(got.ci.0, f(&want["ci"][0]), name);
        close(got.ci.1, f(&want["ci"][1]), name);
    }
}
