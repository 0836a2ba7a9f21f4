//! Tests of `gavel judge`, against an in-process server speaking the OpenAI wire format.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use gavel_core::{Judgment, LabelValue};
use gavel_fake_openai::{ChatCall, FakeOpenAi, Reply};
use serde_json::json;

use crate::common::*;

const KEY: &str = "sk-proj-0d9b6e2c41f84a7fa3c5e2d17b9a";

/// `n` items with two models; the better response is known (`good-i`). Returns the expected
/// label of each item in the record's frame.
fn graded_items(dir: &Path, n: usize) -> Vec<&'static str> {
    let mut text = String::new();
    let mut truth = Vec::new();
    for i in 0..n {
        let (x, y, winner) = if i % 3 == 0 {
            (format!("good-{i}"), format!("bad-{i}"), "A")
        } else {
            (format!("bad-{i}"), format!("good-{i}"), "B")
        };
        text.push_str(
            &json!({"id": format!("q{i}"), "instruction": format!("question {i}"),
                    "responses": {"model-x": x, "model-y": y}})
            .to_string(),
        );
        text.push('\n');
        truth.push(winner);
    }
    write(dir, "items.jsonl", &text);
    truth
}

/// A fair judge: names whichever shown response is the good one.
fn fair_judge(call: &ChatCall) -> Reply {
    let text = call.last_user();
    match (text.find("good-"), text.find("bad-")) {
        (Some(g), Some(b)) if g < b => Reply::text("The first is better. [[A]]"),
        (Some(_), Some(_)) => Reply::text("The second is better. [[B]]"),
        _ => Reply::text("I cannot tell."),
    }
}

fn judge_cmd(dir: &Path, server: &FakeOpenAi) -> assert_cmd::Command {
    let mut cmd = gavel(dir);
    cmd.env("OPENAI_API_KEY", KEY).args([
        "judge",
        "--data",
        "items.jsonl",
        "--template",
        "pair",
        "--model",
        "judge-model",
        "--base-url",
        &server.base_url(),
        "--cache",
        "cache.sqlite",
        "--retries",
        "3",
        "--timeout",
        "2",
    ]);
    cmd
}

fn read_judgments(path: &Path) -> Vec<Judgment> {
    gavel_core::read_all::<Judgment>(path).expect("judgments read back")
}

#[test]
fn judges_both_orders_and_maps_the_verdicts_back() {
    let dir = temp_dir();
    let truth = graded_items(dir.path(), 12);
    let server = FakeOpenAi::start(fair_judge).unwrap();
    let out = judge_cmd(dir.path(), &server)
        .args(["--out", "j.jsonl", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["judgments"], 12);
    assert_eq!(summary["calls"]["sent"], 24);
    assert_eq!(summary["position"]["rate"], 1.0);
    assert_eq!(summary["parse_failure_rate"], 0.0);
    let judgments = read_judgments(&dir.path().join("j.jsonl"));
    assert_eq!(judgments.len(), 12);
    for (i, j) in judgments.iter().enumerate() {
        assert_eq!(j.label.item, format!("q{i}"));
        assert_eq!(j.label.annotator, "judge:judge-model/pair");
        assert_eq!(j.label.model_a.as_deref(), Some("model-x"));
        assert_eq!(
            j.label.label,
            LabelValue::Category(truth[i].into()),
            "item {i}"
        );
        assert!(j.has_both_orders());
        assert_eq!(j.consistent, Some(true));
        assert_eq!(j.mode.as_deref(), Some("pairwise"));
        assert!(j.template_sha256.is_some());
    }
    // Judgments are Labels too: what meta-eval and rank read.
    let labels = gavel_core::read_all::<gavel_core::Label>(&dir.path().join("j.jsonl")).unwrap();
    assert_eq!(labels.len(), 12);
}

#[test]
fn a_rerun_costs_zero_calls() {
    let dir = temp_dir();
    graded_items(dir.path(), 10);
    let server = FakeOpenAi::start(fair_judge).unwrap();
    judge_cmd(dir.path(), &server)
        .args(["--out", "j1.jsonl"])
        .assert()
        .success();
    let after_first = server.stats().requests;
    assert_eq!(after_first, 20);
    let out = judge_cmd(dir.path(), &server)
        .args(["--out", "j2.jsonl", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        server.stats().requests,
        after_first,
        "the rerun made no call"
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["calls"]["cached"], 20);
    assert_eq!(summary["calls"]["sent"], 0);
    let (a, b) = (
        read_judgments(&dir.path().join("j1.jsonl")),
        read_judgments(&dir.path().join("j2.jsonl")),
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.label, y.label);
        assert_eq!(x.orders, y.orders);
        assert_eq!(y.cached, Some(true));
    }
}

#[test]
fn without_out_judgments_stream_to_stdout() {
    let dir = temp_dir();
    graded_items(dir.path(), 3);
    let server = FakeOpenAi::start(fair_judge).unwrap();
    let out = judge_cmd(dir.path(), &server).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["label"].is_string());
    }
    // The default cache is not used when --cache is given.
    assert!(!dir.path().join(".gavel").exists());
}

#[test]
fn the_api_key_appears_nowhere() {
    let dir = temp_dir();
    graded_items(dir.path(), 16);
    // Every fault, an error body that echoes the key, an unparseable answer, and one item
    // whose calls always fail.
    let server = FakeOpenAi::start(|call| {
        let text = call.last_user();
        if text.contains("question 5") {
            return Reply::status(400).body(
                json!({"error": {"message": format!("Invalid request for key {KEY}")}}).to_string(),
            );
        }
        if text.contains("question 6") {
            return Reply::text(format!("I refuse; your key is {}", &KEY[..6]));
        }
        match (call.attempt, call.n % 5) {
            (0, 0) => Reply::status(429).retry_after("0"),
            (0, 1) => Reply::status(503),
            (0, 2) => Reply::Drop,
            (0, 3) => Reply::Malformed,
            _ => fair_judge(call),
        }
    })
    .unwrap();
    let out = judge_cmd(dir.path(), &server)
        .args(["--out", "j.jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.authorization_headers(),
        vec![format!("Bearer {KEY}")],
        "the key was sent"
    );
    let judgments = read_judgments(&dir.path().join("j.jsonl"));
    assert_eq!(judgments.len(), 16);
    let failed = &judgments[5];
    assert!(failed.label.label.is_missing());
    assert!(
        failed.label.extra["error"]
            .as_str()
            .unwrap()
            .contains("[redacted]")
    );
    assert!(judgments[6].parse_error.is_some());
    let mut seen = String::from_utf8_lossy(&out.stdout).into_owned();
    seen.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(!seen.contains(KEY), "key in the command's output");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let found = bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes());
        assert!(!found, "key found in {}", path.display());
    }
}

#[test]
fn a_killed_run_resumes_and_repeats_at_most_the_calls_in_flight() {
    let dir = temp_dir();
    let truth = graded_items(dir.path(), 100);
    let server =
        FakeOpenAi::start(|call| fair_judge(call).after(Duration::from_millis(20))).unwrap();
    let concurrency = 4;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .current_dir(dir.path())
        .env("OPENAI_API_KEY", KEY)
        .args([
            "judge",
            "--data",
            "items.jsonl",
            "--template",
            "pair",
            "--model",
            "judge-model",
            "--base-url",
            &server.base_url(),
            "--cache",
            "cache.sqlite",
            "--concurrency",
            &concurrency.to_string(),
            "--out",
            "j.jsonl",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while server.stats().answered < 60 {
        if child.try_wait().unwrap().is_some() {
            panic!("the run ended before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !dir.path().join("j.jsonl").exists(),
        "no half-written output"
    );
    let answered_before = server.stats().answered;

    let out = judge_cmd(dir.path(), &server)
        .args([
            "--concurrency",
            &concurrency.to_string(),
            "--out",
            "j.jsonl",
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
    let stats = server.stats();
    assert!(
        stats.repeated_answers <= concurrency,
        "{} answers were paid twice (at most {concurrency} were in flight); {stats:?}",
        stats.repeated_answers
    );
    assert_eq!(
        stats.answered - stats.repeated_answers,
        200,
        "every call answered once"
    );
    let summary = stdout_json(&out);
    assert!(summary["calls"]["cached"].as_u64().unwrap() + concurrency >= answered_before);
    let judgments = read_judgments(&dir.path().join("j.jsonl"));
    assert_eq!(judgments.len(), 100);
    for (i, j) in judgments.iter().enumerate() {
        assert_eq!(j.label.label, LabelValue::Category(truth[i].into()));
    }
}

#[test]
fn the_budget_stops_the_run_cleanly() {
    let dir = temp_dir();
    graded_items(dir.path(), 40);
    write(
        dir.path(),
        "prices.toml",
        "[models.judge-model]\ninput = 10.0\noutput = 10.0\n",
    );
    let server = FakeOpenAi::start(|call| fair_judge(call).usage(1000, 50)).unwrap();
    // Each call costs $0.0105; the limit affords about 10 of 80.
    let out = judge_cmd(dir.path(), &server)
        .args([
            "--prices",
            "prices.toml",
            "--max-cost",
            "0.1",
            "--max-tokens",
            "50",
            "--concurrency",
            "2",
            "--out",
            "j.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopped early"), "{stderr}");
    assert!(stderr.contains("--max-cost"), "{stderr}");
    let judgments = read_judgments(&dir.path().join("j.jsonl"));
    assert!(!judgments.is_empty() && judgments.len() < 40);
    assert!(
        judgments
            .iter()
            .all(|j| j.has_both_orders() && !j.label.label.is_missing())
    );
    let spent: f64 = judgments.iter().filter_map(|j| j.cost_usd).sum();
    assert!(spent <= 0.1 + 2.0 * 0.0105, "{spent}");
    assert!(server.stats().requests < 80);
}

#[test]
fn a_dry_run_calls_nothing_and_sees_the_cache() {
    let dir = temp_dir();
    graded_items(dir.path(), 5);
    write(
        dir.path(),
        "prices.json",
        r#"{"judge-model": {"input": 2.5, "output": 10}}"#,
    );
    let server = FakeOpenAi::start(fair_judge).unwrap();
    let out = judge_cmd(dir.path(), &server)
        .args(["--dry-run", "--format", "json", "--prices", "prices.json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let est = stdout_json(&out);
    assert_eq!(est["calls"], 10);
    assert_eq!(est["to_send"], 10);
    assert!(est["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(est["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(server.stats().requests, 0);
    judge_cmd(dir.path(), &server).assert().success();
    let out = judge_cmd(dir.path(), &server)
        .args(["--dry-run", "--format", "json", "--prices", "prices.json"])
        .output()
        .unwrap();
    let est = stdout_json(&out);
    assert_eq!(est["cached"], 10);
    assert_eq!(est["cost_usd"], 0.0);
}

#[test]
fn bad_input_fails_before_any_call() {
    let dir = temp_dir();
    write(
        dir.path(),
        "items.jsonl",
        "{\"id\":\"a\",\"instruction\":\"i\",\"responses\":{\"x\":\"1\",\"y\":\"2\"}}\n{\"id\":\"b\",\"responses\":{}}\n",
    );
    let server = FakeOpenAi::start(fair_judge).unwrap();
    let out = judge_cmd(dir.path(), &server).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("items.jsonl:2"), "{stderr}");
    assert!(stderr.contains("instruction"), "{stderr}");
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn usage_errors() {
    let dir = temp_dir();
    graded_items(dir.path(), 1);
    let server = FakeOpenAi::start(fair_judge).unwrap();
    judge_cmd(dir.path(), &server)
        .args(["--template", "no-such-template"])
        .assert()
        .code(2);
    judge_cmd(dir.path(), &server)
        .args(["--max-cost", "1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--prices"));
    judge_cmd(dir.path(), &server)
        .args(["--format", "json"])
        .assert()
        .code(2);
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn a_wrong_key_stops_the_run_at_once() {
    let dir = temp_dir();
    graded_items(dir.path(), 30);
    let server = FakeOpenAi::start(|_| Reply::status(401)).unwrap();
    let out = judge_cmd(dir.path(), &server)
        .args(["--out", "j.jsonl", "--concurrency", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains(KEY));
    assert!(server.stats().requests <= 4, "{:?}", server.stats());
}

#[test]
fn judgments_can_be_written_as_parquet_and_read_back() {
    let dir = temp_dir();
    let truth = graded_items(dir.path(), 6);
    let server = FakeOpenAi::start(fair_judge).unwrap();
    judge_cmd(dir.path(), &server)
        .args(["--out", "j.parquet"])
        .assert()
        .success();
    let judgments = read_judgments(&dir.path().join("j.parquet"));
    assert_eq!(judgments.len(), 6);
    for (i, j) in judgments.iter().enumerate() {
        assert_eq!(j.label.label, LabelValue::Category(truth[i].into()));
        assert!(j.has_both_orders());
    }
}

#[test]
fn an_interrupted_run_writes_whole_items_and_loses_nothing() {
    let dir = temp_dir();
    graded_items(dir.path(), 100);
    let server =
        FakeOpenAi::start(|call| fair_judge(call).after(Duration::from_millis(20))).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .current_dir(dir.path())
        .args([
            "judge",
            "--data",
            "items.jsonl",
            "--template",
            "pair",
            "--model",
            "judge-model",
            "--base-url",
            &server.base_url(),
            "--cache",
            "cache.sqlite",
            "--concurrency",
            "4",
            "--out",
            "j.jsonl",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while server.stats().answered < 40 {
        if child.try_wait().unwrap().is_some() {
            panic!("the run ended before it could be interrupted");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let partial = read_judgments(&dir.path().join("j.jsonl"));
    assert!(partial.len() < 100);
    assert!(
        partial
            .iter()
            .all(|j| j.has_both_orders() && !j.label.label.is_missing())
    );

    judge_cmd(dir.path(), &server)
        .args(["--concurrency", "4", "--out", "j.jsonl"])
        .assert()
        .success();
    assert_eq!(read_judgments(&dir.path().join("j.jsonl")).len(), 100);
    // The calls in flight at the interrupt finished and were stored: nothing was paid twice.
    assert_eq!(server.stats().repeated_answers, 0);
    assert_eq!(server.stats().answered, 200);
}
