//! The errors of building and checking datasets.

use std::path::PathBuf;

use gavel_core::{ReadError, WriteError};

/// Why a build or a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// An input could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An output could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Two items share an id.
    #[error("{location}: duplicate item id `{id}` (first at {first})")]
    DuplicateItem {
        /// Where the second one is.
        location: String,
        /// The id.
        id: String,
        /// Where the first one is.
        first: String,
    },
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The tokenizer file could not be loaded or used.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A dataset directory is not one `gavel dataset build` wrote.
    #[error("{path}: {message}")]
    NotADataset {
        /// The file that is missing or wrong.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl DatasetError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> DatasetError {
        DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
