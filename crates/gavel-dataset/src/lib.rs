//! gavel-dataset: training sets for judges, built from teacher judgments: filters,
//! de-biasing, leak-free splits, output formats and the dataset card; and the checks that
//! verify a built set.
//!
//! Key items: [`build::build`] (teacher Judgments or Labels with rationales + the items they
//! judge + optional human labels for the test split → `train`/`validation`/`test` files, a
//! manifest and a card), [`check::check`] (re-reads a built set: every target through its
//! protocol's parser, leakage across splits, balance), [`config::BuildConfig`] (every setting),
//! [`report::BuildReport`] (every filter's drop count), [`remap::remap`] (rationale rewriting
//! for swapped responses), [`dedup::InstructionIndex`] (exact and MinHash near-duplicate
//! detection), [`convention`] (targets in a protocol's own output convention, and the
//! [`convention::VerdictReader`] seam for gavel-judge's parsers).
//!
//! ```no_run
//! use gavel_dataset::build::{build, Progress};
//! use gavel_dataset::config::BuildConfig;
//! let mut config = BuildConfig::new(
//!     vec!["judgments.jsonl".into()],
//!     "items.jsonl".into(),
//!     "dataset".into(),
//! );
//! config.human = vec!["human.jsonl".into()];
//! let report = build(&config, &|_: Progress<'_>| {})?;
//! println!("{} examples", report.examples());
//! let checked = gavel_dataset::check::check("dataset".as_ref(), &gavel_dataset::convention::JudgeParsers)?;
//! assert!(checked.ok());
//! # Ok::<(), gavel_dataset::error::DatasetError>(())
//! ```
//!
//! This crate does not train models (gavel-train does), call judges (gavel-judge does) or
//! print.

pub mod build;
pub mod card;
pub mod check;
pub mod config;
pub mod convention;
pub mod dedup;
pub mod error;
pub mod example;
pub mod hash;
pub mod items;
pub mod jsonl;
pub mod manifest;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod remap;
pub mod report;
pub mod teacher;
pub mod template;
pub mod text;
pub mod tokens;

pub use build::build;
pub use check::check;
pub use config::BuildConfig;
pub use error::DatasetError;
pub use report::BuildReport;
