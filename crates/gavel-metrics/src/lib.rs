//! gavel-metrics: reference-based metrics, exact to the standard implementations.
//!
//! BLEU, chrF/chrF++ and TER equal to sacrebleu 2.x; ROUGE-1/2/L/Lsum equal to Google's
//! rouge-score (with its NLTK Porter stemmer); exact match and token F1 with SQuAD's answer
//! normalisation. Pure functions over strings, with corpus aggregation.
//!
//! This crate does no IO and no printing: readers live in gavel-core, output in the CLI.

pub mod bleu;
pub mod chrf;
mod ngram;
mod packed;
pub mod porter;
pub mod python;
pub mod rouge;
pub mod squad;
mod tables;
pub mod ter;
pub mod tokenize;

pub use ngram::{NumRefs, SACREBLEU_VERSION};
