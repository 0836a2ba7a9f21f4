//! `gavel templates`: list and show the built-in judge prompt templates.

use crate::{GlobalArgs, Outcome};

/// List and show the built-in judge prompt templates.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel templates` is not built yet")
}
