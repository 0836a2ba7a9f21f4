//! `gavel metrics`: reference metrics (BLEU, chrF, TER, ROUGE, exact match, token F1) against references.

use crate::{GlobalArgs, Outcome};

/// Reference metrics (BLEU, chrF, TER, ROUGE, exact match, token F1) against references.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`gavel metrics` is not built yet")
}
