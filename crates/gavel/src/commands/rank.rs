//! `gavel rank`: rank models from battles or pairwise judgments (Bradley-Terry, Elo, win rate),
//! with bootstrap intervals, interval-respecting ranks, significance tests, length-controlled
//! win rates and prediction-powered (human-corrected) win rates.

use std::path::{Path, PathBuf};

use anyhow::Context;
use gavel_core::{Battle, FieldError, FromRecord, Item, Label, RawRecord, ReadError, RecordReader};
use gavel_stats::ppi;
use gavel_stats::rank::report::{
    self as rank_report, Comparison, EstimateOut, RankInput, RankOptions, RankReport,
    RankReportError, format_p,
};

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
    let options = resolve(&args)?;
    let input = read_input(&args, &options)?;
    let run = || report(&input, &options);
    let report = match args.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("cannot start the worker threads")?
            .install(run)?,
        None => run()?,
    };
    for advice in &report.advice {
        output::note(global.quiet, advice);
    }
    match args.format {
        OutputFormat::Json => output::print_json(&report)?,
        OutputFormat::Text => output::print_text(&render_text(&report))?,
    }
    Ok(CommandOutcome::Success)
}

/// The library's report, with errors worded in terms of this command's flags.
fn report(input: &RankInput, options: &RankOptions) -> anyhow::Result<RankReport> {
    rank_report::report(input, options).map_err(|e| match e {
        RankReportError::NamedModel {
            option,
            model,
            source,
        } => anyhow::Error::new(source).context(format!("--{option} `{model}`")),
        RankReportError::NoHumanLabels => {
            anyhow::anyhow!("the --human files hold no pairwise labels")
        }
        RankReportError::InvalidOption(m) => anyhow::Error::new(UsageError(m)),
        other => anyhow::Error::new(other),
    })
}

// ---------------------------------------------------------------------------------------------
// Options

/// Turns the flags into the library's options; flag-level mistakes are usage errors (exit 2).
fn resolve(args: &Options) -> anyhow::Result<RankOptions> {
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
                .ok_or_else(|| usage(format!("--anchor: {rating:?} is not a rating (a number)")))?;
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
    let ppi_lambda = match args.ppi_lambda.trim() {
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
    Ok(RankOptions {
        method: match args.method {
            Method::Bt => rank_report::Method::Bt,
            Method::Elo => rank_report::Method::Elo,
            Method::Winrate => rank_report::Method::Winrate,
        },
        baseline: args.baseline.clone(),
        length_controlled: args.length_controlled,
        bootstrap: args.bootstrap,
        seed: args.seed,
        anchor,
        k: args.k,
        elo_order: match args.elo_order {
            EloOrder::Given => rank_report::EloOrder::Given,
            EloOrder::Shuffled => rank_report::EloOrder::Shuffled,
        },
        scale: args.scale,
        base: args.base,
        init: args.init,
        categories: args.categories.clone(),
        judges: args.judges.clone(),
        vote: match args.vote {
            Vote::Each => rank_report::Vote::Each,
            Vote::Majority => rank_report::Vote::Majority,
        },
        compare,
        pick_best: args.pick_best,
        ppi_lambda,
        alpha: args.alpha,
        matrix: args.matrix,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading

fn field_error(location: &gavel_core::Location, error: FieldError) -> anyhow::Error {
    anyhow::Error::new(ReadError::Field {
        location: location.clone(),
        error,
    })
}

/// Reads one record as a battle (it has `winner`) or a pairwise label (it has `label`).
fn read_comparison(raw: RawRecord) -> anyhow::Result<Comparison> {
    let location = raw.location.clone();
    let comparison = if raw.fields.contains_key("winner") {
        Battle::from_record(raw).and_then(Comparison::from_battle)
    } else if raw.fields.contains_key("label") {
        Label::from_record(raw).and_then(Comparison::from_label)
    } else {
        return Err(anyhow::anyhow!(
            "{location}: neither a battle (no `winner` field) nor a pairwise label (no `label` field)"
        ));
    };
    comparison.map_err(|e| field_error(&location, e))
}

/// Reads every comparison of the files into `keep`.
fn read_files(
    paths: &[PathBuf],
    mut keep: impl FnMut(Comparison) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for path in paths {
        for raw in RecordReader::open(path)? {
            keep(read_comparison(raw?)?)?;
        }
    }
    Ok(())
}

/// Reads --data, --human and (for the length-controlled win rate) --items.
fn read_input(args: &Options, options: &RankOptions) -> anyhow::Result<RankInput> {
    let mut input = RankInput::new(options);
    for path in &args.data {
        input.add_file(path.display().to_string());
    }
    read_files(&args.data, |c| Ok(input.push(c)?))?;
    if !args.human.is_empty() {
        input.expect_human_labels();
        read_files(&args.human, |c| Ok(input.push_human(c)?)).context("reading --human labels")?;
    }
    // Item lengths matter only to the length-controlled win rate.
    if options.length_controlled && options.baseline.is_some() {
        for path in &args.items {
            read_items(path, &mut input)?;
        }
    }
    Ok(input)
}

fn read_items(path: &Path, input: &mut RankInput) -> anyhow::Result<()> {
    for item in RecordReader::open(path)?.typed::<Item>() {
        input.push_item(&item?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Text

fn render_text(r: &RankReport) -> String {
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
    fn records_are_read_as_battles_or_labels() {
        let raw = |line: &str| RawRecord {
            location: gavel_core::Location::new("t.jsonl".into(), Some(1), 1),
            format: gavel_core::Format::Jsonl,
            fields: serde_json::from_str(line).unwrap(),
        };
        let c =
            read_comparison(raw(r#"{"model_a": "x", "model_b": "y", "winner": "tie"}"#)).unwrap();
        assert!(!c.is_label);
        let c = read_comparison(raw(
            r#"{"item": "1", "annotator": "h", "label": "B", "model_a": "x", "model_b": "y"}"#,
        ))
        .unwrap();
        assert!(c.is_label);
        let e = read_comparison(raw(r#"{"model_a": "x", "model_b": "y"}"#)).unwrap_err();
        assert!(
            e.to_string().starts_with("t.jsonl:1: neither a battle"),
            "{e}"
        );
        let e = read_comparison(raw(r#"{"model_a": "x", "model_b": "x", "winner": "tie"}"#))
            .unwrap_err();
        assert!(e.to_string().contains("t.jsonl:1: field `model_b`"), "{e}");
    }
}
