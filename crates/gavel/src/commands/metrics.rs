//! `gavel metrics`: reference metrics (BLEU, chrF, chrF++, TER, ROUGE, exact match, token F1)
//! of hypotheses against references, exact to sacrebleu, rouge-score and the SQuAD script.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use gavel_core::{Pair, RecordReader, RecordWriter};
use gavel_metrics::NumRefs;
use gavel_metrics::bleu::{Bleu, BleuOptions, BleuStats, Smoothing};
use gavel_metrics::chrf::{Chrf, ChrfOptions, ChrfStats};
use gavel_metrics::rouge::{RougeOptions, RougeScore, RougeScorer, RougeTokenizer, RougeType};
use gavel_metrics::squad;
use gavel_metrics::ter::{Ter, TerOptions, TerStats};
use gavel_metrics::tokenize::Tokenizer;
use gavel_run::scores::{bleu_json, number, ter_json};
use rayon::prelude::*;
use serde_json::{Map, Value, json};

use crate::output::{OutputFormat, Table, note, print_json, print_text};
use crate::{GlobalArgs, Outcome, UsageError};

/// Reference metrics of hypotheses against references: BLEU, chrF, chrF++ and TER equal to
/// sacrebleu 2.6.0, ROUGE-1/2/L/Lsum equal to rouge-score 0.1.2, exact match and token F1 as
/// the SQuAD evaluation script.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    // Boxed so that the command enum stays small.
    #[command(flatten)]
    inner: Box<MetricsArgs>,
}

/// The options of `gavel metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Pair records ({"id", "hypothesis", "references": [...]} or "reference": "..."): JSONL,
    /// JSON, CSV, TSV or Parquet by extension; `-` reads JSONL from stdin.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The metrics, comma-separated: bleu, chrf, chrf++, ter, rouge1, rouge2, rougeL,
    /// rougeLsum (or rouge3 ... rouge9), exact_match, token_f1.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "bleu,chrf,chrf++,ter,rouge1,rouge2,rougeL,rougeLsum,exact_match,token_f1"
    )]
    pub metrics: Vec<String>,
    /// BLEU tokenizer: 13a (WMT's standard), intl, char, zh or none.
    #[arg(long, default_value = "13a", value_name = "NAME", value_parser = parse_tokenizer)]
    pub tokenize: Tokenizer,
    /// BLEU: lower-case first.
    #[arg(long)]
    pub lowercase: bool,
    /// BLEU smoothing: exp, floor, add-k or none.
    #[arg(long, default_value = "exp", value_name = "METHOD", value_parser = parse_smoothing)]
    pub smooth_method: Smoothing,
    /// BLEU: the value for floor (default 0.1) and add-k (default 1) smoothing.
    #[arg(long, value_name = "X")]
    pub smooth_value: Option<f64>,
    /// Corpus BLEU over the n-gram orders the hypotheses have only (per-item BLEU always uses
    /// it, as sacrebleu's sentence-level scores do).
    #[arg(long)]
    pub effective_order: bool,
    /// chrF/chrF++: character n-gram order.
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub chrf_char_order: usize,
    /// chrF/chrF++: β (recall counts β times as much as precision).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub chrf_beta: u32,
    /// chrF/chrF++: lower-case first.
    #[arg(long)]
    pub chrf_lowercase: bool,
    /// chrF/chrF++: keep whitespace in character n-grams.
    #[arg(long)]
    pub chrf_whitespace: bool,
    /// chrF/chrF++: epsilon smoothing (chrF++.py, NLTK, Moses) instead of effective order.
    #[arg(long)]
    pub chrf_eps_smoothing: bool,
    /// TER: keep case.
    #[arg(long)]
    pub ter_case_sensitive: bool,
    /// TER: Tercom's normalization (entities, punctuation tokenization).
    #[arg(long)]
    pub ter_normalized: bool,
    /// TER: remove punctuation.
    #[arg(long)]
    pub ter_no_punct: bool,
    /// TER: split CJK characters (with --ter-normalized), drop CJK punctuation (with
    /// --ter-no-punct).
    #[arg(long)]
    pub ter_asian_support: bool,
    /// ROUGE without rouge-score's Porter stemmer (it is on by default, as in most published
    /// ROUGE figures).
    #[arg(long)]
    pub no_stemmer: bool,
    /// ROUGE tokenizer: `default` (rouge-score's: ASCII letters and digits only, so text in
    /// other scripts scores 0) or `unicode` (any script; CJK one token per character).
    #[arg(long, default_value = "default", value_name = "NAME", value_parser = parse_rouge_tokenizer)]
    pub rouge_tokenizer: RougeTokenizer,
    /// Also write sentence-level values per pair to this file (JSONL, JSON, CSV, TSV or
    /// Parquet by extension); it appears only once complete.
    #[arg(long, value_name = "FILE")]
    pub per_item: Option<PathBuf>,
    /// Worker threads (default: all cores; 1 computes on the main thread). Results do not
    /// depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Output: a table or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

const AFTER_HELP: &str = "\
Examples:
  gavel metrics --data pairs.jsonl
  gavel metrics --data pairs.jsonl --metrics bleu,chrf,rougeL --format json
  gavel metrics --data pairs.csv --tokenize intl --per-item scores.jsonl
  gavel metrics --data ko.jsonl --metrics rouge1,rougeL --rouge-tokenizer unicode
  cat pairs.jsonl | gavel metrics --data - --threads 1

Input: Pair records {\"id\": \"s1\", \"hypothesis\": \"...\", \"references\": [\"...\", \"...\"]}
(\"reference\": \"...\" for one; id optional). Pairs may have different numbers of references.

BLEU, chrF, chrF++ and TER are corpus-level, on sacrebleu's 0-100 scale, with sacrebleu's
signatures. ROUGE is the mean over pairs of rouge-score's per-pair scores (best reference by
F-measure), 0-1. exact_match and token_f1 are SQuAD's (best reference per pair), mean 0-100.
--per-item writes per pair: sentence BLEU (effective order), chrF, chrF++, TER, ROUGE
precision/recall/F-measure, exact match and token F1.";

fn parse_tokenizer(s: &str) -> Result<Tokenizer, String> {
    s.parse()
        .map_err(|e: gavel_metrics::tokenize::ParseTokenizerError| e.to_string())
}

fn parse_smoothing(s: &str) -> Result<Smoothing, String> {
    s.parse()
        .map_err(|e: gavel_metrics::bleu::ParseSmoothingError| e.to_string())
}

fn parse_rouge_tokenizer(s: &str) -> Result<RougeTokenizer, String> {
    match s {
        "default" => Ok(RougeTokenizer::Default),
        "unicode" => Ok(RougeTokenizer::Unicode),
        _ => Err("expected default or unicode".into()),
    }
}

/// One requested metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Bleu,
    Chrf,
    ChrfPlusPlus,
    Ter,
    Rouge(RougeType),
    ExactMatch,
    TokenF1,
}

impl Metric {
    fn parse(name: &str) -> Result<Metric, UsageError> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "bleu" => Metric::Bleu,
            "chrf" => Metric::Chrf,
            "chrf++" | "chrfpp" => Metric::ChrfPlusPlus,
            "ter" => Metric::Ter,
            "exact_match" | "em" => Metric::ExactMatch,
            "token_f1" | "f1" => Metric::TokenF1,
            "rougel" => Metric::Rouge(RougeType::RougeL),
            "rougelsum" => Metric::Rouge(RougeType::RougeLsum),
            _ => match lower.parse::<RougeType>() {
                Ok(t) => Metric::Rouge(t),
                Err(_) => {
                    return Err(UsageError(format!(
                        "--metrics: unknown metric `{}`; expected bleu, chrf, chrf++, ter, \
                         rouge1, rouge2, rougeL, rougeLsum, exact_match or token_f1",
                        name.trim()
                    )));
                }
            },
        })
    }

    fn key(self) -> String {
        match self {
            Metric::Bleu => "bleu".into(),
            Metric::Chrf => "chrf".into(),
            Metric::ChrfPlusPlus => "chrf++".into(),
            Metric::Ter => "ter".into(),
            Metric::Rouge(t) => t.name(),
            Metric::ExactMatch => "exact_match".into(),
            Metric::TokenF1 => "token_f1".into(),
        }
    }
}

/// Everything that scores one pair; shared by the worker threads.
struct Scorers {
    metrics: Vec<Metric>,
    bleu: Option<Bleu>,
    /// Per-item BLEU: the same statistics scored with effective order.
    bleu_sentence: Option<Bleu>,
    chrf: Option<Chrf>,
    chrf_pp: Option<Chrf>,
    ter: Option<Ter>,
    rouge: Option<RougeScorer>,
    exact_match: bool,
    token_f1: bool,
}

/// What one pair contributes.
#[derive(Default)]
struct PairScores {
    bleu: Option<BleuStats>,
    chrf: Option<ChrfStats>,
    chrf_pp: Option<ChrfStats>,
    ter: Option<TerStats>,
    rouge: Vec<RougeScore>,
    exact_match: f64,
    token_f1: f64,
}

impl Scorers {
    fn new(args: &MetricsArgs) -> anyhow::Result<Scorers> {
        let mut metrics: Vec<Metric> = Vec::new();
        for name in args.metrics.iter().filter(|n| !n.trim().is_empty()) {
            let m = Metric::parse(name)?;
            if !metrics.contains(&m) {
                metrics.push(m);
            }
        }
        if metrics.is_empty() {
            return Err(UsageError("--metrics: name at least one metric".into()).into());
        }
        let has = |m: Metric| metrics.contains(&m);
        let bleu_options = BleuOptions {
            lowercase: args.lowercase,
            tokenizer: args.tokenize,
            smoothing: args.smooth_method,
            smooth_value: args.smooth_value,
            max_ngram_order: 4,
            effective_order: args.effective_order,
        };
        if args.smooth_value.is_some()
            && !matches!(args.smooth_method, Smoothing::Floor | Smoothing::AddK)
        {
            return Err(UsageError(
                "--smooth-value applies to --smooth-method floor or add-k only".into(),
            )
            .into());
        }
        let (bleu, bleu_sentence) = if has(Metric::Bleu) {
            let corpus = Bleu::new(bleu_options).map_err(|e| UsageError(e.to_string()))?;
            let sentence = Bleu::new(BleuOptions {
                effective_order: true,
                ..bleu_options
            })
            .map_err(|e| UsageError(e.to_string()))?;
            (Some(corpus), Some(sentence))
        } else {
            (None, None)
        };
        let chrf_options = |word_order| ChrfOptions {
            char_order: args.chrf_char_order,
            word_order,
            beta: args.chrf_beta,
            lowercase: args.chrf_lowercase,
            whitespace: args.chrf_whitespace,
            eps_smoothing: args.chrf_eps_smoothing,
        };
        let chrf_of = |word_order| -> anyhow::Result<Chrf> {
            Chrf::new(chrf_options(word_order)).map_err(|e| UsageError(e.to_string()).into())
        };
        let chrf = has(Metric::Chrf).then(|| chrf_of(0)).transpose()?;
        let chrf_pp = has(Metric::ChrfPlusPlus).then(|| chrf_of(2)).transpose()?;
        let ter = has(Metric::Ter).then(|| {
            Ter::new(TerOptions {
                normalized: args.ter_normalized,
                no_punct: args.ter_no_punct,
                asian_support: args.ter_asian_support,
                case_sensitive: args.ter_case_sensitive,
            })
        });
        let rouge_types: Vec<RougeType> = metrics
            .iter()
            .filter_map(|m| match m {
                Metric::Rouge(t) => Some(*t),
                _ => None,
            })
            .collect();
        let rouge = (!rouge_types.is_empty()).then(|| {
            RougeScorer::new(
                &rouge_types,
                RougeOptions {
                    use_stemmer: !args.no_stemmer,
                    tokenizer: args.rouge_tokenizer,
                    split_summaries: false,
                },
            )
        });
        Ok(Scorers {
            exact_match: has(Metric::ExactMatch),
            token_f1: has(Metric::TokenF1),
            metrics,
            bleu,
            bleu_sentence,
            chrf,
            chrf_pp,
            ter,
            rouge,
        })
    }

    fn score(&self, pair: &Pair) -> PairScores {
        let (h, refs) = (pair.hypothesis.as_str(), pair.references.as_slice());
        PairScores {
            bleu: self.bleu.as_ref().map(|b| b.segment_stats(h, refs)),
            chrf: self.chrf.as_ref().map(|c| c.segment_stats(h, refs)),
            chrf_pp: self.chrf_pp.as_ref().map(|c| c.segment_stats(h, refs)),
            ter: self.ter.as_ref().map(|t| t.segment_stats(h, refs)),
            rouge: self
                .rouge
                .as_ref()
                .map(|r| r.score_multi(refs, h))
                .unwrap_or_default(),
            exact_match: if self.exact_match {
                squad::exact_match(h, refs)
            } else {
                0.0
            },
            token_f1: if self.token_f1 {
                squad::token_f1(h, refs)
            } else {
                0.0
            },
        }
    }

    /// The per-item record of one pair: its id, its other fields, then its values.
    fn item_record(&self, pair: &Pair, s: &PairScores) -> Map<String, Value> {
        let mut rec = Map::new();
        rec.insert("id".into(), Value::String(pair.id.clone()));
        for (k, v) in &pair.extra {
            rec.insert(k.clone(), v.clone());
        }
        let nrefs = NumRefs::Fixed(pair.references.len());
        let mut rouge = s.rouge.iter();
        for m in &self.metrics {
            let value = match m {
                Metric::Bleu => match (&self.bleu_sentence, &s.bleu) {
                    (Some(b), Some(st)) => number(b.score_stats(st, nrefs).score),
                    _ => Value::Null,
                },
                Metric::Chrf => match (&self.chrf, &s.chrf) {
                    (Some(c), Some(st)) => number(c.score_stats(st, nrefs).score),
                    _ => Value::Null,
                },
                Metric::ChrfPlusPlus => match (&self.chrf_pp, &s.chrf_pp) {
                    (Some(c), Some(st)) => number(c.score_stats(st, nrefs).score),
                    _ => Value::Null,
                },
                Metric::Ter => match (&self.ter, &s.ter) {
                    (Some(t), Some(st)) => number(t.score_stats(st, nrefs).score),
                    _ => Value::Null,
                },
                Metric::Rouge(_) => rouge.next().map(|r| rouge_json(*r)).unwrap_or(Value::Null),
                Metric::ExactMatch => number(100.0 * s.exact_match),
                Metric::TokenF1 => number(100.0 * s.token_f1),
            };
            rec.insert(m.key(), value);
        }
        rec
    }
}

fn rouge_json(s: RougeScore) -> Value {
    json!({"precision": number(s.precision), "recall": number(s.recall),
           "fmeasure": number(s.fmeasure)})
}

/// The corpus totals, added up in file order (so that floating-point sums do not depend on
/// the thread count).
#[derive(Default)]
struct Totals {
    n: u64,
    nrefs: Option<NumRefs>,
    bleu: BleuStats,
    chrf: ChrfStats,
    chrf_pp: ChrfStats,
    ter: TerStats,
    rouge: Vec<RougeScore>,
    exact_match: f64,
    token_f1: f64,
}

impl Totals {
    fn add(&mut self, pair: &Pair, s: &PairScores) {
        self.n += 1;
        let here = NumRefs::Fixed(pair.references.len());
        self.nrefs = Some(self.nrefs.map_or(here, |n| n.merge(here)));
        if let Some(b) = &s.bleu {
            self.bleu.add(b);
        }
        if let Some(c) = &s.chrf {
            self.chrf.add(c);
        }
        if let Some(c) = &s.chrf_pp {
            self.chrf_pp.add(c);
        }
        if let Some(t) = &s.ter {
            self.ter.add(t);
        }
        if self.rouge.len() < s.rouge.len() {
            self.rouge.resize(s.rouge.len(), RougeScore::default());
        }
        for (t, r) in self.rouge.iter_mut().zip(&s.rouge) {
            t.precision += r.precision;
            t.recall += r.recall;
            t.fmeasure += r.fmeasure;
        }
        self.exact_match += s.exact_match;
        self.token_f1 += s.token_f1;
    }
}

/// Corpus results: the JSON document and the table rows.
struct Report {
    json: Map<String, Value>,
    rows: Vec<[String; 3]>,
    signatures: Vec<(String, String)>,
}

fn report(scorers: &Scorers, totals: &Totals) -> Report {
    let nrefs = totals.nrefs.unwrap_or(NumRefs::Fixed(0));
    let n = totals.n as f64;
    let mut json = Map::new();
    json.insert("n".into(), json!(totals.n));
    let mut rows = Vec::new();
    let mut signatures = Vec::new();
    let mut rouge_index = 0;
    for m in &scorers.metrics {
        let key = m.key();
        let value = match m {
            Metric::Bleu => {
                let Some(b) = &scorers.bleu else { continue };
                let s = b.score_stats(&totals.bleu, nrefs);
                let sig = b.signature(nrefs, false);
                let prec: Vec<String> = s.precisions.iter().map(|p| format!("{p:.1}")).collect();
                rows.push([
                    key.clone(),
                    format!("{:.2}", s.score),
                    format!(
                        "{} (BP {:.3}, ratio {:.3}, hyp_len {}, ref_len {})",
                        prec.join("/"),
                        s.bp,
                        s.ratio,
                        s.sys_len,
                        s.ref_len
                    ),
                ]);
                signatures.push(("BLEU".to_string(), sig.clone()));
                bleu_json(&s, sig)
            }
            Metric::Chrf | Metric::ChrfPlusPlus => {
                let (c, stats) = if *m == Metric::Chrf {
                    (&scorers.chrf, &totals.chrf)
                } else {
                    (&scorers.chrf_pp, &totals.chrf_pp)
                };
                let Some(c) = c else { continue };
                let s = c.score_stats(stats, nrefs);
                let sig = c.signature(nrefs, false);
                rows.push([key.clone(), format!("{:.2}", s.score), String::new()]);
                signatures.push((c.name(), sig.clone()));
                json!({"score": number(s.score), "signature": sig})
            }
            Metric::Ter => {
                let Some(t) = &scorers.ter else { continue };
                let s = t.score_stats(&totals.ter, nrefs);
                let sig = t.signature(nrefs, false);
                rows.push([
                    key.clone(),
                    format!("{:.2}", s.score),
                    format!("{} edits, {:.1} reference words", s.num_edits, s.ref_length),
                ]);
                signatures.push(("TER".to_string(), sig.clone()));
                ter_json(&s, sig)
            }
            Metric::Rouge(_) => {
                let sum = totals.rouge.get(rouge_index).copied().unwrap_or_default();
                rouge_index += 1;
                let mean = RougeScore {
                    precision: sum.precision / n,
                    recall: sum.recall / n,
                    fmeasure: sum.fmeasure / n,
                };
                rows.push([
                    key.clone(),
                    format!("{:.4}", mean.fmeasure),
                    format!("P {:.4}  R {:.4}", mean.precision, mean.recall),
                ]);
                rouge_json(mean)
            }
            Metric::ExactMatch | Metric::TokenF1 => {
                let sum = if *m == Metric::ExactMatch {
                    totals.exact_match
                } else {
                    totals.token_f1
                };
                let score = 100.0 * sum / n;
                rows.push([key.clone(), format!("{score:.2}"), String::new()]);
                json!({"score": number(score)})
            }
        };
        json.insert(key, value);
    }
    Report {
        json,
        rows,
        signatures,
    }
}

/// Pairs scored per batch: bounds memory, and lets the threads share the work.
const BATCH: usize = 4096;

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let args = *args.inner;
    if args.threads == Some(0) {
        return Err(UsageError("--threads must be at least 1".into()).into());
    }
    let scorers = Scorers::new(&args)?;
    let pool = match args.threads {
        Some(1) => None,
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .context("cannot start the worker threads")?,
        ),
        None => Some(
            rayon::ThreadPoolBuilder::new()
                .build()
                .context("cannot start the worker threads")?,
        ),
    };
    let started = Instant::now();
    let totals = score_file(&args, &scorers, pool.as_ref(), global)?;
    if totals.n == 0 {
        anyhow::bail!(
            "{}: no pairs in the input: nothing to score",
            display(&args.data)
        );
    }
    let report = report(&scorers, &totals);
    note(
        global.quiet || args.format == OutputFormat::Json,
        &format!(
            "scored {} pairs in {:.2} s",
            totals.n,
            started.elapsed().as_secs_f64()
        ),
    );
    match args.format {
        OutputFormat::Json => print_json(&Value::Object(report.json))?,
        OutputFormat::Text => {
            let mut table = Table::new(["metric", "score", "details"]).right(&[1]);
            for row in &report.rows {
                table.row(row.iter().cloned());
            }
            let mut text = format!("{} pairs\n\n{}", totals.n, table.render());
            if !report.signatures.is_empty() {
                text.push_str("\nsacrebleu signatures:\n");
                for (name, sig) in &report.signatures {
                    text.push_str(&format!("  {name}: {sig}\n"));
                }
            }
            print_text(&text)?;
        }
    }
    Ok(Outcome::Success)
}

fn display(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Reads the pairs batch by batch, scores each batch (in parallel when a pool is given),
/// adds the results up in file order and writes the per-item file.
fn score_file(
    args: &MetricsArgs,
    scorers: &Scorers,
    pool: Option<&rayon::ThreadPool>,
    global: &GlobalArgs,
) -> anyhow::Result<Totals> {
    let mut pairs = RecordReader::open(&args.data)?.typed::<Pair>();
    let mut writer = match &args.per_item {
        Some(path) => Some(RecordWriter::create(path)?),
        None => None,
    };
    let spinner = crate::progress::spinner("scoring pairs", global.quiet);
    let mut totals = Totals::default();
    let mut batch: Vec<Pair> = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        for pair in pairs.by_ref().take(BATCH) {
            batch.push(pair?);
        }
        if batch.is_empty() {
            break;
        }
        let scores: Vec<PairScores> = match pool {
            Some(pool) => pool.install(|| batch.par_iter().map(|p| scorers.score(p)).collect()),
            None => batch.iter().map(|p| scorers.score(p)).collect(),
        };
        for (pair, s) in batch.iter().zip(&scores) {
            totals.add(pair, s);
            if let Some(w) = writer.as_mut() {
                w.write(&scorers.item_record(pair, s))?;
            }
        }
        spinner.inc(batch.len() as u64);
    }
    spinner.finish_and_clear();
    if totals.n == 0 {
        // Nothing to score: no per-item file appears (the writer is dropped uncommitted).
        return Ok(totals);
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(totals)
}
