//! `gavel serve`: serve the human-annotation web app.

use crate::{GlobalArgs, Outcome};

/// Serve the human-annotation web app.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel serve` is not built yet")
}
