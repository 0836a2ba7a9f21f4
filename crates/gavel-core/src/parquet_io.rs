//! Parquet reading (record batch by record batch) and writing, through arrow-rs.
//!
//! Columns become JSON values: strings, numbers, booleans, lists, structs, dictionary-encoded
//! strings (pandas categories), timestamps (as RFC 3339 text) and dates. On writing, each column
//! takes the narrowest type that holds every value: string, int64, float64, boolean, list of
//! strings, and otherwise JSON text. A JSON-text column is marked with the field metadata
//! `gavel.json = "true"`, and is decoded back into JSON values when read, so that records with
//! nested values (a judgment's `orders`, `usage`) round-trip.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Number, Value};

use crate::error::{Location, ReadError};
use crate::read::{Format, RawRecord};
use crate::time::format_rfc3339;

/// The field metadata key marking a column of JSON text written by gavel.
const JSON_COLUMN: &str = "gavel.json";

pub(crate) struct ParquetRecords {
    name: Arc<str>,
    batches: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    row_in_batch: usize,
    record: u64,
    done: bool,
}

impl ParquetRecords {
    pub(crate) fn open(path: &Path, name: Arc<str>) -> Result<ParquetRecords, ReadError> {
        let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |e: parquet::errors::ParquetError| ReadError::Syntax {
            location: Location::new(name.clone(), None, 0),
            message: format!("not a readable Parquet file: {e}"),
        };
        let batches = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(bad)?
            .with_batch_size(1024)
            .build()
            .map_err(bad)?;
        Ok(ParquetRecords {
            name,
            batches,
            batch: None,
            row_in_batch: 0,
            record: 0,
            done: false,
        })
    }
}

impl Iterator for ParquetRecords {
    type Item = Result<RawRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if let Some(batch) = &self.batch
                && self.row_in_batch < batch.num_rows()
            {
                let row = self.row_in_batch;
                self.row_in_batch += 1;
                self.record += 1;
                let location = Location::new(self.name.clone(), None, self.record);
                let schema = batch.schema();
                let mut fields = Map::with_capacity(batch.num_columns());
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    let json_text =
                        field.metadata().get(JSON_COLUMN).map(String::as_str) == Some("true");
                    match value_at(column.as_ref(), row) {
                        Ok(Value::String(text)) if json_text => {
                            // Written by us as JSON text; keep the text if it is not.
                            let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
                            fields.insert(field.name().clone(), v);
                        }
                        Ok(v) => {
                            fields.insert(field.name().clone(), v);
                        }
                        Err(message) => {
                            self.done = true;
                            return Some(Err(ReadError::Field {
                                location,
                                error: crate::error::FieldError::new(field.name().clone(), message),
                            }));
                        }
                    }
                }
                return Some(Ok(RawRecord {
                    location,
                    format: Format::Parquet,
                    fields,
                }));
            }
            match self.batches.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ReadError::Syntax {
                        location: Location::new(self.name.clone(), None, self.record + 1),
                        message: format!("cannot read Parquet data: {e}"),
                    }));
                }
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.row_in_batch = 0;
                }
            }
        }
    }
}

fn float(x: f64) -> Value {
    Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn value_at(array: &dyn Array, i: usize) -> Result<Value, String> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => float(array.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Date32 => Value::String(
            format_rfc3339(array.as_primitive::<Date32Type>().value(i) as i64 * 86_400)[..10]
                .to_string(),
        ),
        DataType::Timestamp(unit, _) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i)
                    .div_euclid(1_000),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(i)
                    .div_euclid(1_000_000),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value(i)
                    .div_euclid(1_000_000_000),
            };
            Value::String(format_rfc3339(raw))
        }
        DataType::List(_) => list_value(array.as_list::<i32>().value(i).as_ref())?,
        DataType::LargeList(_) => list_value(array.as_list::<i64>().value(i).as_ref())?,
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut map = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                map.insert(f.name().clone(), value_at(col.as_ref(), i)?);
            }
            Value::Object(map)
        }
        DataType::Dictionary(key, _) => {
            let (values, k) = match key.as_ref() {
                DataType::Int8 => {
                    let d = array.as_dictionary::<Int8Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::Int16 => {
                    let d = array.as_dictionary::<Int16Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::Int32 => {
                    let d = array.as_dictionary::<Int32Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::Int64 => {
                    let d = array.as_dictionary::<Int64Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::UInt8 => {
                    let d = array.as_dictionary::<UInt8Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::UInt16 => {
                    let d = array.as_dictionary::<UInt16Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                DataType::UInt32 => {
                    let d = array.as_dictionary::<UInt32Type>();
                    (d.values().clone(), d.keys().value(i) as usize)
                }
                other => return Err(format!("unsupported dictionary key type {other}")),
            };
            value_at(values.as_ref(), k)?
        }
        other => return Err(format!("unsupported Parquet column type {other}")),
    })
}

fn list_value(values: &dyn Array) -> Result<Value, String> {
    (0..values.len())
        .map(|j| value_at(values, j))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[derive(Clone, Copy, PartialEq)]
enum ColumnKind {
    Empty,
    Str,
    Int,
    Float,
    Bool,
    StrList,
    Json,
}

fn kind_of(v: &Value) -> ColumnKind {
    match v {
        Value::Null => ColumnKind::Empty,
        Value::String(_) => ColumnKind::Str,
        Value::Bool(_) => ColumnKind::Bool,
        Value::Number(n) if n.is_i64() => ColumnKind::Int,
        Value::Number(_) => ColumnKind::Float,
        Value::Array(a) if a.iter().all(Value::is_string) => ColumnKind::StrList,
        _ => ColumnKind::Json,
    }
}

fn merge(a: ColumnKind, b: ColumnKind) -> ColumnKind {
    use ColumnKind::*;
    match (a, b) {
        (x, y) if x == y => x,
        (Empty, x) | (x, Empty) => x,
        (Int, Float) | (Float, Int) => Float,
        _ => Json,
    }
}

pub(crate) fn write_parquet<W: Write + Send>(
    out: W,
    records: &[Map<String, Value>],
) -> Result<(), String> {
    let names = crate::write::column_names(records);
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for name in &names {
        let kind = records
            .iter()
            .filter_map(|r| r.get(name))
            .map(kind_of)
            .fold(ColumnKind::Empty, merge);
        let values = || records.iter().map(|r| r.get(name).filter(|v| !v.is_null()));
        let (dtype, array): (DataType, ArrayRef) = match kind {
            ColumnKind::Int => (
                DataType::Int64,
                Arc::new(
                    values()
                        .map(|v| v.and_then(Value::as_i64))
                        .collect::<arrow_array::Int64Array>(),
                ),
            ),
            ColumnKind::Float => (
                DataType::Float64,
                Arc::new(
                    values()
                        .map(|v| v.and_then(Value::as_f64))
                        .collect::<arrow_array::Float64Array>(),
                ),
            ),
            ColumnKind::Bool => (
                DataType::Boolean,
                Arc::new(
                    values()
                        .map(|v| v.and_then(Value::as_bool))
                        .collect::<arrow_array::BooleanArray>(),
                ),
            ),
            ColumnKind::StrList => {
                let mut b = arrow_array::builder::ListBuilder::new(
                    arrow_array::builder::StringBuilder::new(),
                );
                for v in values() {
                    match v {
                        Some(Value::Array(items)) => {
                            for s in items {
                                b.values().append_value(s.as_str().unwrap_or_default());
                            }
                            b.append(true);
                        }
                        _ => b.append(false),
                    }
                }
                let array = b.finish();
                (array.data_type().clone(), Arc::new(array))
            }
            ColumnKind::Str | ColumnKind::Empty | ColumnKind::Json => {
                let array: arrow_array::StringArray = values()
                    .map(|v| match v {
                        None => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                    })
                    .collect();
                (DataType::Utf8, Arc::new(array))
            }
        };
        let mut field = Field::new(name, dtype, true);
        if kind == ColumnKind::Json {
            let metadata: std::collections::HashMap<String, String> =
                [(JSON_COLUMN.to_string(), "true".to_string())].into();
            field = field.with_metadata(metadata);
        }
        fields.push(field);
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(|e| e.to_string())?;
    if !records.is_empty() {
        let batch = RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}
