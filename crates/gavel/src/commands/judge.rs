//! `gavel judge`: judge items with an LLM (any OpenAI-compatible endpoint) or a local trained judge.

use crate::{GlobalArgs, Outcome};

/// Judge items with an LLM (any OpenAI-compatible endpoint) or a local trained judge.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel judge` is not built yet")
}
