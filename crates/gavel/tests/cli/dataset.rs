//! Tests of `gavel dataset`.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

fn inputs(dir: &Path, n: usize) {
    let mut items = String::new();
    let mut judgments = String::new();
    for i in 0..n {
        items.push_str(
            &json!({"id": format!("q{i}"), "instruction": (format!("Question {i}: explain {}", ["tides", "rust", "jazz", "rain", "maps"][i % 5])),
                    "responses": {"x": format!("x{i}"), "y": format!("y{i}")}})
            .to_string(),
        );
        items.push('\n');
        judgments.push_str(
            &json!({"item": format!("q{i}"), "annotator": "judge:t/mt-bench-pair", "label": (["A", "B", "tie"][i % 3]),
                    "model_a": "x", "model_b": "y", "consistent": true,
                    "rationale": "Assistant A is terse; Assistant B explains."})
            .to_string(),
        );
        judgments.push('\n');
    }
    write(dir, "items.jsonl", &items);
    write(dir, "judgments.jsonl", &judgments);
    write(
        dir,
        "human.jsonl",
        "{\"item\": \"q0\", \"annotator\": \"h1\", \"label\": \"B\", \"model_a\": \"x\", \"model_b\": \"y\"}\n",
    );
}

#[test]
fn help_shows_examples() {
    let dir = temp_dir();
    for args in [
        vec!["dataset", "--help"],
        vec!["dataset", "build", "--help"],
        vec!["dataset", "check", "--help"],
    ] {
        let out = gavel(dir.path()).args(&args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{args:?}");
    }
}

#[test]
fn build_then_check_with_json_reports() {
    let dir = temp_dir();
    inputs(dir.path(), 60);
    let out = gavel(dir.path())
        .args([
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--human",
            "human.jsonl",
            "--out",
            "ds",
            "--templates",
            "mt-bench-pair=1,pandalm=1",
            "--parquet",
            "--report-format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["teacher_records"], 60);
    assert_eq!(report["splits"]["test"]["human_examples"], 1);
    let card = std::fs::read_to_string(dir.path().join("ds/README.md")).unwrap();
    assert!(
        card.contains("gavel dataset build --judgments judgments.jsonl"),
        "{card}"
    );
    assert!(card.contains("| `human_test_item` |"));
    for f in [
        "train.jsonl",
        "validation.jsonl",
        "test.jsonl",
        "train.parquet",
        "dataset.json",
    ] {
        assert!(dir.path().join("ds").join(f).exists(), "{f}");
    }
    let out = gavel(dir.path())
        .args(["dataset", "check", "ds", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let c = stdout_json(&out);
    assert_eq!(c["ok"], true);
    assert_eq!(
        c["targets_checked"],
        report["splits"]["train"]["examples"].as_u64().unwrap()
            + report["splits"]["validation"]["examples"].as_u64().unwrap()
            + 1
    );
    // The text summary too.
    let out = gavel(dir.path())
        .args(["dataset", "check", "ds"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn check_exits_1_on_a_broken_dataset() {
    let dir = temp_dir();
    inputs(dir.path(), 30);
    let ok = gavel(dir.path())
        .args([
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let train = dir.path().join("ds/train.jsonl");
    let text = std::fs::read_to_string(&train).unwrap();
    // The first target (the system prompt also quotes the verdict tokens).
    std::fs::write(&train, text.replacen(r#"\n\n[[A]]""#, r#"\n\n[[B]]""#, 1)).unwrap();
    let out = gavel(dir.path())
        .args(["dataset", "check", "ds"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("label mismatches: 1"), "{stdout}");
    assert!(stdout.contains("FAILED"));
    // Not a dataset directory.
    let out = gavel(dir.path())
        .args(["dataset", "check", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dataset.json"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp_dir();
    inputs(dir.path(), 3);
    for args in [
        vec!["dataset", "build", "--items", "items.jsonl", "--out", "ds"],
        vec![
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
            "--split",
            "train=1,dev=x",
        ],
        vec![
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
            "--reference-drop",
            "2",
        ],
        vec![
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
            "--templates",
            "nope",
        ],
    ] {
        let out = gavel(dir.path()).args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_records_exit_1_naming_the_line() {
    let dir = temp_dir();
    inputs(dir.path(), 3);
    write(
        dir.path(),
        "bad.jsonl",
        "{\"item\": \"q0\", \"annotator\": \"t\", \"label\": \"A\", \"model_a\": \"x\", \"model_b\": \"y\"}\n{\"item\": \"q1\", \"annotator\": \"t\", \"label\": \"A\", \"orders\": 5}\n",
    );
    let out = gavel(dir.path())
        .args([
            "dataset",
            "build",
            "--judgments",
            "bad.jsonl",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2: field `orders`"), "{err}");
    assert!(!dir.path().join("ds/train.jsonl").exists());
}

#[test]
fn judgments_on_stdin() {
    let dir = temp_dir();
    inputs(dir.path(), 20);
    let judgments = std::fs::read_to_string(dir.path().join("judgments.jsonl")).unwrap();
    let out = gavel(dir.path())
        .args([
            "dataset",
            "build",
            "--judgments",
            "-",
            "--items",
            "items.jsonl",
            "--out",
            "ds",
            "--report-format",
            "json",
        ])
        .write_stdin(judgments)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = stdout_json(&out);
    assert_eq!(r["teacher_records"], 20);
    assert_eq!(r["teacher_agreement_checked"], false);
}

/// The shared Auto-J and PandaLM sets: Auto-J-13B's verdicts in both orders as the teacher,
/// the PandaLM test set's human labels as the test split.
#[test]
fn real_data_autoj_teacher_pandalm_test() {
    let Some(root) = shared_data("real_data_autoj_teacher_pandalm_test") else {
        return;
    };
    let dir = temp_dir();
    let read = |p: &str| -> Vec<Value> {
        std::fs::read_to_string(root.join(p))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (mut items, mut judgments, mut human) = (String::new(), String::new(), String::new());
    for r in read("autoj_pairwise/normalized.jsonl") {
        let id = format!("autoj-{}", r["id"].as_str().unwrap());
        items.push_str(&format!(
            "{}\n",
            json!({"id": id, "instruction": r["instruction"],
            "responses": {"response_1": r["response_a"], "response_2": r["response_b"]}})
        ));
        let (ab, ba) = (
            &r["judge_labels"]["Auto-J-13B"],
            &r["judge_labels"]["Auto-J-13B#swap"],
        );
        let consistent = ab == ba;
        judgments.push_str(&format!("{}\n", json!({"item": id, "annotator": "judge:Auto-J-13B/auto-j-pair",
            "label": if consistent { ab.clone() } else { json!("tie") }, "model_a": "response_1", "model_b": "response_2",
            "mode": "pairwise", "orders": [{"order": "AB", "label": ab}, {"order": "BA", "label": ba}],
            "consistent": consistent})));
    }
    for r in read("pandalm/normalized.jsonl") {
        let id = format!("pandalm-{}", r["id"].as_str().unwrap());
        let (a, b) = (
            r["model_a"].as_str().unwrap(),
            r["model_b"].as_str().unwrap(),
        );
        let mut responses = serde_json::Map::new();
        // A few PandaLM responses are JSON booleans (`true` for the text "True").
        let text = |v: &Value| match v {
            Value::String(s) => json!(s),
            Value::Bool(b) => json!(if *b { "True" } else { "False" }),
            other => json!(other.to_string()),
        };
        responses.insert(a.to_string(), text(&r["response_a"]));
        responses.insert(b.to_string(), text(&r["response_b"]));
        items.push_str(&format!(
            "{}\n",
            json!({"id": id, "instruction": r["instruction"], "input": r["input"],
            "responses": responses})
        ));
        for h in r["human_labels"].as_array().unwrap() {
            human.push_str(&format!(
                "{}\n",
                json!({"item": id, "annotator": h["annotator"], "label": h["label"],
                "model_a": a, "model_b": b})
            ));
        }
    }
    write(dir.path(), "items.jsonl", &items);
    write(dir.path(), "judgments.jsonl", &judgments);
    write(dir.path(), "human.jsonl", &human);
    let out = gavel(dir.path())
        .args([
            "dataset",
            "build",
            "--judgments",
            "judgments.jsonl",
            "--items",
            "items.jsonl",
            "--human",
            "human.jsonl",
            "--out",
            "ds",
            "--templates",
            "mt-bench-pair=2,pandalm=1",
            "--report-format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = stdout_json(&out);
    assert_eq!(r["teacher_records"], 1392);
    // Auto-J-13B disagrees with itself across orders on 231 of the 1,392 pairs.
    let f = |name: &str| {
        r["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["reason"] == name)
            .unwrap()["records"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(f("position_inconsistent"), 231);
    // PandaLM: 999 pairs, every one with a majority (no 1/1/1 split).
    assert_eq!(r["human"]["pairs"], 999);
    assert_eq!(r["splits"]["test"]["examples"], 999);
    assert_eq!(
        r["splits"]["test"]["labels"],
        json!({"A": 422, "B": 472, "tie": 105})
    );
    let out = gavel(dir.path())
        .args(["dataset", "check", "ds"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
