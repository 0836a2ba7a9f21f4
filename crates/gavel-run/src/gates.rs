//! Quality gates: each reads one figure of the run and compares it with its bound. A gate whose
//! figure cannot be computed fails, and says why: a gate that silently passes on missing data
//! would defeat its purpose.

use gavel_core::Label;
use gavel_stats::rank::report::pairwise_outcome;
use serde_json::Value;

use crate::config::Gate;
use crate::metric_judge::headline;
use crate::report::{GateOutcome, Summary};

/// The win rate of `model` against `baseline` over every pairwise label comparing the two: wins
/// count 1, ties one half (labels read as `gavel rank` reads them; others are left out).
/// Returns the rate and the number of labels.
pub fn win_rate(labels: &[Label], model: &str, baseline: &str) -> Option<(f64, usize)> {
    let mut n = 0usize;
    let mut points = 0.0;
    for l in labels {
        let model_is_a = match (l.model_a.as_deref(), l.model_b.as_deref()) {
            (Some(a), Some(b)) if a == model && b == baseline => true,
            (Some(a), Some(b)) if a == baseline && b == model => false,
            _ => continue,
        };
        let Ok(Some(outcome)) = pairwise_outcome(&l.label) else {
            continue;
        };
        n += 1;
        points += if model_is_a {
            outcome.score_a()
        } else {
            1.0 - outcome.score_a()
        };
    }
    (n > 0).then(|| (points / n as f64, n))
}

fn judge_figure(summary: &Summary, judge: &str, figure: &str) -> Result<f64, String> {
    let meta = summary
        .meta_eval
        .as_ref()
        .ok_or("no meta-evaluation in this run (add [meta_eval] and human labels)")?;
    let report = meta
        .get("judges")
        .and_then(Value::as_array)
        .and_then(|js| {
            js.iter()
                .find(|j| j.get("judge").and_then(Value::as_str) == Some(judge))
        })
        .ok_or_else(|| format!("judge {judge} has no meta-evaluation (was it switched off?)"))?;
    report
        .get(figure)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{figure} of judge {judge} is undefined"))
}

/// Checks every gate.
pub fn evaluate_gates(gates: &[Gate], summary: &Summary, win_labels: &[Label]) -> Vec<GateOutcome> {
    gates
        .iter()
        .map(|gate| {
            let (value, detail): (Result<f64, String>, Option<String>) = match gate {
                Gate::WinRate {
                    model, baseline, ..
                } => match win_rate(win_labels, model, baseline) {
                    Some((r, n)) => (Ok(r), Some(format!("over {n} labels"))),
                    None => (
                        Err(format!("no label compares {model} with {baseline}")),
                        None,
                    ),
                },
                Gate::JudgeKappa { judge, .. } => {
                    (judge_figure(summary, judge, "cohen_kappa"), None)
                }
                Gate::JudgeAccuracy { judge, .. } => {
                    (judge_figure(summary, judge, "accuracy"), None)
                }
                Gate::MinAlpha { .. } => (
                    summary
                        .agreement
                        .as_ref()
                        .ok_or_else(|| "no agreement in this run (add [agreement])".to_string())
                        .and_then(|a| {
                            a.get("krippendorff_alpha")
                                .and_then(Value::as_f64)
                                .ok_or_else(|| "Krippendorff's alpha is undefined".to_string())
                        }),
                    None,
                ),
                Gate::Metric { model, metric, .. } => (
                    summary
                        .metrics
                        .as_ref()
                        .and_then(|m| m.get("models"))
                        .and_then(|m| m.get(model))
                        .and_then(|doc| headline(doc, metric))
                        .ok_or_else(|| {
                            format!("{metric} of {model} was not computed (list it in [metrics])")
                        }),
                    None,
                ),
                Gate::ParseFailureRate { judge, .. } => (
                    summary
                        .judges
                        .iter()
                        .find(|j| j.get("judge").and_then(Value::as_str) == Some(judge))
                        .and_then(|j| j.get("parse_failure_rate"))
                        .and_then(Value::as_f64)
                        .ok_or_else(|| format!("judge {judge} made no judgments in this run")),
                    None,
                ),
            };
            let (passed, value, detail) = match value {
                Ok(v) => {
                    let passed = match gate {
                        Gate::ParseFailureRate { max, .. } => v <= *max,
                        Gate::WinRate { min, .. }
                        | Gate::JudgeKappa { min, .. }
                        | Gate::JudgeAccuracy { min, .. }
                        | Gate::MinAlpha { min }
                        | Gate::Metric { min, .. } => v >= *min,
                    };
                    (passed, Some(v), detail)
                }
                Err(why) => (false, None, Some(why)),
            };
            GateOutcome {
                description: gate.describe(),
                value,
                passed,
                detail,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::LabelValue;
    use serde_json::json;

    fn label(a: &str, b: &str, v: &str) -> Label {
        Label {
            item: "q".into(),
            annotator: "x".into(),
            label: LabelValue::Category(v.into()),
            model_a: Some(a.into()),
            model_b: Some(b.into()),
            model: None,
            time: None,
            round: None,
            guideline_version: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn win_rate_counts_both_orientations_and_half_ties() {
        let labels = vec![
            label("m", "base", "A"),
            label("base", "m", "A"),
            label("base", "m", "B"),
            label("m", "base", "tie"),
            label("m", "other", "A"),
        ];
        let (r, n) = win_rate(&labels, "m", "base").unwrap();
        assert_eq!(n, 4);
        assert!((r - 2.5 / 4.0).abs() < 1e-12);
        assert!(win_rate(&labels, "other", "base").is_none());
    }

    #[test]
    fn gates_fail_on_low_values_and_on_missing_figures() {
        let summary = Summary {
            agreement: Some(json!({"krippendorff_alpha": 0.4})),
            meta_eval: Some(
                json!({"judges": [{"judge": "j", "cohen_kappa": null, "accuracy": 0.8}]}),
            ),
            ..Summary::default()
        };
        let gates = vec![
            Gate::MinAlpha { min: 0.3 },
            Gate::MinAlpha { min: 0.5 },
            Gate::JudgeAccuracy {
                judge: "j".into(),
                min: 0.7,
            },
            Gate::JudgeKappa {
                judge: "j".into(),
                min: 0.1,
            },
            Gate::Metric {
                model: "m".into(),
                metric: "bleu".into(),
                min: 1.0,
            },
        ];
        let out = evaluate_gates(&gates, &summary, &[]);
        let passed: Vec<bool> = out.iter().map(|g| g.passed).collect();
        assert_eq!(passed, [true, false, true, false, false]);
        assert!(out[3].detail.as_deref().unwrap().contains("undefined"));
        assert!(out[4].detail.as_deref().unwrap().contains("not computed"));
    }
}
