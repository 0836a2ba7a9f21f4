//! One module per command, each with its `Args` and one `run` function.

pub mod agree;
pub mod dataset;
pub mod judge;
pub mod judge_local;
pub mod meta_eval;
pub mod metrics;
pub mod rank;
pub mod run;
pub mod runs;
pub mod serve;
pub mod templates;
pub mod train;
