//! The Label record: one annotator's (human or judge) label for one unit, in long format.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::Fields;
use crate::read::{FromRecord, RawRecord, json_type_name};
use crate::time::parse_rfc3339;

/// A label's value: a category, a number, or nothing ("saw it, gave no label").
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// `null`: the annotator saw the unit and gave no label (or a judge's verdict did not parse).
    Missing,
    /// A category such as `"A"`, `"B"`, `"tie"`, `"pass"`.
    Category(String),
    /// A number such as a Likert score.
    Number(f64),
}

impl LabelValue {
    /// Reads a JSON value as a label. In CSV, a cell that parses as a number is a number and an
    /// empty cell is missing. Booleans become the categories `"true"`/`"false"`.
    pub fn from_json(value: Value, text_table: bool) -> Result<LabelValue, FieldError> {
        match value {
            Value::Null => Ok(LabelValue::Missing),
            Value::Bool(b) => Ok(LabelValue::Category(b.to_string())),
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => Ok(LabelValue::Number(x)),
                _ => Err(FieldError::new("label", "expected a finite number")),
            },
            Value::String(s) if text_table => {
                let t = s.trim();
                if t.is_empty() {
                    Ok(LabelValue::Missing)
                } else if let Some(x) = parse_plain_number(t) {
                    Ok(LabelValue::Number(x))
                } else {
                    Ok(LabelValue::Category(s))
                }
            }
            Value::String(s) => Ok(LabelValue::Category(s)),
            other => Err(FieldError::new(
                "label",
                format!(
                    "expected a string, a number or null, found {}",
                    json_type_name(&other)
                ),
            )),
        }
    }

    /// The key under which two labels count as the same category: the string itself, or the
    /// shortest decimal form of a number, so that `"4"` and `4` are one category.
    /// `None` for a missing label.
    pub fn category_key(&self) -> Option<String> {
        match self {
            LabelValue::Missing => None,
            LabelValue::Category(s) => Some(s.clone()),
            LabelValue::Number(x) => Some(format_number(*x)),
        }
    }

    /// The numeric value: a number, or a category that is a plain decimal number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            LabelValue::Number(x) => Some(*x),
            LabelValue::Category(s) => parse_plain_number(s.trim()),
            LabelValue::Missing => None,
        }
    }

    /// Whether the label is missing.
    pub fn is_missing(&self) -> bool {
        matches!(self, LabelValue::Missing)
    }
}

/// Parses decimal numbers as written in data files (`4`, `-1.5`, `2e3`), but not `inf`, `nan`
/// or hexadecimal, which Rust's parser or a user would not mean as a score.
fn parse_plain_number(t: &str) -> Option<f64> {
    let looks_numeric = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && t.bytes().any(|b| b.is_ascii_digit());
    if !looks_numeric {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Writes a number the way JSON users expect: integers without a decimal point.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelValue::Missing => f.write_str("null"),
            LabelValue::Category(s) => f.write_str(s),
            LabelValue::Number(x) => f.write_str(&format_number(*x)),
        }
    }
}

impl Serialize for LabelValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LabelValue::Missing => s.serialize_none(),
            LabelValue::Category(c) => s.serialize_str(c),
            LabelValue::Number(x) if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => {
                s.serialize_i64(*x as i64)
            }
            LabelValue::Number(x) => s.serialize_f64(*x),
        }
    }
}

/// `{"item": "q1", "annotator": "alice", "label": "A"}` plus optional `model_a`, `model_b`,
/// `model`, `time` (RFC 3339), `round` and `guideline_version`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    /// The item the label is about.
    pub item: String,
    /// Who gave it: a person, or a judge such as `judge:gpt-4o/mt-bench-pair`.
    pub annotator: String,
    /// The label itself.
    pub label: LabelValue,
    /// For pairwise labels: the model shown as A (the label's frame of reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_a: Option<String>,
    /// For pairwise labels: the model shown as B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_b: Option<String>,
    /// For pointwise labels: the model whose response was labelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// When the label was given, as written (RFC 3339; validated on reading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The annotation round, e.g. `calibration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<String>,
    /// The guideline version the label was given under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guideline_version: Option<String>,
    /// Fields gavel does not know, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Label {
    /// Builds a label from already-separated fields; what is left in `f` becomes `extra`.
    pub fn from_fields(mut f: Fields) -> Result<Label, FieldError> {
        let item = f.string("item")?;
        let annotator = f.string("annotator")?;
        let text_table = f.is_text_table();
        let label = match f.take_value("label") {
            None => return Err(FieldError::missing("label")),
            Some(v) => LabelValue::from_json(v, text_table)?,
        };
        let model_a = f.opt_string("model_a")?;
        let model_b = f.opt_string("model_b")?;
        if model_a.is_some() != model_b.is_some() {
            let missing = if model_a.is_none() {
                "model_a"
            } else {
                "model_b"
            };
            return Err(FieldError::new(
                missing,
                "pairwise labels need both `model_a` and `model_b`",
            ));
        }
        let model = f.opt_string("model")?;
        let time = f.opt_string("time")?;
        if let Some(t) = &time {
            parse_rfc3339(t).map_err(|e| FieldError::new("time", e))?;
        }
        let round = f.opt_string("round")?;
        let guideline_version = f.opt_string("guideline_version")?;
        Ok(Label {
            item,
            annotator,
            label,
            model_a,
            model_b,
            model,
            time,
            round,
            guideline_version,
            extra: f.into_extra(),
        })
    }

    /// The time as seconds since the Unix epoch, if present (validated when read).
    pub fn timestamp(&self) -> Option<i64> {
        self.time.as_deref().and_then(|t| parse_rfc3339(t).ok())
    }

    /// The unit of agreement: the item, with the model pair (in a canonical order) or the model
    /// when present. Returns the key and whether A and B are exchanged relative to it.
    pub fn unit(&self) -> (UnitKey, bool) {
        match (&self.model_a, &self.model_b) {
            (Some(a), Some(b)) if a > b => (
                UnitKey {
                    item: self.item.clone(),
                    models: Some((b.clone(), a.clone())),
                    model: None,
                },
                true,
            ),
            (Some(a), Some(b)) => (
                UnitKey {
                    item: self.item.clone(),
                    models: Some((a.clone(), b.clone())),
                    model: None,
                },
                false,
            ),
            _ => (
                UnitKey {
                    item: self.item.clone(),
                    models: None,
                    model: self.model.clone(),
                },
                false,
            ),
        }
    }
}

/// The unit two labels must share to be compared (CONTRACT.md: item, with pair or model).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitKey {
    /// The item.
    pub item: String,
    /// The model pair in canonical (sorted) order, for pairwise labels.
    pub models: Option<(String, String)>,
    /// The model, for pointwise labels.
    pub model: Option<String>,
}

impl fmt::Display for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.item)?;
        if let Some((a, b)) = &self.models {
            write!(f, " ({a} vs {b})")?;
        }
        if let Some(m) = &self.model {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

/// Exchanges A and B in a pairwise label value (`"A"` <-> `"B"`, also `model_a`/`model_b`,
/// `1`/`2`); other values (ties, scores) are unchanged.
pub fn swap_pairwise_label(value: &LabelValue) -> LabelValue {
    match value {
        LabelValue::Category(c) => {
            let swapped = match c.as_str() {
                "A" => "B",
                "B" => "A",
                "a" => "b",
                "b" => "a",
                "model_a" => "model_b",
                "model_b" => "model_a",
                _ => return value.clone(),
            };
            LabelValue::Category(swapped.to_string())
        }
        _ => value.clone(),
    }
}

impl FromRecord for Label {
    fn from_record(record: RawRecord) -> Result<Label, FieldError> {
        Label::from_fields(Fields::new(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, RecordReader};

    fn labels(format: Format, text: &str) -> Vec<Result<Label, String>> {
        RecordReader::from_reader(
            "l",
            format,
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Label>()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
    }

    #[test]
    fn numbers_and_categories_share_keys() {
        assert_eq!(LabelValue::Number(4.0).category_key(), Some("4".into()));
        assert_eq!(
            LabelValue::Category("4".into()).category_key(),
            Some("4".into())
        );
        assert_eq!(LabelValue::Number(2.5).category_key(), Some("2.5".into()));
        assert_eq!(LabelValue::Missing.category_key(), None);
    }

    #[test]
    fn csv_cells_become_numbers_or_missing() {
        let got = labels(
            Format::Csv,
            "item,annotator,label\nq1,a,4\nq1,b,\nq1,c,tie\nq1,d,nan\n",
        );
        assert_eq!(got[0].as_ref().unwrap().label, LabelValue::Number(4.0));
        assert_eq!(got[1].as_ref().unwrap().label, LabelValue::Missing);
        assert_eq!(
            got[2].as_ref().unwrap().label,
            LabelValue::Category("tie".into())
        );
        assert_eq!(
            got[3].as_ref().unwrap().label,
            LabelValue::Category("nan".into())
        );
    }

    #[test]
    fn label_errors() {
        let got = labels(
            Format::Jsonl,
            concat!(
                "{\"item\":\"q\",\"annotator\":\"a\"}\n",
                "{\"item\":\"q\",\"annotator\":\"a\",\"label\":[1]}\n",
                "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\",\"model_a\":\"x\"}\n",
                "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\",\"time\":\"yesterday\"}\n",
            ),
        );
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            "l:1: field `label`: is required but missing"
        );
        assert_eq!(
            got[1].as_ref().unwrap_err(),
            "l:2: field `label`: expected a string, a number or null, found an array"
        );
        assert_eq!(
            got[2].as_ref().unwrap_err(),
            "l:3: field `model_b`: pairwise labels need both `model_a` and `model_b`"
        );
        assert!(
            got[3]
                .as_ref()
                .unwrap_err()
                .starts_with("l:4: field `time`: ")
        );
    }

    #[test]
    fn unit_is_order_free() {
        let got = labels(
            Format::Jsonl,
            concat!(
                "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\",\"model_a\":\"y\",\"model_b\":\"x\"}\n",
                "{\"item\":\"q\",\"annotator\":\"b\",\"label\":\"B\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
            ),
        );
        let (u1, s1) = got[0].as_ref().unwrap().unit();
        let (u2, s2) = got[1].as_ref().unwrap().unit();
        assert_eq!(u1, u2);
        assert!(s1 && !s2);
        assert_eq!(
            swap_pairwise_label(&got[0].as_ref().unwrap().label),
            LabelValue::Category("B".into())
        );
    }

    #[test]
    fn serializes_integers_without_point() {
        let l = labels(
            Format::Jsonl,
            "{\"item\":\"q\",\"annotator\":\"a\",\"label\":4.0}\n",
        )
        .remove(0)
        .unwrap();
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            "{\"item\":\"q\",\"annotator\":\"a\",\"label\":4}"
        );
    }
}
