//! gavel-dataset: builds training sets for judges from teacher judgments: filters,
//! de-biasing, leak-free splits, output formats and the dataset card; and checks them.
//!
//! This crate does not train models (gavel-train does) and does not print.
