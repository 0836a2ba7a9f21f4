//! Times ROUGE-1/2/L (stemmer on) on generated or given pairs, single-threaded and with
//! several threads. A measuring aid for the ROUGE code; the end-to-end comparison with
//! rouge-score is `bench/metrics.py`.
//!
//! ```text
//! cargo run --release -p gavel-metrics --example rouge_speed -- [N] [THREADS] [pairs.jsonl]
//! ```
//!
//! Without a file, N pairs (default 100,000) are generated deterministically: a reference of
//! 10-60 words drawn from a Zipf-like vocabulary of 20,000 made-up English-looking words (with
//! suffixes the stemmer acts on) and a hypothesis that keeps, replaces, drops and swaps words
//! of it. With a file, each JSONL line's `hypothesis` and first `references` entry (or
//! `reference`) are used, repeated up to N pairs.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use gavel_metrics::rouge::{RougeOptions, RougeScorer, RougeType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let pairs = match args.get(2) {
        Some(path) => read_pairs(path, n),
        None => generate(n),
    };
    let words: usize = pairs
        .iter()
        .map(|(h, r)| h.split_whitespace().count() + r.split_whitespace().count())
        .sum();
    println!(
        "{} pairs, {:.1} words per pair on average",
        pairs.len(),
        words as f64 / pairs.len() as f64
    );

    let types = [RougeType::Rouge1, RougeType::Rouge2, RougeType::RougeL];
    let options = RougeOptions {
        use_stemmer: true,
        ..RougeOptions::default()
    };
    let scorer = RougeScorer::new(&types, options);

    for round in 0..2 {
        let start = Instant::now();
        let mut sum = [0.0f64; 3];
        for (hypothesis, reference) in &pairs {
            for (s, score) in sum.iter_mut().zip(scorer.score(reference, hypothesis)) {
                *s += score.fmeasure;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "1 thread{}: {elapsed:.3} s ({:.2} µs/pair); mean F rouge1 {:.6} rouge2 {:.6} rougeL {:.6}",
            if round == 0 { " (cold stem table)" } else { "" },
            elapsed * 1e6 / pairs.len() as f64,
            sum[0] / pairs.len() as f64,
            sum[1] / pairs.len() as f64,
            sum[2] / pairs.len() as f64,
        );
    }

    if threads > 1 {
        let start = Instant::now();
        let chunk = pairs.len().div_ceil(threads);
        std::thread::scope(|s| {
            for part in pairs.chunks(chunk) {
                let scorer = &scorer;
                s.spawn(move || {
                    part.iter()
                        .map(|(h, r)| scorer.score(r, h)[0].fmeasure)
                        .sum::<f64>()
                });
            }
        });
        let elapsed = start.elapsed().as_secs_f64();
        println!("{threads} threads: {elapsed:.3} s");
    }
}

fn read_pairs(path: &str, n: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|row| {
            let hypothesis = row["hypothesis"].as_str()?.to_string();
            let reference = row["references"][0]
                .as_str()
                .or(row["reference"].as_str())?
                .to_string();
            Some((hypothesis, reference))
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "{path}: no pairs with `hypothesis` and `references`"
    );
    rows.iter().cycle().take(n).cloned().collect()
}

/// A deterministic xorshift generator (the example needs no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Zipf-like: index ~ n^u for uniform u, so small indices are much more frequent.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

fn generate(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let onsets = [
        "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pl",
    ];
    let vowels = ["a", "e", "i", "o", "u", "ea", "ou", "y"];
    let endings = [
        "", "", "", "s", "ed", "ing", "ly", "tion", "ness", "ment", "er", "ies", "able", "ful",
    ];
    let vocabulary: Vec<String> = (0..20_000)
        .map(|_| {
            let mut w = String::new();
            for _ in 0..1 + rng.below(3) {
                w.push_str(onsets[rng.below(onsets.len())]);
                w.push_str(vowels[rng.below(vowels.len())]);
            }
            w.push_str(endings[rng.below(endings.len())]);
            if rng.below(10) == 0 {
                w[..1].to_uppercase() + &w[1..]
            } else {
                w
            }
        })
        .collect();
    (0..n)
        .map(|_| {
            let len = 10 + rng.below(51);
            let reference: Vec<&str> = (0..len)
                .map(|_| vocabulary[rng.zipf(vocabulary.len())].as_str())
                .collect();
            let mut hypothesis: Vec<&str> = Vec::with_capacity(len);
            for &word in &reference {
                match rng.below(10) {
                    0 => {}
                    1 | 2 => hypothesis.push(vocabulary[rng.zipf(vocabulary.len())].as_str()),
                    _ => hypothesis.push(word),
                }
            }
            if hypothesis.len() > 3 {
                let i = rng.below(hypothesis.len() - 1);
                hypothesis.swap(i, i + 1);
            }
            let punctuate = |words: Vec<&str>| words.join(" ").replacen(' ', ", ", 1) + ".";
            (punctuate(hypothesis), punctuate(reference))
        })
        .collect()
}
