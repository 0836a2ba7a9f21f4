//! Errors that say where in which file a record went wrong.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a record came from: the file, and the line (JSONL, CSV, JSON) or row (Parquet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it; `<stdin>` for standard input.
    pub source: Arc<str>,
    /// 1-based line number of the record's start, where the format has lines.
    pub line: Option<u64>,
    /// 1-based index of the record in the file (data rows only; a CSV header is not a record).
    pub record: u64,
}

impl Location {
    /// A location for a record with both a line and a record number.
    pub fn new(source: Arc<str>, line: Option<u64>, record: u64) -> Location {
        Location {
            source,
            line,
            record,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.source, line),
            None => write!(f, "{}: row {}", self.source, self.record),
        }
    }
}

/// What is wrong with one field of a record, before it is tied to a location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    /// The field's name as it appears in the file.
    pub field: String,
    /// What is wrong with it, in lower case, without a trailing period.
    pub message: String,
}

impl FieldError {
    /// A field error with the given field name and message.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field is required and absent.
    pub fn missing(field: &str) -> FieldError {
        FieldError::new(field, "is required but missing")
    }
}

/// An error while reading records: an IO failure, a record that does not parse, or a record
/// whose fields do not fit the expected type.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file name does not say which format it is in.
    #[error(
        "{path}: cannot tell the format from the file name; use .jsonl, .json, .csv or .parquet (or - for JSONL on stdin)"
    )]
    UnknownFormat {
        /// The path as given.
        path: PathBuf,
    },
    /// Support for the format was not compiled into this build.
    #[error("{path}: reading {format} needs gavel built with the `{feature}` feature")]
    FormatNotCompiled {
        /// The path as given.
        path: PathBuf,
        /// The format's name.
        format: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// A record is not well-formed in its format (bad JSON, bad CSV, invalid UTF-8, not an object).
    #[error("{location}: {message}")]
    Syntax {
        /// Where the record is.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A record is well-formed but one of its fields is missing or has the wrong type.
    #[error("{location}: {error}")]
    Field {
        /// Where the record is.
        location: Location,
        /// The field and what is wrong with it.
        error: FieldError,
    },
}

impl ReadError {
    /// The location of the offending record, if the error is about one record.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ReadError::Syntax { location, .. } | ReadError::Field { location, .. } => {
                Some(location)
            }
            _ => None,
        }
    }
}

/// An error while writing an output file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file could not be created, written or renamed into place.
    #[error("{path}: {source}")]
    Io {
        /// The destination path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("{path}: {message}")]
    Encode {
        /// The destination path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
