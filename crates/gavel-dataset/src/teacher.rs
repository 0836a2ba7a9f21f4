//! Teacher records: Judgments from `gavel judge`, or any pairwise Label records with a
//! `rationale`, reduced to what the builder needs.
//!
//! JSONL lines are parsed straight into [`TeacherRecord`] (several threads at once, see
//! [`crate::jsonl`]); other formats go through gavel-core's `Judgment` reader. Both give the
//! same records, and a line the fast path cannot read is read again by gavel-core's reader so
//! that the error names the field.

use std::borrow::Cow;
use std::fmt;

use gavel_core::{Format, Judgment, LabelValue, Location, RawRecord, ReadError, format_number};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

use crate::convention::Choice;

/// Which response was shown first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// `model_a` first.
    AB,
    /// `model_b` first.
    BA,
}

impl Order {
    /// `"AB"` or `"BA"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::AB => "AB",
            Order::BA => "BA",
        }
    }

    fn parse(s: &str) -> Option<Order> {
        match s {
            "AB" => Some(Order::AB),
            "BA" => Some(Order::BA),
            _ => None,
        }
    }
}

/// A label as found in a record, before it is judged usable.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLabel {
    /// `null`.
    Missing,
    /// A pairwise choice.
    Choice(Choice),
    /// Anything else (a number, another category), as text.
    Other(String),
}

impl RawLabel {
    fn from_value(v: &LabelValue) -> RawLabel {
        match v {
            LabelValue::Missing => RawLabel::Missing,
            LabelValue::Category(s) => match Choice::parse(s) {
                Some(c) => RawLabel::Choice(c),
                None => RawLabel::Other(s.clone()),
            },
            LabelValue::Number(x) => RawLabel::Other(format_number(*x)),
        }
    }

    /// The choice, if the label is one.
    pub fn choice(&self) -> Option<Choice> {
        match self {
            RawLabel::Choice(c) => Some(*c),
            _ => None,
        }
    }
}

/// One entry of a judgment's `orders`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEntry {
    /// The presentation order (`None` for anything but `AB`/`BA`, e.g. `single`).
    pub order: Option<Order>,
    /// The verdict in the record's frame.
    pub label: RawLabel,
    /// The sample number, when the judge was sampled several times.
    pub sample: Option<u64>,
    /// Whether the answer was cut off by the token limit.
    pub truncated: bool,
    /// Whether the entry carries a parse error.
    pub parse_error: bool,
}

/// A teacher's verdict on one pair, with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherRecord {
    /// The item.
    pub item: String,
    /// Who judged (`judge:gpt-4o/mt-bench-pair`).
    pub annotator: String,
    /// The first model of the pair (the record's frame).
    pub model_a: Option<String>,
    /// The second model.
    pub model_b: Option<String>,
    /// `pairwise`, `pointwise`...
    pub mode: Option<String>,
    /// The teacher's template.
    pub template: Option<String>,
    /// The verdict.
    pub label: RawLabel,
    /// The two scores in the record's frame (JudgeLM-style judges).
    pub scores: Option<(f64, f64)>,
    /// The teacher's explanation.
    pub rationale: Option<String>,
    /// The order the rationale was written for (its "Assistant A" is that order's first).
    pub rationale_order: Order,
    /// Whether both orders agreed, as the judge recorded it.
    pub consistent: Option<bool>,
    /// The verdicts per order and sample.
    pub orders: Vec<OrderEntry>,
    /// Why the verdict could not be read, if it could not.
    pub parse_error: Option<String>,
    /// Whether the record itself says the output was cut off.
    pub truncated: bool,
}

impl TeacherRecord {
    /// Whether any answer behind the record was cut off by the token limit.
    pub fn is_truncated(&self) -> bool {
        self.truncated || self.orders.iter().any(|o| o.truncated)
    }

    /// Whether the record states both presentation orders with labels that differ, or says so.
    pub fn is_position_inconsistent(&self) -> bool {
        if self.consistent == Some(false) {
            return true;
        }
        let of = |o: Order| {
            let labels: Vec<Choice> = self
                .orders
                .iter()
                .filter(|e| e.order == Some(o))
                .filter_map(|e| e.label.choice())
                .collect();
            majority(&labels)
        };
        match (of(Order::AB), of(Order::BA)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }

    /// The lowest share of samples agreeing with their order's majority, over the orders that
    /// were sampled more than once; `None` without repeated samples.
    pub fn sample_agreement(&self) -> Option<f64> {
        let mut worst: Option<f64> = None;
        for o in [Some(Order::AB), Some(Order::BA), None] {
            let labels: Vec<Choice> = self
                .orders
                .iter()
                .filter(|e| e.order == o && e.sample.is_some())
                .filter_map(|e| e.label.choice())
                .collect();
            if labels.len() < 2 {
                continue;
            }
            let top = Choice::ALL
                .iter()
                .map(|c| labels.iter().filter(|l| *l == c).count())
                .max()
                .unwrap_or(0);
            let share = top as f64 / labels.len() as f64;
            worst = Some(worst.map_or(share, |w: f64| w.min(share)));
        }
        worst
    }

    /// The record's choice: its label, or the comparison of its scores when the label is
    /// missing.
    pub fn choice(&self) -> Option<Choice> {
        match &self.label {
            RawLabel::Choice(c) => Some(*c),
            // Scores beside a parse error come from the calls that did parse: not a verdict.
            RawLabel::Missing if self.parse_error.is_none() => {
                self.scores.map(|(a, b)| Choice::from_scores(a, b))
            }
            RawLabel::Missing => None,
            RawLabel::Other(_) => None,
        }
    }

    /// Builds a record from gavel-core's Judgment (any input format).
    pub fn from_judgment(j: Judgment) -> TeacherRecord {
        let mut extra = j.label.extra;
        let truncated = truncated_flag(&extra);
        let rationale_order = extra
            .shift_remove("rationale_order")
            .and_then(|v| v.as_str().and_then(Order::parse));
        let orders: Vec<OrderEntry> = j
            .orders
            .iter()
            .map(|o| OrderEntry {
                order: Order::parse(&o.order),
                label: RawLabel::from_value(&o.label),
                sample: o.extra.get("sample").and_then(Value::as_u64),
                truncated: truncated_flag(&o.extra),
                parse_error: o.parse_error.is_some(),
            })
            .collect();
        let scores = match j.scores.as_deref() {
            Some([a, b]) => Some((*a, *b)),
            _ => None,
        };
        let rationale_order = rationale_order.unwrap_or_else(|| first_labelled_order(&orders));
        TeacherRecord {
            item: j.label.item,
            annotator: j.label.annotator,
            model_a: j.label.model_a,
            model_b: j.label.model_b,
            mode: j.mode,
            template: j.template,
            label: RawLabel::from_value(&j.label.label),
            scores,
            rationale: j.rationale.filter(|s| !s.is_empty()),
            rationale_order,
            consistent: j.consistent,
            orders,
            parse_error: j.parse_error.filter(|s| !s.is_empty()),
            truncated,
        }
    }
}

fn majority(labels: &[Choice]) -> Option<Choice> {
    let count = |c: Choice| labels.iter().filter(|&&l| l == c).count();
    let (a, b, t) = (count(Choice::A), count(Choice::B), count(Choice::Tie));
    if labels.is_empty() {
        None
    } else if a > b && a > t {
        Some(Choice::A)
    } else if b > a && b > t {
        Some(Choice::B)
    } else {
        Some(Choice::Tie)
    }
}

/// The order of the first entry with a verdict: the runner takes the rationale from the
/// first call that gave one, in `orders` order.
fn first_labelled_order(orders: &[OrderEntry]) -> Order {
    orders
        .iter()
        .find(|o| o.label != RawLabel::Missing)
        .and_then(|o| o.order)
        .unwrap_or(Order::AB)
}

fn truncated_flag(fields: &Map<String, Value>) -> bool {
    fields.get("truncated").and_then(Value::as_bool) == Some(true)
        || fields.get("finish_reason").and_then(Value::as_str) == Some("length")
}

// ---- the fast JSONL path ----

/// A string or a number written as text (ids are often numbers).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(format_number(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A label value: string, number, boolean or null.
struct WireLabel(RawLabel);

impl<'de> Deserialize<'de> for WireLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WireLabel, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireLabel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireLabel, E> {
                Ok(WireLabel(match Choice::parse(v) {
                    Some(c) => RawLabel::Choice(c),
                    None => RawLabel::Other(v.to_string()),
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireLabel, E> {
                Ok(WireLabel(RawLabel::Other(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireLabel, E> {
                Ok(WireLabel(RawLabel::Other(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireLabel, E> {
                if v.is_finite() {
                    Ok(WireLabel(RawLabel::Other(format_number(v))))
                } else {
                    Err(E::custom("expected a finite number"))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WireLabel, E> {
                Ok(WireLabel(RawLabel::Other(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<WireLabel, E> {
                Ok(WireLabel(RawLabel::Missing))
            }
            fn visit_none<E: de::Error>(self) -> Result<WireLabel, E> {
                Ok(WireLabel(RawLabel::Missing))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<WireLabel, D2::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WireLabel>, D::Error> {
    WireLabel::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct WireOrder<'a> {
    #[serde(borrow)]
    order: Cow<'a, str>,
    label: Option<WireLabel>,
    sample: Option<u64>,
    truncated: Option<bool>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parse_error: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireRecord<'a> {
    item: Option<Text>,
    annotator: Option<Text>,
    /// Absent is an error, `null` a missing label: hence not serde's usual `Option`.
    #[serde(default, deserialize_with = "present")]
    label: Option<WireLabel>,
    model_a: Option<Text>,
    model_b: Option<Text>,
    #[serde(borrow)]
    mode: Option<Cow<'a, str>>,
    #[serde(borrow)]
    template: Option<Cow<'a, str>>,
    #[serde(borrow)]
    orders: Option<Vec<WireOrder<'a>>>,
    consistent: Option<bool>,
    scores: Option<Vec<f64>>,
    #[serde(borrow)]
    rationale: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rationale_order: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parse_error: Option<Cow<'a, str>>,
    truncated: Option<bool>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

/// Parses one JSONL line into a teacher record. `source` and `line` name it in errors.
pub fn parse_line(bytes: &[u8], source: &str, line: u64) -> Result<TeacherRecord, ReadError> {
    match serde_json::from_slice::<WireRecord<'_>>(bytes) {
        Ok(w) => match from_wire(w) {
            Ok(r) => Ok(r),
            Err(field) => Err(ReadError::Field {
                location: Location::new(source.into(), Some(line), line),
                error: gavel_core::FieldError::missing(field),
            }),
        },
        Err(e) => Err(slow_error(bytes, source, line, e)),
    }
}

fn from_wire(w: WireRecord<'_>) -> Result<TeacherRecord, &'static str> {
    let item = w.item.ok_or("item")?.0;
    let annotator = w.annotator.ok_or("annotator")?.0;
    let label = w.label.ok_or("label")?.0;
    let orders: Vec<OrderEntry> = w
        .orders
        .unwrap_or_default()
        .into_iter()
        .map(|o| OrderEntry {
            order: Order::parse(&o.order),
            label: o.label.map_or(RawLabel::Missing, |l| l.0),
            sample: o.sample,
            truncated: o.truncated == Some(true) || o.finish_reason.as_deref() == Some("length"),
            parse_error: o.parse_error.is_some(),
        })
        .collect();
    let scores = match w.scores.as_deref() {
        Some([a, b]) => Some((*a, *b)),
        _ => None,
    };
    let rationale_order = w
        .rationale_order
        .as_deref()
        .and_then(Order::parse)
        .unwrap_or_else(|| first_labelled_order(&orders));
    Ok(TeacherRecord {
        item,
        annotator,
        model_a: w.model_a.map(|t| t.0),
        model_b: w.model_b.map(|t| t.0),
        mode: w.mode.map(Cow::into_owned),
        template: w.template.map(Cow::into_owned),
        label,
        scores,
        rationale: w.rationale.map(Cow::into_owned).filter(|s| !s.is_empty()),
        rationale_order,
        consistent: w.consistent,
        orders,
        parse_error: w.parse_error.map(Cow::into_owned).filter(|s| !s.is_empty()),
        truncated: w.truncated == Some(true) || w.finish_reason.as_deref() == Some("length"),
    })
}

/// Reads a line the fast path rejected through gavel-core's reader, for an error that names
/// the field; falls back to the JSON parser's message.
fn slow_error(bytes: &[u8], source: &str, line: u64, fast: serde_json::Error) -> ReadError {
    let location = Location::new(source.into(), Some(line), line);
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return ReadError::Syntax {
                location,
                message: format!("invalid JSON: {e}"),
            };
        }
    };
    let Value::Object(fields) = value else {
        return ReadError::Syntax {
            location,
            message: "expected a JSON object".into(),
        };
    };
    let raw = RawRecord {
        location: location.clone(),
        format: Format::Jsonl,
        fields,
    };
    match <Judgment as gavel_core::FromRecord>::from_record(raw) {
        Err(error) => ReadError::Field { location, error },
        Ok(_) => ReadError::Syntax {
            location,
            message: fast.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::RecordReader;

    const JUDGE: &str = r#"{"item": "q1", "annotator": "judge:gpt-4o/mt-bench-pair", "label": "A", "model_a": "x", "model_b": "y", "mode": "pairwise", "template": "mt-bench-pair", "orders": [{"order": "BA", "label": "A", "raw": "...", "parse_error": null, "truncated": true}, {"order": "AB", "label": "B", "raw": "...", "parse_error": null}], "consistent": false, "score": null, "scores": [7, 3.5], "rationale": "Assistant A wins", "usage": {"prompt_tokens": 1, "completion_tokens": 2}}"#;

    fn slow(line: &str) -> TeacherRecord {
        let j = RecordReader::from_reader(
            "t",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(line.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Judgment>()
        .next()
        .unwrap()
        .unwrap();
        TeacherRecord::from_judgment(j)
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        for line in [
            JUDGE,
            r#"{"item": 7, "annotator": "h", "label": null, "rationale": "", "truncated": true}"#,
            r#"{"item": "q", "annotator": "h", "label": 4, "model_a": "x", "model_b": "y"}"#,
            r#"{"item": "q", "annotator": "h", "label": "tie", "orders": [{"order": "AB", "label": "A", "sample": 0}, {"order": "AB", "label": "B", "sample": 1, "finish_reason": "length"}], "rationale_order": "BA"}"#,
        ] {
            let fast = parse_line(line.as_bytes(), "t", 1).unwrap();
            assert_eq!(fast, slow(line), "{line}");
        }
    }

    #[test]
    fn evidence_is_read() {
        let r = parse_line(JUDGE.as_bytes(), "t", 1).unwrap();
        assert!(r.is_truncated());
        assert!(r.is_position_inconsistent());
        assert_eq!(r.rationale_order, Order::BA);
        assert_eq!(r.scores, Some((7.0, 3.5)));
        assert_eq!(r.choice(), Some(Choice::A));
        assert_eq!(r.sample_agreement(), None);
    }

    #[test]
    fn inconsistency_from_orders_when_not_recorded() {
        let line = r#"{"item": "q", "annotator": "h", "label": "A", "orders": [{"order": "AB", "label": "A"}, {"order": "BA", "label": "tie"}]}"#;
        assert!(
            parse_line(line.as_bytes(), "t", 1)
                .unwrap()
                .is_position_inconsistent()
        );
        let line = r#"{"item": "q", "annotator": "h", "label": "A", "orders": [{"order": "AB", "label": "A"}, {"order": "BA", "label": "A"}]}"#;
        assert!(
            !parse_line(line.as_bytes(), "t", 1)
                .unwrap()
                .is_position_inconsistent()
        );
    }

    #[test]
    fn sample_agreement_is_the_worst_order() {
        let line = r#"{"item": "q", "annotator": "h", "label": "A", "orders": [
            {"order": "AB", "label": "A", "sample": 0}, {"order": "AB", "label": "A", "sample": 1}, {"order": "AB", "label": "B", "sample": 2},
            {"order": "BA", "label": "A", "sample": 0}, {"order": "BA", "label": "A", "sample": 1}, {"order": "BA", "label": "A", "sample": 2}]}"#
            .replace('\n', " ");
        let r = parse_line(line.as_bytes(), "t", 1).unwrap();
        assert!((r.sample_agreement().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse_line(br#"{"annotator": "h", "label": "A"}"#, "j.jsonl", 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "j.jsonl:3: field `item`: is required but missing"
        );
        let e = parse_line(
            br#"{"item": "q", "annotator": "h", "label": "A", "orders": 3}"#,
            "j.jsonl",
            4,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("j.jsonl:4: field `orders`"),
            "{e}"
        );
        let e = parse_line(b"{not json", "j.jsonl", 5).unwrap_err();
        assert!(e.to_string().starts_with("j.jsonl:5: invalid JSON"), "{e}");
    }
}
