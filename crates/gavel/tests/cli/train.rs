//! Tests of `gavel train` and `gavel judge --judge local:DIR`, on the tiny random BERT of
//! crates/gavel-train/tests/vectors (real-weight runs are scripts, not tests).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

fn tiny_bert() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gavel-train/tests/vectors/tiny-bert")
}

/// Pairs where the better response says "good ... correct" and the worse "bad ... wrong";
/// every fifth pair is a tie (both good).
fn pairwise_rows(n: usize, offset: usize) -> String {
    let topics = ["cat", "dog", "fox", "poem", "code", "story", "number"];
    let mut out = String::new();
    for i in offset..offset + n {
        let t = topics[i % topics.len()];
        let good = format!("the answer is good and correct about the {t}");
        let bad = format!("bad wrong answer, not the {t}");
        let (a, b, label) = match i % 5 {
            0 => (
                good.clone(),
                format!("a good and correct {t} answer"),
                "tie",
            ),
            1 | 3 => (good, bad, "A"),
            _ => (bad, good, "B"),
        };
        out.push_str(
            &serde_json::json!({
                "item": format!("q{i}"), "instruction": format!("write about the {t}"),
                "response_a": a, "response_b": b, "label": label,
                "model_a": "x", "model_b": "y",
            })
            .to_string(),
        );
        out.push('\n');
    }
    out
}

fn dataset(dir: &Path) -> PathBuf {
    let ds = dir.join("ds");
    write(&ds, "train.jsonl", &pairwise_rows(60, 0));
    write(&ds, "validation.jsonl", &pairwise_rows(15, 1000));
    ds
}

/// `gavel train` on the tiny BERT with small settings; `overrides` replace or add options.
fn train_args(ds: &Path, out: &str, overrides: &[(&str, &str)]) -> Vec<String> {
    let mut opts: Vec<(String, String)> = [
        ("--data", ds.to_str().unwrap()),
        ("--base", tiny_bert().to_str().unwrap()),
        ("--out", out),
        ("--epochs", "4"),
        ("--batch-size", "8"),
        ("--lr", "2e-3"),
        ("--patience", "0"),
        ("--seed", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        match opts.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => opts.push((k.to_string(), v.to_string())),
        }
    }
    let mut args = vec!["train".to_string()];
    for (k, v) in opts {
        args.push(k);
        if !v.is_empty() {
            args.push(v);
        }
    }
    args
}

fn items_and_labels(dir: &Path) -> (PathBuf, PathBuf) {
    let mut items = String::new();
    let mut labels = String::new();
    for (i, line) in pairwise_rows(20, 2000).lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        items.push_str(
            &serde_json::json!({"id": format!("t{i}"), "instruction": v["instruction"],
                "responses": {"x": v["response_a"], "y": v["response_b"]}})
            .to_string(),
        );
        items.push('\n');
        labels.push_str(
            &serde_json::json!({"item": format!("t{i}"), "annotator": "human",
                "model_a": "x", "model_b": "y", "label": v["label"]})
            .to_string(),
        );
        labels.push('\n');
    }
    (
        write(dir, "items.jsonl", &items),
        write(dir, "labels.jsonl", &labels),
    )
}

#[test]
fn trains_a_pairwise_judge_and_judges_with_it() {
    let dir = temp_dir();
    let ds = dataset(dir.path());
    let out = gavel(dir.path())
        .args(train_args(&ds, "judge", &[("--format", "json")]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = stdout_json(&out);
    assert_eq!(s["finished"], true);
    assert_eq!(s["steps"], 32, "4 epochs of 60/8 = 8 steps");
    assert_eq!(s["evaluations"].as_array().unwrap().len(), 4);
    let band = s["tie_band"].as_f64().unwrap();
    assert!(band >= 0.0);
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "gavel_judge.json",
        "README.md",
    ] {
        assert!(dir.path().join("judge").join(f).is_file(), "{f}");
    }
    assert!(!dir.path().join("judge/checkpoint").exists());
    let card = std::fs::read_to_string(dir.path().join("judge/README.md")).unwrap();
    assert!(
        card.contains("## Validation") && card.contains("Tie band"),
        "{card}"
    );

    let (items, labels) = items_and_labels(dir.path());
    let out = gavel(dir.path())
        .args([
            "judge",
            "--data",
            items.to_str().unwrap(),
            "--judge",
            "local:judge",
        ])
        .args(["--out", "j.jsonl", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["judgments"], 20);
    let text = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["annotator"], "judge:local/judge");
    assert_eq!(first["mode"], "pairwise");
    assert_eq!(first["template"], "local:pairwise");
    assert_eq!(first["model_a"], "x");
    assert_eq!(first["scores"].as_array().unwrap().len(), 2);
    assert!(first["consistent"].is_null());
    assert!(first["probabilities"]["tie"].as_f64().is_some());

    // The judgments go straight into meta-eval; the judge has learnt the pattern.
    let out = gavel(dir.path())
        .args(["meta-eval", "--judge", "j.jsonl", "--human"])
        .arg(&labels)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = stdout_json(&out);
    let acc = m["judges"][0]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.75, "accuracy {acc}: {m}");
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let dir = temp_dir();
    let ds = dataset(dir.path());
    // Reference: one uninterrupted run.
    gavel(dir.path())
        .args(train_args(&ds, "whole", &[("--checkpoint-every", "1")]))
        .assert()
        .success();
    // The same run, killed (SIGKILL) once a few checkpoints exist, then run again.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.current_dir(dir.path())
        .args(train_args(&ds, "killed", &[("--checkpoint-every", "1")]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let state = dir.path().join("killed/checkpoint/state.json");
    let started = Instant::now();
    let mut killed_at = None;
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(text) = std::fs::read_to_string(&state)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && v["step"].as_u64().unwrap_or(0) >= 5
        {
            killed_at = v["step"].as_u64();
            child.kill().unwrap();
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = child.wait().unwrap();
    assert!(
        killed_at.is_some() && !status.success(),
        "the run was not killed mid-way ({status:?}); it is too fast for this test"
    );
    assert!(!dir.path().join("killed/gavel_judge.json").exists());
    let out = gavel(dir.path())
        .args(train_args(
            &ds,
            "killed",
            &[("--checkpoint-every", "1"), ("--format", "json")],
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = stdout_json(&out);
    assert!(s["resumed_from"].as_u64().unwrap() >= killed_at.unwrap());
    let a = std::fs::read(dir.path().join("whole/model.safetensors")).unwrap();
    let b = std::fs::read(dir.path().join("killed/model.safetensors")).unwrap();
    assert!(
        a == b,
        "the resumed run's weights differ from the uninterrupted run's"
    );
    let ja = std::fs::read_to_string(dir.path().join("whole/gavel_judge.json")).unwrap();
    let jb = std::fs::read_to_string(dir.path().join("killed/gavel_judge.json")).unwrap();
    assert_eq!(ja, jb);
}

#[test]
fn other_objectives_train_and_judge() {
    let dir = temp_dir();
    // Pointwise: numbers (regression), categories (classification).
    let mut reg = String::new();
    let mut cls = String::new();
    for i in 0..40 {
        let good = i % 2 == 0;
        let r = if good {
            "good and correct answer"
        } else {
            "bad wrong answer"
        };
        reg.push_str(&format!(
            "{{\"item\": \"p{i}\", \"instruction\": \"answer the question\", \"response\": \"{r}\", \"label\": {}}}\n",
            if good { 5 } else { 1 }
        ));
        cls.push_str(&format!(
            "{{\"item\": \"p{i}\", \"instruction\": \"answer the question\", \"response\": \"{r}\", \"label\": \"{}\"}}\n",
            if good { "pass" } else { "fail" }
        ));
    }
    write(&dir.path().join("reg"), "train.jsonl", &reg);
    write(&dir.path().join("cls"), "train.jsonl", &cls);
    let ds = dataset(dir.path());
    let items = write(
        dir.path(),
        "items.jsonl",
        "{\"id\": \"i1\", \"instruction\": \"answer the question\", \"responses\": {\"x\": \"good and correct answer\", \"y\": \"bad wrong answer\"}}\n",
    );
    for (name, data, objective) in [
        ("reg-judge", dir.path().join("reg"), "pointwise"),
        ("cls-judge", dir.path().join("cls"), "pointwise"),
        ("pc-judge", ds.clone(), "pair-classifier"),
    ] {
        let out = gavel(dir.path())
            .args(["train", "--data"])
            .arg(&data)
            .args(["--base"])
            .arg(tiny_bert())
            .args(["--out", name, "--objective", objective, "--epochs", "2"])
            .args(["--lr", "2e-3", "--batch-size", "8", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = stdout_json(&out);
        assert_eq!(s["finished"], true, "{name}");
        let out = gavel(dir.path())
            .args(["judge", "--data"])
            .arg(&items)
            .args([
                "--judge",
                &format!("local:{name}"),
                "--out",
                &format!("{name}.jsonl"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join(format!("{name}.jsonl"))).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        match name {
            "reg-judge" => {
                assert_eq!(rows.len(), 2);
                assert!(rows[0]["label"].is_number() && rows[0]["model"] == "x");
            }
            "cls-judge" => {
                assert_eq!(rows.len(), 2);
                let l = rows[0]["label"].as_str().unwrap();
                assert!(l == "pass" || l == "fail");
                assert!(rows[0]["probabilities"]["pass"].is_number());
            }
            _ => {
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0]["orders"].as_array().unwrap().len(), 2);
                assert!(rows[0]["consistent"].is_boolean());
            }
        }
    }
    // A regressor's scores compared into pairs.
    let out = gavel(dir.path())
        .args(["judge", "--data"])
        .arg(&items)
        .args(["--judge", "local:reg-judge", "--compare-scores"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let row: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(row["compared"], "scores");
}

#[test]
fn a_frozen_encoder_trains_only_the_head() {
    let dir = temp_dir();
    let ds = dataset(dir.path());
    let out = gavel(dir.path())
        .args(train_args(
            &ds,
            "frozen",
            &[("--freeze-encoder", ""), ("--format", "json")],
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = stdout_json(&out);
    // 32 head weights + 1 bias + θ.
    assert_eq!(s["plan"]["trainable_parameters"], 34);
    // The encoder is the base one, unchanged.
    let trained = gavel_judge_weights(&dir.path().join("frozen"));
    let original = gavel_judge_weights(&tiny_bert());
    for (k, v) in &original {
        assert_eq!(trained.get(k), Some(v), "{k} changed");
    }
}

/// Tensor name -> raw bytes.
fn gavel_judge_weights(dir: &Path) -> std::collections::HashMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let o = v["data_offsets"].as_array().unwrap();
            let (s, e) = (
                o[0].as_u64().unwrap() as usize,
                o[1].as_u64().unwrap() as usize,
            );
            (k.clone(), data[s..e].to_vec())
        })
        .collect()
}

#[test]
fn clear_errors_for_bad_models_data_and_outputs() {
    let dir = temp_dir();
    let ds = dataset(dir.path());
    // A base directory without tokenizer.json.
    let base = dir.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny_bert().join(f), base.join(f)).unwrap();
    }
    let out = gavel(dir.path())
        .args(["train", "--data"])
        .arg(&ds)
        .args(["--base", "base", "--out", "o"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no tokenizer.json"), "{err}");
    // A config of another architecture.
    std::fs::copy(
        tiny_bert().join("tokenizer.json"),
        base.join("tokenizer.json"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(tiny_bert().join("config.json"))
        .unwrap()
        .replace("\"bert\"", "\"llama\"");
    std::fs::write(base.join("config.json"), cfg).unwrap();
    let out = gavel(dir.path())
        .args(["train", "--data"])
        .arg(&ds)
        .args(["--base", "base", "--out", "o"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model_type `llama` is not supported"), "{err}");
    // Weights that do not fit the config.
    let cfg = std::fs::read_to_string(tiny_bert().join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 48", "\"intermediate_size\": 64");
    std::fs::write(base.join("config.json"), cfg).unwrap();
    let out = gavel(dir.path())
        .args(["train", "--data"])
        .arg(&ds)
        .args(["--base", "base", "--out", "o"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has shape [48, 32], but config.json implies [64, 32]"),
        "{err}"
    );
    // A bad label, located.
    write(
        &dir.path().join("bad"),
        "train.jsonl",
        "{\"item\": \"q\", \"instruction\": \"x\", \"response_a\": \"a\", \"response_b\": \"b\", \"label\": \"maybe\"}\n",
    );
    let out = gavel(dir.path())
        .args(["train", "--data", "bad", "--base"])
        .arg(tiny_bert())
        .args(["--out", "o"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train.jsonl:1") && err.contains("`maybe`"),
        "{err}"
    );
    // A finished judge is not overwritten by accident.
    gavel(dir.path())
        .args(train_args(&ds, "done", &[("--epochs", "1")]))
        .assert()
        .success();
    let out = gavel(dir.path())
        .args(train_args(&ds, "done", &[("--epochs", "1")]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overwrite"));
    // --judge needs local:DIR, and a directory that is a judge.
    let (items, _) = items_and_labels(dir.path());
    let out = gavel(dir.path())
        .args(["judge", "--data"])
        .arg(&items)
        .args(["--judge", "base"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = gavel(dir.path())
        .args(["judge", "--data"])
        .arg(&items)
        .args(["--judge", "local:base"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gavel_judge.json"));
    // Without --judge, --template and --model are still required.
    let out = gavel(dir.path())
        .args(["judge", "--data"])
        .arg(&items)
        .args(["--model", "m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--template is required"));
}

#[test]
fn a_checkpoint_of_other_settings_is_not_resumed() {
    let dir = temp_dir();
    let ds = dataset(dir.path());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.current_dir(dir.path())
        .args(train_args(
            &ds,
            "o",
            &[("--checkpoint-every", "1"), ("--epochs", "30")],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let state = dir.path().join("o/checkpoint/state.json");
    let started = Instant::now();
    while !state.exists() && started.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(state.exists());
    let out = gavel(dir.path())
        .args(train_args(&ds, "o", &[("--lr", "1e-4")]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--restart"));
    gavel(dir.path())
        .args(train_args(
            &ds,
            "o",
            &[("--lr", "1e-4"), ("--restart", ""), ("--epochs", "1")],
        ))
        .assert()
        .success();
}
