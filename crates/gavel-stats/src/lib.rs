//! gavel-stats: agreement, classification, correlation, bootstrap and ranking statistics.
//!
//! Each statistic documents its formula and the reference implementation it matches
//! (scikit-learn, scipy, statsmodels, krippendorff, the Chatbot Arena notebook).
//!
//! This crate does no IO and no printing: it works on in-memory data.

pub mod agreement;
pub mod bootstrap;
pub mod classification;
pub mod correlation;
pub mod meta_eval;
pub mod normal;
pub mod ppi;
pub mod rank;
pub mod rng;
