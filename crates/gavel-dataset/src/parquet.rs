//! Parquet copies of the split files for the Hugging Face `datasets` library: a fixed schema
//! per layout (the conversation as a list of structs, as `datasets` writes chat data; flat
//! fields as strings; `scores` as a list of doubles), written in row groups of 8,192 examples
//! so that memory stays flat whatever the split's size.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StringArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields};
use gavel_core::AtomicFile;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use crate::config::ExampleFormat;
use crate::error::DatasetError;

const ROWS: usize = 8192;

/// The flat string columns of a layout, in order.
fn flat_columns(format: ExampleFormat) -> Vec<&'static str> {
    let (instruction, input) = match format {
        ExampleFormat::Alpaca => ("item_instruction", "item_input"),
        _ => ("instruction", "input"),
    };
    let mut cols = match format {
        ExampleFormat::Alpaca => vec!["instruction", "input", "output", "system"],
        _ => vec![],
    };
    cols.extend([
        "id",
        "item",
        instruction,
        input,
        "reference",
        "mode",
        "response_a",
        "response_b",
        "model_a",
        "model_b",
        "label",
        "order",
        "template",
        "source",
    ]);
    cols
}

/// The conversation column of a layout: (column, role key, text key).
fn conversation(format: ExampleFormat) -> Option<(&'static str, &'static str, &'static str)> {
    match format {
        ExampleFormat::Messages => Some(("messages", "role", "content")),
        ExampleFormat::Sharegpt => Some(("conversations", "from", "value")),
        ExampleFormat::Alpaca => None,
    }
}

struct Chunk {
    flat: Vec<Vec<Option<String>>>,
    roles: Vec<String>,
    texts: Vec<String>,
    offsets: Vec<i32>,
    scores: ListBuilder<Float64Builder>,
    rows: usize,
}

impl Chunk {
    fn new(n_flat: usize) -> Chunk {
        Chunk {
            flat: vec![Vec::with_capacity(ROWS); n_flat],
            roles: Vec::new(),
            texts: Vec::new(),
            offsets: vec![0],
            scores: ListBuilder::new(Float64Builder::new()),
            rows: 0,
        }
    }

    fn push(&mut self, format: ExampleFormat, cols: &[&str], row: &Map<String, Value>) {
        for (i, c) in cols.iter().enumerate() {
            self.flat[i].push(match row.get(*c) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            });
        }
        if let Some((list, role, text)) = conversation(format) {
            if let Some(turns) = row.get(list).and_then(Value::as_array) {
                for t in turns {
                    self.roles.push(
                        t.get(role)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                    self.texts.push(
                        t.get(text)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                }
            }
            self.offsets.push(self.roles.len() as i32);
        }
        match row.get("scores").and_then(Value::as_array) {
            Some(a) => {
                for x in a {
                    self.scores.values().append_option(x.as_f64());
                }
                self.scores.append(true);
            }
            None => self.scores.append(false),
        }
        self.rows += 1;
    }

    fn batch(&mut self, format: ExampleFormat, cols: &[&str]) -> Result<RecordBatch, String> {
        let mut fields: Vec<Field> = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        if let Some((list, role, text)) = conversation(format) {
            let struct_fields = Fields::from(vec![
                Field::new(role, DataType::Utf8, false),
                Field::new(text, DataType::Utf8, false),
            ]);
            let values = StructArray::new(
                struct_fields.clone(),
                vec![
                    Arc::new(StringArray::from(std::mem::take(&mut self.roles))) as ArrayRef,
                    Arc::new(StringArray::from(std::mem::take(&mut self.texts))) as ArrayRef,
                ],
                None,
            );
            let item = Arc::new(Field::new("item", DataType::Struct(struct_fields), false));
            let offsets = std::mem::replace(&mut self.offsets, vec![0]);
            let array = ListArray::try_new(
                item.clone(),
                OffsetBuffer::new(offsets.into()),
                Arc::new(values),
                None,
            )
            .map_err(|e| e.to_string())?;
            fields.push(Field::new(list, DataType::List(item), false));
            arrays.push(Arc::new(array));
        }
        for (i, c) in cols.iter().enumerate() {
            let values = std::mem::take(&mut self.flat[i]);
            fields.push(Field::new(*c, DataType::Utf8, true));
            arrays.push(Arc::new(StringArray::from(values)));
        }
        let scores = self.scores.finish();
        fields.push(Field::new("scores", scores.data_type().clone(), true));
        arrays.push(Arc::new(scores));
        self.rows = 0;
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), arrays)
            .map_err(|e| e.to_string())
    }
}

/// Writes a Parquet copy of a split's JSONL file; returns the number of rows.
pub fn convert(jsonl: &Path, out: &Path, format: ExampleFormat) -> Result<u64, DatasetError> {
    let cols = flat_columns(format);
    let file = std::fs::File::open(jsonl).map_err(|e| DatasetError::io(jsonl, e))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let encode = |m: String| gavel_core::WriteError::Encode {
        path: out.to_path_buf(),
        message: m,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut chunk = Chunk::new(cols.len());
    let mut writer: Option<ArrowWriter<AtomicFile>> = None;
    let mut rows = 0u64;
    let flush = |chunk: &mut Chunk, writer: &mut Option<ArrowWriter<AtomicFile>>| {
        let batch = chunk.batch(format, &cols).map_err(encode)?;
        if writer.is_none() {
            let f = AtomicFile::create(out)?;
            *writer = Some(
                ArrowWriter::try_new(f, batch.schema(), Some(props.clone()))
                    .map_err(|e| encode(e.to_string()))?,
            );
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch).map_err(|e| encode(e.to_string()))?;
        }
        Ok::<(), DatasetError>(())
    };
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| DatasetError::io(jsonl, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Map<String, Value> = serde_json::from_str(&line)
            .map_err(|e| DatasetError::Config(format!("{}:{}: {e}", jsonl.display(), n + 1)))?;
        chunk.push(format, &cols, &row);
        rows += 1;
        if chunk.rows >= ROWS {
            flush(&mut chunk, &mut writer)?;
        }
    }
    if chunk.rows > 0 || writer.is_none() {
        flush(&mut chunk, &mut writer)?;
    }
    if let Some(w) = writer {
        let f = w.into_inner().map_err(|e| encode(e.to_string()))?;
        f.commit()?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convention::Choice;
    use crate::example::Example;
    use crate::teacher::Order;
    use crate::template::Message;

    #[test]
    fn parquet_reads_back_with_the_same_fields() {
        let dir = tempfile::tempdir().unwrap();
        for format in [
            ExampleFormat::Messages,
            ExampleFormat::Sharegpt,
            ExampleFormat::Alpaca,
        ] {
            let jsonl = dir.path().join("train.jsonl");
            let mut text = Vec::new();
            for i in 0..(ROWS + 5) {
                let item = format!("q{i}");
                Example {
                    id: format!("q{i}:x:y"),
                    item: &item,
                    instruction: "ask",
                    input: (i % 2 == 0).then_some("ctx"),
                    reference: None,
                    response_a: "a",
                    response_b: "b",
                    model_a: "x",
                    model_b: "y",
                    label: Choice::Tie,
                    scores: (i % 3 == 0).then_some((1.0, 2.5)),
                    order: Order::BA,
                    template: "t",
                    source: "s",
                    prompt: vec![Message::new("system", "S"), Message::new("user", "U")],
                    target: "[[C]]".into(),
                }
                .to_line(format, &mut text);
            }
            std::fs::write(&jsonl, &text).unwrap();
            let pq = dir.path().join("train.parquet");
            assert_eq!(convert(&jsonl, &pq, format).unwrap(), (ROWS + 5) as u64);
            let rows: Vec<Map<String, Value>> = gavel_core::RecordReader::open(&pq)
                .unwrap()
                .map(|r| r.unwrap().fields)
                .collect();
            assert_eq!(rows.len(), ROWS + 5);
            let want: Map<String, Value> =
                serde_json::from_str(std::str::from_utf8(&text).unwrap().lines().next().unwrap())
                    .unwrap();
            for (k, v) in &want {
                assert_eq!(rows[0].get(k), Some(v), "{format:?} field {k}");
            }
            assert_eq!(rows[1]["scores"], Value::Null);
            assert!(rows[1]["input"].is_null() || rows[1]["item_input"].is_null());
        }
    }
}
