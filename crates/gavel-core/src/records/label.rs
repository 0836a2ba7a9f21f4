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

    const JSON_FAST_PATH: bool = true;

    fn from_json_line(line: &[u8]) -> Option<Label> {
        fast::label(line)
    }
}

/// Label records read straight from a JSON line: the fields land in their typed slots, with
/// no intermediate map. Anything the generic reader would refuse (and a few rare shapes, such
/// as an id written as an array) makes the fast path give up, so that the generic reader
/// produces the value or the error.
mod fast {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
    use serde_json::{Map, Number, Value};

    use super::{Label, LabelValue};
    use crate::time::parse_rfc3339;

    pub(super) fn label(line: &[u8]) -> Option<Label> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let slots = de.deserialize_map(LabelVisitor).ok()?;
        de.end().ok()?;
        slots.finish()
    }

    #[derive(Default)]
    struct Slots {
        item: Option<Option<String>>,
        annotator: Option<Option<String>>,
        label: Option<LabelValue>,
        model_a: Option<String>,
        model_b: Option<String>,
        model: Option<String>,
        time: Option<String>,
        round: Option<String>,
        guideline_version: Option<String>,
        extra: Map<String, Value>,
    }

    impl Slots {
        /// The label, when every check of [`Label::from_fields`] passes.
        fn finish(self) -> Option<Label> {
            let item = self.item??;
            let annotator = self.annotator??;
            let label = self.label?;
            if self.model_a.is_some() != self.model_b.is_some() {
                return None;
            }
            if let Some(t) = &self.time {
                parse_rfc3339(t).ok()?;
            }
            Some(Label {
                item,
                annotator,
                label,
                model_a: self.model_a,
                model_b: self.model_b,
                model: self.model,
                time: self.time,
                round: self.round,
                guideline_version: self.guideline_version,
                extra: self.extra,
            })
        }
    }

    enum Key {
        Item,
        Annotator,
        Label,
        ModelA,
        ModelB,
        Model,
        Time,
        Round,
        GuidelineVersion,
        Other(String),
    }

    struct KeyVisitor;

    impl Visitor<'_> for KeyVisitor {
        type Value = Key;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field name")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
            Ok(match v {
                "item" => Key::Item,
                "annotator" => Key::Annotator,
                "label" => Key::Label,
                "model_a" => Key::ModelA,
                "model_b" => Key::ModelB,
                "model" => Key::Model,
                "time" => Key::Time,
                "round" => Key::Round,
                "guideline_version" => Key::GuidelineVersion,
                other => Key::Other(other.to_string()),
            })
        }
    }

    impl<'de> DeserializeSeed<'de> for KeyVisitor {
        type Value = Key;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
            d.deserialize_str(self)
        }
    }

    /// An id-like field as [`crate::Fields::opt_string`] reads it: a string, a number written
    /// as text, or null; anything else gives up.
    struct IdVisitor;

    impl Visitor<'_> for IdVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Number::from(v).to_string()))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Number::from(v).to_string()))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Number::from_f64(v)
                .map(|n| Some(n.to_string()))
                .ok_or_else(|| E::custom("not a finite number"))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    impl<'de> DeserializeSeed<'de> for IdVisitor {
        type Value = Option<String>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    /// A label value as [`LabelValue::from_json`] reads it outside text tables.
    struct ValueVisitor;

    impl Visitor<'_> for ValueVisitor {
        type Value = LabelValue;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelValue, E> {
            Ok(LabelValue::Category(v.to_string()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<LabelValue, E> {
            Ok(LabelValue::Category(v))
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<LabelValue, E> {
            Ok(LabelValue::Category(v.to_string()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelValue, E> {
            Ok(LabelValue::Number(v as f64))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelValue, E> {
            Ok(LabelValue::Number(v as f64))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<LabelValue, E> {
            if v.is_finite() {
                Ok(LabelValue::Number(v))
            } else {
                Err(E::custom("not a finite number"))
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<LabelValue, E> {
            Ok(LabelValue::Missing)
        }
    }

    impl<'de> DeserializeSeed<'de> for ValueVisitor {
        type Value = LabelValue;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<LabelValue, D::Error> {
            d.deserialize_any(self)
        }
    }

    struct LabelVisitor;

    impl<'de> Visitor<'de> for LabelVisitor {
        type Value = Slots;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slots, A::Error> {
            let mut s = Slots::default();
            // A repeated field keeps its last value, as in the generic reader's map.
            while let Some(key) = map.next_key_seed(KeyVisitor)? {
                match key {
                    Key::Item => s.item = Some(map.next_value_seed(IdVisitor)?),
                    Key::Annotator => s.annotator = Some(map.next_value_seed(IdVisitor)?),
                    Key::Label => s.label = Some(map.next_value_seed(ValueVisitor)?),
                    Key::ModelA => s.model_a = map.next_value_seed(IdVisitor)?,
                    Key::ModelB => s.model_b = map.next_value_seed(IdVisitor)?,
                    Key::Model => s.model = map.next_value_seed(IdVisitor)?,
                    Key::Time => s.time = map.next_value_seed(IdVisitor)?,
                    Key::Round => s.round = map.next_value_seed(IdVisitor)?,
                    Key::GuidelineVersion => {
                        s.guideline_version = map.next_value_seed(IdVisitor)?;
                    }
                    Key::Other(name) => {
                        let value: Value = map.next_value()?;
                        s.extra.insert(name, value);
                    }
                }
            }
            Ok(s)
        }
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

    /// Every record of a JSONL text through the generic reader (map, then `from_record`) and
    /// through the typed fast path, with locations and error texts.
    fn both_ways(
        text: &[u8],
    ) -> (
        Vec<Result<(Label, Location), String>>,
        Vec<Result<(Label, Location), String>>,
    ) {
        let reader = || {
            RecordReader::from_reader(
                "l",
                Format::Jsonl,
                Box::new(std::io::Cursor::new(text.to_vec())),
            )
            .unwrap()
        };
        let generic = reader()
            .map(|raw| {
                let raw = raw.map_err(|e| e.to_string())?;
                let location = raw.location.clone();
                Label::from_record(raw)
                    .map(|l| (l, location.clone()))
                    .map_err(|error| crate::ReadError::Field { location, error }.to_string())
            })
            .collect();
        let fast = reader()
            .typed_located::<Label>()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        (generic, fast)
    }

    use crate::Location;

    #[test]
    fn fast_path_equals_generic_reader() {
        let lines: &[&str] = &[
            r#"{"item":"q1","annotator":"a","label":"A"}"#,
            r#"{"item":"q1","annotator":"a","label":4}"#,
            r#"{"item":"q1","annotator":"a","label":4.0}"#,
            r#"{"item":"q1","annotator":"a","label":-2}"#,
            r#"{"item":"q1","annotator":"a","label":2.5e0}"#,
            r#"{"item":"q1","annotator":"a","label":true}"#,
            r#"{"item":"q1","annotator":"a","label":null}"#,
            r#"{"item":"q1","annotator":"a","label":1e400}"#,
            r#"{"item":17,"annotator":-3,"label":"B"}"#,
            r#"{"item":1.5,"annotator":1e3,"label":"B"}"#,
            r#"{"item":18446744073709551615,"annotator":"a","label":"B"}"#,
            r#"{"item":"q\u00e9\n","annotator":"a\"b","label":"\u0041"}"#,
            r#"{"it\u0065m":"q","annotator":"a","label":"A"}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x","model_b":"y","model":null,"time":"2024-05-01T12:30:00Z","round":3,"guideline_version":"v2"}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x"}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_b":"x","model_a":null}"#,
            r#"{"item":"q","annotator":"a","label":"A","time":"yesterday"}"#,
            r#"{"item":"q","annotator":"a","label":"A","time":5}"#,
            r#"{"item":"q","annotator":"a","label":"A","zeta":{"b":[1,2,{"c":null}]},"alpha":1,"zeta":2}"#,
            r#"{"item":"q","annotator":"a","label":"A","item":"r","label":null}"#,
            r#"{"item":"q","annotator":"a","label":"A","item":null}"#,
            r#"{"item":["q"],"annotator":"a","label":"A","item":"q"}"#,
            r#"{"item":"q","annotator":"a","label":[1]}"#,
            r#"{"item":"q","annotator":"a","label":{"x":1}}"#,
            r#"{"item":"q","annotator":true,"label":"A"}"#,
            r#"{"item":"q","label":"A"}"#,
            r#"{"annotator":"a","label":"A"}"#,
            r#"{"item":"q","annotator":"a"}"#,
            r#"{"item":"q","annotator":"a","label":"A"} x"#,
            r#"{"item":"q","annotator":"a","label":"A",}"#,
            r#"{"item":"q","annotator":"a","label":"A""#,
            r#"[1,2]"#,
            r#""text""#,
            r#"  {"item":"q","annotator":"a","label":"A"}  "#,
            "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\"}\r",
            "",
            "   \t",
        ];
        let mut text = b"\xEF\xBB\xBF".to_vec();
        for l in lines {
            text.extend_from_slice(l.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(b"{\"item\":\"\xff\",\"annotator\":\"a\",\"label\":\"A\"}\n");
        text.extend_from_slice(br#"{"item":"last","annotator":"a","label":"A"}"#);
        let (generic, fast) = both_ways(&text);
        assert_eq!(generic.len(), lines.len() - 2 + 2);
        assert!(generic.iter().filter(|r| r.is_ok()).count() > 10);
        assert!(generic.iter().filter(|r| r.is_err()).count() > 10);
        for (k, (g, f)) in generic.iter().zip(&fast).enumerate() {
            assert_eq!(g, f, "record {}", k + 1);
        }
        assert_eq!(generic.len(), fast.len());
        // The usual shapes take the fast path itself (not the fallback).
        for (k, l) in lines.iter().enumerate().take(14) {
            let direct = Label::from_json_line(l.as_bytes());
            assert_eq!(direct.is_some(), k != 7, "{l}");
        }
        assert!(Label::from_json_line(lines[18].as_bytes()).is_some());
        assert!(Label::from_json_line(lines[19].as_bytes()).is_some());
    }

    #[test]
    fn fast_path_in_parallel_batches_keeps_order_and_lines() {
        let mut text = String::new();
        for i in 0..30_000 {
            match i % 997 {
                5 => text.push('\n'),
                7 => text.push_str("{\"item\":\"q\"}\n"),
                11 => text.push_str("{bad\n"),
                _ => text.push_str(&format!(
                    "{{\"item\":\"i{}\",\"annotator\":\"ann{}\",\"label\":{}}}\n",
                    i / 3,
                    i % 3,
                    i % 5
                )),
            }
        }
        let (generic, fast) = both_ways(text.as_bytes());
        assert_eq!(generic.len(), fast.len());
        assert!(generic.len() > 29_000);
        assert_eq!(generic, fast);
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
