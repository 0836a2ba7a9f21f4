//! gavel-store: persistence of runs, items, responses, judgments, labels and results in one
//! SQLite file (WAL, migrations), with provenance for every run.
//!
//! This crate does not print; it knows nothing about how numbers are computed.
