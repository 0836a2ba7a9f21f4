//! `gavel meta-eval`: meta-evaluation: judges against human labels, with the human-human baseline.

use crate::{GlobalArgs, Outcome};

/// Meta-evaluation: judges against human labels, with the human-human baseline.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel meta-eval` is not built yet")
}
