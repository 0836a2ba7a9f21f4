//! gavel-train: trains small judge models (encoders with judge heads) on CPU with candle, and
//! runs them as a local judge backend.
//!
//! This crate does not print; progress is reported through callbacks.
