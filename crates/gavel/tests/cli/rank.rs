//! Tests of `gavel rank`.

use serde_json::Value;

use crate::common::*;

/// Battles among three models where a > b > c, with ties, as JSONL.
fn three_models() -> String {
    let mut lines = Vec::new();
    let plan = [
        ("a", "b", 6, 3, 2),
        ("b", "c", 7, 2, 1),
        ("a", "c", 8, 2, 2),
    ];
    for (x, y, wx, wy, t) in plan {
        for k in 0..(wx + wy + t) {
            let winner = if k < wx {
                "model_a"
            } else if k < wx + wy {
                "model_b"
            } else {
                "tie"
            };
            // Alternate sides so that both orientations are read.
            if k % 2 == 0 {
                lines.push(format!(
                    r#"{{"model_a": "{x}", "model_b": "{y}", "winner": "{winner}", "question_id": "q{k}"}}"#
                ));
            } else {
                let flipped = match winner {
                    "model_a" => "model_b",
                    "model_b" => "model_a",
                    w => w,
                };
                lines.push(format!(
                    r#"{{"model_a": "{y}", "model_b": "{x}", "winner": "{flipped}", "question_id": "q{k}"}}"#
                ));
            }
        }
    }
    lines.join("\n") + "\n"
}

fn run_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = gavel(dir)
        .arg("rank")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gavel rank {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

fn stderr_of_failure(dir: &std::path::Path, args: &[&str]) -> String {
    let out = gavel(dir).arg("rank").args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1, got {:?}; stdout:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn model<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == name)
        .unwrap_or_else(|| panic!("no model {name} in {doc}"))
}

#[test]
fn bradley_terry_json_has_the_contract_shape() {
    let dir = temp_dir();
    write(dir.path(), "battles.jsonl", &three_models());
    let doc = run_json(
        dir.path(),
        &["--data", "battles.jsonl", "--bootstrap", "200"],
    );
    assert_eq!(doc["method"], "bt");
    let models = doc["models"].as_array().unwrap();
    let names: Vec<&str> = models
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let mean: f64 = models
        .iter()
        .map(|m| m["rating"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    assert!((mean - 1000.0).abs() < 1e-9);
    for m in models {
        for key in [
            "model", "rating", "ci", "rank", "wins", "losses", "ties", "n",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        let (lo, hi) = (m["ci"][0].as_f64().unwrap(), m["ci"][1].as_f64().unwrap());
        let r = m["rating"].as_f64().unwrap();
        assert!(lo <= r && r <= hi, "{m}");
    }
    assert_eq!(model(&doc, "a")["rank"], 1);
    // a: 6+8 wins, 3+2 losses, 2+2 ties.
    let a = model(&doc, "a");
    assert_eq!(
        (
            a["wins"].as_u64(),
            a["losses"].as_u64(),
            a["ties"].as_u64(),
            a["n"].as_u64()
        ),
        (Some(14), Some(5), Some(4), Some(23))
    );
    assert_eq!(doc["bootstrap"]["rounds"], 200);
}

/// Writes a reference vector's battles as a JSONL file.
fn vector_battles(case: &Value) -> String {
    case["battles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            serde_json::json!({"model_a": t[0], "model_b": t[1], "winner": t[2]}).to_string() + "\n"
        })
        .collect()
}

fn vectors(name: &str) -> Value {
    let path = format!(
        "{}/../gavel-stats/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bradley_terry_ratings_equal_the_reference() {
    let v = vectors("rank_bt.json");
    let dir = temp_dir();
    for case in v["cases"].as_array().unwrap() {
        write(dir.path(), "b.jsonl", &vector_battles(case));
        let p = &case["params"];
        let mut args: Vec<String> = vec![
            "--data".into(),
            "b.jsonl".into(),
            "--bootstrap".into(),
            "50".into(),
            "--scale".into(),
            p["scale"].to_string(),
            "--base".into(),
            p["base"].to_string(),
            "--init".into(),
            p["init"].to_string(),
        ];
        if let Some(a) = p["anchor"].as_object() {
            args.push("--anchor".into());
            args.push(format!("{}={}", a["model"].as_str().unwrap(), a["rating"]));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = run_json(dir.path(), &refs);
        for (name, want) in case["ratings"].as_object().unwrap() {
            let got = model(&doc, name)["rating"].as_f64().unwrap();
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{}: {name} {got} vs {want}",
                case["name"]
            );
        }
    }
}

#[test]
fn elo_ratings_equal_the_notebook() {
    let v = vectors("rank_elo.json");
    let dir = temp_dir();
    let case = &v["cases"][0];
    write(dir.path(), "b.jsonl", &vector_battles(case));
    let doc = run_json(
        dir.path(),
        &["--data", "b.jsonl", "--method", "elo", "--bootstrap", "20"],
    );
    assert_eq!(doc["elo"]["k"], 4.0);
    for (name, want) in case["ratings"].as_object().unwrap() {
        assert_eq!(
            model(&doc, name)["rating"].as_f64(),
            want.as_f64(),
            "{name}"
        );
    }
}

#[test]
fn bootstrap_is_the_same_on_any_thread_count() {
    let dir = temp_dir();
    write(dir.path(), "battles.jsonl", &three_models());
    for method in ["bt", "elo", "winrate"] {
        let base = [
            "--data",
            "battles.jsonl",
            "--method",
            method,
            "--bootstrap",
            "300",
        ];
        let one = run_json(
            dir.path(),
            &[&base[..], &["--seed", "5", "--threads", "1"]].concat(),
        );
        let three = run_json(
            dir.path(),
            &[&base[..], &["--seed", "5", "--threads", "3"]].concat(),
        );
        assert_eq!(one["models"], three["models"], "{method}");
        let other = run_json(dir.path(), &[&base[..], &["--seed", "6"]].concat());
        assert_ne!(one["models"], other["models"], "{method}");
    }
}

#[test]
fn pairwise_labels_rank_like_battles() {
    let dir = temp_dir();
    // The same outcomes as labels: A = model_a won.
    let labels: String = three_models()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let b: Value = serde_json::from_str(line).unwrap();
            let label = match b["winner"].as_str().unwrap() {
                "model_a" => {
                    if i % 3 == 0 {
                        "A"
                    } else {
                        "model_a"
                    }
                }
                "model_b" => {
                    if i % 3 == 0 {
                        "b"
                    } else {
                        "B"
                    }
                }
                _ => "Tie",
            };
            serde_json::json!({"item": format!("i{i}"), "annotator": "judge:x",
                "label": label, "model_a": b["model_a"], "model_b": b["model_b"]})
            .to_string()
                + "\n"
        })
        .collect();
    write(dir.path(), "battles.jsonl", &three_models());
    write(
        dir.path(),
        "labels.jsonl",
        &(labels
            + "{\"item\": \"z\", \"annotator\": \"judge:x\", \"label\": null, \"model_a\": \"a\", \"model_b\": \"b\"}\n"),
    );
    let from_battles = run_json(dir.path(), &["--data", "battles.jsonl", "--bootstrap", "0"]);
    let from_labels = run_json(dir.path(), &["--data", "labels.jsonl", "--bootstrap", "0"]);
    for name in ["a", "b", "c"] {
        let x = model(&from_battles, name)["rating"].as_f64().unwrap();
        let y = model(&from_labels, name)["rating"].as_f64().unwrap();
        assert!((x - y).abs() < 1e-9);
    }
    assert_eq!(from_labels["input"]["skipped_missing_label"], 1);
    assert!(model(&from_labels, "a")["ci"].is_null());
}

#[test]
fn bad_input_is_refused_with_its_location() {
    let dir = temp_dir();
    write(
        dir.path(),
        "winner.jsonl",
        "{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"model_a\"}\n{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"x\"}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "winner.jsonl"]);
    assert!(
        err.contains("winner.jsonl:2: field `winner`: unknown value \"x\""),
        "{err}"
    );

    write(
        dir.path(),
        "self.jsonl",
        "{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"tie\"}\n{\"model_a\": \"x\", \"model_b\": \"x\", \"winner\": \"tie\"}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "self.jsonl"]);
    assert!(
        err.contains("self.jsonl:2: field `model_b`: is the same model as `model_a`"),
        "{err}"
    );

    write(
        dir.path(),
        "labels.jsonl",
        "{\"item\": \"q\", \"annotator\": \"h\", \"label\": \"C\", \"model_a\": \"x\", \"model_b\": \"y\"}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "labels.jsonl"]);
    assert!(
        err.contains("labels.jsonl:1: field `label`: unknown pairwise label \"C\""),
        "{err}"
    );

    write(
        dir.path(),
        "numeric.jsonl",
        "{\"item\": \"q\", \"annotator\": \"h\", \"label\": 2, \"model_a\": \"x\", \"model_b\": \"y\"}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "numeric.jsonl"]);
    assert!(
        err.contains("numeric.jsonl:1: field `label`: numeric label 2"),
        "{err}"
    );

    write(
        dir.path(),
        "pointwise.jsonl",
        "{\"item\": \"q\", \"annotator\": \"h\", \"label\": 4}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "pointwise.jsonl"]);
    assert!(err.contains("pointwise.jsonl:1: field `model_a`"), "{err}");
}

#[test]
fn unidentifiable_ratings_are_explained_not_printed() {
    let dir = temp_dir();
    write(
        dir.path(),
        "split.jsonl",
        "{\"model_a\": \"a\", \"model_b\": \"b\", \"winner\": \"tie\"}\n{\"model_a\": \"c\", \"model_b\": \"d\", \"winner\": \"model_a\"}\n",
    );
    for method in ["bt", "elo", "winrate"] {
        let err = stderr_of_failure(dir.path(), &["--data", "split.jsonl", "--method", method]);
        assert!(
            err.contains("ratings are not identifiable"),
            "{method}: {err}"
        );
        assert!(err.contains("2 groups"), "{err}");
    }
    write(
        dir.path(),
        "sweep.jsonl",
        "{\"model_a\": \"a\", \"model_b\": \"b\", \"winner\": \"model_a\"}\n{\"model_a\": \"b\", \"model_b\": \"c\", \"winner\": \"tie\"}\n{\"model_a\": \"c\", \"model_b\": \"a\", \"winner\": \"model_b\"}\n",
    );
    let err = stderr_of_failure(dir.path(), &["--data", "sweep.jsonl"]);
    assert!(err.contains("`a` won every comparison"), "{err}");
    // Win rates and Elo are still defined.
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "sweep.jsonl",
            "--method",
            "winrate",
            "--bootstrap",
            "0",
        ],
    );
    assert_eq!(model(&doc, "a")["rating"], 100.0);

    let err = stderr_of_failure(
        dir.path(),
        &[
            "--data",
            "sweep.jsonl",
            "--method",
            "winrate",
            "--baseline",
            "gpt-9",
        ],
    );
    assert!(err.contains("model `gpt-9` has no battles"), "{err}");
    let err = stderr_of_failure(
        dir.path(),
        &[
            "--data",
            "sweep.jsonl",
            "--method",
            "elo",
            "--anchor",
            "zz=1000",
        ],
    );
    assert!(err.contains("model `zz` has no battles"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp_dir();
    write(dir.path(), "battles.jsonl", &three_models());
    for args in [
        vec!["--anchor", "a"],
        vec!["--compare", "a"],
        vec!["--alpha", "2"],
        vec!["--ppi-lambda", "2"],
        vec!["--length-controlled"],
    ] {
        let out = gavel(dir.path())
            .args(["rank", "--data", "battles.jsonl"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn win_rate_against_a_baseline_matches_alpacaeval() {
    // Yi-34B-Chat against gpt4_turbo on the AlpacaEval 2 leaderboard: 280 wins, 524 losses,
    // 1 draw; win_rate 34.84472049689441, standard_error 1.6792603475419352.
    let dir = temp_dir();
    let mut text = String::new();
    for k in 0..805 {
        let winner = if k < 280 {
            "model_a"
        } else if k < 804 {
            "model_b"
        } else {
            "tie"
        };
        text.push_str(&format!(
            "{{\"model_a\": \"Yi-34B-Chat\", \"model_b\": \"gpt4_turbo\", \"winner\": \"{winner}\"}}\n"
        ));
    }
    write(dir.path(), "ae.jsonl", &text);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "ae.jsonl",
            "--method",
            "winrate",
            "--baseline",
            "gpt4_turbo",
            "--bootstrap",
            "0",
        ],
    );
    let yi = model(&doc, "Yi-34B-Chat");
    assert!((yi["rating"].as_f64().unwrap() - 34.84472049689441).abs() < 1e-12);
    let vs = &yi["vs_baseline"];
    assert!((vs["standard_error"].as_f64().unwrap() - 1.6792603475419352).abs() < 1e-12);
    assert_eq!(vs["n_wins"], 280);
    assert_eq!(vs["n_wins_base"], 524);
    assert_eq!(vs["n_draws"], 1);
    assert_eq!(model(&doc, "gpt4_turbo")["rating"], 50.0);
}

#[test]
fn length_controlled_win_rate_uses_output_lengths() {
    let dir = temp_dir();
    let mut labels = String::new();
    let mut items = String::new();
    for k in 0..60 {
        // m wins when its answer is longer, mostly.
        let longer = k % 3 != 0;
        let m_len = if longer { 900 + k } else { 300 + k };
        let label = if longer == (k % 7 != 0) { "A" } else { "B" };
        labels.push_str(&format!(
            "{{\"item\": \"q{k}\", \"annotator\": \"judge\", \"label\": \"{label}\", \"model_a\": \"m\", \"model_b\": \"base\"}}\n"
        ));
        items.push_str(&format!(
            "{{\"id\": \"q{k}\", \"instruction\": \"i\", \"responses\": {{\"m\": \"{}\", \"base\": \"{}\"}}}}\n",
            "x".repeat(m_len),
            "y".repeat(600)
        ));
    }
    write(dir.path(), "labels.jsonl", &labels);
    write(dir.path(), "items.jsonl", &items);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "labels.jsonl",
            "--items",
            "items.jsonl",
            "--method",
            "winrate",
            "--baseline",
            "base",
            "--length-controlled",
        ],
    );
    let m = model(&doc, "m");
    let raw = m["vs_baseline"]["win_rate"].as_f64().unwrap();
    let lc = m["rating"].as_f64().unwrap();
    assert_eq!(
        m["vs_baseline"]["length_controlled"]["win_rate"].as_f64(),
        Some(lc)
    );
    assert!(
        lc < raw,
        "LC {lc} should discount the length advantage (raw {raw})"
    );
    // Without lengths, the reason is given instead of a number.
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "labels.jsonl",
            "--method",
            "winrate",
            "--baseline",
            "base",
            "--length-controlled",
        ],
    );
    let m = model(&doc, "m");
    assert!(m["rating"].is_null());
    assert!(
        m["note"]
            .as_str()
            .unwrap()
            .contains("output lengths are missing"),
        "{m}"
    );
}

#[test]
fn pick_best_reports_margin_and_significance() {
    let dir = temp_dir();
    write(dir.path(), "battles.jsonl", &three_models());
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "battles.jsonl",
            "--pick-best",
            "--bootstrap",
            "200",
        ],
    );
    let p = &doc["pick_best"];
    assert_eq!(p["best"], "a");
    assert_eq!(p["runner_up"], "b");
    assert!(p["margin"].as_f64().unwrap() > 0.0);
    assert_eq!(p["test"]["on"], "shared items");
    assert!(p["significant"].is_boolean());
    let text = gavel(dir.path())
        .args([
            "rank",
            "--data",
            "battles.jsonl",
            "--pick-best",
            "--bootstrap",
            "100",
        ])
        .output()
        .unwrap();
    assert!(text.status.success());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(s.contains("best:      a"), "{s}");
    assert!(s.contains("significant at alpha 0.05:"), "{s}");
}

#[test]
fn compare_gives_probability_and_sign_test() {
    let dir = temp_dir();
    let mut text = String::new();
    for k in 0..30 {
        let w = if k < 22 {
            "model_a"
        } else if k < 28 {
            "model_b"
        } else {
            "tie"
        };
        text.push_str(&format!(
            "{{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"{w}\"}}\n"
        ));
    }
    write(dir.path(), "h2h.jsonl", &text);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "h2h.jsonl",
            "--compare",
            "x,y",
            "--bootstrap",
            "100",
        ],
    );
    let c = &doc["comparisons"][0];
    assert_eq!(c["test"]["on"], "head-to-head battles");
    assert_eq!(
        (c["test"]["better"].as_u64(), c["test"]["worse"].as_u64()),
        (Some(22), Some(6))
    );
    // scipy.stats.binomtest(22, 28).pvalue
    assert!((c["test"]["p_value"].as_f64().unwrap() - 0.0037191659212112427).abs() < 1e-12);
    // BT on two models: P = (22 + 1) / 30 exactly.
    assert!((c["predicted_win_probability"].as_f64().unwrap() - 23.0 / 30.0).abs() < 1e-9);
}

#[test]
fn filters_and_several_files() {
    let dir = temp_dir();
    write(
        dir.path(),
        "one.jsonl",
        "{\"model_a\": \"a\", \"model_b\": \"b\", \"winner\": \"model_a\", \"category\": \"math\"}\n{\"model_a\": \"a\", \"model_b\": \"b\", \"winner\": \"model_b\", \"category\": \"math\"}\n{\"model_a\": \"a\", \"model_b\": \"b\", \"winner\": \"model_b\", \"category\": \"chat\"}\n",
    );
    write(
        dir.path(),
        "two.csv",
        "item,annotator,label,model_a,model_b,category\nq1,alice,A,a,b,math\nq2,bob,A,a,b,math\nq3,alice,B,a,b,math\n",
    );
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "one.jsonl",
            "--data",
            "two.csv",
            "--category",
            "math",
            "--bootstrap",
            "0",
            "--method",
            "winrate",
        ],
    );
    assert_eq!(doc["n_battles"], 5);
    assert_eq!(doc["input"]["skipped_by_filter"], 1);
    assert_eq!(model(&doc, "a")["rating"], 60.0);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "two.csv",
            "--judge",
            "alice",
            "--bootstrap",
            "0",
            "--method",
            "winrate",
        ],
    );
    assert_eq!(doc["n_battles"], 2);
    assert_eq!(model(&doc, "a")["rating"], 50.0);
}

#[test]
fn majority_vote_collapses_annotators() {
    let dir = temp_dir();
    let mut text = String::new();
    for (item, labels) in [
        ("q1", ["A", "A", "B"]),
        ("q2", ["B", "tie", "B"]),
        ("q3", ["A", "B", "tie"]),
    ] {
        for (k, l) in labels.iter().enumerate() {
            text.push_str(&format!(
                "{{\"item\": \"{item}\", \"annotator\": \"h{k}\", \"label\": \"{l}\", \"model_a\": \"x\", \"model_b\": \"y\"}}\n"
            ));
        }
    }
    write(dir.path(), "votes.jsonl", &text);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "votes.jsonl",
            "--vote",
            "majority",
            "--method",
            "winrate",
            "--bootstrap",
            "0",
        ],
    );
    assert_eq!(doc["n_battles"], 3);
    let x = model(&doc, "x");
    assert_eq!(
        (x["wins"].as_u64(), x["losses"].as_u64(), x["ties"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
}

#[test]
fn human_labels_give_prediction_powered_estimates() {
    let dir = temp_dir();
    let mut judge = String::new();
    let mut human = String::new();
    for k in 0..200 {
        // The judge says x wins 3 in 4; humans agree except on every fifth item.
        let j = if k % 4 == 0 { "B" } else { "A" };
        judge.push_str(&format!(
            "{{\"item\": \"q{k}\", \"annotator\": \"judge:j\", \"label\": \"{j}\", \"model_a\": \"x\", \"model_b\": \"y\"}}\n"
        ));
        if k % 4 == 1 {
            let h = if k % 5 == 0 { "tie" } else { j };
            // Humans saw the pair the other way round.
            let h = match h {
                "A" => "B",
                "B" => "A",
                t => t,
            };
            human.push_str(&format!(
                "{{\"item\": \"q{k}\", \"annotator\": \"alice\", \"label\": \"{h}\", \"model_a\": \"y\", \"model_b\": \"x\"}}\n"
            ));
        }
    }
    write(dir.path(), "judge.jsonl", &judge);
    write(dir.path(), "human.jsonl", &human);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "judge.jsonl",
            "--human",
            "human.jsonl",
            "--bootstrap",
            "0",
            "--ppi-lambda",
            "1",
        ],
    );
    let h = &doc["human_corrected"][0];
    assert_eq!(h["model_a"], "x");
    assert_eq!(
        (
            h["n_judged"].as_u64(),
            h["n_human"].as_u64(),
            h["n_both"].as_u64()
        ),
        (Some(200), Some(50), Some(50))
    );
    assert_eq!(h["judge_only"]["win_rate"], 75.0);
    // Labelled items (k % 4 == 1) are all judge "A"; humans tie on k % 20 == 5 (10 of 50).
    let human_only = 100.0 * (40.0 + 5.0) / 50.0;
    assert!((h["human_only"]["win_rate"].as_f64().unwrap() - human_only).abs() < 1e-9);
    // PPI with lambda 1: mean judge on the 150 unlabelled (100 of 150 "A") plus the rectifier
    // mean(Y - Ŷ) = 10 × (1/2 - 1) / 50.
    let ppi = 100.0 * (100.0 / 150.0 - 5.0 / 50.0);
    assert!(
        (h["ppi"]["win_rate"].as_f64().unwrap() - ppi).abs() < 1e-9,
        "{h}"
    );
    assert_eq!(h["ppi"]["lambda"], 1.0);
}

#[test]
fn text_output_is_a_leaderboard() {
    let dir = temp_dir();
    write(dir.path(), "battles.jsonl", &three_models());
    let out = gavel(dir.path())
        .args([
            "rank",
            "--data",
            "battles.jsonl",
            "--bootstrap",
            "100",
            "--matrix",
            "--baseline",
            "c",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("Bradley-Terry rating"), "{s}");
    assert!(s.contains("rank  model"), "{s}");
    assert!(s.contains("95% CI"), "{s}");
    assert!(s.contains("win rate against c"), "{s}");
    assert!(s.contains("pairwise win rate, row beats column"), "{s}");
}

#[test]
fn pandalm_human_and_judge_labels_rank_the_same_models() {
    let Some(root) = shared_data("pandalm_human_and_judge_labels_rank_the_same_models") else {
        return;
    };
    let text = std::fs::read_to_string(root.join("pandalm/normalized.jsonl")).unwrap();
    let dir = temp_dir();
    let mut human = String::new();
    let mut judge = String::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        for h in r["human_labels"].as_array().unwrap() {
            human.push_str(
                &(serde_json::json!({"item": r["id"], "annotator": h["annotator"], "label": h["label"],
                    "model_a": r["model_a"], "model_b": r["model_b"]})
                .to_string()
                    + "\n"),
            );
        }
        if let Some(j) = r["judge_labels"]["gpt-3.5-turbo"].as_str() {
            judge.push_str(
                &(serde_json::json!({"item": r["id"], "annotator": "gpt-3.5-turbo", "label": j,
                    "model_a": r["model_a"], "model_b": r["model_b"]})
                .to_string()
                    + "\n"),
            );
        }
    }
    write(dir.path(), "human.jsonl", &human);
    write(dir.path(), "judge.jsonl", &judge);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "human.jsonl",
            "--vote",
            "majority",
            "--bootstrap",
            "200",
        ],
    );
    assert_eq!(doc["n_models"], 5);
    assert_eq!(doc["n_battles"], 999);
    // PandaLM's paper: LLaMA-7B is the strongest of the five tuned models.
    assert_eq!(doc["models"][0]["model"], "llama-7b");
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "judge.jsonl",
            "--human",
            "human.jsonl",
            "--bootstrap",
            "0",
        ],
    );
    assert_eq!(doc["human_corrected"].as_array().unwrap().len(), 10);
}
