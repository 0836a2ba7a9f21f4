//! gavel-run: the `gavel.toml` pipeline: stages wired from the library crates, quality gates,
//! and the HTML/JSON report, so the CLI stays thin.
//!
//! This crate does not print; it returns results and report files.
