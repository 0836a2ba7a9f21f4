//! The Judgment record: a Label written by a judge, plus the evidence behind it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::Fields;
use crate::read::{FromRecord, RawRecord, json_type_name};
use crate::records::label::{Label, LabelValue};

/// The judge's verdict for one presentation order of a pairwise comparison (or one sample of a
/// pointwise one). `label` is stated in the record's `model_a`/`model_b` frame whatever the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderVerdict {
    /// `"AB"` when `model_a`'s response was shown first, `"BA"` when it was shown second.
    pub order: String,
    /// The verdict, mapped back to the record's frame; missing when it did not parse.
    pub label: LabelValue,
    /// The judge's raw output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Why the verdict could not be read, if it could not.
    pub parse_error: Option<String>,
    /// Further fields (scores, sample index...), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token usage as reported by the endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// A Label plus how it was reached (CONTRACT.md "Judgment"). A judgment whose verdict could not
/// be parsed keeps `label: null` and says why in `parse_error`; it is never dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgment {
    /// The label fields (`item`, `annotator`, `label`, `model_a`...); its `extra` holds any
    /// fields unknown to both records.
    #[serde(flatten)]
    pub label: Label,
    /// `pairwise`, `pointwise`, `binary`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The template's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// SHA-256 of the template text, so a changed prompt is visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_sha256: Option<String>,
    /// The judge model as requested or reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// One verdict per presentation order (pairwise) or sample.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<OrderVerdict>,
    /// Whether the orders' labels are equal (pairwise with both orders); `null` otherwise.
    pub consistent: Option<bool>,
    /// A pointwise score.
    pub score: Option<f64>,
    /// Several scores (e.g. JudgeLM's two scores, in the record's A/B frame).
    pub scores: Option<Vec<f64>>,
    /// The judge's explanation, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Why the final verdict could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Token usage over all calls behind this judgment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Cost in US dollars, when prices are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Wall time of the calls, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Whether every call was answered from the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

impl Judgment {
    /// Whether both presentation orders were judged.
    pub fn has_both_orders(&self) -> bool {
        self.orders.iter().any(|o| o.order == "AB") && self.orders.iter().any(|o| o.order == "BA")
    }
}

impl FromRecord for Judgment {
    fn from_record(record: RawRecord) -> Result<Judgment, FieldError> {
        let mut f = Fields::new(record);
        let text_table = f.is_text_table();
        let mode = f.opt_string("mode")?;
        let template = f.opt_string("template")?;
        let template_sha256 = f.opt_string("template_sha256")?;
        let judge_model = f.opt_string("judge_model")?;
        let orders = match f.take_value("orders") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if text_table && s.trim().is_empty() => Vec::new(),
            Some(Value::String(s)) if text_table => {
                let v = serde_json::from_str::<Value>(&s).map_err(|e| {
                    FieldError::new("orders", format!("expected a JSON array in the cell: {e}"))
                })?;
                read_orders(v)?
            }
            Some(v) => read_orders(v)?,
        };
        let consistent = f.opt_bool("consistent")?;
        let score = f.opt_f64("score")?;
        let scores = match f.take_value("scores") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.into_iter()
                    .enumerate()
                    .map(|(i, v)| match v.as_f64() {
                        Some(x) if x.is_finite() => Ok(x),
                        _ => Err(FieldError::new(
                            format!("scores[{i}]"),
                            "expected a finite number",
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) if !text_table => {
                return Err(FieldError::new(
                    "scores",
                    format!(
                        "expected an array of numbers, found {}",
                        json_type_name(&other)
                    ),
                ));
            }
            Some(_) => None,
        };
        let rationale = f.opt_text("rationale")?;
        let parse_error = f.opt_text("parse_error")?;
        let usage = f.opt_object("usage")?.map(|m| Usage {
            prompt_tokens: m.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            completion_tokens: m
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        });
        let cost_usd = f.opt_f64("cost_usd")?;
        let latency_ms = f.opt_f64("latency_ms")?.map(|x| x.max(0.0) as u64);
        let cached = f.opt_bool("cached")?;
        let label = Label::from_fields(f)?;
        Ok(Judgment {
            label,
            mode,
            template,
            template_sha256,
            judge_model,
            orders,
            consistent,
            score,
            scores,
            rationale,
            parse_error,
            usage,
            cost_usd,
            latency_ms,
            cached,
        })
    }
}

fn read_orders(value: Value) -> Result<Vec<OrderVerdict>, FieldError> {
    let Value::Array(entries) = value else {
        return Err(FieldError::new(
            "orders",
            format!("expected an array, found {}", json_type_name(&value)),
        ));
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let name = format!("orders[{i}]");
            let Value::Object(map) = entry else {
                return Err(FieldError::new(name, "expected an object"));
            };
            let mut f = Fields::from_map(map);
            let order = f
                .string("order")
                .map_err(|e| FieldError::new(format!("{name}.{}", e.field), e.message))?;
            let label = match f.take_value("label") {
                None => LabelValue::Missing,
                Some(v) => LabelValue::from_json(v, false)
                    .map_err(|e| FieldError::new(format!("{name}.label"), e.message))?,
            };
            let raw = f
                .opt_text("raw")
                .map_err(|e| FieldError::new(format!("{name}.raw"), e.message))?;
            let parse_error = f
                .opt_text("parse_error")
                .map_err(|e| FieldError::new(format!("{name}.parse_error"), e.message))?;
            Ok(OrderVerdict {
                order,
                label,
                raw,
                parse_error,
                extra: f.into_extra(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, RecordReader};

    const CONTRACT_EXAMPLE: &str = r#"{"item": "q1", "annotator": "judge:gpt-4o/mt-bench-pair", "label": "A", "model_a": "x", "model_b": "y", "mode": "pairwise", "template": "mt-bench-pair", "template_sha256": "abc", "judge_model": "gpt-4o-2024-08-06", "orders": [{"order": "AB", "label": "A", "raw": "...", "parse_error": null}, {"order": "BA", "label": "A", "raw": "...", "parse_error": null}], "consistent": true, "score": null, "scores": null, "rationale": "...", "usage": {"prompt_tokens": 812, "completion_tokens": 201}, "cost_usd": 0.0041, "latency_ms": 1840, "cached": false}"#;

    #[test]
    fn reads_the_contract_example_and_writes_it_back() {
        let mut r = RecordReader::from_reader(
            "j",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(CONTRACT_EXAMPLE.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Judgment>();
        let j = r.next().unwrap().unwrap();
        assert!(j.has_both_orders());
        assert_eq!(j.label.label, LabelValue::Category("A".into()));
        assert_eq!(j.usage.unwrap().prompt_tokens, 812);
        let back: Value = serde_json::to_value(&j).unwrap();
        let orig: Value = serde_json::from_str(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn a_judgment_is_a_label() {
        let mut r = RecordReader::from_reader(
            "j",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(CONTRACT_EXAMPLE.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Label>();
        let l = r.next().unwrap().unwrap();
        assert_eq!(l.annotator, "judge:gpt-4o/mt-bench-pair");
        assert!(l.extra.contains_key("orders"));
    }
}
