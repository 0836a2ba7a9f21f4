//! gavel-core: the record types every gavel crate shares, and the readers and writers for the
//! file formats of CONTRACT.md.
//!
//! Key types: [`Pair`] (reference metrics), [`Item`] (what gets judged), [`Label`] and
//! [`Judgment`] (human and judge labels in one long format), [`Battle`] (ranking input).
//! [`RecordReader`] streams JSONL, JSON arrays, CSV/TSV and Parquet (`-` is JSONL on stdin),
//! and [`RecordWriter`] writes them through a temporary file that is renamed into place, so a
//! failure never leaves half a file.
//!
//! ```
//! use gavel_core::{Format, Pair, RecordReader};
//! let text = "{\"hypothesis\": \"a cat\", \"reference\": \"the cat\"}\n";
//! let reader = RecordReader::from_reader("example.jsonl", Format::Jsonl, Box::new(text.as_bytes())).unwrap();
//! let pairs: Vec<Pair> = reader.typed::<Pair>().collect::<Result<_, _>>().unwrap();
//! assert_eq!(pairs[0].references, vec!["the cat"]);
//! ```
//!
//! Errors name the file, the line (or Parquet row) and the field: `pairs.jsonl:3: field
//! `references`: is required but missing`.
//!
//! This crate does no statistics, no network and no printing.

pub mod error;
pub mod fields;
#[cfg(feature = "parquet")]
mod parquet_io;
pub mod read;
pub mod records;
pub mod time;
pub mod write;

pub use error::{FieldError, Location, ReadError, WriteError};
pub use fields::Fields;
pub use read::{Format, FromRecord, RawRecord, RecordReader, read_all};
pub use records::battle::{Battle, Winner};
pub use records::item::{Content, Item};
pub use records::judgment::{Judgment, OrderVerdict, Usage};
pub use records::label::{Label, LabelValue, UnitKey, format_number, swap_pairwise_label};
pub use records::label_columns::{Interner, LabelColumns};
pub use records::pair::Pair;
pub use records::wide::{ItemColumn, WideSpec};
pub use write::{AtomicFile, RecordWriter};
