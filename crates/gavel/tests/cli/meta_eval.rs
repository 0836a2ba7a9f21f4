//! Tests of `gavel meta-eval`.

use crate::common::*;

fn close(v: &serde_json::Value, want: f64, tol: f64) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"));
    assert!((got - want).abs() <= tol, "got {got}, want {want}");
}

const HUMANS: &str = concat!(
    "{\"item\":\"1\",\"annotator\":\"h1\",\"label\":\"A\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"1\",\"annotator\":\"h2\",\"label\":\"A\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"2\",\"annotator\":\"h1\",\"label\":\"B\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"2\",\"annotator\":\"h2\",\"label\":\"A\",\"model_a\":\"y\",\"model_b\":\"x\"}\n",
    "{\"item\":\"3\",\"annotator\":\"h1\",\"label\":\"tie\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"3\",\"annotator\":\"h2\",\"label\":\"tie\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"4\",\"annotator\":\"h1\",\"label\":\"A\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    "{\"item\":\"4\",\"annotator\":\"h2\",\"label\":\"B\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
);

fn judgment(item: u32, judge: &str, ab: Option<&str>, ba: Option<&str>) -> String {
    let q = |l: Option<&str>| l.map_or("null".to_string(), |l| format!("\"{l}\""));
    let label = if ab == ba { q(ab) } else { "\"tie\"".into() };
    format!(
        "{{\"item\":\"{item}\",\"annotator\":\"{judge}\",\"label\":{label},\"model_a\":\"x\",\"model_b\":\"y\",\"orders\":[{{\"order\":\"AB\",\"label\":{},\"parse_error\":null}},{{\"order\":\"BA\",\"label\":{},\"parse_error\":null}}],\"consistent\":{}}}\n",
        q(ab),
        q(ba),
        ab == ba
    )
}

#[test]
fn judges_side_by_side_with_the_human_baseline() {
    let dir = temp_dir();
    write(dir.path(), "human.jsonl", HUMANS);
    let mut j = String::new();
    // good: right on 1, 2, 3 in both orders; bad: inconsistent on 1, wrong on 2, unparsed on 3.
    j.push_str(&judgment(1, "judge:good", Some("A"), Some("A")));
    j.push_str(&judgment(2, "judge:good", Some("B"), Some("B")));
    j.push_str(&judgment(3, "judge:good", Some("tie"), Some("tie")));
    j.push_str(&judgment(1, "judge:bad", Some("A"), Some("B")));
    j.push_str(&judgment(2, "judge:bad", Some("A"), Some("A")));
    j.push_str(&judgment(3, "judge:bad", None, None));
    write(dir.path(), "judge.jsonl", &j);
    let out = gavel(dir.path())
        .args([
            "meta-eval",
            "--judge",
            "judge.jsonl",
            "--human",
            "human.jsonl",
            "--format",
            "json",
            "--bootstrap",
            "100",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["policy"], "majority");
    // Item 2's humans agree once the swapped pair is read in the unit's frame; item 4 splits.
    assert_eq!(
        (v["n_items"].as_u64(), v["n_items_without_gold"].as_u64()),
        (Some(3), Some(1))
    );
    let judges = v["judges"].as_array().unwrap();
    assert_eq!(judges[0]["judge"], "judge:bad");
    let good = &judges[1];
    assert_eq!(good["accuracy"], 1.0);
    assert_eq!(good["position_consistency"], 1.0);
    assert_eq!(good["agreement_both_orders"], 1.0);
    assert_eq!(good["agreement_without_ties"], 1.0);
    assert_eq!(good["n_without_ties"], 2);
    assert!(good["accuracy_ci"].is_array());
    let bad = &judges[0];
    assert_eq!(bad["n_unparsed"], 1);
    close(&bad["accuracy"], 0.0, 0.0);
    close(&bad["position_consistency"], 1.0 / 3.0, 1e-12);
    assert_eq!(
        bad["confusion"]["labels"].as_array().unwrap().last(),
        Some(&serde_json::Value::Null)
    );
    for field in [
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "per_class",
        "cohen_kappa",
        "agreement_with_ties",
    ] {
        assert!(good.get(field).is_some(), "{field}");
    }
    // Humans against humans on the judged items (1, 2, 3): each human against the other.
    let hb = &v["human_baseline"];
    assert_eq!(hb["judge"], "humans");
    assert_eq!(hb["accuracy"], 1.0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));

    // Unparsed verdicts read as ties make `bad` right on item 3.
    let tie = gavel(dir.path())
        .args([
            "meta-eval",
            "--judge",
            "judge.jsonl",
            "--human",
            "human.jsonl",
            "--unparsed",
            "tie",
            "--format",
            "json",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    close(
        &stdout_json(&tie)["judges"][0]["accuracy"],
        1.0 / 3.0,
        1e-12,
    );

    // Text: one table, both judges and the humans.
    let text = gavel(dir.path())
        .args([
            "meta-eval",
            "--judge",
            "judge.jsonl",
            "--human",
            "human.jsonl",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for want in [
        "judge:good",
        "judge:bad",
        "humans",
        "consistency",
        "both orders",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

#[test]
fn each_policy_counts_every_human_vote_and_gates() {
    let dir = temp_dir();
    write(dir.path(), "human.jsonl", HUMANS);
    write(
        dir.path(),
        "judge.jsonl",
        "{\"item\":\"4\",\"annotator\":\"j\",\"label\":\"A\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
    );
    let out = gavel(dir.path())
        .args([
            "meta-eval",
            "--judge",
            "judge.jsonl",
            "--human",
            "human.jsonl",
            "--policy",
            "each",
            "--format",
            "json",
            "--min-accuracy",
            "0.9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v = stdout_json(&out);
    assert_eq!(v["judges"][0]["n"], 2);
    assert_eq!(v["judges"][0]["accuracy"], 0.5);
    assert_eq!(v["gate"]["passed"], false);
}

#[test]
fn numeric_scores_get_correlations() {
    let dir = temp_dir();
    let mut h = String::new();
    let mut j = String::new();
    let human = [1, 2, 3, 4, 5, 3, 2];
    let judge = [2, 2, 3, 5, 4, 3, 1];
    for i in 0..human.len() {
        h.push_str(&format!(
            "{{\"item\":\"{i}\",\"annotator\":\"h\",\"label\":{}}}\n",
            human[i]
        ));
        j.push_str(&format!(
            "{{\"item\":\"{i}\",\"annotator\":\"j\",\"label\":{}}}\n",
            judge[i]
        ));
    }
    write(dir.path(), "h.jsonl", &h);
    write(dir.path(), "j.jsonl", &j);
    let out = gavel(dir.path())
        .args([
            "meta-eval",
            "--judge",
            "j.jsonl",
            "--human",
            "h.jsonl",
            "--format",
            "json",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    let r = &v["judges"][0];
    // scipy.stats: pearsonr 0.8157894736842107, spearmanr 0.8796296296296298,
    // kendalltau 0.7368421052631577
    close(&r["pearson"], 0.8157894736842107, 1e-9);
    close(&r["spearman"], 0.8796296296296298, 1e-9);
    close(&r["kendall_tau_b"], 0.7368421052631577, 1e-9);
    // kendalltau(variant="c") 0.7142857142857142; pearsonr(...).confidence_interval(0.95)
    close(&r["kendall_tau_c"], 0.7142857142857142, 1e-9);
    close(&r["pearson_ci_analytic"][0], 0.1626584468472726, 1e-9);
    close(&r["pearson_ci_analytic"][1], 0.9718216834147536, 1e-9);
    assert!(v["human_baseline"].is_null());
    assert!(v["null_reasons"]["human_baseline"].is_string());
}

#[test]
fn help_has_examples() {
    let out = gavel(&std::env::temp_dir())
        .args(["meta-eval", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:") && text.contains("--policy") && text.contains("--unparsed"));
}

/// PandaLM README (2023-05): GPT-3.5 71.07 / 58.79 / 57.36 / 57.55 and PandaLM-7B
/// 66.77 / 57.38 / 57.50 / 57.43 (accuracy, macro precision, recall, F1) against the majority of
/// three annotators, GPT-3.5's 25 unparsable outputs counted as ties (docs/reproductions.md).
#[test]
fn reproduces_pandalm_judge_accuracy() {
    let Some(data) = shared_data("reproduces_pandalm_judge_accuracy") else {
        return;
    };
    let d = data.join("pandalm");
    let out = gavel(&std::env::temp_dir())
        .args(["meta-eval", "--human"])
        .arg(d.join("testset-v1.json"))
        .arg("--judge")
        .arg(d.join("gpt-3.5-turbo-testset-v1.json"))
        .arg("--judge")
        .arg(d.join("pandalm-7b-testset-v1.json"))
        .args([
            "--item-column",
            "idx",
            "--human-columns",
            "annotator1,annotator2,annotator3",
            "--judge-columns",
            "gpt_result=gpt-3.5-turbo,pandalm_result=PandaLM-7B",
            "--map",
            "1=A,2=B,0=tie,Tie=tie,garbage=null",
            "--unparsed",
            "tie",
            "--bootstrap",
            "0",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["n_items"], 999);
    let find = |name: &str| {
        v["judges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["judge"] == name)
            .unwrap()
            .clone()
    };
    let gpt = find("gpt-3.5-turbo");
    assert_eq!(gpt["n_unparsed"], 25);
    for (field, want) in [
        ("accuracy", 0.7107),
        ("macro_precision", 0.5879),
        ("macro_recall", 0.5736),
        ("macro_f1", 0.5755),
    ] {
        close(&gpt[field], want, 5e-5);
    }
    let panda = find("PandaLM-7B");
    for (field, want) in [
        ("accuracy", 0.6677),
        ("macro_precision", 0.5738),
        ("macro_recall", 0.5750),
        ("macro_f1", 0.5743),
    ] {
        close(&panda[field], want, 5e-5);
    }
}

/// Auto-J (Li et al. 2023): pairwise agreement 54.96 (both orders right) and consistency 83.41
/// of Auto-J-13B on its 1,392-item test set.
#[test]
fn reproduces_autoj_agreement_and_consistency() {
    let Some(data) = shared_data("reproduces_autoj_agreement_and_consistency") else {
        return;
    };
    let d = data.join("autoj_pairwise");
    let out = gavel(&std::env::temp_dir())
        .args(["meta-eval", "--human"])
        .arg(d.join("testdata_pairwise.jsonl"))
        .arg("--judge")
        .arg(d.join("pairwise_example_output.jsonl"))
        .arg("--judge-swapped")
        .arg(d.join("pairwise_exchange_example_output.jsonl"))
        .args([
            "--item-column",
            "@row",
            "--human-columns",
            "label=human",
            "--judge-columns",
            "output=Auto-J-13B",
            "--map",
            "0=A,1=B,2=tie",
            "--bootstrap",
            "0",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    let j = &v["judges"][0];
    assert_eq!(j["n"], 1392);
    assert_eq!(j["n_both_orders"], 1392);
    close(&j["agreement_both_orders"], 0.5496, 5e-5);
    close(&j["position_consistency"], 0.8341, 5e-5);
}
