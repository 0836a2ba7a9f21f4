//! gavel-train: trains small judge models (BERT-family encoders with judge heads) on CPU with
//! candle, and runs them as a local judge backend.
//!
//! This crate does not print; progress is reported through callbacks.

pub mod attention;
pub mod config;
pub mod data;
pub mod error;
pub mod head;
pub mod kernels;
pub mod local;
pub mod matmul;
pub mod model;
pub mod net;
pub mod objective;
pub mod optim;
pub mod rng;
pub mod spec;
pub mod text;
pub mod train;
pub mod weights;

pub use config::{EncoderConfig, Family};
pub use error::{Error, Result};
pub use model::{Batch, Ctx, Encoder, Kernels, Param, Pooling, Trainable};
pub use weights::ModelFiles;
