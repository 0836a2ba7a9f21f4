//! Reference metrics per model, and the metric judge: a baseline "judge" that prefers the
//! response scoring better (higher; lower for TER) on a reference metric against the item's reference.
//!
//! The metric judge is a metric, not a judge of quality. Reference-overlap metrics correlate
//! poorly with human preference; running one through the meta-evaluation beside the human
//! ceiling makes that visible. Its judgments carry both metric values in `scores`.

use gavel_core::{Content, Item, Judgment, Label, LabelValue};
use serde_json::{Map, Value};

use crate::scores::{MetricsOptions, PairRef, corpus, lower_is_better, sentence};

/// The text of a response or reference used for metrics: the last turn of a multi-turn one.
fn text(content: &Content) -> &str {
    content.last()
}

/// The models that answered any item, in order of first appearance.
pub fn models(items: &[Item]) -> Vec<String> {
    crate::distinct(
        items
            .iter()
            .flat_map(|i| i.responses.iter().map(|(m, _)| m.clone())),
    )
}

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct MetricError(pub String);

/// The `gavel metrics` document of each model's responses against the items' references, over
/// the items that have a reference and a response of that model.
pub fn metrics_per_model(
    items: &[Item],
    names: &[String],
    options: &MetricsOptions,
) -> Result<Vec<(String, Value)>, MetricError> {
    let mut out = Vec::new();
    for model in models(items) {
        let pairs: Vec<PairRef<'_>> = items
            .iter()
            .filter_map(|item| {
                let reference = item.reference.as_ref()?;
                let response = item.response(&model)?;
                Some(PairRef {
                    hypothesis: text(response),
                    references: vec![text(reference)],
                })
            })
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let report = corpus(&pairs, names, options)
            .map_err(|e| MetricError(format!("metrics of {model}: {e}")))?;
        out.push((model, report));
    }
    if out.is_empty() {
        return Err(MetricError(
            "no item has both a reference and a response: nothing to score".into(),
        ));
    }
    Ok(out)
}

/// Settings of a metric judge.
#[derive(Debug, Clone)]
pub struct MetricJudge {
    /// The judge's name (written as `annotator`).
    pub name: String,
    /// The metric.
    pub metric: String,
    /// A difference at most this large is a tie.
    pub tie_margin: f64,
    /// Judge each model against this one only.
    pub baseline: Option<String>,
    /// Metric options (tokenizer, stemmer).
    pub options: MetricsOptions,
}

/// Judges every pair of models (or each model against the baseline) on every item with a
/// reference. Items without a reference are left out and counted in the second value.
pub fn judge(j: &MetricJudge, items: &[Item]) -> Result<(Vec<Judgment>, usize), MetricError> {
    let mut out = Vec::new();
    let mut without_reference = 0;
    for item in items {
        let Some(reference) = item.reference.as_ref() else {
            without_reference += 1;
            continue;
        };
        let reference = text(reference);
        let scored: Vec<(&str, f64)> = item
            .responses
            .iter()
            .map(|(m, c)| {
                sentence(&j.metric, text(c), &[reference], &j.options)
                    .map(|s| (m.as_str(), s))
                    .map_err(|e| MetricError(format!("judge {}: {e}", j.name)))
            })
            .collect::<Result<_, _>>()?;
        for (i, (a, sa)) in scored.iter().enumerate() {
            for (b, sb) in scored.iter().skip(i + 1) {
                let (a, sa, b, sb) = match &j.baseline {
                    Some(base) if a == base => (*b, *sb, *a, *sa),
                    Some(base) if b == base => (*a, *sa, *b, *sb),
                    Some(_) => continue,
                    None => (*a, *sa, *b, *sb),
                };
                // A positive difference favours A: for an error rate (TER) the lower score wins.
                let diff = if lower_is_better(&j.metric) {
                    sb - sa
                } else {
                    sa - sb
                };
                let verdict = if diff > j.tie_margin {
                    "A"
                } else if -diff > j.tie_margin {
                    "B"
                } else {
                    "tie"
                };
                out.push(Judgment {
                    label: Label {
                        item: item.id.clone(),
                        annotator: j.name.clone(),
                        label: LabelValue::Category(verdict.into()),
                        model_a: Some(a.into()),
                        model_b: Some(b.into()),
                        model: None,
                        time: None,
                        round: None,
                        guideline_version: None,
                        extra: Map::new(),
                    },
                    mode: Some("pairwise".into()),
                    template: None,
                    template_sha256: None,
                    judge_model: Some(format!("metric:{}", j.metric)),
                    orders: Vec::new(),
                    consistent: None,
                    score: None,
                    scores: Some(vec![sa, sb]),
                    rationale: Some(format!(
                        "{} against the reference: {sa:.4} for {a}, {sb:.4} for {b}",
                        j.metric
                    )),
                    parse_error: None,
                    usage: None,
                    cost_usd: None,
                    latency_ms: None,
                    cached: None,
                });
            }
        }
    }
    Ok((out, without_reference))
}

/// A figure of a metrics document on the metric's own scale: `score` for BLEU, chrF, TER,
/// exact match and token F1, `fmeasure` for ROUGE.
pub fn headline(doc: &Value, metric: &str) -> Option<f64> {
    let m = doc.get(metric)?;
    m.get("score")
        .or_else(|| m.get("fmeasure"))
        .and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::read::RecordReader;

    fn items(text: &str) -> Vec<Item> {
        RecordReader::from_reader(
            "items.jsonl",
            gavel_core::read::Format::Jsonl,
            Box::new(std::io::Cursor::new(text.to_string())),
        )
        .unwrap()
        .typed::<Item>()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn the_closer_response_wins_and_close_calls_tie() {
        let items = items(concat!(
            r#"{"id":"1","instruction":"q","reference":"the cat sat on the mat","responses":{"x":"the cat sat on the mat","y":"a dog ran","z":"the cat sat on a mat"}}"#,
            "\n",
            r#"{"id":"2","instruction":"q","responses":{"x":"a","y":"b"}}"#,
            "\n"
        ));
        let j = MetricJudge {
            name: "rouge-judge".into(),
            metric: "rougeL".into(),
            tie_margin: 0.2,
            baseline: None,
            options: MetricsOptions::default(),
        };
        let (judgments, without) = judge(&j, &items).unwrap();
        assert_eq!(without, 1);
        let verdicts: Vec<(String, String, String)> = judgments
            .iter()
            .map(|j| {
                (
                    j.label.model_a.clone().unwrap(),
                    j.label.model_b.clone().unwrap(),
                    j.label.label.category_key().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("x".into(), "y".into(), "A".into()),
                ("x".into(), "z".into(), "tie".into()),
                ("y".into(), "z".into(), "B".into()),
            ]
        );
        let s = judgments[0].scores.as_ref().unwrap();
        assert!((s[0] - 1.0).abs() < 1e-12 && s[1] < 0.2);

        let with_base = MetricJudge {
            baseline: Some("x".into()),
            ..j
        };
        let (judgments, _) = judge(&with_base, &items).unwrap();
        assert_eq!(judgments.len(), 2);
        assert!(
            judgments
                .iter()
                .all(|j| j.label.model_b.as_deref() == Some("x"))
        );
    }

    #[test]
    fn with_ter_the_fewer_edits_win() {
        let items = items(concat!(
            r#"{"id":"1","instruction":"q","reference":"the cat sat on the mat","responses":{"x":"the cat sat on the mat","y":"a dog ran"}}"#,
            "\n"
        ));
        let j = MetricJudge {
            name: "ter-judge".into(),
            metric: "ter".into(),
            tie_margin: 1.0,
            baseline: None,
            options: MetricsOptions::default(),
        };
        let (judgments, _) = judge(&j, &items).unwrap();
        assert_eq!(judgments.len(), 1);
        assert_eq!(judgments[0].label.label.category_key().unwrap(), "A");
        let s = judgments[0].scores.as_ref().unwrap();
        assert_eq!(s[0], 0.0);
        assert!(s[1] > 50.0);
    }
}
