//! gavel-run: whole evaluations from one `gavel.toml`: the stages (metrics, agreement, judges,
//! meta-evaluation, ranking) wired from the library crates, the quality gates, and the
//! self-contained HTML report with its JSON summary, so the CLI stays thin.
//!
//! Key types: [`config::LoadedConfig`] (the checked config), [`pipeline::run`] (one whole run,
//! stored in gavel-store), [`report`] (the report renderer), [`gates`] (quality gates).
//!
//! This crate does not print and does not read the environment: the CLI passes an environment
//! lookup for `${NAME}` expansion and progress callbacks.

pub mod config;
pub mod gates;
pub mod llm;
pub mod metric_judge;
pub mod pipeline;
pub mod ranking;
pub mod report;
pub mod scores;
pub mod svg;

use sha2::{Digest, Sha256};

/// SHA-256 of bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The distinct values in order of first appearance.
pub fn distinct(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
