//! `gavel runs`: the runs in a store: list them, show one with its provenance, and diff two.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use gavel_store::{RunSummary, Store};
use serde_json::{Value, json};

use crate::output::{self, OutputFormat, Table, fixed};
use crate::{GlobalArgs, Outcome};

const EXAMPLES: &str = "Examples:
  # The runs of the quickstart (its store is next to its config)
  gavel runs list --config examples/quickstart/gavel.toml

  # One run: status, stages, judges with their provenance, headline figures
  gavel runs show latest --store .gavel/gavel.sqlite

  # What changed between two runs (config, judges, numbers); ids may be abbreviated
  gavel runs diff 20261205-101500-1 latest --format json

A run is named by its id, a unique prefix of it, or `latest`.";

/// The runs in a store: list, show, diff.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: RunsCommand,

    /// The store file (default .gavel/gavel.sqlite).
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,

    /// Use the store of this gavel.toml (its `run.store`, else .gavel/gavel.sqlite next to it).
    #[arg(long, global = true, value_name = "CONFIG", conflicts_with = "store")]
    config: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t)]
    format: OutputFormat,
}

#[derive(Debug, clap::Subcommand)]
enum RunsCommand {
    /// The newest runs first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: status, stages, judges and their provenance, results.
    Show {
        /// Run id, unique prefix, or `latest`.
        run: String,
    },
    /// What changed between two runs: config lines, judge provenance, and how the numbers moved.
    Diff {
        /// The earlier run.
        a: String,
        /// The later run.
        b: String,
    },
}

fn store_path(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.store {
        return Ok(p.clone());
    }
    if let Some(c) = &args.config {
        let text = std::fs::read_to_string(c)
            .with_context(|| format!("cannot read the config {}", c.display()))?;
        let loaded = gavel_run::config::LoadedConfig::parse(c, text, &|n| std::env::var(n).ok())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let rel = loaded
            .config
            .run
            .store
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| ".gavel/gavel.sqlite".into());
        return Ok(loaded.resolve(&rel));
    }
    Ok(gavel_store::default_path())
}

/// Runs the command.
pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let path = store_path(&args)?;
    if !path.is_file() {
        anyhow::bail!(
            "no store at {} (run `gavel run CONFIG` first, or give --store / --config)",
            path.display()
        );
    }
    let store = Store::open(&path)?;
    match &args.command {
        RunsCommand::List { limit } => {
            let runs = store.list_runs(*limit)?;
            match args.format {
                OutputFormat::Json => output::print_json(&runs)?,
                OutputFormat::Text => {
                    let mut t = Table::new([
                        "run", "name", "status", "started", "calls", "cached", "cost $",
                    ]);
                    for r in &runs {
                        t.row([
                            r.id.clone(),
                            r.name.clone(),
                            r.status.as_str().to_string(),
                            gavel_core::time::format_rfc3339(r.started_at),
                            r.calls.to_string(),
                            r.cached_calls.to_string(),
                            format!("{:.4}", r.cost_usd),
                        ]);
                    }
                    output::print_text(&t.render())?;
                }
            }
        }
        RunsCommand::Show { run } => {
            let doc = show(&store, run)?;
            match args.format {
                OutputFormat::Json => output::print_json(&doc)?,
                OutputFormat::Text => output::print_text(&render_show(&doc))?,
            }
        }
        RunsCommand::Diff { a, b } => {
            let doc = diff(&store, a, b)?;
            match args.format {
                OutputFormat::Json => output::print_json(&doc)?,
                OutputFormat::Text => output::print_text(&render_diff(&doc))?,
            }
        }
    }
    Ok(Outcome::Success)
}

fn show(store: &Store, id: &str) -> anyhow::Result<Value> {
    let run = store.run(id)?;
    let stages: Vec<Value> = store
        .stages(&run.id)?
        .into_iter()
        .map(|(stage, status)| json!({"stage": stage, "status": status}))
        .collect();
    let judges = store.judges(&run.id)?;
    let (items, labels, judgments) = store.counts(&run.id)?;
    let results: BTreeMap<String, Value> = store
        .results(&run.id)?
        .into_iter()
        .map(|(stage, key, value)| (format!("{stage}/{key}"), value))
        .collect();
    Ok(json!({
        "run": run, "stages": stages, "judges": judges,
        "counts": {"items": items, "labels": labels, "judgments": judgments},
        "figures": figures(&results),
        "config": store.config_text(&run.id)?,
    }))
}

/// The headline figures of a run's results, by a readable path, e.g.
/// `metrics alpha rougeL` or `meta_eval rougeL-judge cohen_kappa`.
fn figures(results: &BTreeMap<String, Value>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut put = |k: String, v: Option<&Value>| {
        if let Some(x) = v.and_then(Value::as_f64) {
            out.insert(k, x);
        }
    };
    if let Some(models) = results
        .get("metrics/models")
        .and_then(|m| m.get("models"))
        .and_then(Value::as_object)
    {
        for (model, doc) in models {
            if let Some(obj) = doc.as_object() {
                for metric in obj.keys().filter(|k| *k != "n") {
                    put(
                        format!("metrics {model} {metric}"),
                        gavel_run::metric_judge::headline(doc, metric)
                            .map(Value::from)
                            .as_ref(),
                    );
                }
            }
        }
    }
    if let Some(a) = results.get("agreement/report") {
        for k in [
            "percent_agreement",
            "fleiss_kappa",
            "krippendorff_alpha",
            "gwet_ac1",
        ] {
            put(format!("agreement {k}"), a.get(k));
        }
    }
    if let Some(m) = results.get("meta_eval/report") {
        let judges = m
            .get("judges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for j in judges
            .iter()
            .chain(m.get("human_baseline").filter(|h| h.is_object()))
        {
            let name = j.get("judge").and_then(Value::as_str).unwrap_or("?");
            for k in [
                "accuracy",
                "cohen_kappa",
                "macro_f1",
                "agreement_with_ties",
                "position_consistency",
            ] {
                put(format!("meta_eval {name} {k}"), j.get(k));
            }
        }
    }
    if let Some(r) = results.get("ranking/report") {
        for m in r
            .get("models")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let name = m.get("model").and_then(Value::as_str).unwrap_or("?");
            put(format!("ranking {name} rating"), m.get("rating"));
            put(format!("ranking {name} rank"), m.get("rank"));
        }
    }
    for (key, v) in results {
        if let Some(judge) = key
            .strip_prefix("judge:")
            .and_then(|k| k.strip_suffix("/stats"))
        {
            for k in ["calls", "cost_usd", "parse_failure_rate"] {
                put(format!("judge {judge} {k}"), v.get(k));
            }
        }
    }
    out
}

/// Lines only in `a` (`-`) and only in `b` (`+`), in order, from a longest common subsequence.
fn line_diff(a: &str, b: &str) -> Vec<String> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

fn diff(store: &Store, a: &str, b: &str) -> anyhow::Result<Value> {
    let ra = store.run(a)?;
    let rb = store.run(b)?;
    let results = |r: &RunSummary| -> anyhow::Result<BTreeMap<String, Value>> {
        Ok(store
            .results(&r.id)?
            .into_iter()
            .map(|(s, k, v)| (format!("{s}/{k}"), v))
            .collect())
    };
    let fa = figures(&results(&ra)?);
    let fb = figures(&results(&rb)?);
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    let changes: Vec<Value> = keys
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (fa.get(k).copied(), fb.get(k).copied());
            let same = matches!((x, y), (Some(x), Some(y)) if (x - y).abs() <= 1e-12 * x.abs().max(1.0));
            (!same).then(|| {
                json!({"figure": k, "a": x, "b": y, "change": match (x, y) { (Some(x), Some(y)) => Some(y - x), _ => None }})
            })
        })
        .collect();
    let ja = store.judges(&ra.id)?;
    let jb = store.judges(&rb.id)?;
    let mut judges = Vec::new();
    let mut names: Vec<&String> = ja.iter().chain(jb.iter()).map(|j| &j.judge).collect();
    names.sort();
    names.dedup();
    for name in names {
        let x = ja.iter().find(|j| &j.judge == name);
        let y = jb.iter().find(|j| &j.judge == name);
        let xv = x.map(|j| serde_json::to_value(j).unwrap_or(Value::Null));
        let yv = y.map(|j| serde_json::to_value(j).unwrap_or(Value::Null));
        if xv != yv {
            let mut fields = Vec::new();
            for f in [
                "kind",
                "template",
                "template_sha256",
                "judge_model",
                "reported_models",
                "system_fingerprints",
                "endpoint",
                "settings",
            ] {
                let fx = xv.as_ref().and_then(|v| v.get(f)).cloned();
                let fy = yv.as_ref().and_then(|v| v.get(f)).cloned();
                if fx != fy {
                    fields.push(json!({"field": f, "a": fx, "b": fy}));
                }
            }
            judges.push(json!({"judge": name, "changed": fields}));
        }
    }
    Ok(json!({
        "a": ra, "b": rb,
        "config_changed": ra.config_sha256 != rb.config_sha256,
        "config_diff": line_diff(&store.config_text(&ra.id)?, &store.config_text(&rb.id)?),
        "judges": judges,
        "figures": changes,
    }))
}

fn render_show(doc: &Value) -> String {
    let run = &doc["run"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = format!(
        "run {} ({}): {}\nconfig {} (sha256 {})\ngavel {}, started {}\n",
        s(&run["id"]),
        s(&run["name"]),
        s(&run["status"]),
        s(&run["config_path"]),
        s(&run["config_sha256"]).get(..12).unwrap_or(""),
        s(&run["gavel_version"]),
        run["started_at"]
            .as_i64()
            .map(gavel_core::time::format_rfc3339)
            .unwrap_or_default(),
    );
    if let Some(m) = run["message"].as_str() {
        out.push_str(&format!("message: {m}\n"));
    }
    if let Some(p) = run["resumed_from"].as_str() {
        out.push_str(&format!("resumed from {p}\n"));
    }
    out.push_str(&format!(
        "{} items, {} labels, {} judgments; {} calls, {} cached, ${:.4}\n\nstages: ",
        doc["counts"]["items"],
        doc["counts"]["labels"],
        doc["counts"]["judgments"],
        run["calls"],
        run["cached_calls"],
        run["cost_usd"].as_f64().unwrap_or(0.0)
    ));
    let stages: Vec<String> = doc["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|st| format!("{} ({})", s(&st["stage"]), s(&st["status"])))
        .collect();
    out.push_str(&stages.join(", "));
    out.push_str("\n\n");
    let mut t = Table::new([
        "judge",
        "kind",
        "template",
        "template sha256",
        "model",
        "reported",
        "endpoint",
    ]);
    for j in doc["judges"].as_array().cloned().unwrap_or_default() {
        let list = |v: &Value| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        t.row([
            s(&j["judge"]),
            s(&j["kind"]),
            s(&j["template"]),
            s(&j["template_sha256"]).get(..12).unwrap_or("").to_string(),
            s(&j["judge_model"]),
            list(&j["reported_models"]),
            s(&j["endpoint"]),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new(["figure", "value"]).right(&[1]);
    for (k, v) in doc["figures"].as_object().cloned().unwrap_or_default() {
        t.row([k, fixed(v.as_f64(), 4)]);
    }
    out.push_str(&t.render());
    out
}

fn render_diff(doc: &Value) -> String {
    let id = |v: &Value| v["id"].as_str().unwrap_or("").to_string();
    let mut out = format!("a: {}\nb: {}\n\n", id(&doc["a"]), id(&doc["b"]));
    if doc["config_changed"].as_bool() == Some(true) {
        out.push_str("config:\n");
        for l in doc["config_diff"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!("  {}\n", l.as_str().unwrap_or("")));
        }
        out.push('\n');
    } else {
        out.push_str("config: unchanged\n\n");
    }
    for j in doc["judges"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!("judge {}:\n", j["judge"].as_str().unwrap_or("")));
        for f in j["changed"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "  {}: {} -> {}\n",
                f["field"].as_str().unwrap_or(""),
                f["a"],
                f["b"]
            ));
        }
    }
    let figures = doc["figures"].as_array().cloned().unwrap_or_default();
    if figures.is_empty() {
        out.push_str("figures: unchanged\n");
    } else {
        let mut t = Table::new(["figure", "a", "b", "change"]).right(&[1, 2, 3]);
        for f in figures {
            t.row([
                f["figure"].as_str().unwrap_or("").to_string(),
                fixed(f["a"].as_f64(), 4),
                fixed(f["b"].as_f64(), 4),
                f["change"]
                    .as_f64()
                    .map(|c| format!("{c:+.4}"))
                    .unwrap_or_else(|| "–".into()),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_removed_and_added_lines() {
        let d = line_diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(d, ["- b", "+ d"]);
        assert!(line_diff("x\n", "x\n").is_empty());
    }
}
