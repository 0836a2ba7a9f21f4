//! `gavel agree`: agreement among annotators (percent, Cohen/Fleiss kappa, Krippendorff alpha, Gwet AC1) and drift.

use crate::{GlobalArgs, Outcome};

/// Agreement among annotators (percent, Cohen/Fleiss kappa, Krippendorff alpha, Gwet AC1) and drift.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel agree` is not built yet")
}
