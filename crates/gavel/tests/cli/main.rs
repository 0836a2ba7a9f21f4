//! Whole-command tests: every test drives the `gavel` binary in a temporary directory.
//! One module per command; shared helpers in `common`.

mod common;

mod agree;
mod dataset;
mod judge;
mod meta_eval;
mod metrics;
mod rank;
mod run;
mod serve;
mod templates;
mod train;
