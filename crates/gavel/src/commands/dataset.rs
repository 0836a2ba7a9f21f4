//! `gavel dataset`: build and check judge training datasets from teacher judgments.

use crate::{GlobalArgs, Outcome};

/// Build and check judge training datasets from teacher judgments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel dataset` is not built yet")
}
