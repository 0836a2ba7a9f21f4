//! `gavel agree`: agreement among annotators (percent, Cohen/Fleiss kappa, Krippendorff alpha,
//! Gwet AC1), per pair and per annotator, with bootstrap intervals, drift windows and gates.

use std::path::{Path, PathBuf};

use anyhow::Context;
use gavel_core::{ItemColumn, Label, LabelColumns, LabelValue, Location, RecordReader, WideSpec};
use gavel_stats::agreement::Level;
use gavel_stats::agreement::report::{
    AgreementOptions, AgreementReport, DriftBy, DriftReport, Duplicates, SingleLabels, Thresholds,
    agree_columns,
};
use gavel_stats::bootstrap::{BootstrapConfig, Interval};

use crate::output::{OutputFormat, Table, fixed, note, print_json, print_text, warn};
use crate::{GlobalArgs, Outcome, UsageError};

/// Agreement among annotators: percent agreement, Cohen's kappa per pair, Fleiss' kappa,
/// Krippendorff's alpha, Gwet's AC1, each annotator against the others, with bootstrap
/// intervals; drift over time, rounds or guideline versions; thresholds that exit 3.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    // Boxed so that the command enum stays small.
    #[command(flatten)]
    inner: Box<AgreeArgs>,
}

/// The options of `gavel agree`.
#[derive(Debug, clap::Args)]
pub struct AgreeArgs {
    /// Label files (JSONL, JSON, CSV, Parquet; `-` for JSONL on stdin). Repeat to combine.
    #[arg(long, required = true, value_name = "FILE")]
    pub data: Vec<PathBuf>,
    /// Level of measurement: sets Krippendorff's distance; interval and ratio need numbers.
    #[arg(long, default_value = "nominal", value_parser = parse_level)]
    pub level: Level,
    /// The categories in order, comma-separated (e.g. `A,tie,B` or `bad,ok,good`): the value
    /// domain for ordinal statistics, weighted kappas and AC1. Default: the labels seen, in numeric
    /// order when all are numbers.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub categories: Option<Vec<String>>,
    /// Same annotator labelling the same item twice: `error` (stop, naming both), `first` or
    /// `last` (keep that one, in file order).
    #[arg(long, default_value = "error", value_parser = parse_duplicates)]
    pub duplicates: Duplicates,
    /// Items with a single label: `keep` (they enter the chance terms of Fleiss' kappa and AC1,
    /// as in the reference implementations) or `drop` them first.
    #[arg(long = "single-label", default_value = "keep", value_parser = parse_single)]
    pub single_label: SingleLabels,
    /// Rewrite label values before anything else, e.g. `1=A,2=B,0=tie,garbage=null`
    /// (`null` makes a missing label). Repeatable.
    #[arg(long = "map", value_name = "FROM=TO[,...]")]
    pub map: Vec<String>,
    /// Read the files in wide form: one row per item, one column per annotator.
    #[arg(long)]
    pub wide: bool,
    /// Wide form: the column holding the item id (`@row` numbers the rows from 1).
    #[arg(long, default_value = "item", value_name = "NAME")]
    pub item_column: String,
    /// Wide form: the annotator columns, `column` or `column=name`, comma-separated (default:
    /// every column but the item and unit fields). Implies --wide.
    #[arg(long, value_name = "LIST")]
    pub columns: Option<String>,
    /// Bootstrap resamples of items for the intervals (0: no intervals).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap (results depend on it alone, not on the thread count).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95, value_parser = parse_level_of_confidence)]
    pub confidence: f64,
    /// Drift: report the statistics per window of `time`, per `round` or per
    /// `guideline_version`.
    #[arg(long, value_parser = ["time", "round", "guideline_version"])]
    pub by: Option<String>,
    /// Drift over time: window length (`7d`, `12h`, `30m`, `2w`, `3600s`).
    #[arg(long, default_value = "7d", value_parser = gavel_core::time::parse_window)]
    pub window: i64,
    /// Gate: Krippendorff's alpha at least this (overall and in every window), else exit 3.
    #[arg(long, value_name = "X")]
    pub min_alpha: Option<f64>,
    /// Gate: Fleiss' kappa at least this.
    #[arg(long, value_name = "X")]
    pub min_kappa: Option<f64>,
    /// Gate: Cohen's kappa of every pair of annotators at least this.
    #[arg(long, value_name = "X")]
    pub min_cohen: Option<f64>,
    /// Gate: Gwet's AC1 at least this.
    #[arg(long, value_name = "X")]
    pub min_ac1: Option<f64>,
    /// Gate: percent agreement at least this (0-1).
    #[arg(long, value_name = "X")]
    pub min_agreement: Option<f64>,
    /// Gates skip (and say so) windows with fewer items labelled twice or more.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub min_items: usize,
    /// Output: a table or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

const AFTER_HELP: &str = "\
Examples:
  gavel agree --data labels.jsonl
  gavel agree --data labels.jsonl --level ordinal --format json
  gavel agree --data labels.jsonl --by time --window 7d --min-alpha 0.67
  gavel agree --data sheet.csv --wide --item-column id --columns ann1,ann2,ann3

Input: Label records ({\"item\", \"annotator\", \"label\"}, optional model_a/model_b or model,
time, round, guideline_version). A pairwise label given with the models in the other order is
the same unit with A and B exchanged. A null label is counted as missing and otherwise ignored.

Intervals are percentile bootstrap intervals over items (--bootstrap, --seed, --confidence).
A statistic that is undefined on the data (e.g. one category only) is null in JSON, with the
reason under \"null_reasons\". Exit codes: 0 ok, 1 error, 2 usage, 3 a --min-* gate failed.";

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

fn parse_duplicates(s: &str) -> Result<Duplicates, String> {
    match s {
        "error" => Ok(Duplicates::Error),
        "first" => Ok(Duplicates::First),
        "last" => Ok(Duplicates::Last),
        _ => Err("expected error, first or last".into()),
    }
}

fn parse_single(s: &str) -> Result<SingleLabels, String> {
    match s {
        "keep" => Ok(SingleLabels::Keep),
        "drop" => Ok(SingleLabels::Drop),
        _ => Err("expected keep or drop".into()),
    }
}

pub(crate) fn parse_level_of_confidence(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err("expected a level between 0 and 1, e.g. 0.95".into())
    }
}

/// Value rewrites from `--map` options.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueMap(Vec<(String, Option<String>)>);

impl ValueMap {
    pub(crate) fn parse(options: &[String]) -> Result<ValueMap, UsageError> {
        let mut out = Vec::new();
        for opt in options {
            for part in opt.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((from, to)) = part.split_once('=') else {
                    return Err(UsageError(format!(
                        "--map `{part}`: expected FROM=TO, e.g. 1=A or garbage=null"
                    )));
                };
                let to = to.trim();
                out.push((
                    from.trim().to_string(),
                    if to == "null" {
                        None
                    } else {
                        Some(to.to_string())
                    },
                ));
            }
        }
        Ok(ValueMap(out))
    }

    /// The rewritten value (compared through the category key, so `1` matches `1` and `"1"`).
    pub(crate) fn apply(&self, value: &LabelValue) -> LabelValue {
        if self.0.is_empty() {
            return value.clone();
        }
        let Some(key) = value.category_key() else {
            return value.clone();
        };
        match self.0.iter().find(|(from, _)| *from == key) {
            None => value.clone(),
            Some((_, None)) => LabelValue::Missing,
            Some((_, Some(to))) => match LabelValue::Category(to.clone()).as_f64() {
                Some(x) => LabelValue::Number(x),
                None => LabelValue::Category(to.clone()),
            },
        }
    }
}

/// How label files are read: long (Label records) or wide.
#[derive(Debug, Clone)]
pub(crate) struct LabelSource {
    pub wide: Option<WideSpec>,
    pub map: ValueMap,
}

impl LabelSource {
    pub(crate) fn new(
        wide: bool,
        item_column: &str,
        columns: Option<&str>,
        map: ValueMap,
    ) -> LabelSource {
        let wide = (wide || columns.is_some()).then(|| WideSpec {
            item: if item_column == "@row" {
                ItemColumn::RowNumber
            } else {
                ItemColumn::Column(item_column.to_string())
            },
            annotators: columns.map(WideSpec::parse_columns),
        });
        LabelSource { wide, map }
    }

    /// Reads every label of a file, with where each came from.
    pub(crate) fn read(
        &self,
        path: &Path,
        out: &mut Vec<Label>,
        origins: &mut Vec<Location>,
    ) -> anyhow::Result<()> {
        let reader = RecordReader::open(path)?;
        if self.wide.is_none() {
            // Long format: typed records (JSONL lines parsed straight into labels).
            for r in reader.typed_located::<Label>() {
                let (mut l, location) = r?;
                if !self.map.0.is_empty() {
                    l.label = self.map.apply(&l.label);
                }
                out.push(l);
                origins.push(location);
            }
            return Ok(());
        }
        for raw in reader {
            let raw = raw?;
            let location = raw.location.clone();
            let labels =
                match &self.wide {
                    None => vec![<Label as gavel_core::FromRecord>::from_record(raw).map_err(
                        |error| gavel_core::ReadError::Field {
                            location: location.clone(),
                            error,
                        },
                    )?],
                    Some(spec) => {
                        spec.labels(raw)
                            .map_err(|error| gavel_core::ReadError::Field {
                                location: location.clone(),
                                error,
                            })?
                    }
                };
            for mut l in labels {
                l.label = self.map.apply(&l.label);
                out.push(l);
                origins.push(location.clone());
            }
        }
        Ok(())
    }
}

impl LabelSource {
    /// Reads every label of a file into columns, values as written (the caller applies the
    /// `--map` rewrites once, to the columns' values: [`LabelColumns::map_values`]).
    pub(crate) fn read_columns(&self, path: &Path, cols: &mut LabelColumns) -> anyhow::Result<()> {
        let reader = RecordReader::open(path)?;
        let Some(spec) = &self.wide else {
            // Long format: JSONL scanned straight into the columns, other formats as labels.
            cols.read(reader)?;
            return Ok(());
        };
        for raw in reader {
            let raw = raw?;
            let location = raw.location.clone();
            let labels = spec
                .labels(raw)
                .map_err(|error| gavel_core::ReadError::Field {
                    location: location.clone(),
                    error,
                })?;
            for l in &labels {
                cols.push_label(l, &location)?;
            }
        }
        Ok(())
    }
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let args = *args.inner;
    let map = ValueMap::parse(&args.map)?;
    let source = LabelSource::new(args.wide, &args.item_column, args.columns.as_deref(), map);
    let mut cols = LabelColumns::default();
    for path in &args.data {
        source
            .read_columns(path, &mut cols)
            .with_context(|| format!("reading labels from {}", path.display()))?;
    }
    if cols.is_empty() {
        anyhow::bail!(
            "no labels in {}",
            args.data
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !source.map.0.is_empty() {
        cols.map_values(|v| source.map.apply(v));
    }
    let opts = AgreementOptions {
        level: args.level,
        categories: args.categories.clone(),
        duplicates: args.duplicates,
        single: args.single_label,
        bootstrap: BootstrapConfig {
            replicates: args.bootstrap,
            seed: args.seed,
            level: args.confidence,
        },
    };
    let thresholds = Thresholds {
        min_percent_agreement: args.min_agreement,
        min_fleiss_kappa: args.min_kappa,
        min_krippendorff_alpha: args.min_alpha,
        min_gwet_ac1: args.min_ac1,
        min_cohen_kappa: args.min_cohen,
        min_items: args.min_items,
    };
    let by = args.by.as_deref().map(|by| match by {
        "time" => DriftBy::Time {
            window_secs: args.window,
        },
        "round" => DriftBy::Round,
        _ => DriftBy::GuidelineVersion,
    });
    let result = agree_columns(&cols, &opts, by.as_ref(), &thresholds).map_err(|e| {
        match e.index().and_then(|i| cols.location(i)) {
            Some(loc) => anyhow::anyhow!("{loc}: {e}"),
            None => anyhow::anyhow!("{e}"),
        }
    })?;
    // The process ends with the command: the columns' memory is left to the operating system.
    std::mem::forget(cols);
    if let Some(d) = &result.drift
        && d.n_without_key > 0
    {
        warn(&format!(
            "{} label(s) have no `{}` and are left out of the windows",
            d.n_without_key, d.by
        ));
    }
    let passed = result.passed();
    let overall = &result.report;

    match args.format {
        OutputFormat::Json => print_json(&result)?,
        OutputFormat::Text => {
            print_text(&render(overall, result.drift.as_ref(), args.confidence))?;
            if let Some(g) = &result.gate {
                for f in &g.failed {
                    let scope = f
                        .window
                        .as_deref()
                        .map(|w| format!(" in window {w}"))
                        .unwrap_or_default();
                    warn(&format!(
                        "{} is {} (minimum {}){scope}",
                        f.flag.statistic,
                        fixed(f.flag.value, 4),
                        f.flag.min
                    ));
                }
            }
        }
    }
    for skip in result.gate.iter().flat_map(|g| &g.skipped) {
        let scope = skip
            .window
            .as_deref()
            .map_or("the whole data".to_string(), |w| format!("window {w}"));
        note(
            global.quiet,
            &format!(
                "gates not checked for {scope}: {} item(s) labelled twice or more, fewer than --min-items {}",
                skip.n_pairable_items, skip.min_items
            ),
        );
    }
    if !overall.null_reasons.is_empty() && args.format == OutputFormat::Text {
        for (k, v) in &overall.null_reasons {
            if !k.contains('[') {
                note(global.quiet, &format!("{k} is undefined: {v}"));
            }
        }
    }
    Ok(if passed {
        Outcome::Success
    } else {
        Outcome::GateFailed
    })
}

fn ci_text(ci: Option<Option<Interval>>) -> String {
    match ci {
        Some(Some(i)) => format!("[{:.4}, {:.4}]", i.lo, i.hi),
        Some(None) => "-".into(),
        None => String::new(),
    }
}

fn render(r: &AgreementReport, d: Option<&DriftReport>, confidence: f64) -> String {
    let mut out = format!(
        "{} items, {} annotators, {} labels ({} missing), level {}, categories: {}\n\n",
        r.n_items,
        r.n_annotators,
        r.n_labels,
        r.n_missing,
        r.level.as_str(),
        r.categories.join(", ")
    );
    let ci_head = format!("{:.0}% CI", confidence * 100.0);
    let mut t = Table::new(["statistic", "value", ci_head.as_str()]).right(&[1]);
    for (name, v, ci) in [
        (
            "percent agreement",
            r.percent_agreement,
            r.percent_agreement_ci,
        ),
        ("Fleiss' kappa", r.fleiss_kappa, r.fleiss_kappa_ci),
        (
            "Krippendorff's alpha",
            r.krippendorff_alpha,
            r.krippendorff_alpha_ci,
        ),
        ("Gwet's AC1", r.gwet_ac1, r.gwet_ac1_ci),
    ] {
        t.row([name.to_string(), fixed(v, 4), ci_text(ci)]);
    }
    out.push_str(&t.render());
    if !r.cohen_kappa.is_empty() {
        out.push('\n');
        let mut t = Table::new([
            "a",
            "b",
            "n",
            "agree",
            "kappa",
            "linear",
            "quadratic",
            ci_head.as_str(),
        ])
        .right(&[2, 3, 4, 5, 6]);
        for p in &r.cohen_kappa {
            t.row([
                p.a.clone(),
                p.b.clone(),
                p.n.to_string(),
                fixed(p.percent_agreement, 4),
                fixed(p.kappa, 4),
                fixed(p.weighted_linear, 4),
                fixed(p.weighted_quadratic, 4),
                ci_text(p.kappa_ci),
            ]);
        }
        out.push_str(&t.render());
    }
    if !r.annotators.is_empty() {
        out.push('\n');
        let mut t = Table::new([
            "annotator",
            "labels",
            "agreement with majority",
            "items compared",
        ])
        .right(&[1, 2, 3]);
        for a in &r.annotators {
            t.row([
                a.annotator.clone(),
                a.n.to_string(),
                fixed(a.agreement_with_majority, 4),
                a.n_compared.to_string(),
            ]);
        }
        out.push_str(&t.render());
    }
    if let Some(d) = d {
        out.push_str(&format!("\ndrift by {}\n", d.by));
        let mut t = Table::new([
            "window", "items", "labels", "agree", "fleiss", "alpha", "ac1", "flags",
        ])
        .right(&[1, 2, 3, 4, 5, 6]);
        for w in &d.windows {
            let flags = w
                .flags
                .iter()
                .map(|f| format!("{} < {}", f.statistic, f.min))
                .collect::<Vec<_>>()
                .join("; ");
            t.row([
                w.window.clone(),
                w.report.n_items.to_string(),
                w.report.n_labels.to_string(),
                fixed(w.report.percent_agreement, 3),
                fixed(w.report.fleiss_kappa, 3),
                fixed(w.report.krippendorff_alpha, 3),
                fixed(w.report.gwet_ac1, 3),
                flags,
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
    fn windows_parse() {
        use gavel_core::time::parse_window;
        assert_eq!(parse_window("7d"), Ok(7 * 86_400));
        assert_eq!(parse_window("12h"), Ok(12 * 3600));
        assert_eq!(parse_window("90"), Ok(90));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("3y").is_err());
    }

    #[test]
    fn value_maps() {
        let m = ValueMap::parse(&["1=A, 0=tie".into(), "garbage=null".into()]).unwrap();
        assert_eq!(
            m.apply(&LabelValue::Number(1.0)),
            LabelValue::Category("A".into())
        );
        assert_eq!(
            m.apply(&LabelValue::Category("garbage".into())),
            LabelValue::Missing
        );
        assert_eq!(
            m.apply(&LabelValue::Category("B".into())),
            LabelValue::Category("B".into())
        );
        assert!(ValueMap::parse(&["oops".into()]).is_err());
    }
}
