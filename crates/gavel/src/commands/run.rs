//! `gavel run`: a whole evaluation from one `gavel.toml`: metrics, agreement, judges,
//! meta-evaluation, ranking, gates, the store and the HTML report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use gavel_run::config::LoadedConfig;
use gavel_run::pipeline::{Event, RunOptions, RunOutcome, run as run_pipeline};
use gavel_store::RunStatus;
use serde_json::{Value, json};

use crate::output::{self, OutputFormat, Table, fixed};
use crate::{GlobalArgs, Outcome, UsageError};

const EXAMPLES: &str = "Examples:
  # The offline quickstart: metrics, agreement, a metric judge, meta-evaluation, ranking, report
  gavel run examples/quickstart/gavel.toml

  # The same with an LLM judge beside the metric judge (any OpenAI-compatible endpoint)
  GAVEL_JUDGE_BASE_URL=http://localhost:8000/v1 GAVEL_JUDGE_MODEL=qwen2.5-7b-instruct \\
      gavel run examples/quickstart/gavel.toml

  # Go on after an interruption: finished stages are taken over, answered calls come from the cache
  gavel run gavel.toml --resume

  # In CI: exit code 3 when a gate fails; the JSON summary on stdout
  gavel run gavel.toml --format json > run.json

Paths in gavel.toml are relative to the file. The store (.gavel/gavel.sqlite), the judge cache
(.gavel/cache.sqlite) and the report (gavel-report/report.html and summary.json) go next to it
unless the config or the options say otherwise. `gavel runs list|show|diff` reads the store.
Exit codes: 0 all gates passed, 1 error, 2 usage error, 3 a gate failed.";

/// Run a whole evaluation described by a gavel.toml.
///
/// Every input is read and checked before anything is paid for. Each stage's results are stored
/// in the run store as it finishes, so an interrupted run can go on with `--resume` without
/// paying twice.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The config file.
    #[arg(value_name = "CONFIG")]
    config: PathBuf,

    /// Go on from the newest unfinished run of the same config.
    #[arg(long)]
    resume: bool,

    /// The store file (default: `run.store` in the config, else .gavel/gavel.sqlite next to it).
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,

    /// The report folder (default: `run.report` in the config, else gavel-report next to it).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,

    /// Make every LLM judge call again instead of using the judge cache.
    #[arg(long)]
    no_cache: bool,

    /// Only read and check the config and its inputs; run nothing.
    #[arg(long)]
    check: bool,

    /// Output: a text summary, or the run's JSON summary on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read the config {}", args.config.display()))?;
    let loaded = LoadedConfig::parse(&args.config, text, &env_lookup)
        .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
    let options = RunOptions {
        resume: args.resume,
        gavel_version: env!("CARGO_PKG_VERSION").to_string(),
        env: Arc::new(env_lookup),
        store: args.store.clone(),
        report_dir: args.report.clone(),
        no_cache: args.no_cache,
    };
    if args.check {
        gavel_run::pipeline::check(&loaded, &options)?;
        output::note(
            global.quiet,
            &format!(
                "{}: the config and its inputs are fine",
                args.config.display()
            ),
        );
        return Ok(Outcome::Success);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let quiet = global.quiet;
    let mut bar: Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> = None;
    let mut events = |e: Event<'_>| match e {
        Event::StageStarted(s) => output::note(quiet, &format!("stage {s}")),
        Event::StageReused(s) => output::note(
            quiet,
            &format!("stage {s}: taken over from the interrupted run"),
        ),
        Event::StageFinished(_) => {}
        Event::Note(n) => output::note(quiet, &n),
        Event::JudgeCalls {
            judge,
            calls,
            progress,
        } => {
            let pb = crate::progress::bar(calls, &format!("judge {judge}"), quiet);
            let ticker_bar = pb.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    ticker_bar.set_position(progress.calls.load(Ordering::Relaxed));
                    ticker_bar.set_message(format!(
                        "cached {}, failed {}, ${:.4}",
                        progress.cached.load(Ordering::Relaxed),
                        progress.failed.load(Ordering::Relaxed),
                        progress.spent_usd()
                    ));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            bar = Some((pb, ticker));
        }
        Event::JudgeDone(_) => {
            if let Some((pb, ticker)) = bar.take() {
                ticker.abort();
                pb.finish_and_clear();
            }
        }
    };
    let outcome = runtime
        .block_on(run_pipeline(&loaded, &options, &mut events))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match args.format {
        OutputFormat::Json => output::print_json(&json!({
            "run_id": outcome.run_id,
            "resumed_from": outcome.resumed_from,
            "status": outcome.status,
            "gates": outcome.gates,
            "store": outcome.store.display().to_string(),
            "report": outcome.report_html.display().to_string(),
            "summary": outcome.summary_json.display().to_string(),
            "results": outcome.summary,
        }))?,
        OutputFormat::Text => output::print_text(&render(&outcome))?,
    }
    if outcome.status == RunStatus::GateFailed {
        let failed: Vec<String> = outcome
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| match (&g.value, &g.detail) {
                (Some(v), _) => format!("{} (found {v:.4})", g.description),
                (None, Some(why)) => format!("{} ({why})", g.description),
                (None, None) => g.description.clone(),
            })
            .collect();
        eprintln!("gate failed: {}", failed.join("; "));
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Success)
}

fn num(v: Option<&Value>, decimals: usize) -> String {
    fixed(v.and_then(Value::as_f64), decimals)
}

fn render(o: &RunOutcome) -> String {
    let s = &o.summary;
    let mut out = format!("run {}", o.run_id);
    if let Some(prev) = &o.resumed_from {
        out.push_str(&format!(" (resumed from {prev})"));
    }
    out.push_str("\n\n");
    if let Some(m) = s
        .metrics
        .as_ref()
        .and_then(|m| m.get("models"))
        .and_then(Value::as_object)
    {
        let mut names: Vec<String> = Vec::new();
        for doc in m.values() {
            if let Some(obj) = doc.as_object() {
                for k in obj.keys().filter(|k| *k != "n") {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
        }
        let mut t = Table::new(std::iter::once("model".to_string()).chain(names.iter().cloned()));
        for (model, doc) in m {
            let cells = names.iter().map(|n| {
                num(
                    gavel_run::metric_judge::headline(doc, n)
                        .map(Value::from)
                        .as_ref(),
                    4,
                )
            });
            t.row(std::iter::once(model.clone()).chain(cells));
        }
        out.push_str("metrics\n");
        out.push_str(&t.render());
        out.push('\n');
    }
    if let Some(a) = &s.agreement {
        out.push_str(&format!(
            "annotator agreement: Krippendorff's alpha {}, Fleiss' kappa {}, percent agreement {}\n\n",
            num(a.get("krippendorff_alpha"), 3),
            num(a.get("fleiss_kappa"), 3),
            num(a.get("percent_agreement"), 3)
        ));
    }
    if let Some(me) = &s.meta_eval {
        let mut t = Table::new(["judge", "n", "accuracy", "kappa", "macro F1", "consistency"]);
        let judges = me
            .get("judges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let rows = judges
            .iter()
            .chain(me.get("human_baseline").filter(|h| h.is_object()));
        for j in rows {
            t.row([
                j.get("judge")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                j.get("n").map(|n| n.to_string()).unwrap_or_default(),
                num(j.get("accuracy"), 3),
                num(j.get("cohen_kappa"), 3),
                num(j.get("macro_f1"), 3),
                num(j.get("position_consistency"), 3),
            ]);
        }
        out.push_str("judges against the human labels (humans: the human-human ceiling)\n");
        out.push_str(&t.render());
        out.push('\n');
    }
    if let Some(r) = &s.ranking {
        let mut t = Table::new(["rank", "model", "rating", "95% CI"]);
        for m in r
            .get("models")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let ci = m
                .get("ci")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 2)
                .map(|a| format!("[{}, {}]", num(a.first(), 1), num(a.get(1), 1)))
                .unwrap_or_else(|| "–".into());
            t.row([
                m.get("rank").map(|v| v.to_string()).unwrap_or_default(),
                m.get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                num(m.get("rating"), 1),
                ci,
            ]);
        }
        out.push_str("ranking\n");
        out.push_str(&t.render());
        out.push('\n');
    }
    if !o.gates.is_empty() {
        out.push_str("gates\n");
        for g in &o.gates {
            let mark = if g.passed { "pass" } else { "FAIL" };
            let value = g
                .value
                .map(|v| format!(" (found {v:.4})"))
                .unwrap_or_default();
            let why = g
                .detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            out.push_str(&format!("  {mark}  {}{value}{why}\n", g.description));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "report: {}\nsummary: {}\nstore: {}\n",
        o.report_html.display(),
        o.summary_json.display(),
        o.store.display()
    ));
    out
}
