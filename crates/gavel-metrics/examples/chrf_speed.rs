//! Times chrF (sacrebleu's defaults) over the pairs of a JSONL file, single-threaded, scoring
//! alone (the file is read first). A measuring aid for the chrF code; the end-to-end
//! comparison with sacrebleu is `bench/metrics.py`.
//!
//! ```text
//! cargo run --release -p gavel-metrics --example chrf_speed -- pairs.jsonl [ROUNDS]
//! ```
#![allow(clippy::print_stdout)]

use std::time::Instant;

use gavel_metrics::chrf::{Chrf, ChrfOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        println!("usage: chrf_speed pairs.jsonl [ROUNDS]");
        return;
    };
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let text = std::fs::read_to_string(path).expect("readable file");
    let mut hyps = Vec::new();
    let mut refs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        hyps.push(v["hypothesis"].as_str().unwrap_or_default().to_string());
        let r: Vec<String> = match v.get("references") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => vec![v["reference"].as_str().unwrap_or_default().to_string()],
        };
        refs.push(r);
    }
    let chrf = Chrf::new(ChrfOptions::default()).expect("valid options");
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        let (start, cpu) = (Instant::now(), on_cpu());
        let score = chrf.corpus_score(&hyps, &refs).score;
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = on_cpu().zip(cpu).map(|(b, a)| b - a).unwrap_or(f64::NAN);
        best = best.min(elapsed);
        best_cpu = best_cpu.min(cpu);
        println!(
            "{} pairs: {elapsed:.4} s wall, {cpu:.4} s on a CPU, chrF {score:.12}",
            hyps.len()
        );
    }
    println!("best {best:.4} s wall, {best_cpu:.4} s on a CPU");
}

/// This thread's time on a CPU so far (Linux: /proc/thread-self/schedstat), steadier than wall
/// time on a shared machine.
fn on_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
