//! gavel-annotate: the human-annotation web app behind `gavel serve` (server and pages).
//!
//! This crate does not print; the CLI binds the socket and reports on the terminal.
