//! The run report: one self-contained HTML file (inline CSS and SVG, no scripts, no network) and
//! the JSON summary it is drawn from.
//!
//! The report reads the same JSON documents the single commands print (the CONTRACT.md shapes of
//! `gavel metrics`, `gavel agree`, `gavel meta-eval` and `gavel rank`), so the report and the
//! commands cannot drift apart. Every piece of text from the data is escaped: the template engine
//! escapes everything except the SVG charts, which [`crate::svg`] escapes itself. A strict
//! Content-Security-Policy in the page forbids any request, so a report opened anywhere stays
//! offline.

use minijinja::Environment;
use serde::Serialize;
use serde_json::{Value, json};

use crate::svg::{IntervalRow, SeriesPoint, interval_chart, window_chart};

const TEMPLATE: &str = include_str!("../templates/report.html");

/// An error while rendering the report.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the report: {0}")]
pub struct ReportError(String);

/// The outcome of one gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateOutcome {
    /// What was checked, in words.
    pub description: String,
    /// The value found, if it could be computed.
    pub value: Option<f64>,
    /// Whether the gate passed (a gate whose value cannot be computed fails).
    pub passed: bool,
    /// Why it failed or could not be computed.
    pub detail: Option<String>,
}

/// Everything the report shows; serialised as `summary.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The run: id, name, status, times, config, version.
    pub run: Value,
    /// Gate outcomes.
    pub gates: Vec<GateOutcome>,
    /// Per model, the `gavel metrics` JSON document.
    pub metrics: Option<Value>,
    /// The `gavel agree` JSON document for the human labels.
    pub agreement: Option<Value>,
    /// The `gavel meta-eval` JSON document (judges against humans).
    pub meta_eval: Option<Value>,
    /// The `gavel rank` JSON document, plus `source` and `method`.
    pub ranking: Option<Value>,
    /// Per judge: judgments, calls, cached calls, retries, cost, parse failures.
    pub judges: Vec<Value>,
    /// Judge provenance.
    pub provenance: Vec<Value>,
    /// Input files: role, path, records, sha256.
    pub data_files: Vec<Value>,
    /// Items where a judge and the humans disagree, with the judged text.
    pub disagreements: Vec<Value>,
}

fn num(v: Option<&Value>, decimals: usize) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "–".to_string(),
    }
}

fn ci_text(v: Option<&Value>, decimals: usize) -> String {
    match v.and_then(Value::as_array) {
        Some(a) if a.len() == 2 => match (a[0].as_f64(), a[1].as_f64()) {
            (Some(lo), Some(hi)) => format!("[{lo:.decimals$}, {hi:.decimals$}]"),
            _ => "–".into(),
        },
        _ => "–".into(),
    }
}

fn str_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A figure that may be written as a number or as `{"value": x, "ci": [..]}`, with its interval
/// either inside or beside it (`<name>_ci`).
fn figure<'a>(obj: &'a Value, name: &str) -> (Option<&'a Value>, Option<&'a Value>) {
    match obj.get(name) {
        Some(Value::Object(inner)) => (inner.get("value"), inner.get("ci")),
        other => (
            other,
            obj.get(format!("{name}_ci").as_str())
                .or_else(|| obj.get("ci").and_then(|c| c.get(name))),
        ),
    }
}

fn with_ci(obj: &Value, name: &str, decimals: usize) -> String {
    let (v, ci) = figure(obj, name);
    let base = num(v, decimals);
    match ci {
        Some(c) if c.is_array() => format!("{base} {}", ci_text(Some(c), decimals)),
        _ => base,
    }
}

/// Renders the HTML report from a summary.
pub fn render_html(summary: &Summary) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| ReportError(e.to_string()))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| ReportError(e.to_string()))?;

    let status = str_of(summary.run.get("status"));
    let (status_class, status_text) = match status.as_str() {
        "succeeded" => ("ok", "✓ all gates passed"),
        "gate_failed" => ("bad", "✗ a gate failed"),
        "failed" => ("bad", "✗ failed"),
        _ => ("neutral", "running"),
    };
    let gates: Vec<Value> = summary
        .gates
        .iter()
        .map(|g| json!({"description": g.description, "value_text": g.value.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into()), "passed": g.passed, "detail": g.detail}))
        .collect();

    let html = tmpl
        .render(minijinja::Value::from(minijinja::value::Serde(json!({
            "run": view_run(&summary.run),
            "status_class": status_class,
            "status_text": status_text,
            "gates": gates,
            "leaderboard": summary.ranking.as_ref().map(view_leaderboard),
            "metrics": summary.metrics.as_ref().map(view_metrics),
            "judges": summary.meta_eval.as_ref().map(|m| view_judges(m, &summary.judges)),
            "agreement": summary.agreement.as_ref().map(view_agreement),
            "examples": summary.disagreements.iter().map(view_example).collect::<Vec<_>>(),
            "cost": view_cost(&summary.judges),
            "provenance": summary.provenance.iter().map(view_provenance).collect::<Vec<_>>(),
            "data_files": summary.data_files,
        }))))
        .map_err(|e| ReportError(e.to_string()))?;
    Ok(html)
}

fn view_run(run: &Value) -> Value {
    let time = |k: &str| {
        run.get(k)
            .and_then(Value::as_i64)
            .map(gavel_core::time::format_rfc3339)
            .unwrap_or_else(|| "–".into())
    };
    json!({
        "id": str_of(run.get("id")), "name": str_of(run.get("name")), "config_path": str_of(run.get("config_path")),
        "config_sha256": str_of(run.get("config_sha256")), "gavel_version": str_of(run.get("gavel_version")),
        "resumed_from": run.get("resumed_from"), "started": time("started_at"), "finished": time("finished_at"),
    })
}

fn view_leaderboard(rank: &Value) -> Value {
    let models = rank
        .get("models")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let method = str_of(rank.get("method"));
    let decimals = if method == "winrate" { 3 } else { 1 };
    let rows: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "rank": str_of(m.get("rank")), "model": str_of(m.get("model")), "rating": num(m.get("rating"), decimals),
                "ci": ci_text(m.get("ci"), decimals), "wins": str_of(m.get("wins")), "losses": str_of(m.get("losses")), "ties": str_of(m.get("ties")),
            })
        })
        .collect();
    let chart_rows: Vec<IntervalRow> = models
        .iter()
        .map(|m| IntervalRow {
            label: str_of(m.get("model")),
            value: m.get("rating").and_then(Value::as_f64).unwrap_or(f64::NAN),
            ci: m
                .get("ci")
                .and_then(Value::as_array)
                .and_then(|a| Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?))),
        })
        .collect();
    let method_name = match method.as_str() {
        "bt" => "Bradley-Terry ratings (Chatbot Arena scale: base 10, scale 400, initial 1000)",
        "elo" => "online Elo ratings",
        "winrate" => "mean win rates (ties count half)",
        _ => "ratings",
    };
    let source = str_of(rank.get("source"));
    let bootstrap = rank.get("bootstrap").and_then(Value::as_u64).unwrap_or(0);
    json!({
        "rows": rows,
        "svg": interval_chart(&chart_rows, "Ratings with 95% intervals"),
        "caption": format!("{method_name} from the verdicts of {}, with {} bootstrap resamples. A model's rank is one plus the number of models whose interval lies entirely above its own, so overlapping models share a rank.",
            if source == "human" || source.is_empty() { "the human annotators".to_string() } else { format!("judge {source}") }, bootstrap),
        "note": rank.get("note"),
    })
}

fn view_metrics(metrics: &Value) -> Value {
    let columns_order = [
        ("bleu", "BLEU", "score", 2),
        ("chrf", "chrF", "score", 2),
        ("chrf++", "chrF++", "score", 2),
        ("ter", "TER", "score", 2),
        ("rouge1", "ROUGE-1 F", "fmeasure", 4),
        ("rouge2", "ROUGE-2 F", "fmeasure", 4),
        ("rougeL", "ROUGE-L F", "fmeasure", 4),
        ("rougeLsum", "ROUGE-Lsum F", "fmeasure", 4),
        ("exact_match", "exact match", "score", 4),
        ("token_f1", "token F1", "score", 4),
    ];
    let per_model = metrics
        .get("models")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let present: Vec<_> = columns_order
        .iter()
        .filter(|(k, ..)| per_model.values().any(|m| m.get(*k).is_some()))
        .collect();
    let rows: Vec<Value> = per_model
        .iter()
        .map(|(model, doc)| {
            let values: Vec<String> = present
                .iter()
                .map(|(k, _, field, d)| num(doc.get(*k).and_then(|m| m.get(*field)), *d))
                .collect();
            json!({"model": model, "values": values, "n": str_of(doc.get("n"))})
        })
        .collect();
    json!({"columns": present.iter().map(|(_, name, ..)| *name).collect::<Vec<_>>(), "rows": rows, "note": metrics.get("note")})
}

fn view_judges(meta: &Value, judge_stats: &[Value]) -> Value {
    let policy = str_of(meta.get("policy"));
    let parse_rate = |name: &str| -> String {
        judge_stats
            .iter()
            .find(|j| j.get("judge").and_then(Value::as_str) == Some(name))
            .and_then(|j| j.get("parse_failure_rate"))
            .map(|v| num(Some(v), 3))
            .unwrap_or_else(|| "–".into())
    };
    let row = |j: &Value, name: String, class: &str| -> Value {
        json!({
            "name": name, "class": class, "n": str_of(j.get("n")),
            "accuracy": with_ci(j, "accuracy", 3), "kappa": with_ci(j, "cohen_kappa", 3), "macro_f1": with_ci(j, "macro_f1", 3),
            "agree_ties": with_ci(j, "agreement_with_ties", 3), "agree_noties": with_ci(j, "agreement_without_ties", 3),
            "consistency": num(j.get("position_consistency"), 3),
            "parse_failures": parse_rate(&name),
        })
    };
    let judges = meta
        .get("judges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows: Vec<Value> = judges
        .iter()
        .map(|j| row(j, str_of(j.get("judge")), ""))
        .collect();
    if let Some(h) = meta.get("human_baseline").filter(|h| h.is_object()) {
        let mut r = row(h, "humans vs humans (ceiling)".into(), "ceiling");
        r["parse_failures"] = json!("–");
        rows.push(r);
    }
    let confusions: Vec<Value> = judges
        .iter()
        .filter_map(|j| {
            let c = j.get("confusion")?;
            let labels: Vec<String> = c
                .get("labels")?
                .as_array()?
                .iter()
                .map(|l| str_of(Some(l)))
                .collect();
            let matrix = c.get("matrix")?.as_array()?;
            let rows: Vec<Value> = matrix
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let cells: Vec<Value> = r
                        .as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .enumerate()
                                .map(|(k, v)| json!({"value": str_of(Some(v)), "diag": i == k}))
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({"label": labels.get(i).cloned().unwrap_or_default(), "cells": cells})
                })
                .collect();
            Some(json!({"name": str_of(j.get("judge")), "labels": labels, "rows": rows}))
        })
        .collect();
    json!({"policy": policy, "rows": rows, "confusions": confusions})
}

fn view_agreement(agree: &Value) -> Value {
    let headline: Vec<Value> = [
        ("percent_agreement", "percent agreement"),
        ("krippendorff_alpha", "Krippendorff's α"),
        ("fleiss_kappa", "Fleiss' κ"),
        ("gwet_ac1", "Gwet's AC1"),
    ]
    .iter()
    .filter(|(k, _)| agree.get(*k).is_some())
    .map(|(k, name)| {
        let (v, ci) = figure(agree, k);
        json!({"name": name, "value": num(v, 3), "ci": ci_text(ci, 3)})
    })
    .collect();
    let pairs: Vec<Value> = agree
        .get("cohen_kappa")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(|p| json!({"a": str_of(p.get("a")), "b": str_of(p.get("b")), "n": str_of(p.get("n")), "kappa": num(p.get("kappa"), 3)})).collect())
        .unwrap_or_default();
    let annotators: Vec<Value> = agree
        .get("annotators")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(|p| json!({"annotator": str_of(p.get("annotator")), "n": str_of(p.get("n")), "agreement": num(p.get("agreement_with_majority"), 3)})).collect())
        .unwrap_or_default();
    let mut drift_svg = String::new();
    let mut drift_caption = String::new();
    if let Some(windows) = agree
        .get("drift")
        .and_then(|d| d.get("windows"))
        .and_then(Value::as_array)
    {
        let threshold = agree
            .get("drift")
            .and_then(|d| d.get("threshold"))
            .and_then(Value::as_f64);
        let stat = agree
            .get("drift")
            .and_then(|d| d.get("statistic"))
            .and_then(Value::as_str)
            .unwrap_or("krippendorff_alpha")
            .to_string();
        let points: Vec<SeriesPoint> = windows
            .iter()
            .map(|w| SeriesPoint {
                label: window_label(&str_of(w.get("window"))),
                value: figure(w, &stat)
                    .0
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite()),
                flagged: w.get("flagged").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect();
        drift_svg = window_chart(&points, threshold, &format!("{stat} per window"));
        let flagged = points.iter().filter(|p| p.flagged).count();
        drift_caption = format!(
            "{stat} per window; windows below the threshold are marked with a cross ({flagged} of {} flagged).",
            points.len()
        );
    }
    let n_items = str_of(agree.get("n_items"));
    let n_ann = str_of(agree.get("n_annotators"));
    let n_labels = str_of(agree.get("n_labels"));
    json!({
        "caption": format!("{n_labels} labels from {n_ann} annotators on {n_items} units; 95% bootstrap intervals over units."),
        "headline": headline, "pairs": pairs, "annotators": annotators, "drift_svg": drift_svg, "drift_caption": drift_caption,
    })
}

/// A short axis label: the start date of a time window (`2025-10-05T00:00:00Z/...` becomes
/// `2025-10-05`), other windows as they are.
fn window_label(window: &str) -> String {
    match window.split_once('/') {
        Some((start, _)) if start.len() >= 10 && start.as_bytes().get(4) == Some(&b'-') => {
            start[..10].to_string()
        }
        _ => window.to_string(),
    }
}

fn view_example(e: &Value) -> Value {
    json!({
        "item": str_of(e.get("item")), "instruction": str_of(e.get("instruction")), "human": str_of(e.get("human")),
        "judge": str_of(e.get("judge")), "judge_name": str_of(e.get("judge_name")), "model_a": str_of(e.get("model_a")),
        "model_b": str_of(e.get("model_b")), "response_a": str_of(e.get("response_a")), "response_b": str_of(e.get("response_b")),
    })
}

fn view_cost(judges: &[Value]) -> Value {
    let mut calls = 0u64;
    let mut cached = 0u64;
    let mut cost = 0.0f64;
    let rows: Vec<Value> = judges
        .iter()
        .map(|j| {
            calls += j.get("calls").and_then(Value::as_u64).unwrap_or(0);
            cached += j.get("cached_calls").and_then(Value::as_u64).unwrap_or(0);
            cost += j.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
            json!({
                "judge": str_of(j.get("judge")), "judgments": str_of(j.get("judgments")), "calls": str_of(j.get("calls")),
                "cached": str_of(j.get("cached_calls")), "retries": str_of(j.get("retries")), "cost": num(j.get("cost_usd"), 4),
            })
        })
        .collect();
    json!({"rows": rows, "calls": calls, "cached": cached, "cost": format!("{cost:.4}")})
}

fn view_provenance(p: &Value) -> Value {
    let list = |k: &str| {
        p.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| str_of(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    json!({
        "judge": str_of(p.get("judge")), "kind": str_of(p.get("kind")), "template": str_of(p.get("template")),
        "template_sha256": str_of(p.get("template_sha256")), "judge_model": str_of(p.get("judge_model")),
        "reported": list("reported_models"), "fingerprints": list("system_fingerprints"), "endpoint": str_of(p.get("endpoint")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_with_hostile_text() -> Summary {
        Summary {
            run: json!({"id": "r1", "name": "<b>run</b>", "status": "gate_failed", "started_at": 0, "config_path": "g.toml", "config_sha256": "ab", "gavel_version": "0.1.0"}),
            gates: vec![GateOutcome {
                description: "x >= 1".into(),
                value: Some(0.5),
                passed: false,
                detail: None,
            }],
            ranking: Some(
                json!({"method": "bt", "source": "human", "bootstrap": 100, "models": [
                {"model": "<script>alert(1)</script>", "rating": 1010.0, "ci": [990.0, 1030.0], "rank": 1, "wins": 3, "losses": 1, "ties": 0, "n": 4}]}),
            ),
            disagreements: vec![
                json!({"item": "q1", "instruction": "<img src=x onerror=alert(1)>", "response_a": "</pre><script>x()</script>", "response_b": "ok", "human": "A", "judge": "B", "judge_name": "j", "model_a": "a", "model_b": "b"}),
            ],
            ..Summary::default()
        }
    }

    #[test]
    fn judged_text_never_becomes_markup() {
        let html = render_html(&summary_with_hostile_text()).unwrap();
        assert!(!html.contains("<script>"), "a script tag got through");
        assert!(!html.contains("<img src=x"), "an img tag got through");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("</pre><script>"));
        assert!(html.contains("&lt;script&gt;x()"));
        assert!(html.contains("&lt;b&gt;run&lt;&#x2f;b&gt;"));
    }

    #[test]
    fn the_page_cannot_reach_the_network() {
        let html = render_html(&Summary::default()).unwrap();
        assert!(html.contains("default-src 'none'"));
        for needle in ["http://", "https://", "src=\"//", "<script", "<link"] {
            let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !outside_svg_ns.contains(needle),
                "the report mentions {needle}"
            );
        }
    }

    #[test]
    fn figures_may_carry_intervals_in_either_shape() {
        let a = json!({"accuracy": 0.5, "accuracy_ci": [0.4, 0.6]});
        let b = json!({"accuracy": {"value": 0.5, "ci": [0.4, 0.6]}});
        assert_eq!(with_ci(&a, "accuracy", 2), "0.50 [0.40, 0.60]");
        assert_eq!(with_ci(&b, "accuracy", 2), "0.50 [0.40, 0.60]");
        assert_eq!(with_ci(&json!({}), "accuracy", 2), "–");
    }
}
