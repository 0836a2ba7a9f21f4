//! `gavel run`: run a whole evaluation from a gavel.toml config.

use crate::{GlobalArgs, Outcome};

/// Run a whole evaluation from a gavel.toml config.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel run` is not built yet")
}
