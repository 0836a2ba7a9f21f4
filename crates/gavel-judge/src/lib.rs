//! gavel-judge: LLM judges: prompt templates, verdict parsers, judging protocols, model
//! backends (OpenAI-compatible HTTP) and the runner with its durable request cache.
//!
//! This crate does not print, and reads no environment variables except the API key variable
//! the caller names.

pub mod backend;
pub mod cache;
pub mod cost;
pub mod parse;
pub mod protocol;
pub mod runner;
pub mod template;
