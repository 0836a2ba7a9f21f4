//! The `gavel` command line: argument parsing, tables, JSON output, progress and exit codes.
//! It is the only crate that prints; the work is done by the library crates.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod allocator;
mod commands;
#[allow(dead_code)]
mod output;
#[allow(dead_code)]
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes of CONTRACT.md.
pub(crate) mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An error: bad input, a failed run.
    pub const ERROR: u8 = 1;
    /// A usage error (clap exits with 2 itself for its own).
    pub const USAGE: u8 = 2;
    /// A quality gate failed.
    pub const GATE_FAILED: u8 = 3;
}

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Success,
    /// The command worked, but a quality gate or threshold failed (exit 3).
    GateFailed,
}

/// An error in how the command was called (exit 2), found after argument parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Parser)]
#[command(
    name = "gavel",
    version,
    about = "Trustworthy evaluation of LLM output: metrics, judges, agreement, ranking, judge training",
    long_about = None,
    after_help = "Examples:\n  gavel run examples/quickstart/gavel.toml\n  gavel metrics --data pairs.jsonl --format json\n  gavel agree --data labels.jsonl\n\nEvery command has --help with examples. Data goes to stdout, diagnostics to stderr.\nExit codes: 0 success, 1 error, 2 usage error, 3 a quality gate failed."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Print no progress bars or notes on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Metrics(commands::metrics::Args),
    Agree(commands::agree::Args),
    MetaEval(commands::meta_eval::Args),
    Judge(commands::judge::Args),
    Rank(commands::rank::Args),
    Run(commands::run::Args),
    Runs(commands::runs::Args),
    Templates(commands::templates::Args),
    Serve(commands::serve::Args),
    Dataset(commands::dataset::Args),
    Train(commands::train::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cli.global;
    let result = match cli.command {
        Command::Metrics(args) => commands::metrics::run(args, &global),
        Command::Agree(args) => commands::agree::run(args, &global),
        Command::MetaEval(args) => commands::meta_eval::run(args, &global),
        Command::Judge(args) => commands::judge::run(args, &global),
        Command::Rank(args) => commands::rank::run(args, &global),
        Command::Run(args) => commands::run::run(args, &global),
        Command::Runs(args) => commands::runs::run(args, &global),
        Command::Templates(args) => commands::templates::run(args, &global),
        Command::Serve(args) => commands::serve::run(args, &global),
        Command::Dataset(args) => commands::dataset::run(args, &global),
        Command::Train(args) => commands::train::run(args, &global),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::from(exit::OK),
        Ok(Outcome::GateFailed) => ExitCode::from(exit::GATE_FAILED),
        Err(error) => {
            output::print_error(&error);
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::ERROR)
            }
        }
    }
}
