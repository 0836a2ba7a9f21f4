//! Taking typed fields out of a raw record, with errors that name the field.
//!
//! CSV cells are all text, so in a CSV record a number may be written as text and a list as a
//! JSON array in one cell; [`Fields`] accepts both there, and only the JSON forms elsewhere.

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::read::{Format, RawRecord, json_type_name};

/// The fields of one record, taken out one by one; what is left over is kept as `extra`.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    text_table: bool,
}

impl Fields {
    /// Wraps a raw record's fields.
    pub fn new(record: RawRecord) -> Fields {
        Fields {
            map: record.fields,
            text_table: record.format.is_text_table(),
        }
    }

    /// Wraps a JSON object read outside a file (e.g. from an HTTP body).
    pub fn from_map(map: Map<String, Value>) -> Fields {
        Fields {
            map,
            text_table: false,
        }
    }

    /// Whether the record came from CSV/TSV, where every cell is text.
    pub fn is_text_table(&self) -> bool {
        self.text_table
    }

    /// Whether a field is present (even if null).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Removes and returns a field's raw value.
    pub fn take_value(&mut self, name: &str) -> Option<Value> {
        self.map.shift_remove(name)
    }

    /// The fields not taken so far, in file order.
    pub fn into_extra(self) -> Map<String, Value> {
        self.map
    }

    /// A required string field. Numbers are accepted and written as text (ids are often numbers).
    pub fn string(&mut self, name: &str) -> Result<String, FieldError> {
        self.opt_string(name)?
            .ok_or_else(|| FieldError::missing(name))
    }

    /// A required text field that must be a string (no number coercion): hypothesis, instruction.
    pub fn text(&mut self, name: &str) -> Result<String, FieldError> {
        match self.take_value(name) {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Null) | None => Err(FieldError::missing(name)),
            Some(other) => Err(FieldError::new(
                name,
                format!("expected a string, found {}", json_type_name(&other)),
            )),
        }
    }

    /// An optional text field: absent, null, or (in CSV) an empty cell give `None`.
    pub fn opt_text(&mut self, name: &str) -> Result<Option<String>, FieldError> {
        match self.take_value(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() && self.text_table => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(FieldError::new(
                name,
                format!("expected a string, found {}", json_type_name(&other)),
            )),
        }
    }

    /// An optional identifier-like field: a string, or a number written as text.
    pub fn opt_string(&mut self, name: &str) -> Result<Option<String>, FieldError> {
        match self.take_value(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() && self.text_table => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(FieldError::new(
                name,
                format!("expected a string, found {}", json_type_name(&other)),
            )),
        }
    }

    /// An optional finite number; in CSV also a number written as text.
    pub fn opt_f64(&mut self, name: &str) -> Result<Option<f64>, FieldError> {
        match self.take_value(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => finite(name, n.as_f64()).map(Some),
            Some(Value::String(s)) if self.text_table => {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                finite(name, t.parse::<f64>().ok()).map(Some)
            }
            Some(other) => Err(FieldError::new(
                name,
                format!("expected a number, found {}", json_type_name(&other)),
            )),
        }
    }

    /// An optional boolean; in CSV also `true`/`false` written as text.
    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.take_value(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if self.text_table => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "" => Ok(None),
                    "true" | "1" => Ok(Some(true)),
                    "false" | "0" => Ok(Some(false)),
                    _ => Err(FieldError::new(
                        name,
                        format!("expected true or false, found {s:?}"),
                    )),
                }
            }
            Some(other) => Err(FieldError::new(
                name,
                format!("expected a boolean, found {}", json_type_name(&other)),
            )),
        }
    }

    /// An optional list of strings. A single string counts as a list of one; in CSV a cell
    /// holding a JSON array is read as that array.
    pub fn opt_string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, FieldError> {
        let value = match self.take_value(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if self.text_table => {
                let t = s.trim_start();
                if t.starts_with('[') {
                    serde_json::from_str::<Value>(&s).map_err(|e| {
                        FieldError::new(
                            name,
                            format!("cell looks like a JSON array but does not parse: {e}"),
                        )
                    })?
                } else if s.is_empty() {
                    return Ok(None);
                } else {
                    Value::String(s)
                }
            }
            Some(v) => v,
        };
        string_list(name, value).map(Some)
    }

    /// An optional JSON object (in CSV, a cell holding a JSON object).
    pub fn opt_object(&mut self, name: &str) -> Result<Option<Map<String, Value>>, FieldError> {
        let value = match self.take_value(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if self.text_table => {
                if s.trim().is_empty() {
                    return Ok(None);
                }
                serde_json::from_str::<Value>(&s).map_err(|e| {
                    FieldError::new(name, format!("expected a JSON object in the cell: {e}"))
                })?
            }
            Some(v) => v,
        };
        match value {
            Value::Object(map) => Ok(Some(map)),
            other => Err(FieldError::new(
                name,
                format!("expected an object, found {}", json_type_name(&other)),
            )),
        }
    }
}

fn finite(name: &str, value: Option<f64>) -> Result<f64, FieldError> {
    match value {
        Some(v) if v.is_finite() => Ok(v),
        _ => Err(FieldError::new(name, "expected a finite number")),
    }
}

/// A string or an array of strings, as a list.
pub fn string_list(name: &str, value: Value) -> Result<Vec<String>, FieldError> {
    match value {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(FieldError::new(
                    format!("{name}[{i}]"),
                    format!("expected a string, found {}", json_type_name(&other)),
                )),
            })
            .collect(),
        other => Err(FieldError::new(
            name,
            format!(
                "expected a string or an array of strings, found {}",
                json_type_name(&other)
            ),
        )),
    }
}

/// Whether a raw record came from a text table; for readers that build [`Fields`] themselves.
pub fn is_text_table(format: Format) -> bool {
    format.is_text_table()
}
