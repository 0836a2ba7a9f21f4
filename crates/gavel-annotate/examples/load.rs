//! A bounded load test on loopback: many annotators label at once through the JSON API of a
//! real server (a socket on 127.0.0.1), each over its own keep-alive connection. Reports the
//! latency of each request kind and checks that every acknowledged label is stored, once.
//!
//! `cargo run --release -p gavel-annotate --example load -- [annotators] [items] [k]`
//! (defaults: 50 annotators, 2000 items, k = 3). Results: docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use gavel_annotate::projects::{
    NewProject, ProjectSettings, TaskKind, add_members, create_project, import_items,
};
use gavel_annotate::users::{Role, create_user};
use gavel_annotate::{AppState, Config, Db, app};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            stream: BufReader::new(s),
            host: addr.to_string(),
        }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await.expect("body");
        (status, serde_json::from_slice(&buf).unwrap_or(Value::Null))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name:<6} n={:<6} p50={:.2} ms  p95={:.2} ms  p99={:.2} ms  max={:.2} ms",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let annotators = args.first().copied().unwrap_or(50);
    let n_items = args.get(1).copied().unwrap_or(2000);
    let k = args.get(2).copied().unwrap_or(3) as i64;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("load.sqlite")).unwrap();
    let names: Vec<String> = (0..annotators).map(|i| format!("ann{i:03}")).collect();
    let tokens: Vec<String> = db
        .with(|c| {
            let (lead, _) = create_user(c, "lead", Role::Lead, None, 1)?;
            let mut tokens = Vec::new();
            for n in &names {
                tokens.push(create_user(c, n, Role::Annotator, None, 1)?.1);
            }
            let p = create_project(
                c,
                &NewProject {
                    slug: "load".into(),
                    name: "load".into(),
                    settings: ProjectSettings { kind: TaskKind::Pairwise { tie: true, baseline: None }, require_reason: false },
                    overlap: k,
                    min_alpha: Some(0.667),
                    guideline: "# Load".into(),
                    seed: Some(1),
                },
                lead,
            )?;
            let items: Vec<gavel_core::Item> = (0..n_items)
                .map(|i| {
                    let text = json!({"id": format!("q{i}"), "instruction": format!("question {i}"), "responses": {"x": "a".repeat(400), "y": "b".repeat(400)}}).to_string();
                    gavel_core::RecordReader::from_reader("gen", gavel_core::Format::Jsonl, Box::new(std::io::Cursor::new(text.into_bytes())))
                        .unwrap()
                        .typed::<gavel_core::Item>()
                        .next()
                        .unwrap()
                        .unwrap()
                })
                .collect();
            import_items(c, &p, &items)?;
            add_members(c, &p, &names)?;
            Ok(tokens)
        })
        .unwrap();
    let state = AppState::new(db.clone(), Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });

    println!(
        "{annotators} annotators, {n_items} pairwise tasks, k = {k}: {} labels expected",
        n_items as i64 * k
    );
    let start = Instant::now();
    let mut handles = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let addr = addr.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let (mut next_ms, mut label_ms, mut acked) = (Vec::new(), Vec::new(), 0u64);
            loop {
                let t = Instant::now();
                let (status, v) = conn
                    .call("GET", "/api/projects/load/next", &token, None)
                    .await;
                next_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(status, 200, "{v}");
                if v["task"].is_null() {
                    break;
                }
                let id = v["task"]["assignment"].as_i64().unwrap();
                let side = ["left", "right", "tie"][(id as usize + i) % 3];
                let t = Instant::now();
                let (status, r) = conn
                    .call(
                        "POST",
                        &format!("/api/projects/load/assignments/{id}/label"),
                        &token,
                        Some(&json!({"side": side})),
                    )
                    .await;
                label_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(status, 200, "{r}");
                if r["stored"] == true {
                    acked += 1;
                }
            }
            (next_ms, label_ms, acked)
        }));
    }
    let (mut next_ms, mut label_ms, mut acked) = (Vec::new(), Vec::new(), 0u64);
    for h in handles {
        let (n, l, a) = h.await.unwrap();
        next_ms.extend(n);
        label_ms.extend(l);
        acked += a;
    }
    let wall = start.elapsed();
    let (stored, distinct, over_k): (i64, i64, i64) = db
        .with(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM labels), (SELECT count(DISTINCT task_id || '/' || user_id) FROM labels),
                        (SELECT count(*) FROM (SELECT task_id FROM labels GROUP BY task_id HAVING count(*) != ?1))",
                [k],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    println!(
        "wall {:.2} s, {} requests, {:.0} labels/s",
        wall.as_secs_f64(),
        next_ms.len() + label_ms.len(),
        acked as f64 / wall.as_secs_f64().max(1e-9)
    );
    summary("next", next_ms);
    summary("label", label_ms);
    println!(
        "acknowledged {acked}, stored {stored} ({distinct} distinct), tasks not at exactly k: {over_k}"
    );
    let lost = acked as i64 - stored;
    println!("lost {lost}, duplicated {}", stored - distinct);
    std::thread::sleep(Duration::from_millis(10));
    if lost != 0 || stored != distinct || over_k != 0 || stored != n_items as i64 * k {
        std::process::exit(1);
    }
}
