//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong loading, training or running a judge model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that must be there is not.
    #[error("{dir}: no {what} ({hint})")]
    MissingFile {
        /// The model or data directory.
        dir: PathBuf,
        /// What was looked for.
        what: String,
        /// What to do about it.
        hint: String,
    },
    /// `config.json` is unreadable, or describes a model this crate cannot build.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The weights file does not fit the config (missing tensor, wrong shape) or cannot be read.
    #[error("{path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `tokenizer.json` cannot be read.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training data that cannot be used.
    #[error("{0}")]
    Data(String),
    /// A record could not be read.
    #[error(transparent)]
    Read(#[from] gavel_core::ReadError),
    /// Settings that contradict each other or the data.
    #[error("{0}")]
    Settings(String),
    /// A checkpoint that cannot be resumed.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A tensor operation failed (a bug or an out-of-memory, not bad input).
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
