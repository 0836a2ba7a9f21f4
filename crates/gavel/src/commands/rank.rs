//! `gavel rank`: rank models from battles or pairwise judgments (Bradley-Terry, Elo, win rate),
//! with bootstrap intervals, interval-respecting ranks, significance tests, length-controlled
//! win rates and prediction-powered (human-corrected) win rates.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Context;
use gavel_core::{Battle, FromRecord, Label, LabelValue, RecordReader, Winner};
use gavel_core::{FieldError, Item, ReadError};
use gavel_stats::ppi;
use gavel_stats::rank::bootstrap::{self, Replicates};
use gavel_stats::rank::{Battles, Outcome, PairCounts, bt, dist, elo, lc, significance, winrate};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::output::{self, OutputFormat, Table, fixed};
use crate::{GlobalArgs, Outcome as CommandOutcome, UsageError};

const AFTER_HELP: &str = "\
Input: Battle records ({\"model_a\", \"model_b\", \"winner\": \"model_a\"|\"model_b\"|\"tie\"|\"tie (bothbad)\"})
and pairwise Labels/Judgments ({\"item\", \"annotator\", \"label\": \"A\"|\"B\"|\"tie\", \"model_a\", \"model_b\"}),
mixed freely across files. Labels may also say model_a/model_b/draw/tie (bothbad), in any case;
numeric labels are refused (datasets disagree on what 0/1/2 mean). Null labels are skipped.

Methods:
  bt       Bradley-Terry maximum likelihood as Chatbot Arena fits it (scale 400, base 10, mean 1000)
  elo      online Elo in file order (or --elo-order shuffled), K = 4 by default
  winrate  mean win rate over opponents in percent, ties half; with --baseline, the win rate
           against the baseline (AlpacaEval), or with --length-controlled AlpacaEval 2's
           length-controlled win rate
Intervals are bootstrap percentiles (--bootstrap N rounds, seeded, same on any thread count);
a model's rank is 1 + the number of models whose interval lies entirely above its own.

Examples:
  gavel rank --data battles.jsonl
  gavel rank --data battles.jsonl --method bt --bootstrap 1000 --format json
  gavel rank --data judgments.jsonl --judge judge:gpt-4o/alpaca-eval --method winrate --baseline gpt4_turbo
  gavel rank --data judgments.jsonl --items items.jsonl --method winrate --baseline gpt4_turbo --length-controlled
  gavel rank --data ckpt-judgments.jsonl --pick-best
  gavel rank --data judgments.jsonl --human human-labels.jsonl --compare model-x,model-y
  gavel rank --data arena.jsonl --anchor mixtral-8x7b-instruct-v0.1=1114 --category coding";

/// Rank models from battles or pairwise judgments (Bradley-Terry, Elo, win rate).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    // Boxed: the options are many, and the command enum holds every command's arguments.
    #[command(flatten)]
    options: Box<Options>,
}

/// The options of `gavel rank`.
#[derive(Debug, clap::Args)]
struct Options {
    /// Battles or pairwise labels (.jsonl, .json, .csv, .parquet; - for stdin); repeat for several files.
    #[arg(long = "data", value_name = "FILE", required = true)]
    data: Vec<PathBuf>,

    /// How to rate models.
    #[arg(long, value_enum, default_value_t = Method::Bt)]
    method: Method,

    /// A baseline model: report every model's win rate against it (AlpacaEval style); with
    /// --method winrate it is the rating.
    #[arg(long, value_name = "MODEL")]
    baseline: Option<String>,

    /// With --method winrate --baseline: rate by AlpacaEval 2's length-controlled win rate.
    /// Lengths come from `length_a`/`length_b` or `response_a`/`response_b` fields, or --items.
    #[arg(long)]
    length_controlled: bool,

    /// Items with `responses` (the judged texts), to take output lengths from.
    #[arg(long = "items", value_name = "FILE")]
    items: Vec<PathBuf>,

    /// Bootstrap rounds for the intervals (0: no intervals).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    bootstrap: usize,

    /// Seed of the bootstrap (and of --elo-order shuffled).
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,

    /// Shift ratings so that MODEL has RATING (Bradley-Terry and Elo), e.g. mixtral-8x7b-instruct-v0.1=1114.
    #[arg(long, value_name = "MODEL=RATING")]
    anchor: Option<String>,

    /// Elo step size K.
    #[arg(long, value_name = "K", default_value_t = 4.0)]
    k: f64,

    /// Order in which Elo replays battles.
    #[arg(long, value_enum, default_value_t = EloOrder::Given)]
    elo_order: EloOrder,

    /// Rating points per factor of --base in the odds (Bradley-Terry and Elo).
    #[arg(long, value_name = "POINTS", default_value_t = 400.0)]
    scale: f64,

    /// Odds base of the rating scale.
    #[arg(long, value_name = "BASE", default_value_t = 10.0)]
    base: f64,

    /// Mean rating of Bradley-Terry and starting rating of Elo.
    #[arg(long, value_name = "RATING", default_value_t = 1000.0)]
    init: f64,

    /// Keep only records whose `category` is one of these (repeatable).
    #[arg(long = "category", value_name = "CATEGORY")]
    categories: Vec<String>,

    /// Keep only labels by these annotators (a battle's `judge` field); repeatable.
    #[arg(long = "judge", value_name = "ANNOTATOR")]
    judges: Vec<String>,

    /// Count every label as a battle (each), or one majority verdict per item and pair.
    #[arg(long, value_enum, default_value_t = Vote::Each)]
    vote: Vote,

    /// Compare two models: predicted win probability and a sign test on shared items (repeatable).
    #[arg(long = "compare", value_name = "MODEL_A,MODEL_B")]
    compare: Vec<String>,

    /// Pick the best model: its margin over the runner-up and whether it is significant.
    #[arg(long)]
    pick_best: bool,

    /// Human pairwise labels: prediction-powered estimates of the human win rate per model pair,
    /// from the judge labels in --data and these (repeatable).
    #[arg(long = "human", value_name = "FILE")]
    human: Vec<PathBuf>,

    /// Weight of the judge labels in the prediction-powered estimate: `tuned` (PPI++) or a number in [0, 1] (1 = plain PPI).
    #[arg(long, value_name = "LAMBDA", default_value = "tuned")]
    ppi_lambda: String,

    /// Error level of intervals and tests (0.05: 95% intervals).
    #[arg(long, value_name = "ALPHA", default_value_t = 0.05)]
    alpha: f64,

    /// Include the pairwise win-rate matrix.
    #[arg(long)]
    matrix: bool,

    /// Worker threads for the bootstrap (default: all cores); results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

/// Rating method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    /// Bradley-Terry maximum likelihood.
    Bt,
    /// Online Elo.
    Elo,
    /// Win rate.
    Winrate,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Bt => "bt",
            Method::Elo => "elo",
            Method::Winrate => "winrate",
        }
    }
}

/// Order of Elo updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EloOrder {
    /// The order of the input files.
    Given,
    /// A random order drawn from --seed.
    Shuffled,
}

/// How labels become battles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Vote {
    /// Every label or battle counts.
    Each,
    /// One battle per item and model pair: the most frequent verdict (a tie when tied).
    Majority,
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<CommandOutcome> {
    let args = *args.options;
    let settings = Settings::resolve(&args)?;
    let run = || -> anyhow::Result<Report> { build_report(&args, &settings, global) };
    let report = match args.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("cannot start the worker threads")?
            .install(run)?,
        None => run()?,
    };
    match args.format {
        OutputFormat::Json => output::print_json(&report)?,
        OutputFormat::Text => output::print_text(&render_text(&report))?,
    }
    Ok(CommandOutcome::Success)
}

// ---------------------------------------------------------------------------------------------
// Settings

struct Settings {
    anchor: Option<(String, f64)>,
    compare: Vec<(String, String)>,
    lambda: ppi::Lambda,
    confidence: f64,
}

impl Settings {
    fn resolve(args: &Options) -> anyhow::Result<Settings> {
        let usage = |m: String| anyhow::Error::new(UsageError(m));
        if !(args.alpha > 0.0 && args.alpha < 1.0) {
            return Err(usage(format!(
                "--alpha must be between 0 and 1, not {}",
                args.alpha
            )));
        }
        if args.threads == Some(0) {
            return Err(usage("--threads must be at least 1".into()));
        }
        let anchor = match &args.anchor {
            None => None,
            Some(text) => {
                let (model, rating) = text
                    .rsplit_once('=')
                    .ok_or_else(|| usage(format!("--anchor takes MODEL=RATING, not {text:?}")))?;
                let rating: f64 = rating
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite())
                    .ok_or_else(|| {
                        usage(format!("--anchor: {rating:?} is not a rating (a number)"))
                    })?;
                if args.method == Method::Winrate {
                    return Err(usage(
                        "--anchor applies to --method bt and elo, not to win rates".into(),
                    ));
                }
                Some((model.to_string(), rating))
            }
        };
        let compare = args
            .compare
            .iter()
            .map(|c| {
                let (a, b) = c
                    .split_once(',')
                    .ok_or_else(|| usage(format!("--compare takes MODEL_A,MODEL_B, not {c:?}")))?;
                if a == b {
                    return Err(usage(format!("--compare: {a:?} compared with itself")));
                }
                Ok((a.to_string(), b.to_string()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let lambda = match args.ppi_lambda.trim() {
            "tuned" => ppi::Lambda::Tuned,
            other => match other.parse::<f64>() {
                Ok(l) if (0.0..=1.0).contains(&l) => ppi::Lambda::Fixed(l),
                _ => {
                    return Err(usage(format!(
                        "--ppi-lambda takes `tuned` or a number in [0, 1], not {other:?}"
                    )));
                }
            },
        };
        if args.length_controlled && (args.method != Method::Winrate || args.baseline.is_none()) {
            return Err(usage(
                "--length-controlled needs --method winrate and --baseline MODEL".into(),
            ));
        }
        Ok(Settings {
            anchor,
            compare,
            lambda,
            confidence: 1.0 - args.alpha,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// What the input files held, after filters.
struct Loaded {
    battles: Battles,
    /// (model length, other length) per battle in `battles` order, where known: lengths of
    /// model_a's and model_b's outputs.
    lengths: Vec<Option<(f64, f64)>>,
    skipped_missing: u64,
    skipped_filtered: u64,
    n_labels: u64,
    n_battle_records: u64,
}

/// One comparison as read, before interning.
struct Read {
    model_a: String,
    model_b: String,
    outcome: Option<Outcome>,
    item: Option<String>,
    lengths: Option<(f64, f64)>,
    category: Option<String>,
    judge: Option<String>,
    is_label: bool,
}

fn field_error(location: &gavel_core::Location, error: FieldError) -> anyhow::Error {
    anyhow::Error::new(ReadError::Field {
        location: location.clone(),
        error,
    })
}

/// Reads one record as a battle or a pairwise label.
fn read_comparison(raw: gavel_core::RawRecord) -> anyhow::Result<Read> {
    let location = raw.location.clone();
    let (model_a, model_b, outcome, extra, item, judge, is_label) = if raw
        .fields
        .contains_key("winner")
    {
        let b = Battle::from_record(raw).map_err(|e| field_error(&location, e))?;
        let outcome = Some(match b.winner {
            Winner::ModelA => Outcome::WinA,
            Winner::ModelB => Outcome::WinB,
            Winner::Tie | Winner::TieBothBad => Outcome::Tie,
        });
        let item = text_field(&b.extra, "question_id").or_else(|| text_field(&b.extra, "item"));
        let judge = text_field(&b.extra, "judge");
        (b.model_a, b.model_b, outcome, b.extra, item, judge, false)
    } else if raw.fields.contains_key("label") {
        let l = Label::from_record(raw).map_err(|e| field_error(&location, e))?;
        let (Some(a), Some(b)) = (l.model_a.clone(), l.model_b.clone()) else {
            return Err(field_error(
                &location,
                FieldError::new(
                    "model_a",
                    "ranking needs pairwise labels with `model_a` and `model_b`",
                ),
            ));
        };
        let outcome = pairwise_outcome(&l.label).map_err(|e| field_error(&location, e))?;
        (
            a,
            b,
            outcome,
            l.extra,
            Some(l.item),
            Some(l.annotator),
            true,
        )
    } else {
        return Err(anyhow::anyhow!(
            "{location}: neither a battle (no `winner` field) nor a pairwise label (no `label` field)"
        ));
    };
    if model_a.is_empty() || model_b.is_empty() {
        let field = if model_a.is_empty() {
            "model_a"
        } else {
            "model_b"
        };
        return Err(field_error(&location, FieldError::new(field, "is empty")));
    }
    if model_a == model_b {
        return Err(field_error(
            &location,
            FieldError::new(
                "model_b",
                format!(
                    "is the same model as `model_a` ({model_a:?}); a model cannot battle itself"
                ),
            ),
        ));
    }
    let lengths = lengths_of(&extra).map_err(|e| field_error(&location, e))?;
    let category = text_field(&extra, "category");
    Ok(Read {
        model_a,
        model_b,
        outcome,
        item,
        lengths,
        category,
        judge,
        is_label,
    })
}

/// Maps a pairwise label to an outcome; `None` for a missing label.
fn pairwise_outcome(value: &LabelValue) -> Result<Option<Outcome>, FieldError> {
    match value {
        LabelValue::Missing => Ok(None),
        LabelValue::Category(c) => match c.trim().to_ascii_lowercase().as_str() {
            "a" | "model_a" => Ok(Some(Outcome::WinA)),
            "b" | "model_b" => Ok(Some(Outcome::WinB)),
            "tie" | "tie (bothbad)" | "draw" => Ok(Some(Outcome::Tie)),
            _ => Err(FieldError::new(
                "label",
                format!(
                    "unknown pairwise label {c:?}; expected \"A\", \"B\" or \"tie\" (also accepted, in any case: \"model_a\", \"model_b\", \"draw\", \"tie (bothbad)\")"
                ),
            )),
        },
        LabelValue::Number(x) => Err(FieldError::new(
            "label",
            format!(
                "numeric label {}; pairwise labels must be \"A\", \"B\" or \"tie\" (numeric codes differ between datasets: PandaLM uses 0 for a tie, Auto-J 2), so map them first",
                gavel_core::format_number(*x)
            ),
        )),
    }
}

fn text_field(extra: &Map<String, Value>, name: &str) -> Option<String> {
    match extra.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Output lengths from `length_a`/`length_b` (numbers) or `response_a`/`response_b` (texts,
/// counted in characters as AlpacaEval's `str.len()` does).
fn lengths_of(extra: &Map<String, Value>) -> Result<Option<(f64, f64)>, FieldError> {
    let one = |len_key: &str, text_key: &str| -> Result<Option<f64>, FieldError> {
        match extra.get(len_key) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x >= 0.0 => return Ok(Some(x)),
                _ => {
                    return Err(FieldError::new(
                        len_key,
                        "expected a length (a number >= 0)",
                    ));
                }
            },
            Some(Value::String(s)) if !s.trim().is_empty() => {
                return match s.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                    _ => Err(FieldError::new(
                        len_key,
                        "expected a length (a number >= 0)",
                    )),
                };
            }
            _ => {}
        }
        Ok(match extra.get(text_key) {
            Some(Value::String(s)) => Some(s.chars().count() as f64),
            _ => None,
        })
    };
    match (
        one("length_a", "response_a")?,
        one("length_b", "response_b")?,
    ) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        _ => Ok(None),
    }
}

/// Reads every record of the files, keeping those that pass the filters.
fn read_files(
    paths: &[PathBuf],
    categories: &[String],
    judges: &[String],
    mut keep: impl FnMut(Read) -> anyhow::Result<()>,
) -> anyhow::Result<(u64, u64)> {
    let mut filtered = 0u64;
    let mut missing = 0u64;
    for path in paths {
        let reader = RecordReader::open(path)?;
        for raw in reader {
            let r = read_comparison(raw?)?;
            let category_ok = categories.is_empty()
                || r.category.as_ref().is_some_and(|c| categories.contains(c));
            let judge_ok =
                judges.is_empty() || r.judge.as_ref().is_some_and(|j| judges.contains(j));
            if !(category_ok && judge_ok) {
                filtered += 1;
                continue;
            }
            if r.outcome.is_none() {
                missing += 1;
                continue;
            }
            keep(r)?;
        }
    }
    Ok((filtered, missing))
}

fn load(args: &Options) -> anyhow::Result<Loaded> {
    let mut battles = Battles::new();
    let mut lengths: Vec<Option<(f64, f64)>> = Vec::new();
    let (mut n_labels, mut n_battle_records) = (0u64, 0u64);
    let (filtered, missing) = read_files(&args.data, &args.categories, &args.judges, |r| {
        if r.is_label {
            n_labels += 1;
        } else {
            n_battle_records += 1;
        }
        if let Some(outcome) = r.outcome {
            battles.push(&r.model_a, &r.model_b, outcome, r.item.as_deref())?;
            lengths.push(r.lengths);
        }
        Ok(())
    })?;
    let (battles, lengths) = match args.vote {
        Vote::Each => (battles, lengths),
        Vote::Majority => majority(&battles, &lengths)?,
    };
    Ok(Loaded {
        battles,
        lengths,
        skipped_missing: missing,
        skipped_filtered: filtered,
        n_labels,
        n_battle_records,
    })
}

/// One battle per (item, model pair): the most frequent verdict, a tie when verdicts are tied.
/// Battles without an item stay as they are.
/// Output lengths of model_a and model_b, per battle.
type Lengths = Vec<Option<(f64, f64)>>;

fn majority(
    battles: &Battles,
    lengths: &[Option<(f64, f64)>],
) -> anyhow::Result<(Battles, Lengths)> {
    // unit -> (first position, votes for the lower index, for the higher, ties, lengths)
    type Unit = (usize, [u64; 3], Option<(f64, f64)>, u32, u32);
    let mut units: HashMap<(u32, u32, u32), Unit> = HashMap::new();
    let mut singles: Vec<(usize, usize)> = Vec::new();
    for (pos, b) in battles.battles().iter().enumerate() {
        let len = lengths.get(pos).copied().flatten();
        let Some(item) = b.item else {
            singles.push((pos, pos));
            continue;
        };
        let (lo, hi, outcome, len) = if b.a < b.b {
            (b.a, b.b, b.outcome, len)
        } else {
            (b.b, b.a, b.outcome.swapped(), len.map(|(x, y)| (y, x)))
        };
        let e = units
            .entry((item, lo, hi))
            .or_insert((pos, [0; 3], len, lo, hi));
        match outcome {
            Outcome::WinA => e.1[0] += 1,
            Outcome::WinB => e.1[1] += 1,
            Outcome::Tie => e.1[2] += 1,
        }
    }
    let mut ordered: Vec<(usize, Option<(u32, Unit)>)> =
        singles.into_iter().map(|(p, _)| (p, None)).collect();
    for ((item, _, _), unit) in units {
        ordered.push((unit.0, Some((item, unit))));
    }
    ordered.sort_by_key(|(p, _)| *p);
    let names = battles.models();
    let items = battles.items();
    let mut out = Battles::new();
    let mut out_len = Vec::new();
    for (pos, unit) in ordered {
        match unit {
            None => {
                if let Some(b) = battles.battles().get(pos) {
                    let item = b
                        .item
                        .and_then(|i| items.get(i as usize))
                        .map(String::as_str);
                    out.push(&names[b.a as usize], &names[b.b as usize], b.outcome, item)?;
                    out_len.push(lengths.get(pos).copied().flatten());
                }
            }
            Some((item, (_, [wa, wb, t], len, lo, hi))) => {
                let outcome = if wa > wb && wa > t {
                    Outcome::WinA
                } else if wb > wa && wb > t {
                    Outcome::WinB
                } else {
                    Outcome::Tie
                };
                let item = items.get(item as usize).map(String::as_str);
                out.push(&names[lo as usize], &names[hi as usize], outcome, item)?;
                out_len.push(len);
            }
        }
    }
    Ok((out, out_len))
}

/// Output lengths per (item, model) from Item records.
fn item_lengths(paths: &[PathBuf]) -> anyhow::Result<HashMap<(String, String), f64>> {
    let mut out = HashMap::new();
    for path in paths {
        for item in RecordReader::open(path)?.typed::<Item>() {
            let item = item?;
            for (model, content) in &item.responses {
                let len: usize = (0..content.n_turns())
                    .filter_map(|t| content.turn(t))
                    .map(|s| s.chars().count())
                    .sum();
                out.insert((item.id.clone(), model.clone()), len as f64);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Debug, Serialize)]
struct Report {
    method: &'static str,
    /// What `rating` means, in words.
    rating: String,
    n_models: usize,
    n_battles: usize,
    input: InputSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    scale: Option<ScaleInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elo: Option<EloInfo>,
    baseline: Option<String>,
    bootstrap: Option<BootstrapInfo>,
    confidence: f64,
    models: Vec<ModelRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    win_rate_matrix: Option<MatrixOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    comparisons: Vec<ComparisonOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pick_best: Option<PickBest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    human_corrected: Vec<HumanCorrected>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct InputSummary {
    files: Vec<String>,
    battle_records: u64,
    label_records: u64,
    skipped_missing_label: u64,
    skipped_by_filter: u64,
    vote: &'static str,
}

#[derive(Debug, Serialize)]
struct ScaleInfo {
    scale: f64,
    base: f64,
    init: f64,
    anchor: Option<AnchorOut>,
}

#[derive(Debug, Serialize)]
struct AnchorOut {
    model: String,
    rating: f64,
}

#[derive(Debug, Serialize)]
struct EloInfo {
    k: f64,
    order: &'static str,
}

#[derive(Debug, Serialize)]
struct BootstrapInfo {
    rounds: usize,
    seed: u64,
    /// Replicates without a usable fit (left out of the intervals).
    degenerate: usize,
}

#[derive(Debug, Serialize)]
struct ModelRow {
    model: String,
    rating: Option<f64>,
    ci: Option<[f64; 2]>,
    rank: Option<usize>,
    wins: u64,
    losses: u64,
    ties: u64,
    n: u64,
    /// Mean win rate over the opponents met, in percent.
    win_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vs_baseline: Option<BaselineOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct BaselineOut {
    /// Percent.
    win_rate: f64,
    /// Percent.
    standard_error: Option<f64>,
    n_wins: u64,
    n_wins_base: u64,
    n_draws: u64,
    n_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    length_controlled: Option<LcOut>,
}

#[derive(Debug, Serialize)]
struct LcOut {
    /// Percent; null with `note` when it cannot be computed.
    win_rate: Option<f64>,
    standard_error: Option<f64>,
    length_coef: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct MatrixOut {
    models: Vec<String>,
    /// Row beats column, percent; null where they never met.
    win_rate: Vec<Vec<Option<f64>>>,
    battles: Vec<Vec<u64>>,
}

#[derive(Debug, Serialize)]
struct ComparisonOut {
    model_a: String,
    model_b: String,
    rating_a: Option<f64>,
    rating_b: Option<f64>,
    /// P(A beats B) on the fitted scale (Bradley-Terry and Elo only).
    predicted_win_probability: Option<f64>,
    head_to_head: HeadToHead,
    test: TestOut,
    /// Share of bootstrap replicates in which B rated at least as high as A.
    bootstrap_p: Option<f64>,
}

#[derive(Debug, Serialize)]
struct HeadToHead {
    wins: u64,
    losses: u64,
    ties: u64,
    /// Percent; null when they never met.
    win_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
struct TestOut {
    name: &'static str,
    /// `shared items` or `head-to-head battles`.
    on: &'static str,
    better: u64,
    worse: u64,
    equal: u64,
    p_value: f64,
    p_greater: f64,
}

#[derive(Debug, Serialize)]
struct PickBest {
    best: String,
    rating: Option<f64>,
    ci: Option<[f64; 2]>,
    runner_up: Option<String>,
    runner_up_rating: Option<f64>,
    margin: Option<f64>,
    predicted_win_probability: Option<f64>,
    test: Option<TestOut>,
    bootstrap_p: Option<f64>,
    /// Whether the best model's interval lies entirely above the runner-up's.
    intervals_separate: Option<bool>,
    alpha: f64,
    significant: bool,
    reason: String,
}

#[derive(Debug, Serialize)]
struct HumanCorrected {
    model_a: String,
    model_b: String,
    /// Units (item and pair) with a judge label / a human label / both.
    n_judged: usize,
    n_human: usize,
    n_both: usize,
    judge_only: Option<EstimateOut>,
    human_only: Option<EstimateOut>,
    ppi: Option<EstimateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct EstimateOut {
    /// Win rate of model_a over model_b, percent.
    win_rate: f64,
    ci: [f64; 2],
    std_error: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lambda: Option<f64>,
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

fn build_report(
    args: &Options,
    settings: &Settings,
    global: &GlobalArgs,
) -> anyhow::Result<Report> {
    let loaded = load(args)?;
    let battles = &loaded.battles;
    let names = battles.models().to_vec();
    if battles.is_empty() {
        anyhow::bail!(
            "there are no comparisons to rank{}",
            if loaded.skipped_filtered > 0 {
                format!(
                    " ({} records were left out by --category/--judge)",
                    loaded.skipped_filtered
                )
            } else {
                String::new()
            }
        );
    }
    let index = |name: &str, what: &str| -> anyhow::Result<usize> {
        battles
            .model_index(name)
            .with_context(|| format!("{what} `{name}`"))
    };
    let baseline = args
        .baseline
        .as_deref()
        .map(|b| index(b, "--baseline"))
        .transpose()?;
    let anchor = settings
        .anchor
        .as_ref()
        .map(|(m, r)| index(m, "--anchor").map(|i| (i, *r)))
        .transpose()?;
    let compare = settings
        .compare
        .iter()
        .map(|(a, b)| Ok((index(a, "--compare")?, index(b, "--compare")?)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let counts = battles.counts();
    let records = counts.records();
    let mut notes = Vec::new();
    let confidence = settings.confidence;
    let rounds = args.bootstrap;

    // The comparison graph must be connected for ratings to share a scale; win rates against
    // a baseline only need each model to have met the baseline.
    let baseline_rated = args.method == Method::Winrate && baseline.is_some();
    if !baseline_rated {
        gavel_stats::rank::graph::check_connected(&counts, &names)?;
    }

    let bt_params = bt::Params {
        scale: args.scale,
        base: args.base,
        init: args.init,
        anchor,
    };
    let elo_params = elo::Params {
        k: args.k,
        scale: args.scale,
        base: args.base,
        init: args.init,
    };
    let baseline_rates = baseline.map(|b| winrate::against_baseline(&counts, b));
    let lc_results: Option<Vec<Option<LcOut>>> = match (baseline, args.length_controlled) {
        (Some(b), true) => Some(length_controlled(args, &loaded, b)?),
        _ => None,
    };

    // Ratings and replicates per method.
    let (ratings, replicates, rating_words): (Vec<Option<f64>>, Option<Replicates>, String) =
        match args.method {
            Method::Bt => {
                let r = bt::fit_named(&counts, &names, &bt_params)?;
                let reps = (rounds > 0)
                    .then(|| bootstrap::bradley_terry(&counts, &bt_params, rounds, args.seed));
                (
                    r.into_iter().map(Some).collect(),
                    reps,
                    format!(
                        "Bradley-Terry rating (maximum likelihood; scale {}, base {}, {})",
                        args.scale,
                        args.base,
                        match &settings.anchor {
                            Some((m, r)) => format!("{m} anchored at {r}"),
                            None => format!("mean {}", args.init),
                        }
                    ),
                )
            }
            Method::Elo => {
                let order = match args.elo_order {
                    EloOrder::Given => elo::Order::Given,
                    EloOrder::Shuffled => elo::Order::Shuffled(args.seed),
                };
                let mut r = elo::ratings(battles, &elo_params, order)?;
                let mut reps =
                    (rounds > 0).then(|| bootstrap::elo(battles, &elo_params, rounds, args.seed));
                if let Some((m, target)) = anchor {
                    shift_to_anchor(&mut r, reps.as_mut(), m, target);
                }
                (
                    r.into_iter().map(Some).collect(),
                    reps,
                    format!(
                        "online Elo rating (K {}, scale {}, base {}, start {}, {} order)",
                        args.k,
                        args.scale,
                        args.base,
                        args.init,
                        match args.elo_order {
                            EloOrder::Given => "file",
                            EloOrder::Shuffled => "shuffled",
                        }
                    ),
                )
            }
            Method::Winrate => match (baseline, &lc_results) {
                (Some(b), Some(lc)) => {
                    let values = lc
                        .iter()
                        .enumerate()
                        .map(|(m, l)| {
                            if m == b {
                                Some(50.0)
                            } else {
                                l.as_ref().and_then(|l| l.win_rate)
                            }
                        })
                        .collect();
                    (
                        values,
                        None,
                        format!("length-controlled win rate against {} (percent)", names[b]),
                    )
                }
                (Some(b), None) => {
                    let rates = baseline_rates.as_deref().unwrap_or(&[]);
                    let values = (0..names.len())
                        .map(|m| {
                            if m == b {
                                Some(50.0)
                            } else {
                                rates.get(m).copied().flatten().map(|w| pct(w.win_rate))
                            }
                        })
                        .collect();
                    let only_baseline = PairCounts {
                        n_models: counts.n_models,
                        pairs: counts
                            .pairs
                            .iter()
                            .filter(|p| p.i as usize == b || p.j as usize == b)
                            .copied()
                            .collect(),
                    };
                    let reps = (rounds > 0).then(|| {
                        let mut r =
                            bootstrap::win_rates(&only_baseline, Some(b), rounds, args.seed);
                        r.values.iter_mut().for_each(|v| *v = pct(*v));
                        r
                    });
                    (
                        values,
                        reps,
                        format!("win rate against {} (percent, ties half)", names[b]),
                    )
                }
                (None, _) => {
                    let values = winrate::mean_win_rates(&counts)
                        .into_iter()
                        .map(|v| v.map(pct))
                        .collect();
                    let reps = (rounds > 0).then(|| {
                        let mut r = bootstrap::win_rates(&counts, None, rounds, args.seed);
                        r.values.iter_mut().for_each(|v| *v = pct(*v));
                        r
                    });
                    (
                        values,
                        reps,
                        "mean win rate over the opponents met (percent, ties half)".to_string(),
                    )
                }
            },
        };

    // Intervals: bootstrap percentiles; the length-controlled win rate has a delta-method one.
    let z = dist::normal_quantile(1.0 - args.alpha / 2.0);
    let mut intervals: Vec<Option<(f64, f64)>> = match &replicates {
        Some(r) => r.intervals(confidence),
        None => vec![None; names.len()],
    };
    if let (Some(b), Some(lc)) = (baseline, &lc_results)
        && args.method == Method::Winrate
    {
        for (m, l) in lc.iter().enumerate() {
            if m == b {
                continue;
            }
            if let Some(LcOut {
                win_rate: Some(w),
                standard_error: Some(se),
                ..
            }) = l
                && let Some(slot) = intervals.get_mut(m)
            {
                *slot = Some((w - z * se, w + z * se));
            }
        }
    }
    if baseline_rated && let Some(b) = baseline {
        // The baseline against itself: 50 by construction, as AlpacaEval prints it.
        if let Some(slot) = intervals.get_mut(b) {
            *slot = Some((50.0, 50.0));
        }
    }
    let ranks = bootstrap::ranks(&ratings, &intervals);
    if let Some(r) = &replicates
        && r.degenerate > 0
    {
        notes.push(format!(
            "{} of {} bootstrap resamples had no finite Bradley-Terry fit (a model won or lost all its resampled battles) and were left out; the intervals of rarely compared models are too narrow",
            r.degenerate, r.rounds
        ));
    }
    if args.method == Method::Elo && rounds > 0 && battles.len() * rounds > 200_000_000 {
        crate::output::note(
            global.quiet,
            "Elo bootstrap replays every resample in order; with this many battles it is slow (Bradley-Terry is not)",
        );
    }

    let mean_rates = winrate::mean_win_rates(&counts);
    let mut rows: Vec<ModelRow> = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let rec = records.get(m).copied().unwrap_or_default();
            let vs_baseline = baseline.filter(|&b| b != m).and_then(|_| {
                let w = baseline_rates.as_ref()?.get(m).copied().flatten();
                let lc = lc_results
                    .as_ref()
                    .and_then(|l| l.get(m))
                    .and_then(|l| l.as_ref())
                    .map(|l| LcOut {
                        win_rate: l.win_rate,
                        standard_error: l.standard_error,
                        length_coef: l.length_coef,
                        note: l.note.clone(),
                    });
                w.map(|w| BaselineOut {
                    win_rate: pct(w.win_rate),
                    standard_error: w.standard_error.map(pct),
                    n_wins: w.wins,
                    n_wins_base: w.losses,
                    n_draws: w.ties,
                    n_total: w.n(),
                    length_controlled: lc,
                })
            });
            let note = match (ratings.get(m).copied().flatten(), baseline) {
                (None, Some(b)) if baseline_rated => Some(
                    match lc_results
                        .as_ref()
                        .and_then(|l| l.get(m))
                        .and_then(|l| l.as_ref())
                    {
                        Some(LcOut { note: Some(n), .. }) => n.clone(),
                        _ => format!("never compared with the baseline {}", names[b]),
                    },
                ),
                _ if Some(m) == baseline && baseline_rated => Some("the baseline".to_string()),
                _ => None,
            };
            ModelRow {
                model: name.clone(),
                rating: ratings.get(m).copied().flatten(),
                ci: intervals.get(m).copied().flatten().map(|(lo, hi)| [lo, hi]),
                rank: ranks.get(m).copied().flatten(),
                wins: rec.wins,
                losses: rec.losses,
                ties: rec.ties,
                n: rec.n(),
                win_rate: mean_rates.get(m).copied().flatten().map(pct),
                vs_baseline,
                note,
            }
        })
        .collect();
    let order = rating_order(&ratings, &names);
    let position: Vec<usize> = {
        let mut p = vec![0; names.len()];
        for (k, &m) in order.iter().enumerate() {
            p[m] = k;
        }
        p
    };
    let mut indexed: Vec<(usize, ModelRow)> = rows.drain(..).enumerate().collect();
    indexed.sort_by_key(|(m, _)| position[*m]);
    let rows: Vec<ModelRow> = indexed.into_iter().map(|(_, r)| r).collect();

    let scaled = matches!(args.method, Method::Bt | Method::Elo);
    let predicted = |a: usize, b: usize| -> Option<f64> {
        if !scaled {
            return None;
        }
        let (ra, rb) = (
            ratings.get(a).copied().flatten()?,
            ratings.get(b).copied().flatten()?,
        );
        Some(significance::win_probability(ra, rb, args.scale, args.base))
    };
    let comparisons: Vec<ComparisonOut> = compare
        .iter()
        .map(|&(a, b)| {
            let c = significance::compare(battles, a, b);
            let h = head_to_head(&counts, a, b);
            ComparisonOut {
                model_a: names[a].clone(),
                model_b: names[b].clone(),
                rating_a: ratings.get(a).copied().flatten(),
                rating_b: ratings.get(b).copied().flatten(),
                predicted_win_probability: predicted(a, b),
                head_to_head: h,
                test: test_out(&c),
                bootstrap_p: replicates.as_ref().and_then(|r| r.share_not_above(a, b)),
            }
        })
        .collect();

    let pick_best = args.pick_best.then(|| {
        let rated: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&m| ratings.get(m).copied().flatten().is_some())
            .collect();
        pick_best(
            &rated,
            &ratings,
            &intervals,
            &names,
            battles,
            replicates.as_ref(),
            args.alpha,
            predicted,
        )
    });

    let human_corrected = if args.human.is_empty() {
        Vec::new()
    } else {
        human_corrected(args, settings, battles, &ratings, baseline)?
    };

    let win_rate_matrix = args.matrix.then(|| {
        let m = winrate::matrix(&counts);
        let order_names: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
        MatrixOut {
            models: order_names,
            win_rate: order
                .iter()
                .map(|&i| order.iter().map(|&j| m.rates[i][j].map(pct)).collect())
                .collect(),
            battles: order
                .iter()
                .map(|&i| order.iter().map(|&j| m.battles[i][j]).collect())
                .collect(),
        }
    });

    Ok(Report {
        method: args.method.name(),
        rating: rating_words,
        n_models: names.len(),
        n_battles: battles.len(),
        input: InputSummary {
            files: args.data.iter().map(|p| p.display().to_string()).collect(),
            battle_records: loaded.n_battle_records,
            label_records: loaded.n_labels,
            skipped_missing_label: loaded.skipped_missing,
            skipped_by_filter: loaded.skipped_filtered,
            vote: match args.vote {
                Vote::Each => "each",
                Vote::Majority => "majority",
            },
        },
        scale: scaled.then(|| ScaleInfo {
            scale: args.scale,
            base: args.base,
            init: args.init,
            anchor: settings.anchor.as_ref().map(|(m, r)| AnchorOut {
                model: m.clone(),
                rating: *r,
            }),
        }),
        elo: (args.method == Method::Elo).then_some(EloInfo {
            k: args.k,
            order: match args.elo_order {
                EloOrder::Given => "given",
                EloOrder::Shuffled => "shuffled",
            },
        }),
        baseline: baseline.map(|b| names[b].clone()),
        bootstrap: replicates.as_ref().map(|r| BootstrapInfo {
            rounds: r.rounds,
            seed: args.seed,
            degenerate: r.degenerate,
        }),
        confidence,
        models: rows,
        win_rate_matrix,
        comparisons,
        pick_best,
        human_corrected,
        notes,
    })
}

/// Model indices from the highest rating down (unrated last, then by name).
fn rating_order(ratings: &[Option<f64>], names: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = ratings.get(a).copied().flatten();
        let rb = ratings.get(b).copied().flatten();
        match (ra, rb) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| names[a].cmp(&names[b]))
    });
    order
}

fn shift_to_anchor(ratings: &mut [f64], reps: Option<&mut Replicates>, model: usize, target: f64) {
    let Some(&current) = ratings.get(model) else {
        return;
    };
    let shift = target - current;
    ratings.iter_mut().for_each(|r| *r += shift);
    // Each replicate is anchored on its own, as the notebook anchors each bootstrap fit.
    if let Some(reps) = reps {
        let n = reps.n_models;
        for row in reps.values.chunks_exact_mut(n.max(1)) {
            if let Some(&v) = row.get(model)
                && v.is_finite()
            {
                let s = target - v;
                row.iter_mut().for_each(|x| *x += s);
            }
        }
    }
}

fn head_to_head(counts: &PairCounts, a: usize, b: usize) -> HeadToHead {
    let (lo, hi) = (a.min(b) as u32, a.max(b) as u32);
    let p = counts.pairs.iter().find(|p| p.i == lo && p.j == hi);
    let (wins, losses, ties) = match p {
        None => (0, 0, 0),
        Some(p) if a < b => (p.wins_i, p.wins_j, p.ties),
        Some(p) => (p.wins_j, p.wins_i, p.ties),
    };
    let n = wins + losses + ties;
    HeadToHead {
        wins,
        losses,
        ties,
        win_rate: (n > 0).then(|| pct((wins as f64 + 0.5 * ties as f64) / n as f64)),
    }
}

fn test_out(c: &significance::Comparison) -> TestOut {
    TestOut {
        name: "exact sign test",
        on: match c.on {
            significance::PairedOn::SharedItems => "shared items",
            significance::PairedOn::HeadToHead => "head-to-head battles",
        },
        better: c.test.better,
        worse: c.test.worse,
        equal: c.test.equal,
        p_value: c.test.p_value,
        p_greater: c.test.p_greater,
    }
}

#[allow(clippy::too_many_arguments)]
fn pick_best(
    rated: &[usize],
    ratings: &[Option<f64>],
    intervals: &[Option<(f64, f64)>],
    names: &[String],
    battles: &Battles,
    replicates: Option<&Replicates>,
    alpha: f64,
    predicted: impl Fn(usize, usize) -> Option<f64>,
) -> PickBest {
    let Some(&best) = rated.first() else {
        return PickBest {
            best: String::new(),
            rating: None,
            ci: None,
            runner_up: None,
            runner_up_rating: None,
            margin: None,
            predicted_win_probability: None,
            test: None,
            bootstrap_p: None,
            intervals_separate: None,
            alpha,
            significant: false,
            reason: "no model has a rating".into(),
        };
    };
    let ci = |m: usize| intervals.get(m).copied().flatten();
    let rating = |m: usize| ratings.get(m).copied().flatten();
    let Some(&runner) = rated.get(1) else {
        return PickBest {
            best: names[best].clone(),
            rating: rating(best),
            ci: ci(best).map(|(a, b)| [a, b]),
            runner_up: None,
            runner_up_rating: None,
            margin: None,
            predicted_win_probability: None,
            test: None,
            bootstrap_p: None,
            intervals_separate: None,
            alpha,
            significant: false,
            reason: "only one model is rated".into(),
        };
    };
    let c = significance::compare(battles, best, runner);
    let intervals_separate = match (ci(best), ci(runner)) {
        (Some((lo, _)), Some((_, hi))) if replicates.is_some() => Some(lo > hi),
        _ => None,
    };
    let significant = c.test.better > c.test.worse && c.test.p_value < alpha;
    let reason = if c.test.better + c.test.worse == 0 {
        format!(
            "no {} where the two differ, so the sign test has nothing to go on",
            match c.on {
                significance::PairedOn::SharedItems => "shared items",
                significance::PairedOn::HeadToHead => "head-to-head battles",
            }
        )
    } else if c.test.better <= c.test.worse {
        format!(
            "on the units both were compared on, {} was better {} times and worse {} times, so the paired comparison does not favour it",
            names[best], c.test.better, c.test.worse
        )
    } else if significant {
        format!(
            "the exact sign test gives p = {} < {alpha} (two-sided)",
            format_p(c.test.p_value)
        )
    } else {
        format!(
            "the exact sign test gives p = {} >= {alpha} (two-sided)",
            format_p(c.test.p_value)
        )
    };
    PickBest {
        best: names[best].clone(),
        rating: rating(best),
        ci: ci(best).map(|(a, b)| [a, b]),
        runner_up: Some(names[runner].clone()),
        runner_up_rating: rating(runner),
        margin: rating(best).zip(rating(runner)).map(|(a, b)| a - b),
        predicted_win_probability: predicted(best, runner),
        test: Some(test_out(&c)),
        bootstrap_p: replicates.and_then(|r| r.share_not_above(best, runner)),
        intervals_separate,
        alpha,
        significant,
        reason,
    }
}

fn format_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// Length-controlled win rates against the baseline, per model index.
fn length_controlled(
    args: &Options,
    loaded: &Loaded,
    baseline: usize,
) -> anyhow::Result<Vec<Option<LcOut>>> {
    let battles = &loaded.battles;
    let from_items = if args.items.is_empty() {
        None
    } else {
        Some(item_lengths(&args.items)?)
    };
    let names = battles.models();
    let items = battles.items();
    let mut obs: Vec<Vec<lc::Observation>> = vec![Vec::new(); names.len()];
    let mut missing = vec![0usize; names.len()];
    for (pos, b) in battles.battles().iter().enumerate() {
        let (a, bb) = (b.a as usize, b.b as usize);
        let (model, model_is_a) = if bb == baseline {
            (a, true)
        } else if a == baseline {
            (bb, false)
        } else {
            continue;
        };
        let lengths = loaded.lengths.get(pos).copied().flatten().or_else(|| {
            let map = from_items.as_ref()?;
            let item = items.get(b.item? as usize)?;
            let la = *map.get(&(item.clone(), names[a].clone()))?;
            let lb = *map.get(&(item.clone(), names[bb].clone()))?;
            Some((la, lb))
        });
        let Some((la, lb)) = lengths else {
            missing[model] += 1;
            continue;
        };
        let score_a = b.outcome.score_a();
        let (preference, model_length, baseline_length) = if model_is_a {
            (score_a, la, lb)
        } else {
            (1.0 - score_a, lb, la)
        };
        obs[model].push(lc::Observation {
            preference,
            model_length,
            baseline_length,
        });
    }
    Ok((0..names.len())
        .map(|m| {
            if m == baseline || (obs[m].is_empty() && missing[m] == 0) {
                return None;
            }
            if missing[m] > 0 {
                return Some(LcOut {
                    win_rate: None,
                    standard_error: None,
                    length_coef: None,
                    note: Some(format!(
                        "output lengths are missing for {} of its {} comparisons with the baseline (give length_a/length_b or response_a/response_b fields, or --items)",
                        missing[m],
                        missing[m] + obs[m].len()
                    )),
                });
            }
            Some(match lc::length_controlled(&obs[m]) {
                Ok(r) => LcOut {
                    win_rate: Some(pct(r.win_rate)),
                    standard_error: Some(pct(r.standard_error)),
                    length_coef: Some(r.length_coef),
                    note: None,
                },
                Err(e) => LcOut {
                    win_rate: None,
                    standard_error: None,
                    length_coef: None,
                    note: Some(e.to_string()),
                },
            })
        })
        .collect())
}

/// Prediction-powered human win rates per model pair with human labels.
fn human_corrected(
    args: &Options,
    settings: &Settings,
    battles: &Battles,
    ratings: &[Option<f64>],
    baseline: Option<usize>,
) -> anyhow::Result<Vec<HumanCorrected>> {
    // Unit key: (item, first model, second model) in name order; score of the first model.
    type Key = (String, String, String);
    let unit = |item: &str, a: &str, b: &str, score_a: f64| -> (Key, f64) {
        if a <= b {
            ((item.to_string(), a.to_string(), b.to_string()), score_a)
        } else {
            (
                (item.to_string(), b.to_string(), a.to_string()),
                1.0 - score_a,
            )
        }
    };
    let names = battles.models();
    let items = battles.items();
    let mut judge: BTreeMap<(String, String), Vec<(Key, f64)>> = BTreeMap::new();
    for b in battles.battles() {
        let Some(item) = b.item.and_then(|i| items.get(i as usize)) else {
            continue;
        };
        let (k, s) = unit(
            item,
            &names[b.a as usize],
            &names[b.b as usize],
            b.outcome.score_a(),
        );
        judge
            .entry((k.1.clone(), k.2.clone()))
            .or_default()
            .push((k, s));
    }
    let mut human: BTreeMap<(String, String), Vec<(Key, f64)>> = BTreeMap::new();
    let no_judges: Vec<String> = Vec::new();
    read_files(&args.human, &args.categories, &no_judges, |r| {
        let Some(outcome) = r.outcome else {
            return Ok(());
        };
        let item = r.item.ok_or_else(|| {
            anyhow::anyhow!(
                "a human label for {} vs {} names no item, so it cannot be matched with judge labels",
                r.model_a,
                r.model_b
            )
        })?;
        let (k, s) = unit(&item, &r.model_a, &r.model_b, outcome.score_a());
        human
            .entry((k.1.clone(), k.2.clone()))
            .or_default()
            .push((k, s));
        Ok(())
    })
    .context("reading --human labels")?;
    if human.is_empty() {
        anyhow::bail!("the --human files hold no pairwise labels");
    }
    let rating_of = |name: &str| -> Option<f64> {
        let i = battles.model_index(name).ok()?;
        ratings.get(i).copied().flatten()
    };
    let baseline_name = baseline.map(|b| names[b].as_str());
    let alpha = args.alpha;
    let mut out = Vec::new();
    for ((m1, m2), human_units) in &human {
        if let Some(base) = baseline_name
            && m1 != base
            && m2 != base
        {
            continue;
        }
        let judge_units = judge
            .get(&(m1.clone(), m2.clone()))
            .cloned()
            .unwrap_or_default();
        // Orientation: against a baseline, the other model first; otherwise the higher rated.
        let flip = match baseline_name {
            Some(base) => m1 == base,
            None => match (rating_of(m1), rating_of(m2)) {
                (Some(r1), Some(r2)) => r2 > r1,
                _ => false,
            },
        };
        let orient = |v: &[(Key, f64)]| -> Vec<(Key, f64)> {
            v.iter()
                .map(|(k, s)| (k.clone(), if flip { 1.0 - s } else { *s }))
                .collect()
        };
        let (j, h) = (orient(&judge_units), orient(human_units));
        let e = ppi::estimates(&j, &h, alpha, settings.lambda);
        let distinct = |v: &[(Key, f64)]| {
            v.iter()
                .map(|(k, _)| k)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let (n_judged, n_human) = (distinct(&j), distinct(&h));
        let to_out = |m: &ppi::MeanEstimate| EstimateOut {
            win_rate: pct(m.estimate),
            ci: [pct(m.ci.0), pct(m.ci.1)],
            std_error: pct(m.std_error),
            lambda: None,
        };
        let note = e
            .ppi
            .as_ref()
            .err()
            .map(|err| format!("no prediction-powered estimate: {err}"));
        let n_both = e
            .ppi
            .as_ref()
            .map_or(n_human - e.n_human_without_judge, |p| p.n_labeled);
        let (a, b) = if flip { (m2, m1) } else { (m1, m2) };
        out.push(HumanCorrected {
            model_a: a.clone(),
            model_b: b.clone(),
            n_judged,
            n_human,
            n_both,
            judge_only: e.judge_only.as_ref().ok().map(to_out),
            human_only: e.human_only.as_ref().ok().map(to_out),
            ppi: e.ppi.as_ref().ok().map(|p| EstimateOut {
                win_rate: pct(p.estimate),
                ci: [pct(p.ci.0), pct(p.ci.1)],
                std_error: pct(p.std_error),
                lambda: Some(p.lambda),
            }),
            note,
        });
    }
    // Leaderboard order: by the first model's place, then the second's.
    let order = rating_order(ratings, names);
    let place = |name: &str| {
        battles
            .model_index(name)
            .ok()
            .and_then(|i| order.iter().position(|&m| m == i))
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|h: &HumanCorrected| (place(&h.model_a), place(&h.model_b)));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Text

fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let winrate = r.method == "winrate";
    let decimals = 1;
    out.push_str(&format!(
        "{} — {} battles among {} models",
        r.rating, r.n_battles, r.n_models
    ));
    match &r.bootstrap {
        Some(b) => out.push_str(&format!(
            "; {:.0}% intervals from {} bootstrap rounds (seed {})\n\n",
            100.0 * r.confidence,
            b.rounds,
            b.seed
        )),
        None => out.push_str("\n\n"),
    }
    let ci_header = format!("{:.0}% CI", 100.0 * r.confidence);
    let mut headers = vec!["rank", "model", "rating", ci_header.as_str()];
    if !winrate {
        headers.push("win rate");
    }
    headers.extend(["wins", "losses", "ties", "n"]);
    let numeric: Vec<usize> = (0..headers.len()).filter(|&i| i != 1).collect();
    let mut t = Table::new(headers).right(&numeric);
    for m in &r.models {
        let mut row = vec![
            m.rank.map_or("-".to_string(), |k| k.to_string()),
            m.model.clone(),
            fixed(m.rating, decimals),
            m.ci.map_or("-".to_string(), |[lo, hi]| {
                format!(
                    "[{}, {}]",
                    fixed(Some(lo), decimals),
                    fixed(Some(hi), decimals)
                )
            }),
        ];
        if !winrate {
            row.push(fixed(m.win_rate, 1));
        }
        row.extend([
            m.wins.to_string(),
            m.losses.to_string(),
            m.ties.to_string(),
            m.n.to_string(),
        ]);
        t.row(row);
    }
    out.push_str(&t.render());
    let unrated: Vec<String> = r
        .models
        .iter()
        .filter_map(|m| {
            m.note
                .as_ref()
                .filter(|_| m.rating.is_none())
                .map(|n| format!("  {}: {n}", m.model))
        })
        .collect();
    if !unrated.is_empty() {
        out.push_str("\nnot rated:\n");
        out.push_str(&unrated.join("\n"));
        out.push('\n');
    }

    if let Some(base) = &r.baseline {
        out.push_str(&format!(
            "\nwin rate against {base} (percent, ties half; AlpacaEval)\n"
        ));
        let has_lc = r.models.iter().any(|m| {
            m.vs_baseline
                .as_ref()
                .is_some_and(|b| b.length_controlled.is_some())
        });
        let mut headers = vec!["model", "win rate", "std err", "wins", "losses", "ties"];
        if has_lc {
            headers.extend(["LC win rate", "LC std err"]);
        }
        let numeric: Vec<usize> = (1..headers.len()).collect();
        let mut t = Table::new(headers).right(&numeric);
        let mut lc_notes = Vec::new();
        for m in &r.models {
            let Some(b) = &m.vs_baseline else { continue };
            let mut row = vec![
                m.model.clone(),
                fixed(Some(b.win_rate), 2),
                fixed(b.standard_error, 2),
                b.n_wins.to_string(),
                b.n_wins_base.to_string(),
                b.n_draws.to_string(),
            ];
            if has_lc {
                let lc = b.length_controlled.as_ref();
                row.push(fixed(lc.and_then(|l| l.win_rate), 2));
                row.push(fixed(lc.and_then(|l| l.standard_error), 2));
                if let Some(n) = lc.and_then(|l| l.note.as_ref()) {
                    lc_notes.push(format!("  {}: {n}", m.model));
                }
            }
            t.row(row);
        }
        out.push_str(&t.render());
        if !lc_notes.is_empty() {
            out.push_str("no length-controlled win rate for:\n");
            out.push_str(&lc_notes.join("\n"));
            out.push('\n');
        }
    }

    if let Some(m) = &r.win_rate_matrix {
        out.push_str("\npairwise win rate, row beats column (percent)\n");
        let mut headers = vec![String::new()];
        headers.extend(m.models.iter().cloned());
        let numeric: Vec<usize> = (1..headers.len()).collect();
        let mut t = Table::new(headers).right(&numeric);
        for (i, name) in m.models.iter().enumerate() {
            let mut row = vec![name.clone()];
            row.extend(m.win_rate[i].iter().map(|v| fixed(*v, 1)));
            t.row(row);
        }
        out.push_str(&t.render());
    }

    for c in &r.comparisons {
        out.push_str(&format!("\n{} vs {}\n", c.model_a, c.model_b));
        if let Some(p) = c.predicted_win_probability {
            out.push_str(&format!(
                "  predicted P({} beats {}): {p:.3}\n",
                c.model_a, c.model_b
            ));
        }
        let h = &c.head_to_head;
        out.push_str(&format!(
            "  head to head: {} wins, {} losses, {} ties{}\n",
            h.wins,
            h.losses,
            h.ties,
            h.win_rate
                .map_or(String::new(), |w| format!(" (win rate {w:.1}%)"))
        ));
        out.push_str(&format!(
            "  {} on {}: {} better, {} worse, {} equal; p = {} (two-sided), {} (one-sided, {} better)\n",
            c.test.name,
            c.test.on,
            c.test.better,
            c.test.worse,
            c.test.equal,
            format_p(c.test.p_value),
            format_p(c.test.p_greater),
            c.model_a
        ));
        if let Some(p) = c.bootstrap_p {
            out.push_str(&format!(
                "  bootstrap: {} rated at least as high as {} in {:.1}% of resamples\n",
                c.model_b,
                c.model_a,
                100.0 * p
            ));
        }
    }

    if let Some(p) = &r.pick_best {
        out.push_str("\nbest model\n");
        if p.best.is_empty() {
            out.push_str(&format!("  none: {}\n", p.reason));
        } else {
            out.push_str(&format!(
                "  best:      {} ({})\n",
                p.best,
                fixed(p.rating, 1)
            ));
            if let Some(ru) = &p.runner_up {
                out.push_str(&format!(
                    "  runner-up: {} ({})\n  margin:    {}{}\n",
                    ru,
                    fixed(p.runner_up_rating, 1),
                    fixed(p.margin, 1),
                    p.predicted_win_probability
                        .map_or(String::new(), |w| format!(
                            " (predicted win probability {w:.3})"
                        ))
                ));
                if let Some(sep) = p.intervals_separate {
                    out.push_str(&format!(
                        "  intervals: {}\n",
                        if sep { "separate" } else { "overlap" }
                    ));
                }
            }
            out.push_str(&format!(
                "  significant at alpha {}: {} ({})\n",
                p.alpha,
                if p.significant { "yes" } else { "no" },
                p.reason
            ));
        }
    }

    if !r.human_corrected.is_empty() {
        out.push_str("\nhuman win rate, prediction-powered (judge labels on all items, human labels on some)\n");
        let mut t = Table::new([
            "model_a vs model_b",
            "judge only",
            "human only",
            "prediction-powered",
            "lambda",
            "judged",
            "human",
        ])
        .right(&[1, 2, 3, 4, 5, 6]);
        let show = |e: &Option<EstimateOut>| -> String {
            e.as_ref().map_or("-".to_string(), |e| {
                format!("{:.1} [{:.1}, {:.1}]", e.win_rate, e.ci[0], e.ci[1])
            })
        };
        let mut notes = Vec::new();
        for h in &r.human_corrected {
            t.row([
                format!("{} vs {}", h.model_a, h.model_b),
                show(&h.judge_only),
                show(&h.human_only),
                show(&h.ppi),
                h.ppi
                    .as_ref()
                    .and_then(|p| p.lambda)
                    .map_or("-".to_string(), |l| format!("{l:.2}")),
                h.n_judged.to_string(),
                h.n_human.to_string(),
            ]);
            if let Some(n) = &h.note {
                notes.push(format!("  {} vs {}: {n}", h.model_a, h.model_b));
            }
        }
        out.push_str(&t.render());
        if !notes.is_empty() {
            out.push_str(&notes.join("\n"));
            out.push('\n');
        }
    }
    for n in &r.notes {
        out.push_str(&format!("\nnote: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_spellings_map_to_outcomes() {
        let cat = |s: &str| LabelValue::Category(s.into());
        assert_eq!(pairwise_outcome(&cat("A")).unwrap(), Some(Outcome::WinA));
        assert_eq!(
            pairwise_outcome(&cat("model_b")).unwrap(),
            Some(Outcome::WinB)
        );
        assert_eq!(pairwise_outcome(&cat("Tie")).unwrap(), Some(Outcome::Tie));
        assert_eq!(
            pairwise_outcome(&cat("tie (bothbad)")).unwrap(),
            Some(Outcome::Tie)
        );
        assert_eq!(pairwise_outcome(&LabelValue::Missing).unwrap(), None);
        assert!(pairwise_outcome(&cat("C")).is_err());
        let e = pairwise_outcome(&LabelValue::Number(1.0)).unwrap_err();
        assert!(e.message.starts_with("numeric label 1;"));
    }

    #[test]
    fn ratings_are_ordered_high_to_low_with_unrated_last() {
        let names: Vec<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            rating_order(&[Some(1.0), None, Some(2.0)], &names),
            vec![2, 0, 1]
        );
    }
}
