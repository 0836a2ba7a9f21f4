//! Tests of `gavel run` and `gavel runs`: the quickstart offline, gates, bad configs that fail
//! before any call, an LLM judge against the fake server, kill and resume, and the report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gavel_fake_openai::{ChatCall, FakeOpenAi, Reply};
use serde_json::{Value, json};

use crate::common::*;

const KEY: &str = "sk-test-5f1c0e9a7b3d4e21a8c6b0f2d9e7";

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

/// A copy of the quickstart in `dir`, with `edit` applied to its config.
fn copy_quickstart(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    for f in ["items.jsonl", "labels.jsonl"] {
        std::fs::copy(quickstart().join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(quickstart().join("gavel.toml")).unwrap();
    write(dir, "gavel.toml", &edit(text))
}

fn run_json(dir: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = gavel(dir)
        .args(["run", "gavel.toml", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if out.stdout.is_empty() {
        Value::Null
    } else {
        stdout_json(&out)
    };
    (out.status.code(), json, stderr)
}

/// The run's corpus BLEU and chrF of a model are the figures `gavel metrics` gives on that
/// model's responses against the references: both call gavel-metrics with sacrebleu's defaults.
#[test]
fn run_metrics_equal_gavel_metrics() {
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t);
    let (code, doc, stderr) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let items = std::fs::read_to_string(dir.path().join("items.jsonl")).unwrap();
    let mut pairs = String::new();
    for line in items.lines() {
        let item: Value = serde_json::from_str(line).unwrap();
        let pair = serde_json::json!({
            "id": item["id"],
            "hypothesis": item["responses"]["alpha"],
            "references": [item["reference"]],
        });
        pairs.push_str(&format!("{pair}\n"));
    }
    write(dir.path(), "alpha.jsonl", &pairs);
    let out = gavel(dir.path())
        .args([
            "metrics",
            "--data",
            "alpha.jsonl",
            "--metrics",
            "bleu,chrf,ter",
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let direct = stdout_json(&out);
    let in_run = &doc["results"]["metrics"]["models"]["alpha"];
    for key in ["bleu", "chrf"] {
        assert!(direct[key]["score"].as_f64().unwrap() > 0.0, "{direct:#}");
        assert_eq!(in_run[key]["score"], direct[key]["score"], "{key}");
        assert_eq!(in_run[key]["signature"], direct[key]["signature"], "{key}");
    }
    assert_eq!(in_run["bleu"]["counts"], direct["bleu"]["counts"]);
}

#[test]
fn the_quickstart_runs_offline_and_writes_the_report() {
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t);
    let (code, doc, stderr) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    assert_eq!(doc["status"], "succeeded");
    let results = &doc["results"];
    for model in ["alpha", "beta", "gamma"] {
        assert!(results["metrics"]["models"][model]["rougeL"]["fmeasure"].is_number());
    }
    assert!(results["agreement"]["krippendorff_alpha"].is_number());
    assert!(
        !results["agreement"]["drift"]["windows"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let judges = results["meta_eval"]["judges"].as_array().unwrap();
    assert_eq!(judges[0]["judge"], "rougeL-judge");
    assert!(results["meta_eval"]["human_baseline"]["cohen_kappa"].is_number());
    assert_eq!(results["ranking"]["models"].as_array().unwrap().len(), 3);
    assert!(stderr.contains("judge llm-judge is off"), "{stderr}");

    let report = std::fs::read_to_string(dir.path().join("gavel-report/report.html")).unwrap();
    assert!(report.contains("rougeL-judge"));
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("gavel-report/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["run"]["id"], doc["run_id"]);
    assert!(dir.path().join(".gavel/gavel.sqlite").is_file());

    // The store answers `gavel runs`.
    let out = gavel(dir.path())
        .args(["runs", "list", "--config", "gavel.toml", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let runs = stdout_json(&out);
    assert_eq!(runs[0]["id"], doc["run_id"]);
    let out = gavel(dir.path())
        .args([
            "runs",
            "show",
            "latest",
            "--config",
            "gavel.toml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = stdout_json(&out);
    assert_eq!(shown["judges"][0]["judge"], "rougeL-judge");
    assert_eq!(shown["judges"][0]["judge_model"], "metric:rougeL");
    assert!(shown["figures"]["metrics alpha rougeL"].is_number());
    assert!(
        shown["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done")
    );
}

#[test]
fn a_failing_gate_exits_3_and_says_which() {
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t.replace("min = 0.7", "min = 0.99"));
    let (code, doc, stderr) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(doc["status"], "gate_failed");
    assert!(
        stderr.contains("gate failed: win rate of alpha vs gamma >= 0.99"),
        "{stderr}"
    );
    let failed: Vec<&Value> = doc["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    // The report says so too.
    let report = std::fs::read_to_string(dir.path().join("gavel-report/report.html")).unwrap();
    assert!(report.contains("a gate failed"));
}

#[test]
fn runs_diff_shows_what_moved() {
    let dir = temp_dir();
    let config = copy_quickstart(dir.path(), |t| t);
    let (code, first, _) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0));
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("tie_margin = 0.02", "tie_margin = 0.2");
    std::fs::write(&config, text).unwrap();
    let (code, second, _) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0));
    let out = gavel(dir.path())
        .args([
            "runs",
            "diff",
            first["run_id"].as_str().unwrap(),
            second["run_id"].as_str().unwrap(),
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
    let d = stdout_json(&out);
    assert_eq!(d["config_changed"], true);
    let lines: Vec<&str> = d["config_diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(lines, ["- tie_margin = 0.02", "+ tie_margin = 0.2"]);
    assert!(
        d["judges"][0]["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "settings")
    );
    assert!(d["figures"].as_array().unwrap().iter().any(|f| {
        f["figure"]
            .as_str()
            .unwrap()
            .starts_with("meta_eval rougeL-judge")
    }));
    let text = gavel(dir.path())
        .args(["runs", "diff", "latest", first["run_id"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("tie_margin"));
}

/// A judge whose verdict, `[[A]]` or `[[B]]`, depends only on the prompt's text: deterministic
/// per call, so both orders of a pair may disagree (position consistency has something to count).
fn parity_judge(call: &ChatCall) -> Reply {
    Reply::text(if call.all_text().len().is_multiple_of(2) {
        "Assistant A is better. [[A]]"
    } else {
        "Assistant B is better. [[B]]"
    })
}

fn llm_config(server: &FakeOpenAi, extra: &str) -> impl Fn(String) -> String {
    let url = server.base_url();
    let extra = extra.to_string();
    move |t: String| {
        let t = t.replace("max_cost = 1.0\n", &format!("concurrency = 4\n{extra}"));
        t.replace(
            "base_url = \"${GAVEL_JUDGE_BASE_URL:-}\"",
            &format!("base_url = \"{url}\""),
        )
    }
}

#[test]
fn an_llm_judge_runs_beside_the_metric_judge_and_a_rerun_pays_nothing() {
    let dir = temp_dir();
    let server = FakeOpenAi::start(parity_judge).unwrap();
    copy_quickstart(dir.path(), llm_config(&server, ""));
    let run = |dir: &Path| {
        gavel(dir)
            .env("GAVEL_JUDGE_BASE_URL", "set")
            .env("GAVEL_JUDGE_API_KEY", KEY)
            .args(["run", "gavel.toml", "--format", "json"])
            .output()
            .unwrap()
    };
    let out = run(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "{stderr}"
    );
    let doc = stdout_json(&out);
    // 30 items x 3 pairs x 2 orders.
    assert_eq!(server.stats().answered, 180);
    let judges: Vec<&str> = doc["results"]["meta_eval"]["judges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["judge"].as_str().unwrap())
        .collect();
    assert!(judges.contains(&"llm-judge") && judges.contains(&"rougeL-judge"));
    let llm = doc["results"]["meta_eval"]["judges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["judge"] == "llm-judge")
        .unwrap();
    assert!(llm["position_consistency"].is_number());
    let prov = doc["results"]["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["judge"] == "llm-judge")
        .unwrap()
        .clone();
    assert_eq!(prov["template"], "mt-bench-pair");
    assert!(prov["template_sha256"].as_str().unwrap().len() == 64);
    assert_eq!(prov["endpoint"], server.base_url());
    assert_eq!(prov["system_fingerprints"], json!(["fp_fake"]));

    // Again: every answer comes from the cache.
    let out = run(dir.path());
    assert!(out.status.code() == Some(0) || out.status.code() == Some(3));
    assert_eq!(server.stats().answered, 180);
    assert_eq!(server.stats().repeated_answers, 0);

    // The key is nowhere: not in the store, the cache, the report or the output.
    let mut files = vec![
        dir.path().join(".gavel/gavel.sqlite"),
        dir.path().join(".gavel/cache.sqlite"),
        dir.path().join("gavel-report/report.html"),
        dir.path().join("gavel-report/summary.json"),
    ];
    files.retain(|f| f.exists());
    assert_eq!(files.len(), 4);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is in {}",
            f.display()
        );
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains(KEY));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(KEY));
}

#[test]
fn bad_configs_fail_before_any_call() {
    let dir = temp_dir();
    let server = FakeOpenAi::start(parity_judge).unwrap();
    let cases: Vec<(Box<dyn Fn(String) -> String>, &str)> = vec![
        (
            Box::new(|t: String| t.replace("labels = \"labels.jsonl\"", "labels = \"nope.jsonl\"")),
            "gavel.toml:15: data.labels: no such file",
        ),
        (
            Box::new(|t: String| {
                t.replace(
                    "template = \"mt-bench-pair\"",
                    "template = \"no-such-template\"",
                )
            }),
            "gavel.toml:38: judge \"llm-judge\": unknown template `no-such-template`",
        ),
        (
            Box::new(|t: String| t.replace("model = \"alpha\"", "model = \"omega\"")),
            "model \"omega\" answered no item",
        ),
        (
            Box::new(|t: String| t.replace("\"rouge1\", \"rougeL\"", "\"blue\", \"rougeL\"")),
            "gavel.toml:19: metrics.metrics: unknown metric \"blue\"",
        ),
        (
            Box::new(|t: String| {
                t + "\n[[gates]]\ncheck = \"metric\"\nmodel = \"alpha\"\nmetric = \"ter\"\nmin = 50\n"
            }),
            "gates: \"ter\" is an error rate (lower is better)",
        ),
        (
            Box::new(|t: String| t.replace("metric = \"rougeL\"", "metric = \"bleurt\"")),
            "gavel.toml:32: judge \"rougeL-judge\": unknown metric \"bleurt\"",
        ),
    ];
    for (edit, expected) in cases {
        let base = llm_config(&server, "");
        copy_quickstart(dir.path(), |t| edit(base(t)));
        let out = gavel(dir.path())
            .env("GAVEL_JUDGE_BASE_URL", "set")
            .args(["run", "gavel.toml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert_eq!(
            server.stats().requests,
            0,
            "a call was made for {expected:?}"
        );
    }
    // A malformed items line is reported with its file and line.
    copy_quickstart(dir.path(), |t| t);
    let mut items = std::fs::read_to_string(dir.path().join("items.jsonl")).unwrap();
    items.push_str("{\"id\": \"q99\", \"instruction\": 5}\n");
    std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
    let out = gavel(dir.path())
        .args(["run", "gavel.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("items.jsonl:31"), "{stderr}");
    assert!(stderr.contains("instruction"), "{stderr}");
}

fn run_store_json(dir: &Path, args: &[&str]) -> Value {
    let out = gavel(dir)
        .args(["runs"])
        .args(args)
        .args(["--config", "gavel.toml", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the store could not be read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

#[test]
fn a_killed_run_resumes_without_paying_twice() {
    let dir = temp_dir();
    let server =
        FakeOpenAi::start(|call| parity_judge(call).after(Duration::from_millis(15))).unwrap();
    copy_quickstart(dir.path(), llm_config(&server, ""));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .current_dir(dir.path())
        .env("GAVEL_JUDGE_BASE_URL", "set")
        .env("NO_COLOR", "1")
        .args(["run", "gavel.toml"])
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
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let killed = run_store_json(dir.path(), &["list"]);
    assert_eq!(killed[0]["status"], "running");
    let answered_before = server.stats().answered;

    let out = gavel(dir.path())
        .env("GAVEL_JUDGE_BASE_URL", "set")
        .args(["run", "gavel.toml", "--resume", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0) | Some(3)), "{stderr}");
    assert!(
        stderr.contains("taken over from the interrupted run"),
        "{stderr}"
    );
    let doc = stdout_json(&out);
    assert_eq!(doc["resumed_from"], killed[0]["id"]);
    // Every call was answered once, except at most the ones in flight at the kill (4).
    let stats = server.stats();
    assert_eq!(stats.distinct, 180);
    assert!(stats.repeated_answers <= 4, "{stats:?}");
    assert!(stats.answered - answered_before <= 180 - 60 + 4);
    let runs = run_store_json(dir.path(), &["list"]);
    assert_eq!(runs[0]["resumed_from"], killed[0]["id"]);
}

#[test]
fn runs_killed_at_any_moment_leave_a_store_that_resumes() {
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t);
    for delay_ms in [0u64, 5, 15, 30, 60] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .current_dir(dir.path())
            .args(["run", "gavel.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        if dir.path().join(".gavel/gavel.sqlite").exists() {
            run_store_json(dir.path(), &["list"]);
        }
    }
    let (code, doc, stderr) = run_json(dir.path(), &["--resume"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(doc["status"], "succeeded");
    let report = std::fs::read_to_string(dir.path().join("gavel-report/report.html")).unwrap();
    assert!(report.contains("</html>"));
}

#[test]
fn judged_text_in_the_report_is_escaped() {
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t);
    let items = std::fs::read_to_string(dir.path().join("items.jsonl")).unwrap();
    let hostile = items.replace(
        "It is 15.",
        "It is 15.</td><script>alert(1)</script><img src=x onerror=alert(2)>",
    );
    assert_ne!(hostile, items);
    std::fs::write(dir.path().join("items.jsonl"), hostile).unwrap();
    let (code, _, stderr) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let report = std::fs::read_to_string(dir.path().join("gavel-report/report.html")).unwrap();
    assert!(
        !report.contains("<script"),
        "a script tag reached the report"
    );
    assert!(!report.contains("<img"), "an img tag reached the report");
}

/// Opens the quickstart report in headless Chromium, with every request sent to a proxy that
/// counts them, and takes a screenshot. Skips with a notice when no Chromium is installed
/// (CI installs Debian's `chromium` in .ci/run).
#[test]
fn the_report_renders_in_headless_chromium_without_network() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new("which")
                .arg(b)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    else {
        assert!(
            std::env::var_os("GAVEL_REQUIRE_BROWSER").is_none(),
            "GAVEL_REQUIRE_BROWSER is set but no chromium is installed"
        );
        #[allow(clippy::print_stderr)] // the skip notice belongs on the test's own stderr
        {
            eprintln!(
                "notice: the_report_renders_in_headless_chromium_without_network skipped: no chromium"
            );
        }
        return;
    };
    let dir = temp_dir();
    copy_quickstart(dir.path(), |t| t);
    let (code, _, stderr) = run_json(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    // Every request goes through this proxy, which notes the request line.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let port = proxy.local_addr().unwrap().port();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = {
        let done = done.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut requests = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match proxy.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut buf = [0u8; 512];
                        let n = conn.read(&mut buf).unwrap_or(0);
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        requests.push(text.lines().next().unwrap_or("").to_string());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            requests
        })
    };
    let shot = dir.path().join("report.png");
    let report = dir.path().join("gavel-report/report.html");
    let status = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,4000",
            &format!("--proxy-server=http://127.0.0.1:{port}"),
            "--proxy-bypass-list=<-loopback>",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", report.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let requests = recorder.join().unwrap();
    assert!(status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "no screenshot");
    assert!(
        png.len() > 20_000,
        "the screenshot looks empty ({} bytes)",
        png.len()
    );
    // Debian's Chromium contacts Google's update, time and account services by itself, whatever
    // the flags say; anything else would come from the page.
    let browser_own = ["google.com", "googleapis.com", "gvt1.com"];
    let from_page: Vec<&String> = requests
        .iter()
        .filter(|line| {
            let target = line.split_whitespace().nth(1).unwrap_or("");
            let host = target
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap_or("");
            !browser_own
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        })
        .collect();
    assert!(
        from_page.is_empty(),
        "the report made network requests: {from_page:?}"
    );
    if let Ok(keep) = std::env::var("GAVEL_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
