//! `gavel dataset`: build judge training sets from teacher judgments (`build`) and verify them
//! (`check`).

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use gavel_dataset::build::{Progress, build, resolve_templates};
use gavel_dataset::check::{CheckReport, check_with};
use gavel_dataset::config::{
    BalancePolicy, BuildConfig, DuplicatePolicy, ExampleFormat, FilterConfig, InconsistentPolicy,
    SplitShares, SwapPolicy, parse_weights,
};
use gavel_dataset::convention::{Choice, JudgeParsers};
use gavel_dataset::report::{BuildReport, LabelCounts};
use indicatif::ProgressBar;

use crate::output::{OutputFormat, Table, fixed, note, print_json, print_text, warn};
use crate::{GlobalArgs, Outcome, UsageError};

/// Build and check judge training datasets from teacher judgments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Build(Box<BuildArgs>),
    Check(CheckArgs),
}

const AFTER_HELP: &str = "\
Examples:
  gavel dataset build --judgments judgments.jsonl --items items.jsonl --human human.jsonl --out ds
  gavel dataset check ds

See `gavel dataset build --help` for every filter and de-biasing option.";

/// Turn teacher judgments into a filtered, de-biased, leak-free training set: train /
/// validation / test JSONL (plus Parquet on request), a manifest (dataset.json) and a dataset
/// card (README.md) that says exactly what was done.
#[derive(Debug, clap::Args)]
#[command(after_help = BUILD_HELP)]
pub struct BuildArgs {
    /// Teacher judgments from `gavel judge`, or Label records with a `rationale` (JSONL, JSON,
    /// CSV, Parquet; `-` for JSONL on stdin). Repeat to combine teachers or runs.
    #[arg(long, value_name = "FILE")]
    pub judgments: Vec<PathBuf>,
    /// The items the judgments are about (Item records with `responses`).
    #[arg(long, value_name = "FILE")]
    pub items: PathBuf,
    /// Human labels: their items make the test split (majority label per pair) and are kept
    /// out of train and validation, with every instruction that repeats theirs. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub human: Vec<PathBuf>,
    /// The output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Example layout: `messages` (OpenAI / TRL), `alpaca`, `sharegpt`.
    #[arg(long, default_value = "messages", value_parser = parse_format)]
    pub format: ExampleFormat,
    /// Also write train/validation/test.parquet (for the Hugging Face `datasets` library).
    #[arg(long)]
    pub parquet: bool,
    /// Seed of every random choice (split, template, swap side, reference drop, balancing).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Shares of the teacher's instructions per split [default: train=0.9,validation=0.05,
    /// test=0.05; with --human: train=0.95,validation=0.05].
    #[arg(long, value_name = "SHARES", value_parser = SplitShares::parse)]
    pub split: Option<SplitShares>,
    /// Prompt formats and their weights, mixed per example: mt-bench-pair, pandalm, judgelm
    /// (judgelm needs teacher scores).
    #[arg(long, default_value = "mt-bench-pair", value_name = "NAME=W,...", value_parser = parse_templates)]
    pub templates: Weights,
    /// Swap augmentation: `both` orders of every pair, one `random` order, or `none`.
    #[arg(long, default_value = "both", value_parser = parse_swap)]
    pub swap: SwapPolicy,
    /// Share of examples whose reference answer is left out of the prompt (JudgeLM's
    /// reference drop).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub reference_drop: f64,
    /// Label balancing of train and validation: `none`, `equal`, or shares `A=0.4,B=0.4,tie=0.2`.
    #[arg(long, default_value = "none", value_parser = BalancePolicy::parse)]
    pub balance: BalancePolicy,
    /// Keep judgments whose answer was cut off by the token limit (dropped by default).
    #[arg(long)]
    pub keep_truncated: bool,
    /// Position-inconsistent judgments: `drop`, keep as a `tie` (without rationale), or `keep`.
    #[arg(long, default_value = "drop", value_parser = parse_inconsistent)]
    pub inconsistent: InconsistentPolicy,
    /// Least share of a judgment's samples (per order) that must agree, and of several records
    /// of one pair (1 = unanimous).
    #[arg(long, default_value_t = 1.0, value_name = "SHARE")]
    pub min_sample_agreement: f64,
    /// Do not compare several records of one pair (skips the first pass over the files).
    #[arg(long)]
    pub no_teacher_agreement: bool,
    /// Items whose instruction repeats an earlier item's: `drop`, `keep` (same split), `off`.
    #[arg(long, default_value = "drop", value_parser = parse_duplicates)]
    pub duplicates: DuplicatePolicy,
    /// Near-duplicate instructions (MinHash): `drop`, `keep` (same split), `off`.
    #[arg(long, default_value = "drop", value_parser = parse_duplicates)]
    pub near_duplicates: DuplicatePolicy,
    /// Jaccard similarity of character 5-grams from which instructions are near duplicates.
    #[arg(long, default_value_t = 0.8, value_name = "X")]
    pub near_threshold: f64,
    /// Most tokens of prompt and target together.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<usize>,
    /// Most tokens of the prompt.
    #[arg(long, value_name = "N")]
    pub max_prompt_tokens: Option<usize>,
    /// Most tokens of the target.
    #[arg(long, value_name = "N")]
    pub max_target_tokens: Option<usize>,
    /// A Hugging Face tokenizer.json for exact token counts (else an estimate).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Drop judgments without a rationale.
    #[arg(long)]
    pub require_rationale: bool,
    /// Write every dropped record (or example) with its reason to this JSONL file.
    #[arg(long, value_name = "FILE")]
    pub dropped: Option<PathBuf>,
    /// What is printed on stdout: a summary table or one JSON document (the build report).
    #[arg(long, value_enum, default_value = "text")]
    pub report_format: OutputFormat,
}

const BUILD_HELP: &str = "\
Examples:
  gavel dataset build --judgments j.jsonl --items items.jsonl --out ds
  gavel dataset build --judgments gpt4.jsonl --judgments claude.jsonl --items items.jsonl \\
      --human human.jsonl --templates mt-bench-pair=2,pandalm=1,judgelm=1 \\
      --reference-drop 0.3 --balance A=0.4,B=0.4,tie=0.2 --max-tokens 2048 --parquet --out ds

Filters, in order (each record is counted under the first that drops it): not pairwise,
truncated, unparseable, position-inconsistent, sample disagreement, no rationale (opt-in),
missing item / multi-turn / missing response, disagreement among records of one pair,
human test item, test leak, duplicate and near-duplicate instructions; then per example:
no template for the verdict, too long. Counts go to the card (DIR/README.md) and the
manifest (DIR/dataset.json); --dropped lists every dropped record.

Output: DIR/train.jsonl, validation.jsonl, test.jsonl (+ .parquet with --parquet), one example
per line in the chosen layout with flat fields beside it (item, instruction, input, reference,
mode, response_a, response_b, model_a, model_b, label, scores, order, template, source).
Verify with `gavel dataset check DIR`.";

/// Verify a built dataset: re-parse every target with its template's parser, check that no
/// item or instruction is in two splits, report the balance. Exit 1 on any problem.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gavel dataset check ds\n  gavel dataset check ds --strict --format json"
)]
pub struct CheckArgs {
    /// The dataset directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Near-duplicate instructions across splits fail the check too (else they are listed).
    #[arg(long)]
    pub strict: bool,
    /// Output: a table or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// `name=weight,...` pairs.
#[derive(Debug, Clone)]
pub struct Weights(Vec<(String, f64)>);

fn parse_templates(s: &str) -> Result<Weights, String> {
    parse_weights(s).map(Weights)
}

fn parse_format(s: &str) -> Result<ExampleFormat, String> {
    ExampleFormat::parse(s).ok_or_else(|| "expected messages, alpaca or sharegpt".into())
}

fn parse_swap(s: &str) -> Result<SwapPolicy, String> {
    match s {
        "both" => Ok(SwapPolicy::Both),
        "random" => Ok(SwapPolicy::Random),
        "none" => Ok(SwapPolicy::None),
        _ => Err("expected both, random or none".into()),
    }
}

fn parse_inconsistent(s: &str) -> Result<InconsistentPolicy, String> {
    match s {
        "drop" => Ok(InconsistentPolicy::Drop),
        "tie" => Ok(InconsistentPolicy::Tie),
        "keep" => Ok(InconsistentPolicy::Keep),
        _ => Err("expected drop, tie or keep".into()),
    }
}

fn parse_duplicates(s: &str) -> Result<DuplicatePolicy, String> {
    match s {
        "drop" => Ok(DuplicatePolicy::Drop),
        "keep" => Ok(DuplicatePolicy::Keep),
        "off" => Ok(DuplicatePolicy::Off),
        _ => Err("expected drop, keep or off".into()),
    }
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Build(b) => run_build(*b, global),
        Command::Check(c) => run_check(c, global),
    }
}

fn config_of(a: BuildArgs) -> Result<(BuildConfig, OutputFormat), UsageError> {
    if a.judgments.is_empty() && a.human.is_empty() {
        return Err(UsageError(
            "give --judgments (teacher judgments), and --human for a test set".into(),
        ));
    }
    let templates = a.templates.0;
    let splits = a.split.unwrap_or(if a.human.is_empty() {
        SplitShares::DEFAULT
    } else {
        SplitShares::DEFAULT_WITH_HUMAN
    });
    let mut config = BuildConfig::new(a.judgments, a.items, a.out);
    config.human = a.human;
    config.format = a.format;
    config.parquet = a.parquet;
    config.seed = a.seed;
    config.splits = splits;
    config.templates = templates;
    config.swap = a.swap;
    config.reference_drop = a.reference_drop;
    config.balance = a.balance;
    config.filters = FilterConfig {
        drop_truncated: !a.keep_truncated,
        inconsistent: a.inconsistent,
        min_sample_agreement: a.min_sample_agreement,
        teacher_agreement: !a.no_teacher_agreement,
        duplicates: a.duplicates,
        near_duplicates: a.near_duplicates,
        near_threshold: a.near_threshold,
        max_tokens: a.max_tokens,
        max_prompt_tokens: a.max_prompt_tokens,
        max_target_tokens: a.max_target_tokens,
        require_rationale: a.require_rationale,
    };
    config.tokenizer = a.tokenizer;
    config.dropped = a.dropped;
    config.command = std::env::args().collect();
    if let Some(first) = config.command.first_mut() {
        // The program as a user types it, not the path it was started from.
        *first = "gavel".into();
    }
    config
        .validate()
        .and_then(|()| resolve_templates(&config.templates).map(drop))
        .map_err(|e| UsageError(e.to_string()))?;
    Ok((config, a.report_format))
}

fn run_build(a: BuildArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let (config, report_format) = config_of(a)?;
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let quiet = global.quiet;
    let progress = |p: Progress<'_>| {
        let Ok(mut slot) = bar.lock() else { return };
        match p {
            Progress::Phase { name, total } => {
                if let Some(b) = slot.take() {
                    b.finish_and_clear();
                }
                let b = match total {
                    Some(t) => crate::progress::bar(t, name, quiet),
                    None => crate::progress::spinner(name, quiet),
                };
                *slot = Some(b);
            }
            Progress::Advance(n) => {
                if let Some(b) = slot.as_ref() {
                    b.inc(n);
                }
            }
        }
    };
    let started = std::time::Instant::now();
    let result = build(&config, &progress);
    if let Ok(mut slot) = bar.lock()
        && let Some(b) = slot.take()
    {
        b.finish_and_clear();
    }
    let report =
        result.with_context(|| format!("building the dataset in {}", config.out.display()))?;
    warn_about(&report);
    match report_format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => print_text(&build_summary(&report))?,
    }
    note(
        quiet,
        &format!(
            "{} examples written to {} in {:.1}s; the card is {}; verify with `gavel dataset check {}`",
            report.examples(),
            config.out.display(),
            started.elapsed().as_secs_f64(),
            config.out.join("README.md").display(),
            config.out.display()
        ),
    );
    Ok(Outcome::Success)
}

fn warn_about(report: &BuildReport) {
    use gavel_dataset::report::DropReason;
    let n = |r| report.dropped(r).map_or(0, |f| f.records);
    let missing = n(DropReason::MissingItem);
    if missing > 0 {
        warn(&format!(
            "{missing} judgments name items that are not in --items (dropped as missing_item)"
        ));
    }
    if report.teacher_records > 0 && report.teacher_records_kept == 0 {
        warn("no teacher judgment gave an example; see the filter counts");
    }
}

fn labels(l: &LabelCounts) -> String {
    format!("{} / {} / {}", l.a, l.b, l.tie)
}

fn build_summary(r: &BuildReport) -> String {
    let mut out = format!(
        "teacher records: {} read, {} kept\n\n",
        r.teacher_records, r.teacher_records_kept
    );
    let mut t = Table::new(["filter", "records", "examples", "setting"]).right(&[1, 2]);
    for f in &r.filters {
        if f.records > 0 || f.examples > 0 {
            t.row([
                f.reason.id().to_string(),
                f.records.to_string(),
                f.examples.to_string(),
                f.setting.clone(),
            ]);
        }
    }
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new([
        "split",
        "examples",
        "items",
        "instructions",
        "human",
        "A / B / tie before",
        "A / B / tie",
    ])
    .right(&[1, 2, 3, 4]);
    for (name, s) in &r.splits {
        t.row([
            name.clone(),
            s.examples.to_string(),
            s.items.to_string(),
            s.instructions.to_string(),
            s.human_examples.to_string(),
            labels(&s.labels_before),
            labels(&s.labels),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new(["template", "convention", "share asked", "examples"]).right(&[2, 3]);
    for tu in &r.templates {
        t.row([
            tu.name.clone(),
            tu.convention.clone(),
            fixed(Some(tu.share), 2),
            tu.examples.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nswap ({}): {} as judged, {} swapped; {} rationales rewritten ({} mentions)\n",
        r.swap.policy,
        r.swap.original_order,
        r.swap.swapped,
        r.swap.rationales_rewritten,
        r.swap.mentions_rewritten
    ));
    out
}

fn run_check(a: CheckArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let report = check_with(&a.dir, &JudgeParsers, a.strict)
        .with_context(|| format!("checking {}", a.dir.display()))?;
    match a.format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => print_text(&check_summary(&report))?,
    }
    if report.ok() {
        note(
            global.quiet,
            &format!(
                "{}: {} targets re-parsed, no problem found",
                a.dir.display(),
                report.targets_checked
            ),
        );
        Ok(Outcome::Success)
    } else {
        anyhow::bail!(
            "{}: the dataset check found problems (listed above)",
            a.dir.display()
        )
    }
}

fn check_summary(r: &CheckReport) -> String {
    let mut t = Table::new([
        "split",
        "examples",
        "items",
        "instructions",
        "human",
        "A",
        "B",
        "tie",
        "tie share",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8]);
    for (name, s) in &r.splits {
        let total = s.labels.total();
        t.row([
            name.clone(),
            s.examples.to_string(),
            s.items.to_string(),
            s.instructions.to_string(),
            s.human_examples.to_string(),
            s.labels.get(Choice::A).to_string(),
            s.labels.get(Choice::B).to_string(),
            s.labels.get(Choice::Tie).to_string(),
            fixed(
                (total > 0).then(|| s.labels.get(Choice::Tie) as f64 / total as f64),
                3,
            ),
        ]);
    }
    let mut out = t.render();
    let p = &r.problems;
    out.push_str(&format!(
        "\ntargets re-parsed: {}\nunparseable targets: {}\nlabel mismatches: {}\nunknown templates: {}\n\
         missing fields: {}\nprompts with responses out of order: {}\nitems in two splits: {}\n\
         instructions in two splits: {}\nhuman examples outside test: {}\nduplicate ids: {}\n\
         near-duplicate instructions across splits: {}{}\n",
        r.targets_checked,
        p.unparseable_target,
        p.label_mismatch,
        p.unknown_template,
        p.missing_field,
        p.response_order,
        p.item_leak,
        p.instruction_leak,
        p.human_outside_test,
        p.duplicate_id,
        p.near_duplicate_leak,
        if r.strict { "" } else { " (listed, not failing; --strict to fail)" },
    ));
    for problem in &r.listed {
        out.push_str(&format!(
            "  {} {}: {}\n",
            problem.location, problem.kind, problem.message
        ));
    }
    out.push_str(if r.ok { "\nOK\n" } else { "\nFAILED\n" });
    out
}
