//! `gavel runs`: list, show and compare stored runs.

use crate::{GlobalArgs, Outcome};

/// List, show and compare stored runs.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel runs` is not built yet")
}
