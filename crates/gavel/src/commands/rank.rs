//! `gavel rank`: rank models from battles or pairwise judgments (Bradley-Terry, Elo, win rate).

use crate::{GlobalArgs, Outcome};

/// Rank models from battles or pairwise judgments (Bradley-Terry, Elo, win rate).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel rank` is not built yet")
}
