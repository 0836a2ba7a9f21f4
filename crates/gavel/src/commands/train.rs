//! `gavel train`: train a judge model on CPU from a gavel dataset.

use crate::{GlobalArgs, Outcome};

/// Train a judge model on CPU from a gavel dataset.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel train` is not built yet")
}
