//! The ranking report: everything `gavel rank` computes, from records already read.
//!
//! This is the one code path behind `gavel rank` and the ranking stage of `gavel run`: the CLI
//! reads files and renders; this module turns [`Battle`] and pairwise [`Label`] records into a
//! [`RankReport`], whose JSON is what `gavel rank --format json` prints.
//!
//! ```
//! use gavel_core::{Label, LabelValue};
//! use gavel_stats::rank::report::{RankInput, RankOptions, report};
//!
//! let label = |item: &str, a: &str, b: &str, v: &str| Label {
//!     item: item.into(),
//!     annotator: "alice".into(),
//!     label: LabelValue::Category(v.into()),
//!     model_a: Some(a.into()),
//!     model_b: Some(b.into()),
//!     model: None,
//!     time: None,
//!     round: None,
//!     guideline_version: None,
//!     extra: Default::default(),
//! };
//! let options = RankOptions { bootstrap: 100, ..RankOptions::default() };
//! let mut input = RankInput::new(&options);
//! for (i, v) in ["A", "A", "B", "tie", "A"].iter().enumerate() {
//!     input.push_label(label(&i.to_string(), "x", "y", v)).unwrap();
//! }
//! let r = report(&input, &options).unwrap();
//! assert_eq!(r.models[0].model, "x");
//! assert_eq!(r.models[0].wins, 3);
//! let json = serde_json::to_value(&r).unwrap();
//! assert_eq!(json["method"], "bt");
//! ```
//!
//! Steps, in order: filters (category, judge) and missing labels while reading; optional
//! majority vote per item and pair; the comparison graph must be connected (except for win
//! rates against a baseline); ratings by the chosen method with bootstrap percentile intervals
//! (the length-controlled win rate has a delta-method interval instead); ranks that respect
//! the intervals; head-to-head comparisons with the sign test; the pick-best verdict;
//! prediction-powered human win rates per model pair.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gavel_core::{Battle, FieldError, Item, Label, LabelValue, Winner};
use serde::Serialize;
use serde_json::{Map, Value};

use super::bootstrap::{self, Replicates};
use super::{Battles, Outcome, PairCounts, RankError, bt, dist, elo, lc, significance, winrate};
use crate::ppi;

// ---------------------------------------------------------------------------------------------
// Options

/// How to rate models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Bradley-Terry maximum likelihood ([`bt`]).
    #[default]
    Bt,
    /// Online Elo ([`elo`]).
    Elo,
    /// Win rate: mean over opponents, or against the baseline ([`winrate`], [`lc`]).
    Winrate,
}

impl Method {
    /// The name used in the report (`bt`, `elo`, `winrate`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Bt => "bt",
            Method::Elo => "elo",
            Method::Winrate => "winrate",
        }
    }
}

/// The order in which Elo replays battles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EloOrder {
    /// The order the comparisons were pushed in.
    #[default]
    Given,
    /// A random order drawn from the seed.
    Shuffled,
}

/// How labels become battles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vote {
    /// Every label or battle counts.
    #[default]
    Each,
    /// One battle per item and model pair: the most frequent verdict (a tie when tied).
    Majority,
}

/// Everything that shapes a ranking report (the options of `gavel rank`).
#[derive(Debug, Clone, PartialEq)]
pub struct RankOptions {
    /// How to rate models.
    pub method: Method,
    /// A baseline model: every model's win rate against it (AlpacaEval style); with
    /// [`Method::Winrate`] it is the rating.
    pub baseline: Option<String>,
    /// With [`Method::Winrate`] and a baseline: rate by AlpacaEval 2's length-controlled win rate.
    pub length_controlled: bool,
    /// Bootstrap rounds for the intervals (0: no intervals).
    pub bootstrap: usize,
    /// Seed of the bootstrap and of [`EloOrder::Shuffled`].
    pub seed: u64,
    /// Shift ratings so that this model has this rating (Bradley-Terry and Elo).
    pub anchor: Option<(String, f64)>,
    /// Elo step size K.
    pub k: f64,
    /// Order in which Elo replays battles.
    pub elo_order: EloOrder,
    /// Rating points per factor of `base` in the odds (Bradley-Terry and Elo).
    pub scale: f64,
    /// Odds base of the rating scale.
    pub base: f64,
    /// Mean rating of Bradley-Terry and starting rating of Elo.
    pub init: f64,
    /// Keep only comparisons whose `category` is one of these (empty: all).
    pub categories: Vec<String>,
    /// Keep only comparisons by these annotators or judges (empty: all); not applied to human
    /// labels.
    pub judges: Vec<String>,
    /// Count every label as a battle, or one majority verdict per item and pair.
    pub vote: Vote,
    /// Pairs of models to compare: predicted win probability and a sign test.
    pub compare: Vec<(String, String)>,
    /// Pick the best model: its margin over the runner-up and whether it is significant.
    pub pick_best: bool,
    /// Weight of the judge labels in the prediction-powered estimates.
    pub ppi_lambda: ppi::Lambda,
    /// Error level of intervals and tests (0.05: 95% intervals).
    pub alpha: f64,
    /// Include the pairwise win-rate matrix.
    pub matrix: bool,
}

impl Default for RankOptions {
    /// The defaults of `gavel rank`: Bradley-Terry, 1,000 bootstrap rounds, seed 0, Chatbot
    /// Arena's scale (400, base 10, mean 1000), Elo K 4, 95% intervals, tuned PPI++ weight.
    fn default() -> RankOptions {
        RankOptions {
            method: Method::Bt,
            baseline: None,
            length_controlled: false,
            bootstrap: 1000,
            seed: 0,
            anchor: None,
            k: 4.0,
            elo_order: EloOrder::Given,
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
            categories: Vec::new(),
            judges: Vec::new(),
            vote: Vote::Each,
            compare: Vec::new(),
            pick_best: false,
            ppi_lambda: ppi::Lambda::Tuned,
            alpha: 0.05,
            matrix: false,
        }
    }
}

impl RankOptions {
    /// Checks the options that do not depend on the data.
    pub fn validate(&self) -> Result<(), RankReportError> {
        let bad = |m: String| Err(RankReportError::InvalidOption(m));
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad(format!("alpha must be between 0 and 1, not {}", self.alpha));
        }
        if self.anchor.is_some() && self.method == Method::Winrate {
            return bad("an anchor applies to Bradley-Terry and Elo, not to win rates".into());
        }
        if let Some((_, r)) = &self.anchor
            && !r.is_finite()
        {
            return bad(format!("the anchor rating {r} is not a number"));
        }
        if let Some((a, _)) = self.compare.iter().find(|(a, b)| a == b) {
            return bad(format!("{a:?} is compared with itself"));
        }
        if let ppi::Lambda::Fixed(l) = self.ppi_lambda
            && !(0.0..=1.0).contains(&l)
        {
            return bad(format!("the PPI weight must be in [0, 1], not {l}"));
        }
        if self.length_controlled && (self.method != Method::Winrate || self.baseline.is_none()) {
            return bad(
                "the length-controlled win rate needs the winrate method and a baseline".into(),
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a ranking report could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RankReportError {
    /// An option out of its domain (see [`RankOptions::validate`]).
    #[error("{0}")]
    InvalidOption(String),
    /// A record that is not a usable comparison (the caller adds the file and line).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// No comparison is left after the filters.
    #[error(
        "there are no comparisons to rank{}",
        if *.filtered > 0 { format!(" ({} records were left out by --category/--judge)", .filtered) } else { String::new() }
    )]
    NoComparisons {
        /// Records left out by the category and judge filters.
        filtered: u64,
    },
    /// A model named by an option (`baseline`, `anchor`, `compare`) that the data do not have.
    #[error("{option} `{model}`")]
    NamedModel {
        /// The option: `baseline`, `anchor` or `compare`.
        option: &'static str,
        /// The model named.
        model: String,
        /// Why it cannot be used ([`RankError::UnknownModel`]).
        #[source]
        source: RankError,
    },
    /// Human labels were expected ([`RankInput::expect_human_labels`]) but none were given.
    #[error("the human label files hold no pairwise labels")]
    NoHumanLabels,
    /// A human label that names no item cannot be matched with the judge labels.
    #[error(
        "a human label for {model_a} vs {model_b} names no item, so it cannot be matched with judge labels"
    )]
    HumanWithoutItem {
        /// Model A of the label.
        model_a: String,
        /// Model B of the label.
        model_b: String,
    },
    /// The statistics refused the data (disconnected graph, separated models, ...).
    #[error(transparent)]
    Rank(#[from] RankError),
}

// ---------------------------------------------------------------------------------------------
// Input

/// One comparison as read from a battle or a pairwise label, before interning.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Model A.
    pub model_a: String,
    /// Model B.
    pub model_b: String,
    /// The outcome from A's side; `None` for a missing (null) label.
    pub outcome: Option<Outcome>,
    /// The item (`item` of a label; `question_id` or `item` of a battle).
    pub item: Option<String>,
    /// Output lengths of A's and B's responses, where the record gives them.
    pub lengths: Option<(f64, f64)>,
    /// The record's `category`.
    pub category: Option<String>,
    /// The annotator of a label, or the `judge` field of a battle.
    pub judge: Option<String>,
    /// Whether it came from a Label (true) or a Battle (false).
    pub is_label: bool,
}

impl Comparison {
    /// A battle as a comparison: the item from `question_id` (or `item`), the judge from
    /// `judge`, lengths from `length_a`/`length_b` or `response_a`/`response_b`.
    pub fn from_battle(b: Battle) -> Result<Comparison, FieldError> {
        let outcome = Some(match b.winner {
            Winner::ModelA => Outcome::WinA,
            Winner::ModelB => Outcome::WinB,
            Winner::Tie | Winner::TieBothBad => Outcome::Tie,
        });
        let item = text_field(&b.extra, "question_id").or_else(|| text_field(&b.extra, "item"));
        let judge = text_field(&b.extra, "judge");
        Comparison::finish(b.model_a, b.model_b, outcome, &b.extra, item, judge, false)
    }

    /// A pairwise label as a comparison. Labels are "A", "B" or "tie" (also, in any case,
    /// "model_a", "model_b", "draw", "tie (bothbad)"); null is a missing label; numbers are
    /// refused, since datasets disagree on what 0/1/2 mean.
    pub fn from_label(l: Label) -> Result<Comparison, FieldError> {
        let (Some(a), Some(b)) = (l.model_a, l.model_b) else {
            return Err(FieldError::new(
                "model_a",
                "ranking needs pairwise labels with `model_a` and `model_b`",
            ));
        };
        let outcome = pairwise_outcome(&l.label)?;
        Comparison::finish(
            a,
            b,
            outcome,
            &l.extra,
            Some(l.item),
            Some(l.annotator),
            true,
        )
    }

    fn finish(
        model_a: String,
        model_b: String,
        outcome: Option<Outcome>,
        extra: &Map<String, Value>,
        item: Option<String>,
        judge: Option<String>,
        is_label: bool,
    ) -> Result<Comparison, FieldError> {
        if model_a.is_empty() || model_b.is_empty() {
            let field = if model_a.is_empty() {
                "model_a"
            } else {
                "model_b"
            };
            return Err(FieldError::new(field, "is empty"));
        }
        if model_a == model_b {
            return Err(FieldError::new(
                "model_b",
                format!(
                    "is the same model as `model_a` ({model_a:?}); a model cannot battle itself"
                ),
            ));
        }
        let lengths = lengths_of(extra)?;
        let category = text_field(extra, "category");
        Ok(Comparison {
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
}

/// Maps a pairwise label to an outcome; `None` for a missing label.
pub fn pairwise_outcome(value: &LabelValue) -> Result<Option<Outcome>, FieldError> {
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

/// A human comparison unit: (item, first model, second model) in name order.
type UnitKey = (String, String, String);
/// Units with the first model's score, per model pair in name order.
type UnitsByPair = BTreeMap<(String, String), Vec<(UnitKey, f64)>>;

fn unit(item: &str, a: &str, b: &str, score_a: f64) -> (UnitKey, f64) {
    if a <= b {
        ((item.to_string(), a.to_string(), b.to_string()), score_a)
    } else {
        (
            (item.to_string(), b.to_string(), a.to_string()),
            1.0 - score_a,
        )
    }
}

/// The records of one ranking, gathered as they are read (so a million battles are kept as
/// interned indices, not strings). Filters of the options are applied on the way in.
#[derive(Debug, Clone, Default)]
pub struct RankInput {
    categories: Vec<String>,
    judges: Vec<String>,
    files: Vec<String>,
    battles: Battles,
    /// (model_a length, model_b length) per battle, where known.
    lengths: Vec<Option<(f64, f64)>>,
    n_labels: u64,
    n_battle_records: u64,
    skipped_missing: u64,
    skipped_filtered: u64,
    human: Option<UnitsByPair>,
    item_lengths: HashMap<(String, String), f64>,
}

impl RankInput {
    /// An empty input that applies the category and judge filters of `options`.
    pub fn new(options: &RankOptions) -> RankInput {
        RankInput {
            categories: options.categories.clone(),
            judges: options.judges.clone(),
            ..RankInput::default()
        }
    }

    /// Records a source name for the report's `input.files`.
    pub fn add_file(&mut self, name: impl Into<String>) {
        self.files.push(name.into());
    }

    /// Adds a comparison to rank. Records outside the filters and missing labels are counted
    /// and left out.
    pub fn push(&mut self, c: Comparison) -> Result<(), RankError> {
        let category_ok = self.categories.is_empty()
            || c.category
                .as_ref()
                .is_some_and(|x| self.categories.contains(x));
        let judge_ok =
            self.judges.is_empty() || c.judge.as_ref().is_some_and(|j| self.judges.contains(j));
        if !(category_ok && judge_ok) {
            self.skipped_filtered += 1;
            return Ok(());
        }
        let Some(outcome) = c.outcome else {
            self.skipped_missing += 1;
            return Ok(());
        };
        if c.is_label {
            self.n_labels += 1;
        } else {
            self.n_battle_records += 1;
        }
        self.battles
            .push(&c.model_a, &c.model_b, outcome, c.item.as_deref())?;
        self.lengths.push(c.lengths);
        Ok(())
    }

    /// Adds a battle record (see [`Comparison::from_battle`]).
    pub fn push_battle(&mut self, b: Battle) -> Result<(), RankReportError> {
        Ok(self.push(Comparison::from_battle(b)?)?)
    }

    /// Adds a pairwise label (see [`Comparison::from_label`]).
    pub fn push_label(&mut self, l: Label) -> Result<(), RankReportError> {
        Ok(self.push(Comparison::from_label(l)?)?)
    }

    /// Declares that human labels are given: the report then has a `human_corrected` section
    /// (prediction-powered human win rates from the judge comparisons and these), and having
    /// none at all is an error.
    pub fn expect_human_labels(&mut self) {
        self.human.get_or_insert_with(BTreeMap::new);
    }

    /// Adds a human comparison (for the prediction-powered estimates). The category filter
    /// applies, the judge filter does not; missing labels are skipped; it must name an item.
    pub fn push_human(&mut self, c: Comparison) -> Result<(), RankReportError> {
        let human = self.human.get_or_insert_with(BTreeMap::new);
        if !(self.categories.is_empty()
            || c.category
                .as_ref()
                .is_some_and(|x| self.categories.contains(x)))
        {
            return Ok(());
        }
        let Some(outcome) = c.outcome else {
            return Ok(());
        };
        let item = c.item.ok_or_else(|| RankReportError::HumanWithoutItem {
            model_a: c.model_a.clone(),
            model_b: c.model_b.clone(),
        })?;
        let (k, s) = unit(&item, &c.model_a, &c.model_b, outcome.score_a());
        human
            .entry((k.1.clone(), k.2.clone()))
            .or_default()
            .push((k, s));
        Ok(())
    }

    /// Output lengths from an Item's responses (characters, summed over turns), used for the
    /// length-controlled win rate where comparisons carry no lengths of their own.
    pub fn push_item(&mut self, item: &Item) {
        for (model, content) in &item.responses {
            let len: usize = (0..content.n_turns())
                .filter_map(|t| content.turn(t))
                .map(|s| s.chars().count())
                .sum();
            self.item_lengths
                .insert((item.id.clone(), model.clone()), len as f64);
        }
    }

    /// The comparisons kept so far.
    pub fn battles(&self) -> &Battles {
        &self.battles
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// A ranking report; its JSON is the output of `gavel rank --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct RankReport {
    /// `bt`, `elo` or `winrate`.
    pub method: &'static str,
    /// What `rating` means, in words.
    pub rating: String,
    /// Models with at least one comparison.
    pub n_models: usize,
    /// Comparisons ranked (after filters and votes).
    pub n_battles: usize,
    /// What was read.
    pub input: InputSummary,
    /// The rating scale (Bradley-Terry and Elo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleInfo>,
    /// Elo settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elo: Option<EloInfo>,
    /// The baseline model, if any.
    pub baseline: Option<String>,
    /// The bootstrap, when intervals come from one.
    pub bootstrap: Option<BootstrapInfo>,
    /// Confidence level of the intervals (1 - alpha).
    pub confidence: f64,
    /// The leaderboard, from the highest rating down (unrated last, then by name).
    pub models: Vec<ModelRow>,
    /// The pairwise win-rate matrix, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub win_rate_matrix: Option<MatrixOut>,
    /// Requested head-to-head comparisons.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<ComparisonOut>,
    /// The pick-best verdict, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pick_best: Option<PickBest>,
    /// Prediction-powered human win rates, when human labels were given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub human_corrected: Vec<HumanCorrected>,
    /// Caveats about the numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Advice for the person running it (e.g. that an Elo bootstrap will be slow); not part
    /// of the JSON.
    #[serde(skip)]
    pub advice: Vec<String>,
}

/// What the input held.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// Source names given to [`RankInput::add_file`].
    pub files: Vec<String>,
    /// Battle records kept.
    pub battle_records: u64,
    /// Label records kept.
    pub label_records: u64,
    /// Records with a missing (null) label.
    pub skipped_missing_label: u64,
    /// Records left out by the category and judge filters.
    pub skipped_by_filter: u64,
    /// `each` or `majority`.
    pub vote: &'static str,
}

/// The rating scale.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleInfo {
    /// Rating points per factor of `base` in the odds.
    pub scale: f64,
    /// Odds base.
    pub base: f64,
    /// Mean (Bradley-Terry) or starting (Elo) rating.
    pub init: f64,
    /// The anchor, if any.
    pub anchor: Option<AnchorOut>,
}

/// A model held at a fixed rating.
#[derive(Debug, Clone, Serialize)]
pub struct AnchorOut {
    /// The model.
    pub model: String,
    /// Its rating.
    pub rating: f64,
}

/// Elo settings.
#[derive(Debug, Clone, Serialize)]
pub struct EloInfo {
    /// Step size.
    pub k: f64,
    /// `given` or `shuffled`.
    pub order: &'static str,
}

/// The bootstrap behind the intervals.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapInfo {
    /// Rounds drawn.
    pub rounds: usize,
    /// Seed.
    pub seed: u64,
    /// Replicates without a usable fit (left out of the intervals).
    pub degenerate: usize,
}

/// One leaderboard row.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// The model.
    pub model: String,
    /// Its rating; null when it has none (with `note`).
    pub rating: Option<f64>,
    /// Its interval.
    pub ci: Option<[f64; 2]>,
    /// 1 + the number of models whose interval lies entirely above its own.
    pub rank: Option<usize>,
    /// Comparisons won.
    pub wins: u64,
    /// Comparisons lost.
    pub losses: u64,
    /// Comparisons tied.
    pub ties: u64,
    /// Comparisons.
    pub n: u64,
    /// Mean win rate over the opponents met, in percent.
    pub win_rate: Option<f64>,
    /// Its record against the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_baseline: Option<BaselineOut>,
    /// Why it has no rating, or that it is the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A model's win rate against the baseline (AlpacaEval's columns).
#[derive(Debug, Clone, Serialize)]
pub struct BaselineOut {
    /// Percent.
    pub win_rate: f64,
    /// Percent.
    pub standard_error: Option<f64>,
    /// Wins of the model.
    pub n_wins: u64,
    /// Wins of the baseline.
    pub n_wins_base: u64,
    /// Ties.
    pub n_draws: u64,
    /// Comparisons with the baseline.
    pub n_total: u64,
    /// The length-controlled win rate, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_controlled: Option<LcOut>,
}

/// A length-controlled win rate.
#[derive(Debug, Clone, Serialize)]
pub struct LcOut {
    /// Percent; null with `note` when it cannot be computed.
    pub win_rate: Option<f64>,
    /// Percent.
    pub standard_error: Option<f64>,
    /// The fitted length coefficient.
    pub length_coef: Option<f64>,
    /// Why there is no value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The pairwise win-rate matrix, in leaderboard order.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixOut {
    /// Row and column models.
    pub models: Vec<String>,
    /// Row beats column, percent; null where they never met.
    pub win_rate: Vec<Vec<Option<f64>>>,
    /// Comparisons between row and column.
    pub battles: Vec<Vec<u64>>,
}

/// One requested comparison of two models.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonOut {
    /// Model A.
    pub model_a: String,
    /// Model B.
    pub model_b: String,
    /// A's rating.
    pub rating_a: Option<f64>,
    /// B's rating.
    pub rating_b: Option<f64>,
    /// P(A beats B) on the fitted scale (Bradley-Terry and Elo only).
    pub predicted_win_probability: Option<f64>,
    /// Their direct record.
    pub head_to_head: HeadToHead,
    /// The sign test.
    pub test: TestOut,
    /// Share of bootstrap replicates in which B rated at least as high as A.
    pub bootstrap_p: Option<f64>,
}

/// Two models' direct record, from A's side.
#[derive(Debug, Clone, Serialize)]
pub struct HeadToHead {
    /// A's wins.
    pub wins: u64,
    /// A's losses.
    pub losses: u64,
    /// Ties.
    pub ties: u64,
    /// Percent; null when they never met.
    pub win_rate: Option<f64>,
}

/// An exact sign test of "A is better than B".
#[derive(Debug, Clone, Serialize)]
pub struct TestOut {
    /// `exact sign test`.
    pub name: &'static str,
    /// `shared items` or `head-to-head battles`.
    pub on: &'static str,
    /// Units where A did better.
    pub better: u64,
    /// Units where A did worse.
    pub worse: u64,
    /// Units where they did equally.
    pub equal: u64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// One-sided p-value of "A is better".
    pub p_greater: f64,
}

/// The best model and whether its lead is significant.
#[derive(Debug, Clone, Serialize)]
pub struct PickBest {
    /// The best model (empty when no model is rated).
    pub best: String,
    /// Its rating.
    pub rating: Option<f64>,
    /// Its interval.
    pub ci: Option<[f64; 2]>,
    /// The second best.
    pub runner_up: Option<String>,
    /// Its rating.
    pub runner_up_rating: Option<f64>,
    /// Rating difference.
    pub margin: Option<f64>,
    /// P(best beats runner-up) on the fitted scale.
    pub predicted_win_probability: Option<f64>,
    /// The sign test of best against runner-up.
    pub test: Option<TestOut>,
    /// Share of bootstrap replicates in which the runner-up rated at least as high.
    pub bootstrap_p: Option<f64>,
    /// Whether the best model's interval lies entirely above the runner-up's.
    pub intervals_separate: Option<bool>,
    /// The test's error level.
    pub alpha: f64,
    /// Whether the sign test favours the best model at `alpha`.
    pub significant: bool,
    /// The verdict in words.
    pub reason: String,
}

/// Human win rate of one pair: judge only, human only, prediction-powered.
#[derive(Debug, Clone, Serialize)]
pub struct HumanCorrected {
    /// Model A.
    pub model_a: String,
    /// Model B.
    pub model_b: String,
    /// Units (item and pair) with a judge label.
    pub n_judged: usize,
    /// Units with a human label.
    pub n_human: usize,
    /// Units with both.
    pub n_both: usize,
    /// From the judge labels alone.
    pub judge_only: Option<EstimateOut>,
    /// From the human labels alone.
    pub human_only: Option<EstimateOut>,
    /// Prediction-powered.
    pub ppi: Option<EstimateOut>,
    /// Why there is no prediction-powered estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A win-rate estimate with its interval.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateOut {
    /// Win rate of model_a over model_b, percent.
    pub win_rate: f64,
    /// Interval, percent.
    pub ci: [f64; 2],
    /// Standard error, percent.
    pub std_error: f64,
    /// Weight of the judge labels (prediction-powered only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

/// Formats a p-value: four decimals, or scientific below 1e-4.
pub fn format_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// Above this many battles times rounds, an Elo bootstrap earns a word of advice.
const SLOW_ELO_WORK: usize = 200_000_000;

/// Computes the ranking report of `input` under `options`.
///
/// Bootstrap work runs on the current rayon pool (install one to bound the threads); the
/// numbers do not depend on the thread count.
pub fn report(input: &RankInput, options: &RankOptions) -> Result<RankReport, RankReportError> {
    options.validate()?;
    let majority_battles;
    let (battles, lengths) = match options.vote {
        Vote::Each => (&input.battles, &input.lengths),
        Vote::Majority => {
            majority_battles = majority(&input.battles, &input.lengths)?;
            (&majority_battles.0, &majority_battles.1)
        }
    };
    let names = battles.models().to_vec();
    if battles.is_empty() {
        return Err(RankReportError::NoComparisons {
            filtered: input.skipped_filtered,
        });
    }
    let index = |name: &str, option: &'static str| -> Result<usize, RankReportError> {
        battles
            .model_index(name)
            .map_err(|source| RankReportError::NamedModel {
                option,
                model: name.to_string(),
                source,
            })
    };
    let baseline = options
        .baseline
        .as_deref()
        .map(|b| index(b, "baseline"))
        .transpose()?;
    let anchor = options
        .anchor
        .as_ref()
        .map(|(m, r)| index(m, "anchor").map(|i| (i, *r)))
        .transpose()?;
    let compare = options
        .compare
        .iter()
        .map(|(a, b)| Ok((index(a, "compare")?, index(b, "compare")?)))
        .collect::<Result<Vec<_>, RankReportError>>()?;

    let counts = battles.counts();
    let records = counts.records();
    let mut notes = Vec::new();
    let mut advice = Vec::new();
    let confidence = 1.0 - options.alpha;
    let rounds = options.bootstrap;
    let seed = options.seed;

    // The comparison graph must be connected for ratings to share a scale; win rates against
    // a baseline only need each model to have met the baseline.
    let baseline_rated = options.method == Method::Winrate && baseline.is_some();
    if !baseline_rated {
        super::graph::check_connected(&counts, &names)?;
    }

    let bt_params = bt::Params {
        scale: options.scale,
        base: options.base,
        init: options.init,
        anchor,
    };
    let elo_params = elo::Params {
        k: options.k,
        scale: options.scale,
        base: options.base,
        init: options.init,
    };
    let baseline_rates = baseline.map(|b| winrate::against_baseline(&counts, b));
    let lc_results: Option<Vec<Option<LcOut>>> = match (baseline, options.length_controlled) {
        (Some(b), true) => Some(length_controlled(battles, lengths, &input.item_lengths, b)),
        _ => None,
    };

    // Ratings and replicates per method.
    let (ratings, replicates, rating_words): (Vec<Option<f64>>, Option<Replicates>, String) =
        match options.method {
            Method::Bt => {
                let r = bt::fit_named(&counts, &names, &bt_params)?;
                let reps = (rounds > 0)
                    .then(|| bootstrap::bradley_terry(&counts, &bt_params, rounds, seed));
                (
                    r.into_iter().map(Some).collect(),
                    reps,
                    format!(
                        "Bradley-Terry rating (maximum likelihood; scale {}, base {}, {})",
                        options.scale,
                        options.base,
                        match &options.anchor {
                            Some((m, r)) => format!("{m} anchored at {r}"),
                            None => format!("mean {}", options.init),
                        }
                    ),
                )
            }
            Method::Elo => {
                let order = match options.elo_order {
                    EloOrder::Given => elo::Order::Given,
                    EloOrder::Shuffled => elo::Order::Shuffled(seed),
                };
                let mut r = elo::ratings(battles, &elo_params, order)?;
                let mut reps =
                    (rounds > 0).then(|| bootstrap::elo(battles, &elo_params, rounds, seed));
                if let Some((m, target)) = anchor {
                    shift_to_anchor(&mut r, reps.as_mut(), m, target);
                }
                (
                    r.into_iter().map(Some).collect(),
                    reps,
                    format!(
                        "online Elo rating (K {}, scale {}, base {}, start {}, {} order)",
                        options.k,
                        options.scale,
                        options.base,
                        options.init,
                        match options.elo_order {
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
                        let mut r = bootstrap::win_rates(&only_baseline, Some(b), rounds, seed);
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
                        let mut r = bootstrap::win_rates(&counts, None, rounds, seed);
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
    let z = dist::normal_quantile(1.0 - options.alpha / 2.0);
    let mut intervals: Vec<Option<(f64, f64)>> = match &replicates {
        Some(r) => r.intervals(confidence),
        None => vec![None; names.len()],
    };
    if let (Some(b), Some(lc)) = (baseline, &lc_results)
        && options.method == Method::Winrate
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
    if options.method == Method::Elo && rounds > 0 && battles.len() * rounds > SLOW_ELO_WORK {
        advice.push(
            "Elo bootstrap replays every resample in order; with this many battles it is slow (Bradley-Terry is not)".to_string(),
        );
    }

    let mean_rates = winrate::mean_win_rates(&counts);
    let lc_of = |m: usize| -> Option<&LcOut> {
        lc_results
            .as_ref()
            .and_then(|l| l.get(m))
            .and_then(|l| l.as_ref())
    };
    let mut rows: Vec<ModelRow> = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let rec = records.get(m).copied().unwrap_or_default();
            let vs_baseline = baseline.filter(|&b| b != m).and_then(|_| {
                let w = baseline_rates.as_ref()?.get(m).copied().flatten();
                w.map(|w| BaselineOut {
                    win_rate: pct(w.win_rate),
                    standard_error: w.standard_error.map(pct),
                    n_wins: w.wins,
                    n_wins_base: w.losses,
                    n_draws: w.ties,
                    n_total: w.n(),
                    length_controlled: lc_of(m).cloned(),
                })
            });
            let note = match (ratings.get(m).copied().flatten(), baseline) {
                (None, Some(b)) if baseline_rated => Some(match lc_of(m) {
                    Some(LcOut { note: Some(n), .. }) => n.clone(),
                    _ => format!("never compared with the baseline {}", names[b]),
                }),
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

    let scaled = matches!(options.method, Method::Bt | Method::Elo);
    let predicted = |a: usize, b: usize| -> Option<f64> {
        if !scaled {
            return None;
        }
        let (ra, rb) = (
            ratings.get(a).copied().flatten()?,
            ratings.get(b).copied().flatten()?,
        );
        Some(significance::win_probability(
            ra,
            rb,
            options.scale,
            options.base,
        ))
    };
    let comparisons: Vec<ComparisonOut> = compare
        .iter()
        .map(|&(a, b)| {
            let c = significance::compare(battles, a, b);
            ComparisonOut {
                model_a: names[a].clone(),
                model_b: names[b].clone(),
                rating_a: ratings.get(a).copied().flatten(),
                rating_b: ratings.get(b).copied().flatten(),
                predicted_win_probability: predicted(a, b),
                head_to_head: head_to_head(&counts, a, b),
                test: test_out(&c),
                bootstrap_p: replicates.as_ref().and_then(|r| r.share_not_above(a, b)),
            }
        })
        .collect();

    let pick_best = options.pick_best.then(|| {
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
            options.alpha,
            predicted,
        )
    });

    let human_corrected = match &input.human {
        None => Vec::new(),
        Some(human) => human_corrected(human, options, battles, &ratings, baseline)?,
    };

    let win_rate_matrix = options.matrix.then(|| {
        let m = winrate::matrix(&counts);
        MatrixOut {
            models: order.iter().map(|&i| names[i].clone()).collect(),
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

    Ok(RankReport {
        method: options.method.name(),
        rating: rating_words,
        n_models: names.len(),
        n_battles: battles.len(),
        input: InputSummary {
            files: input.files.clone(),
            battle_records: input.n_battle_records,
            label_records: input.n_labels,
            skipped_missing_label: input.skipped_missing,
            skipped_by_filter: input.skipped_filtered,
            vote: match options.vote {
                Vote::Each => "each",
                Vote::Majority => "majority",
            },
        },
        scale: scaled.then(|| ScaleInfo {
            scale: options.scale,
            base: options.base,
            init: options.init,
            anchor: options.anchor.as_ref().map(|(m, r)| AnchorOut {
                model: m.clone(),
                rating: *r,
            }),
        }),
        elo: (options.method == Method::Elo).then_some(EloInfo {
            k: options.k,
            order: match options.elo_order {
                EloOrder::Given => "given",
                EloOrder::Shuffled => "shuffled",
            },
        }),
        baseline: baseline.map(|b| names[b].clone()),
        bootstrap: replicates.as_ref().map(|r| BootstrapInfo {
            rounds: r.rounds,
            seed,
            degenerate: r.degenerate,
        }),
        confidence,
        models: rows,
        win_rate_matrix,
        comparisons,
        pick_best,
        human_corrected,
        notes,
        advice,
    })
}

/// Output lengths of model_a and model_b, per battle.
type Lengths = Vec<Option<(f64, f64)>>;

/// One battle per (item, model pair): the most frequent verdict, a tie when verdicts are tied.
/// Battles without an item stay as they are.
fn majority(
    battles: &Battles,
    lengths: &[Option<(f64, f64)>],
) -> Result<(Battles, Lengths), RankError> {
    // unit -> (first position, votes for the lower index, for the higher, ties, lengths)
    type Unit = (usize, [u64; 3], Option<(f64, f64)>, u32, u32);
    let mut units: HashMap<(u32, u32, u32), Unit> = HashMap::new();
    let mut singles: Vec<usize> = Vec::new();
    for (pos, b) in battles.battles().iter().enumerate() {
        let len = lengths.get(pos).copied().flatten();
        let Some(item) = b.item else {
            singles.push(pos);
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
        singles.into_iter().map(|p| (p, None)).collect();
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

/// Model indices from the highest rating down (unrated last, then by name).
pub fn rating_order(ratings: &[Option<f64>], names: &[String]) -> Vec<usize> {
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
        on: paired_on(c.on),
        better: c.test.better,
        worse: c.test.worse,
        equal: c.test.equal,
        p_value: c.test.p_value,
        p_greater: c.test.p_greater,
    }
}

fn paired_on(on: significance::PairedOn) -> &'static str {
    match on {
        significance::PairedOn::SharedItems => "shared items",
        significance::PairedOn::HeadToHead => "head-to-head battles",
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
    let empty = |best: String, reason: &str| PickBest {
        best,
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
        reason: reason.into(),
    };
    let ci = |m: usize| intervals.get(m).copied().flatten();
    let rating = |m: usize| ratings.get(m).copied().flatten();
    let Some(&best) = rated.first() else {
        return empty(String::new(), "no model has a rating");
    };
    let Some(&runner) = rated.get(1) else {
        return PickBest {
            rating: rating(best),
            ci: ci(best).map(|(a, b)| [a, b]),
            ..empty(names[best].clone(), "only one model is rated")
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
            paired_on(c.on)
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

/// Length-controlled win rates against the baseline, per model index.
fn length_controlled(
    battles: &Battles,
    lengths: &[Option<(f64, f64)>],
    from_items: &HashMap<(String, String), f64>,
    baseline: usize,
) -> Vec<Option<LcOut>> {
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
        let lengths = lengths.get(pos).copied().flatten().or_else(|| {
            let item = items.get(b.item? as usize)?;
            let la = *from_items.get(&(item.clone(), names[a].clone()))?;
            let lb = *from_items.get(&(item.clone(), names[bb].clone()))?;
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
    (0..names.len())
        .map(|m| {
            if m == baseline || (obs[m].is_empty() && missing[m] == 0) {
                return None;
            }
            let none = |note: String| LcOut {
                win_rate: None,
                standard_error: None,
                length_coef: None,
                note: Some(note),
            };
            if missing[m] > 0 {
                return Some(none(format!(
                    "output lengths are missing for {} of its {} comparisons with the baseline (give length_a/length_b or response_a/response_b fields, or --items)",
                    missing[m],
                    missing[m] + obs[m].len()
                )));
            }
            Some(match lc::length_controlled(&obs[m]) {
                Ok(r) => LcOut {
                    win_rate: Some(pct(r.win_rate)),
                    standard_error: Some(pct(r.standard_error)),
                    length_coef: Some(r.length_coef),
                    note: None,
                },
                Err(e) => none(e.to_string()),
            })
        })
        .collect()
}

/// Prediction-powered human win rates per model pair with human labels.
fn human_corrected(
    human: &UnitsByPair,
    options: &RankOptions,
    battles: &Battles,
    ratings: &[Option<f64>],
    baseline: Option<usize>,
) -> Result<Vec<HumanCorrected>, RankReportError> {
    if human.is_empty() {
        return Err(RankReportError::NoHumanLabels);
    }
    let names = battles.models();
    let items = battles.items();
    let mut judge: UnitsByPair = BTreeMap::new();
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
    let rating_of = |name: &str| -> Option<f64> {
        let i = battles.model_index(name).ok()?;
        ratings.get(i).copied().flatten()
    };
    let baseline_name = baseline.map(|b| names[b].as_str());
    let mut out = Vec::new();
    for ((m1, m2), human_units) in human {
        if let Some(base) = baseline_name
            && m1 != base
            && m2 != base
        {
            continue;
        }
        let no_units = Vec::new();
        let judge_units = judge.get(&(m1.clone(), m2.clone())).unwrap_or(&no_units);
        // Orientation: against a baseline, the other model first; otherwise the higher rated.
        let flip = match baseline_name {
            Some(base) => m1 == base,
            None => match (rating_of(m1), rating_of(m2)) {
                (Some(r1), Some(r2)) => r2 > r1,
                _ => false,
            },
        };
        let orient = |v: &[(UnitKey, f64)]| -> Vec<(UnitKey, f64)> {
            v.iter()
                .map(|(k, s)| (k.clone(), if flip { 1.0 - s } else { *s }))
                .collect()
        };
        let (j, h) = (orient(judge_units), orient(human_units));
        let e = ppi::estimates(&j, &h, options.alpha, options.ppi_lambda);
        let distinct =
            |v: &[(UnitKey, f64)]| v.iter().map(|(k, _)| k).collect::<BTreeSet<_>>().len();
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

    fn battle(a: &str, b: &str, w: Winner, q: Option<&str>, category: Option<&str>) -> Battle {
        let mut extra = Map::new();
        if let Some(q) = q {
            extra.insert("question_id".into(), Value::String(q.into()));
        }
        if let Some(c) = category {
            extra.insert("category".into(), Value::String(c.into()));
        }
        Battle {
            model_a: a.into(),
            model_b: b.into(),
            winner: w,
            extra,
        }
    }

    #[test]
    fn filters_and_counts_follow_the_input() {
        let options = RankOptions {
            bootstrap: 0,
            categories: vec!["code".into()],
            ..RankOptions::default()
        };
        let mut input = RankInput::new(&options);
        input.add_file("a.jsonl");
        for (a, b, w, c) in [
            ("x", "y", Winner::ModelA, "code"),
            ("y", "x", Winner::Tie, "code"),
            ("x", "y", Winner::ModelB, "code"),
            ("x", "y", Winner::ModelB, "chat"),
        ] {
            input.push_battle(battle(a, b, w, None, Some(c))).unwrap();
        }
        let r = report(&input, &options).unwrap();
        assert_eq!(r.n_battles, 3);
        assert_eq!(r.input.skipped_by_filter, 1);
        assert_eq!(r.input.battle_records, 3);
        assert_eq!(r.input.files, ["a.jsonl"]);
        // Equal records: equal ratings at the mean.
        assert!((r.models[0].rating.unwrap() - 1000.0).abs() < 1e-9);
        assert!(r.bootstrap.is_none());
    }

    #[test]
    fn no_comparisons_and_unknown_models_are_errors() {
        let options = RankOptions::default();
        let input = RankInput::new(&options);
        assert_eq!(
            report(&input, &options).unwrap_err(),
            RankReportError::NoComparisons { filtered: 0 }
        );
        let mut input = RankInput::new(&options);
        input
            .push_battle(battle("x", "y", Winner::Tie, None, None))
            .unwrap();
        let options = RankOptions {
            baseline: Some("z".into()),
            bootstrap: 0,
            ..RankOptions::default()
        };
        let e = report(&input, &options).unwrap_err();
        assert!(matches!(
            e,
            RankReportError::NamedModel {
                option: "baseline",
                ..
            }
        ));
    }

    #[test]
    fn options_are_checked() {
        let bad = [
            RankOptions {
                alpha: 1.5,
                ..RankOptions::default()
            },
            RankOptions {
                method: Method::Winrate,
                anchor: Some(("x".into(), 1000.0)),
                ..RankOptions::default()
            },
            RankOptions {
                compare: vec![("x".into(), "x".into())],
                ..RankOptions::default()
            },
            RankOptions {
                length_controlled: true,
                ..RankOptions::default()
            },
        ];
        for o in bad {
            assert!(matches!(
                o.validate(),
                Err(RankReportError::InvalidOption(_))
            ));
        }
        assert!(RankOptions::default().validate().is_ok());
    }

    #[test]
    fn human_labels_must_exist_and_name_items() {
        let options = RankOptions {
            bootstrap: 0,
            ..RankOptions::default()
        };
        let mut input = RankInput::new(&options);
        input
            .push_battle(battle("x", "y", Winner::ModelA, Some("1"), None))
            .unwrap();
        input
            .push_battle(battle("x", "y", Winner::ModelB, Some("2"), None))
            .unwrap();
        input.expect_human_labels();
        assert_eq!(
            report(&input, &options).unwrap_err(),
            RankReportError::NoHumanLabels
        );
        let no_item =
            Comparison::from_battle(battle("x", "y", Winner::ModelA, None, None)).unwrap();
        assert!(matches!(
            input.push_human(no_item),
            Err(RankReportError::HumanWithoutItem { .. })
        ));
        let c = Comparison::from_battle(battle("y", "x", Winner::ModelA, Some("1"), None)).unwrap();
        input.push_human(c).unwrap();
        let r = report(&input, &options).unwrap();
        assert_eq!(r.human_corrected.len(), 1);
        assert_eq!(r.human_corrected[0].n_human, 1);
        assert_eq!(r.human_corrected[0].n_judged, 2);
    }
}
