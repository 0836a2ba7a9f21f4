//! Writers that never leave a half-written file: output goes to a temporary file in the
//! destination's folder and is renamed into place only when complete.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::WriteError;
use crate::read::Format;

/// A file that appears at its path only when [`AtomicFile::commit`] succeeds; dropped
/// uncommitted, it vanishes and any earlier file at the path is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path` (through a temporary file beside it).
    pub fn create(path: &Path) -> Result<AtomicFile, WriteError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|source| WriteError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(1 << 16, temp),
        })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs to disk and renames the file into place.
    pub fn commit(self) -> Result<(), WriteError> {
        let path = self.path;
        let io_err = |source: io::Error| WriteError::Io {
            path: path.clone(),
            source,
        };
        let temp = self
            .writer
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?;
        temp.as_file().sync_all().map_err(io_err)?;
        temp.persist(&path).map_err(|e| io_err(e.error))?;
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> WriteError {
        WriteError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes records to a file in the format its extension names: JSONL streams record by record;
/// JSON, CSV and Parquet keep the records until [`RecordWriter::finish`] (they need every
/// column or the closing bracket). Nothing appears at the path until `finish` succeeds.
#[derive(Debug)]
pub struct RecordWriter {
    file: AtomicFile,
    format: Format,
    buffered: Vec<Map<String, Value>>,
    count: u64,
}

impl RecordWriter {
    /// Starts a writer for `path`, in the format its extension names.
    pub fn create(path: &Path) -> Result<RecordWriter, WriteError> {
        let format = Format::from_path(path).filter(|_| path.as_os_str() != "-").ok_or_else(|| WriteError::Encode {
            path: path.to_path_buf(),
            message: "cannot tell the output format from the file name; use .jsonl, .json, .csv, .tsv or .parquet".into(),
        })?;
        #[cfg(not(feature = "parquet"))]
        if format == Format::Parquet {
            return Err(WriteError::Encode {
                path: path.to_path_buf(),
                message: "writing Parquet needs gavel built with the `parquet` feature".into(),
            });
        }
        Ok(RecordWriter {
            file: AtomicFile::create(path)?,
            format,
            buffered: Vec::new(),
            count: 0,
        })
    }

    /// The number of records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes one record (anything that serializes to a JSON object).
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<(), WriteError> {
        self.count += 1;
        if self.format == Format::Jsonl {
            serde_json::to_writer(&mut self.file, record)
                .map_err(|e| self.encode_error(e.to_string()))?;
            self.file
                .write_all(b"\n")
                .map_err(|e| self.file.io_error(e))?;
            return Ok(());
        }
        match serde_json::to_value(record) {
            Ok(Value::Object(map)) => {
                self.buffered.push(map);
                Ok(())
            }
            Ok(_) => Err(self.encode_error("record is not a JSON object".into())),
            Err(e) => Err(self.encode_error(e.to_string())),
        }
    }

    /// Writes out what is buffered and moves the file into place.
    pub fn finish(mut self) -> Result<(), WriteError> {
        let records = std::mem::take(&mut self.buffered);
        match self.format {
            Format::Jsonl => {}
            Format::Json => {
                serde_json::to_writer_pretty(&mut self.file, &records)
                    .map_err(|e| self.encode_error(e.to_string()))?;
                self.file
                    .write_all(b"\n")
                    .map_err(|e| self.file.io_error(e))?;
            }
            Format::Csv | Format::Tsv => {
                let delimiter = if self.format == Format::Tsv {
                    b'\t'
                } else {
                    b','
                };
                write_table(&mut self.file, &records, delimiter)
                    .map_err(|e| self.encode_error(e))?;
            }
            Format::Parquet => {
                #[cfg(feature = "parquet")]
                crate::parquet_io::write_parquet(&mut self.file, &records)
                    .map_err(|e| self.encode_error(e))?;
            }
        }
        self.file.commit()
    }

    fn encode_error(&self, message: String) -> WriteError {
        WriteError::Encode {
            path: self.file.path.clone(),
            message,
        }
    }
}

/// The union of the records' keys, in first-seen order.
pub fn column_names(records: &[Map<String, Value>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in records {
        for k in r.keys() {
            if seen.insert(k.as_str()) {
                names.push(k.clone());
            }
        }
    }
    names
}

fn write_table(
    out: &mut impl Write,
    records: &[Map<String, Value>],
    delimiter: u8,
) -> Result<(), String> {
    let names = column_names(records);
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    w.write_record(&names).map_err(|e| e.to_string())?;
    for r in records {
        let row = names.iter().map(|n| match r.get(n) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        w.write_record(row).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::RecordReader;

    #[test]
    fn uncommitted_file_never_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        {
            let mut w = RecordWriter::create(&path).unwrap();
            w.write(&serde_json::json!({"a": 1})).unwrap();
            // dropped without finish: a failure part-way
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left behind"
        );
    }

    #[test]
    fn every_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            serde_json::json!({"id": "a", "x": 1, "s": "hi, \"you\"\nthere"}),
            serde_json::json!({"id": "b", "x": 2, "extra": true}),
        ];
        let mut exts = vec!["jsonl", "json", "csv", "tsv"];
        if cfg!(feature = "parquet") {
            exts.push("parquet");
        }
        for ext in exts {
            let path = dir.path().join(format!("out.{ext}"));
            let mut w = RecordWriter::create(&path).unwrap();
            for r in &rows {
                w.write(r).unwrap();
            }
            w.finish().unwrap();
            let back: Vec<_> = RecordReader::open(&path)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(back.len(), 2, "{ext}");
            assert_eq!(back[0].fields["id"], "a", "{ext}");
            assert_eq!(back[0].fields["s"], "hi, \"you\"\nthere", "{ext}");
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_round_trips_nested_and_mixed_values() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            serde_json::json!({"label": "A", "orders": [{"order": "AB", "label": "A"}], "usage": {"prompt_tokens": 3}, "text": "[not json"}),
            serde_json::json!({"label": 4, "orders": [], "usage": null, "text": "{\"x\": 1}"}),
        ];
        let path = dir.path().join("out.parquet");
        let mut w = RecordWriter::create(&path).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        let back: Vec<Value> = RecordReader::open(&path)
            .unwrap()
            .map(|r| Value::Object(r.unwrap().fields))
            .collect();
        // Nested and mixed columns come back as the values written; a plain string column
        // stays text even when it looks like JSON.
        assert_eq!(back[0]["orders"], rows[0]["orders"]);
        assert_eq!(back[0]["usage"], rows[0]["usage"]);
        assert_eq!(back[0]["label"], "A");
        assert_eq!(back[1]["label"], 4);
        assert_eq!(back[1]["usage"], Value::Null);
        assert_eq!(back[1]["text"], "{\"x\": 1}");
    }
}
