//! gavel-judge: LLM judges: prompt templates, verdict parsers, judging protocols, model
//! backends (OpenAI-compatible HTTP) and the runner with its durable request cache.
//!
//! Key types: [`runner::Runner`] (judges a stream of items and hands back
//! [`gavel_core::Judgment`]s in input order), [`backend::Backend`] (chat completions with
//! retries, rate limits and fail-over over several endpoints), [`cache::Cache`] (SQLite; an
//! answer counts only once it is on disk), [`cost::PriceTable`] and [`cost::Budget`],
//! [`protocol`] (pairs, presentation orders, samples, and how verdicts become judgments; its
//! assembly functions serve any judge, local or remote), [`runner::prompt::JudgePrompt`] (what the
//! runner needs from a template), [`template::Template`] (the built-in library, user template
//! files and FastChat prompt files) with [`template::TemplatePrompt`], and [`parse`] (one parser
//! per published output convention, reading only the judge's own verdict).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use gavel_judge::backend::{Backend, BackendOptions, Endpoint};
//! use gavel_judge::runner::{RunConfig, Runner, RunnerParts};
//! use gavel_judge::template::{PromptOptions, Template, TemplatePrompt};
//! let backend = Backend::new(vec![Endpoint::new("http://localhost:8000/v1")], BackendOptions::default())?;
//! let template = Template::resolve("mt-bench-pair")?;
//! let prompt = TemplatePrompt::new(Arc::new(template), PromptOptions::default());
//! let runner = Runner::new(RunnerParts {
//!     prompt: Arc::new(prompt),
//!     config: RunConfig::new("my-judge"),
//!     backend: Some(backend),
//!     cache: None,
//!     price: None,
//!     max_cost: None,
//! });
//! let items = gavel_core::RecordReader::open("items.jsonl".as_ref())?.typed::<gavel_core::Item>();
//! let mut judgments = Vec::new();
//! let summary = runner
//!     .run(items, |j| { judgments.push(j); Ok::<(), std::io::Error>(()) })
//!     .await?;
//! println!("{} judgments, consistency {:?}", summary.judgments, summary.position.rate);
//! # Ok(()) }
//! ```
//!
//! This crate does not print, and reads no environment variables: the caller reads the API key
//! and passes it in. It is a client: it serves no model itself.

pub mod backend;
pub mod cache;
pub mod cost;
pub mod parse;
pub mod protocol;
pub mod runner;
pub mod template;
