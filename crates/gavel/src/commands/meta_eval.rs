//! `gavel meta-eval`: judges against human labels, with the human-human baseline, position
//! consistency, correlations and bootstrap intervals.

use std::path::{Path, PathBuf};

use anyhow::Context;
use gavel_core::{FromRecord, Judgment, Label, Location, ReadError, RecordReader};
use gavel_stats::agreement::report::Duplicates;
use gavel_stats::bootstrap::{BootstrapConfig, Interval};
use gavel_stats::classification::ZeroDivision;
use gavel_stats::meta_eval::{
    JudgeReport, MetaEvalOptions, MetaEvalReport, MetaEvalThresholds, Policy, Unparsed,
    fold_swapped, meta_eval_checked,
};

use super::agree::{LabelSource, ValueMap, parse_level_of_confidence};
use crate::output::{OutputFormat, Table, fixed, note, print_json, print_text, warn};
use crate::{GlobalArgs, Outcome};

/// Meta-evaluation: one or more judges against human labels, side by side, with the
/// human-human baseline on the same items, position consistency, correlations for scores and
/// bootstrap intervals.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    // Boxed so that the command enum stays small.
    #[command(flatten)]
    inner: Box<MetaEvalArgs>,
}

/// The options of `gavel meta-eval`.
#[derive(Debug, clap::Args)]
pub struct MetaEvalArgs {
    /// Judgment (or Label) files; judges are told apart by `annotator`. Repeatable.
    #[arg(long, required = true, value_name = "FILE")]
    pub judge: Vec<PathBuf>,
    /// Human label files. Repeatable.
    #[arg(long, required = true, value_name = "FILE")]
    pub human: Vec<PathBuf>,
    /// The same judges run with the two responses exchanged, labels as shown (A = the response
    /// shown first): each verdict becomes the `BA` order of the matching judgment, whose own
    /// label becomes the `AB` order; the final label is theirs when they agree, else the tie.
    #[arg(long, value_name = "FILE")]
    pub judge_swapped: Vec<PathBuf>,
    /// Gold labels from several humans: `majority` (most frequent label; items whose top labels
    /// tie are left out), `each` (every human label is a comparison, as MT-Bench counts), or
    /// `unanimous` (only items where the humans agree).
    #[arg(long, default_value = "majority", value_parser = parse_policy)]
    pub policy: Policy,
    /// Unparsed judge verdicts (`label: null`): `wrong` (count as errors), `tie` (read as the
    /// tie label), or `skip` (leave out).
    #[arg(long, default_value = "wrong", value_parser = parse_unparsed)]
    pub unparsed: Unparsed,
    /// The tie category's name.
    #[arg(long, default_value = "tie", value_name = "LABEL")]
    pub tie_label: String,
    /// A human labelling the same item twice: `error`, `first` or `last`.
    #[arg(long, default_value = "error", value_parser = parse_duplicates)]
    pub duplicates: Duplicates,
    /// Value of a precision, recall or F1 whose denominator is zero: `0` (scikit-learn's
    /// default), `1` or `nan` (left out of macro averages, null in JSON).
    #[arg(long, default_value = "0", value_parser = parse_zero_division)]
    pub zero_division: ZeroDivision,
    /// Rewrite label values in every file before anything else, e.g. `1=A,2=B,0=tie,garbage=null`.
    #[arg(long = "map", value_name = "FROM=TO[,...]")]
    pub map: Vec<String>,
    /// Wide form: the column holding the item id (`@row` numbers the rows from 1).
    #[arg(long, default_value = "item", value_name = "NAME")]
    pub item_column: String,
    /// Read the human files in wide form with these annotator columns (`column` or
    /// `column=name`, comma-separated).
    #[arg(long, value_name = "LIST")]
    pub human_columns: Option<String>,
    /// Read the judge files in wide form with these judge columns (`column=name`).
    #[arg(long, value_name = "LIST")]
    pub judge_columns: Option<String>,
    /// Bootstrap resamples of items for the intervals (0: none).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95, value_parser = parse_level_of_confidence)]
    pub confidence: f64,
    /// Gate: every judge's accuracy at least this, else exit 3.
    #[arg(long, value_name = "X")]
    pub min_accuracy: Option<f64>,
    /// Gate: every judge's Cohen's kappa against gold at least this, else exit 3.
    #[arg(long, value_name = "X")]
    pub min_kappa: Option<f64>,
    /// Output: a table or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

const AFTER_HELP: &str = "\
Examples:
  gavel meta-eval --judge judgments.jsonl --human labels.jsonl
  gavel meta-eval --judge gpt4.jsonl --judge local.jsonl --human labels.jsonl --policy each --format json
  gavel meta-eval --judge run.jsonl --judge-swapped run-swapped.jsonl --human gold.jsonl

Judges are told apart by their `annotator`; several judges appear side by side, with the
human-human baseline (each human against the others, under the same policy) as the ceiling.
Ties: any label containing `tie` equals any other tie; \"without ties\" leaves out comparisons
where either side is a tie. Numbers get Pearson, Spearman and Kendall's tau-b against the mean
human score; pointwise scores of two models on one item get pairwise accuracy. A figure that
does not apply is null, with the reason under \"null_reasons\". Exit 3 when a --min-* gate fails.";

fn parse_policy(s: &str) -> Result<Policy, String> {
    match s {
        "majority" => Ok(Policy::Majority),
        "each" => Ok(Policy::Each),
        "unanimous" => Ok(Policy::Unanimous),
        _ => Err("expected majority, each or unanimous".into()),
    }
}

fn parse_unparsed(s: &str) -> Result<Unparsed, String> {
    match s {
        "wrong" => Ok(Unparsed::Wrong),
        "tie" => Ok(Unparsed::Tie),
        "skip" => Ok(Unparsed::Skip),
        _ => Err("expected wrong, tie or skip".into()),
    }
}

fn parse_duplicates(s: &str) -> Result<Duplicates, String> {
    match s {
        "error" => Ok(Duplicates::Error),
        "first" => Ok(Duplicates::First),
        "last" => Ok(Duplicates::Last),
        _ => Err("expected error, first or last".into()),
    }
}

fn parse_zero_division(s: &str) -> Result<ZeroDivision, String> {
    match s {
        "0" => Ok(ZeroDivision::Zero),
        "1" => Ok(ZeroDivision::One),
        "nan" => Ok(ZeroDivision::Nan),
        _ => Err("expected 0, 1 or nan".into()),
    }
}

fn judgment_from_label(label: Label) -> Judgment {
    Judgment {
        label,
        mode: None,
        template: None,
        template_sha256: None,
        judge_model: None,
        orders: Vec::new(),
        consistent: None,
        score: None,
        scores: None,
        rationale: None,
        parse_error: None,
        usage: None,
        cost_usd: None,
        latency_ms: None,
        cached: None,
    }
}

/// Reads judgments: Judgment records, or wide rows of judge columns.
fn read_judgments(
    path: &Path,
    source: &LabelSource,
    out: &mut Vec<Judgment>,
    origins: &mut Vec<Location>,
) -> anyhow::Result<()> {
    if source.wide.is_some() {
        let mut labels = Vec::new();
        source.read(path, &mut labels, origins)?;
        out.extend(labels.into_iter().map(judgment_from_label));
        return Ok(());
    }
    for raw in RecordReader::open(path)? {
        let raw = raw?;
        let location = raw.location.clone();
        let mut j = Judgment::from_record(raw).map_err(|error| ReadError::Field {
            location: location.clone(),
            error,
        })?;
        j.label.label = source.map.apply(&j.label.label);
        for o in &mut j.orders {
            o.label = source.map.apply(&o.label);
        }
        out.push(j);
        origins.push(location);
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let args = *args.inner;
    let map = ValueMap::parse(&args.map)?;
    let human_source = LabelSource::new(
        false,
        &args.item_column,
        args.human_columns.as_deref(),
        map.clone(),
    );
    let judge_source =
        LabelSource::new(false, &args.item_column, args.judge_columns.as_deref(), map);

    let mut humans = Vec::new();
    let mut human_origins = Vec::new();
    for path in &args.human {
        human_source
            .read(path, &mut humans, &mut human_origins)
            .with_context(|| format!("reading human labels from {}", path.display()))?;
    }
    let mut judgments = Vec::new();
    let mut judge_origins = Vec::new();
    for path in &args.judge {
        read_judgments(path, &judge_source, &mut judgments, &mut judge_origins)
            .with_context(|| format!("reading judgments from {}", path.display()))?;
    }
    if !args.judge_swapped.is_empty() {
        let mut swapped = Vec::new();
        let mut ignored = Vec::new();
        for path in &args.judge_swapped {
            read_judgments(path, &judge_source, &mut swapped, &mut ignored)
                .with_context(|| format!("reading swapped judgments from {}", path.display()))?;
        }
        let unmatched = fold_swapped(&mut judgments, swapped, &args.tie_label);
        if unmatched > 0 {
            warn(&format!(
                "{unmatched} swapped judgment(s) match no judgment (same judge and item) and are ignored"
            ));
        }
    }
    if judgments.is_empty() {
        anyhow::bail!("no judgments in the --judge files");
    }
    if humans.is_empty() {
        anyhow::bail!("no labels in the --human files");
    }

    let opts = MetaEvalOptions {
        policy: args.policy,
        unparsed: args.unparsed,
        tie_label: args.tie_label.clone(),
        duplicates: args.duplicates,
        zero_division: args.zero_division,
        bootstrap: BootstrapConfig {
            replicates: args.bootstrap,
            seed: args.seed,
            level: args.confidence,
        },
    };
    let thresholds = MetaEvalThresholds {
        min_accuracy: args.min_accuracy,
        min_kappa: args.min_kappa,
    };
    let result = meta_eval_checked(&judgments, &humans, &opts, &thresholds).map_err(|e| {
        let (i, judged) = e.index();
        let origins = if judged {
            &judge_origins
        } else {
            &human_origins
        };
        match origins.get(i) {
            Some(loc) => anyhow::anyhow!("{loc}: {e}"),
            None => anyhow::anyhow!("{e}"),
        }
    })?;
    let report = &result.report;
    if report.judges.iter().all(|j| j.n == 0) {
        warn("no judged item has a gold label: check that judges and humans use the same item ids");
    }

    let passed = result.passed();
    match args.format {
        OutputFormat::Json => print_json(&result)?,
        OutputFormat::Text => {
            print_text(&render(report, args.confidence))?;
            if let Some(g) = &result.gate {
                for f in &g.failed {
                    warn(&format!(
                        "{}: {} is {} (minimum {})",
                        f.judge,
                        f.statistic,
                        fixed(f.value, 4),
                        f.min
                    ));
                }
            }
            if report.n_items_without_gold > 0 {
                note(
                    global.quiet,
                    &format!(
                        "{} item(s) have no gold label under the {} policy and are left out",
                        report.n_items_without_gold,
                        policy_name(report.policy)
                    ),
                );
            }
        }
    }
    Ok(if passed {
        Outcome::Success
    } else {
        Outcome::GateFailed
    })
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Majority => "majority",
        Policy::Each => "each",
        Policy::Unanimous => "unanimous",
    }
}

fn with_ci(v: Option<f64>, ci: Option<&Option<Interval>>) -> String {
    match ci {
        Some(Some(i)) => format!("{} [{:.3}, {:.3}]", fixed(v, 3), i.lo, i.hi),
        _ => fixed(v, 3),
    }
}

fn render(r: &MetaEvalReport, confidence: f64) -> String {
    let mut out = format!(
        "{} items with a gold label (policy {}), {} judge(s); intervals: {:.0}% bootstrap\n\n",
        r.n_items,
        policy_name(r.policy),
        r.judges.len(),
        confidence * 100.0
    );
    let numeric = r.judges.iter().any(|j| j.pearson.is_some());
    let orders = r.judges.iter().any(|j| j.n_both_orders > 0);
    let pairwise = r.judges.iter().any(|j| j.n_pairs.is_some());
    let mut head = vec![
        "judge",
        "n",
        "accuracy",
        "macro F1",
        "kappa",
        "agree w/ ties",
        "w/o ties",
    ];
    if orders {
        head.extend(["consistency", "both orders"]);
    }
    if numeric {
        head.extend(["pearson", "spearman", "kendall b", "kendall c"]);
    }
    if pairwise {
        head.push("pairwise acc");
    }
    let mut t = Table::new(head.clone()).right(&(1..head.len()).collect::<Vec<_>>());
    let row = |j: &JudgeReport, t: &mut Table| {
        let ci = |k: &str| j.intervals.get(k);
        let mut cells = vec![
            j.judge.clone(),
            j.n.to_string(),
            with_ci(j.accuracy, ci("accuracy_ci")),
            fixed(j.macro_f1, 3),
            with_ci(j.cohen_kappa, ci("cohen_kappa_ci")),
            fixed(j.agreement_with_ties, 3),
            fixed(j.agreement_without_ties, 3),
        ];
        if orders {
            cells.push(fixed(j.position_consistency, 3));
            cells.push(fixed(j.agreement_both_orders, 3));
        }
        if numeric {
            for v in [j.pearson, j.spearman, j.kendall_tau_b, j.kendall_tau_c] {
                cells.push(fixed(v.flatten(), 3));
            }
        }
        if pairwise {
            cells.push(fixed(j.pairwise_accuracy.flatten(), 3));
        }
        t.row(cells);
    };
    for j in &r.judges {
        row(j, &mut t);
    }
    if let Some(h) = &r.human_baseline {
        row(h, &mut t);
    }
    out.push_str(&t.render());
    for j in &r.judges {
        if j.n_unparsed > 0 {
            out.push_str(&format!(
                "\n{}: {} unparsed verdict(s), counted as {}",
                j.judge,
                j.n_unparsed,
                match r.unparsed {
                    Unparsed::Wrong => "wrong",
                    Unparsed::Tie => "ties",
                    Unparsed::Skip => "left out",
                }
            ));
        }
    }
    out
}
