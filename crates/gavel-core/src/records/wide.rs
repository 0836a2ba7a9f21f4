//! Labels in wide form: one row per item, one column per annotator, as spreadsheets and many
//! published annotation files keep them (`{"idx": 7, "annotator1": 1, "annotator2": 0}`).
//!
//! A [`WideSpec`] says which column names the item (or that the row number does) and which
//! columns are annotators (each may be renamed: `column=name`). Without a list, every column
//! except the item column and the unit fields (`model_a`, `model_b`, `model`, `time`, `round`,
//! `guideline_version`) is an annotator. Each annotator cell becomes one [`Label`] carrying the
//! row's unit fields; an empty CSV cell or a JSON `null` is a missing label, and a column absent
//! from a row gives no label at all.

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::Fields;
use crate::read::{RawRecord, json_type_name};
use crate::records::label::{Label, LabelValue, format_number};

/// The fields of a row that describe the unit rather than an annotator.
pub const UNIT_FIELDS: [&str; 6] = [
    "model_a",
    "model_b",
    "model",
    "time",
    "round",
    "guideline_version",
];

/// Where a wide row's item id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemColumn {
    /// This column (a string or a number).
    Column(String),
    /// The row's 1-based record number in its file.
    RowNumber,
}

/// How to read labels from wide rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WideSpec {
    /// The item id's column.
    pub item: ItemColumn,
    /// `(column, annotator name)` pairs; `None` for every other column.
    pub annotators: Option<Vec<(String, String)>>,
}

impl WideSpec {
    /// Parses a comma-separated annotator list, each `column` or `column=name`.
    pub fn parse_columns(list: &str) -> Vec<(String, String)> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('=') {
                Some((c, n)) => (c.trim().to_string(), n.trim().to_string()),
                None => (s.to_string(), s.to_string()),
            })
            .collect()
    }

    /// The labels of one wide row.
    pub fn labels(&self, record: RawRecord) -> Result<Vec<Label>, FieldError> {
        let row_number = record.location.record;
        let text_table = record.format.is_text_table();
        let mut f = Fields::new(record);
        let item = match &self.item {
            ItemColumn::RowNumber => row_number.to_string(),
            ItemColumn::Column(name) => match f.take_value(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => s,
                Some(Value::Number(n)) => n
                    .as_f64()
                    .map(format_number)
                    .unwrap_or_else(|| n.to_string()),
                Some(Value::Null) | None => {
                    return Err(FieldError::new(
                        name.as_str(),
                        "the item column is missing in this row (name it with --item-column, or number rows with --item-column @row)",
                    ));
                }
                Some(other) => {
                    return Err(FieldError::new(
                        name.as_str(),
                        format!(
                            "expected a string or a number, found {}",
                            json_type_name(&other)
                        ),
                    ));
                }
            },
        };
        let mut unit: Map<String, Value> = Map::new();
        for field in UNIT_FIELDS {
            if let Some(v) = f.take_value(field) {
                unit.insert(field.to_string(), v);
            }
        }
        let cells: Vec<(String, Value)> = match &self.annotators {
            Some(cols) => cols
                .iter()
                .filter_map(|(c, name)| f.take_value(c).map(|v| (name.clone(), v)))
                .collect(),
            None => f.into_extra().into_iter().collect(),
        };
        let mut out = Vec::with_capacity(cells.len());
        for (annotator, value) in cells {
            let label = LabelValue::from_json(value, text_table)
                .map_err(|e| FieldError::new(annotator.as_str(), e.message))?;
            let mut fields = unit.clone();
            fields.insert("item".into(), Value::String(item.clone()));
            fields.insert("annotator".into(), Value::String(annotator));
            fields.insert("label".into(), Value::Null);
            let mut l = Label::from_fields(Fields::from_map(fields))?;
            l.label = label;
            out.push(l);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, RecordReader};

    fn rows(format: Format, text: &str, spec: &WideSpec) -> Result<Vec<Label>, String> {
        let reader = RecordReader::from_reader(
            "w",
            format,
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap();
        let mut out = Vec::new();
        for r in reader {
            let r = r.map_err(|e| e.to_string())?;
            let loc = r.location.clone();
            out.extend(spec.labels(r).map_err(|e| format!("{loc}: {e}"))?);
        }
        Ok(out)
    }

    #[test]
    fn columns_become_labels() {
        let spec = WideSpec {
            item: ItemColumn::Column("idx".into()),
            annotators: Some(WideSpec::parse_columns("annotator1=alice, annotator2")),
        };
        let got = rows(
            Format::Jsonl,
            "{\"idx\": 7, \"annotator1\": 1, \"annotator2\": null, \"text\": \"x\", \"model_a\": \"m\", \"model_b\": \"n\"}\n",
            &spec,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].item.as_str(), got[0].annotator.as_str()),
            ("7", "alice")
        );
        assert_eq!(got[0].label, LabelValue::Number(1.0));
        assert_eq!(got[0].model_a.as_deref(), Some("m"));
        assert_eq!(got[1].label, LabelValue::Missing);
    }

    #[test]
    fn every_other_column_and_row_numbers() {
        let spec = WideSpec {
            item: ItemColumn::RowNumber,
            annotators: None,
        };
        let got = rows(Format::Csv, "a,b,round\nA,,r1\nB,tie,r1\n", &spec).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[2].item, "2");
        assert_eq!(got[1].label, LabelValue::Missing);
        assert_eq!(got[3].round.as_deref(), Some("r1"));
    }

    #[test]
    fn missing_item_column_is_an_error() {
        let spec = WideSpec {
            item: ItemColumn::Column("id".into()),
            annotators: None,
        };
        let err = rows(Format::Jsonl, "{\"a\": 1}\n", &spec).unwrap_err();
        assert!(
            err.starts_with("w:1: field `id`: the item column is missing"),
            "{err}"
        );
    }
}
