//! Tests of `gavel serve`: set-up from the terminal, the running server (health, API, a
//! kill -9 and restart mid-session, a request log without secrets), the export feeding
//! `gavel agree` and `gavel meta-eval` with the dashboard's numbers, and the browser tests in
//! headless Chromium (tests/browser/run.mjs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// A running `gavel serve` and everything it printed on stderr.
struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, db: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .args(["serve", "--db"])
            .arg(db)
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gavel serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it listens");
        let server = Server {
            child,
            addr,
            stderr,
        };
        let start = Instant::now();
        while http(&server.addr, "GET", "/healthz", None, None).0 != 200 {
            assert!(start.elapsed() < Duration::from_secs(30), "never healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// SIGKILL: no clean shutdown, as after a crash or power loss of the process.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        self.stderr.lock().unwrap().clone()
    }

    fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = http(
            &self.addr,
            method,
            path,
            Some(token),
            body.map(|b| b.to_string()),
        );
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn add_user(dir: &Path, db: &Path, name: &str, role: &str) -> String {
    let out = gavel(dir)
        .args(["serve", "user", "add", name, "--role", role, "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("gvl_"), "{token}");
    token
}

fn items(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"id": format!("q{i}"), "instruction": format!("In one sentence, what is {i} + {i}?"),
                   "responses": {"small-v1": format!("{i} + {i} is {}.", 2 * i), "small-v2": format!("The answer is {}, because doubling {i} gives {}.", 2 * i + (i % 3 == 0) as usize, 2 * i)}})
            .to_string() + "\n"
        })
        .collect()
}

#[test]
fn serve_set_up_label_restart_export_feeds_agree_and_meta_eval() {
    let dir = temp_dir();
    let d = dir.path();
    let db = d.join("team.sqlite");
    let lead = add_user(d, &db, "lena", "lead");
    let names = ["ana", "ben", "cho"];
    let tokens: Vec<String> = names
        .iter()
        .map(|n| add_user(d, &db, n, "annotator"))
        .collect();
    let list = gavel(d)
        .args(["serve", "user", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(
        listed.contains("lena") && listed.contains("lead") && !listed.contains("gvl_"),
        "{listed}"
    );
    write(d, "items.jsonl", &items(8));
    write(
        d,
        "guideline.md",
        "# Which answer is better?\n\nPrefer the **correct** sum.\n",
    );
    let out = gavel(d)
        .args([
            "serve",
            "project",
            "--slug",
            "sums",
            "--kind",
            "pairwise",
            "--overlap",
            "3",
            "--guideline",
            "guideline.md",
            "--items",
            "items.jsonl",
            "--members",
            "ana,ben,cho",
            "--seed",
            "1",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("8 items, 8 tasks"));

    let server = Server::start(d, &db);
    let (status, me) = server.api("GET", "/api/me", &tokens[0], None);
    assert_eq!((status, me["name"].as_str()), (200, Some("ana")));
    // Everyone labels half of their tasks; the correct answer is A except on every third item.
    let label = |server: &Server, token: &str, n: usize| {
        for _ in 0..n {
            let (_, next) = server.api("GET", "/api/projects/sums/next", token, None);
            let task = &next["task"];
            if task.is_null() {
                break;
            }
            let i: usize = task["item"].as_str().unwrap()[1..].parse().unwrap();
            let id = task["assignment"].as_i64().unwrap();
            let l = if i.is_multiple_of(3) {
                "A"
            } else if i.is_multiple_of(2) {
                "tie"
            } else {
                "B"
            };
            let (status, r) = server.api(
                "POST",
                &format!("/api/projects/sums/assignments/{id}/label"),
                token,
                Some(json!({"label": l})),
            );
            assert_eq!((status, &r["stored"]), (200, &json!(true)), "{r}");
        }
    };
    for t in &tokens {
        label(&server, t, 4);
    }
    // ana opens a task and the process dies before she answers.
    let (_, open) = server.api("GET", "/api/projects/sums/next", &tokens[0], None);
    let open_id = open["task"]["assignment"].as_i64().unwrap();
    let log1 = server.kill();
    let server = Server::start(d, &db);
    let (_, again) = server.api("GET", "/api/projects/sums/next", &tokens[0], None);
    assert_eq!(
        again["task"]["assignment"].as_i64(),
        Some(open_id),
        "the open task survives the restart"
    );
    for t in &tokens {
        label(&server, t, 10);
    }
    let (_, all) = server.api("GET", "/api/projects/sums/labels", &lead, None);
    assert_eq!(
        all["labels"].as_array().unwrap().len(),
        24,
        "8 tasks x 3 annotators, none lost or doubled"
    );

    // Judgments from a judge, imported beside the humans.
    let judgments: String = (0..8)
        .map(|i| json!({"item": format!("q{i}"), "annotator": "judge:fake/pair", "label": if i < 6 { "A" } else { "B" }, "model_a": "small-v1", "model_b": "small-v2"}).to_string() + "\n")
        .collect();
    write(d, "judgments.jsonl", &judgments);
    let out = gavel(d)
        .args([
            "serve",
            "import",
            "--project",
            "sums",
            "--judgments",
            "judgments.jsonl",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The dashboard's numbers are gavel agree's and gavel meta-eval's on the export.
    let (status, dash) = server.api("GET", "/api/projects/sums/agreement", &lead, None);
    assert_eq!(status, 200, "{dash}");
    let out = gavel(d)
        .args([
            "serve",
            "export",
            "--project",
            "sums",
            "--out",
            "labels.jsonl",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success());
    let agree = gavel(d)
        .args(["agree", "--data", "labels.jsonl", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        agree.status.success(),
        "{}",
        String::from_utf8_lossy(&agree.stderr)
    );
    let agree = stdout_json(&agree);
    let section = &dash["sections"][0];
    for key in [
        "n_items",
        "n_labels",
        "percent_agreement",
        "fleiss_kappa",
        "krippendorff_alpha",
        "gwet_ac1",
        "cohen_kappa",
        "annotators",
        "krippendorff_alpha_ci",
        "fleiss_kappa_ci",
    ] {
        assert_eq!(section["report"][key], agree[key], "{key}");
    }
    let meta = gavel(d)
        .args([
            "meta-eval",
            "--judge",
            "judgments.jsonl",
            "--human",
            "labels.jsonl",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let meta = stdout_json(&meta);
    for key in ["accuracy", "cohen_kappa", "n", "confusion", "intervals"] {
        assert_eq!(
            section["judges"]["judges"][0][key], meta["judges"][0][key],
            "{key}"
        );
    }
    // Parquet and CSV exports read back as the same number of labels.
    for ext in ["csv", "parquet"] {
        let name = format!("labels.{ext}");
        let out = gavel(d)
            .args([
                "serve",
                "export",
                "--project",
                "sums",
                "--out",
                &name,
                "--db",
            ])
            .arg(&db)
            .output()
            .unwrap();
        assert!(out.status.success());
        let again = gavel(d)
            .args([
                "agree",
                "--data",
                &name,
                "--format",
                "json",
                "--bootstrap",
                "0",
            ])
            .output()
            .unwrap();
        assert_eq!(
            stdout_json(&again)["krippendorff_alpha"],
            agree["krippendorff_alpha"],
            "{ext}"
        );
    }
    let log2 = server.kill();
    let log = format!("{log1}{log2}");
    assert!(
        log.contains("POST /api/projects/sums/assignments/") && log.contains(" 200 "),
        "{log}"
    );
    for secret in tokens.iter().chain([&lead]) {
        assert!(!log.contains(secret.as_str()), "a token is in the log");
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The browser tests: real headless Chromium through playwright-core. Skipped with a notice
/// when node, chromium or tests/browser/node_modules are missing, except under CI (where
/// .ci/run installs them), where their absence fails the test.
#[test]
fn browser_sign_in_label_by_keyboard_agreement_and_xss() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/browser/run.mjs");
    let modules = root.join("tests/browser/node_modules/playwright-core");
    let (node, chromium) = (
        tool("node"),
        tool("chromium").or_else(|| tool("chromium-browser")),
    );
    if node.is_none() || chromium.is_none() || !modules.is_dir() {
        let why = format!(
            "node: {:?}, chromium: {:?}, playwright-core installed: {}",
            node,
            chromium,
            modules.is_dir()
        );
        if std::env::var_os("CI").is_some() || std::env::var_os("GAVEL_REQUIRE_BROWSER").is_some() {
            panic!("the browser tests need node, chromium and `npm ci` in tests/browser ({why})");
        }
        #[allow(clippy::print_stderr)] // the skip notice belongs on the test's own stderr
        {
            eprintln!("notice: browser tests skipped ({why}); .ci/run installs them");
        }
        return;
    }
    let dir = temp_dir();
    let d = dir.path();
    let db = d.join("browser.sqlite");
    let lead = add_user(d, &db, "lena", "lead");
    let mut annotators = serde_json::Map::new();
    for n in ["alice", "bob", "carol"] {
        annotators.insert(n.into(), Value::String(add_user(d, &db, n, "annotator")));
    }
    write(d, "items.jsonl", &items(12));
    write(
        d,
        "guideline.md",
        "# Which answer is better?\n\nPick the answer that is **correct**; style comes second.\n\n## Ties\n\nTie only when both are equally right or equally wrong.\n\nRaw HTML stays text: <b onmouseover=\"window.__xss=1\">bold?</b>\n",
    );
    let project = |args: &[&str]| {
        let out = gavel(d)
            .args(["serve", "project"])
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    project(&[
        "--slug",
        "helpful",
        "--name",
        "Helpfulness (pairwise)",
        "--kind",
        "pairwise",
        "--overlap",
        "3",
        "--guideline",
        "guideline.md",
        "--items",
        "items.jsonl",
        "--members",
        "alice,bob,carol",
        "--seed",
        "3",
    ]);
    project(&[
        "--slug",
        "likert",
        "--name",
        "Answer quality (1-5)",
        "--kind",
        "likert",
        "--scale",
        "1-5",
        "--anchor",
        "Useless",
        "--anchor",
        "Poor",
        "--anchor",
        "Acceptable",
        "--anchor",
        "Good",
        "--anchor",
        "Excellent",
        "--overlap",
        "2",
        "--guideline",
        "guideline.md",
        "--items",
        "items.jsonl",
        "--members",
        "alice,bob",
    ]);
    project(&[
        "--slug",
        "binary",
        "--name",
        "Checks (pass/fail)",
        "--kind",
        "binary",
        "--criterion",
        "correct: Is the arithmetic right?",
        "--criterion",
        "concise: Is it one sentence?",
        "--overlap",
        "2",
        "--items",
        "items.jsonl",
        "--members",
        "alice,bob",
    ]);
    write(
        d,
        "xss.jsonl",
        &(json!({"id": "x1", "instruction": "Render <script>window.__xss=1</script> safely", "responses": {"m1": "<img src=x onerror=\"window.__xss=1\">", "m2": "<script>window.__xss=1</script>"}}).to_string() + "\n"),
    );
    project(&[
        "--slug",
        "xss",
        "--kind",
        "pairwise",
        "--overlap",
        "1",
        "--guideline",
        "guideline.md",
        "--items",
        "xss.jsonl",
        "--members",
        "alice",
    ]);
    let server = Server::start(d, &db);
    // A guideline example, so the panel shows one.
    let (status, _) = server.api("POST", "/api/projects/helpful/examples", &lead, Some(json!({"kind": "good", "label": "A", "explanation": "A gives the right sum; B adds a wrong reason."})));
    assert_eq!(status, 200);
    let shots = std::env::var_os("GAVEL_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| d.join("screenshots"));
    let setup = json!({"base": format!("http://{}", server.addr), "lead": lead, "annotators": annotators, "chromium": chromium, "screenshots": shots});
    let out = Command::new(node.unwrap())
        .arg(&script)
        .current_dir(root.join("tests/browser"))
        .env("GAVEL_BROWSER_SETUP", setup.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    #[allow(clippy::print_stderr)] // the browser log belongs on the test's own stderr
    {
        eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(out.status.success(), "browser tests failed:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"));
    let log = server.kill();
    assert!(!log.contains(&lead), "a token is in the log");
}
