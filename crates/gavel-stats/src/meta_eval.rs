//! Meta-evaluation: judges against human labels, with the human-human baseline on the same
//! items, position consistency, correlations and bootstrap intervals.
//!
//! Judges are told apart by their `annotator` value. Every label is read in its unit's
//! canonical frame ([`Label::unit`]; a pair given in the other order has A and B exchanged).
//!
//! **Gold labels** (`policy`):
//! - [`Policy::Majority`]: per item, the human label given most often; items where two labels
//!   tie for the most are left out (`n_items_without_gold`). One human label is its own majority.
//! - [`Policy::Each`]: every human label is a separate comparison, as MT-Bench's
//!   `compute_agreement.py` counts them (a judge verdict on an item with three human votes
//!   counts three times).
//! - [`Policy::Unanimous`]: only items whose human labels are all equal.
//!
//! **Unparsed judge verdicts** (`label: null`): [`Unparsed::Wrong`] (default) counts them as
//! answers that match nothing: they lower accuracy and the recall of the true class, and appear
//! in the confusion matrix under the label `null`; [`Unparsed::Tie`] reads them as the tie label
//! (PandaLM's published GPT-3.5 figures count them so); [`Unparsed::Skip`] leaves them out.
//!
//! **Figures** per judge: classification metrics ([`crate::classification`], scikit-learn's
//! definitions, macro over the classes of the task, so `null` is not a class); Cohen's kappa of
//! judge against gold over all comparisons (an unparsed verdict is its own category, as
//! scikit-learn sees it); agreement with ties (a label containing `tie`, such as
//! `tie (bothbad)`, equals any other tie) and without ties (comparisons where either side is a tie
//! are left out, as MT-Bench does); position consistency (share of judgments with both
//! presentation orders whose two verdicts are equal; an unparsed order is inconsistent) and
//! agreement in both orders (both orders' verdicts equal the gold label); for numbers, Pearson,
//! Spearman and Kendall's tau-b of the judge's score against the mean human score of the item
//! (under `each`, against each human score); and, for pointwise numeric judges, pairwise
//! accuracy: over pairs of models on the same item, whether the order of the judge's two scores
//! matches the human preference (a human pairwise label for that pair, or else the order of the
//! mean human scores), a tie matching only a tie.
//!
//! **Human baseline**: the same figures for each human against the other humans on the items the
//! judges were scored on: against the majority of the *others* (majority), every ordered pair of
//! humans (each), or the others when they are unanimous (unanimous). It is the ceiling a judge
//! is read against.
//!
//! Intervals: percentile bootstrap over items (the same resamples for every judge).

use std::collections::{BTreeMap, HashMap};

use gavel_core::{Judgment, Label, LabelValue, OrderVerdict, UnitKey, swap_pairwise_label};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::agreement::report::Duplicates;
use crate::agreement::{Undefined, Weighting, cohen_kappa_analytic, cohen_kappa_from_table};
use crate::bootstrap::{BootstrapConfig, Interval, map_weights, percentile_interval};
use crate::classification::{ZeroDivision, report_from_confusion};
use crate::correlation::{TauVariant, fisher_interval, kendall_tau, pearson, spearman};

/// How human labels become the gold standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// The most frequent human label per item.
    #[default]
    Majority,
    /// Every human label is a comparison.
    Each,
    /// Only items where the humans agree.
    Unanimous,
}

/// How unparsed judge verdicts count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unparsed {
    /// As a wrong answer.
    #[default]
    Wrong,
    /// As the tie label.
    Tie,
    /// Left out.
    Skip,
}

/// Options of [`meta_eval`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetaEvalOptions {
    /// Gold policy.
    pub policy: Policy,
    /// Unparsed verdicts.
    pub unparsed: Unparsed,
    /// The tie category's name (used by [`Unparsed::Tie`] and for derived pairwise verdicts).
    pub tie_label: String,
    /// Duplicates among the human labels (one annotator, one item, twice).
    pub duplicates: Duplicates,
    /// Value of undefined precision/recall/F1.
    pub zero_division: ZeroDivision,
    /// Bootstrap over items.
    pub bootstrap: BootstrapConfig,
}

impl Default for MetaEvalOptions {
    fn default() -> MetaEvalOptions {
        MetaEvalOptions {
            policy: Policy::Majority,
            unparsed: Unparsed::Wrong,
            tie_label: "tie".into(),
            duplicates: Duplicates::Error,
            zero_division: ZeroDivision::Zero,
            bootstrap: BootstrapConfig::default(),
        }
    }
}

/// Why meta-evaluation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetaEvalError {
    /// A human labelled an item twice under [`Duplicates::Error`].
    #[error(
        "human `{annotator}` labelled {unit} twice ({first} and {second}); choose a duplicates policy (first or last)"
    )]
    Duplicate {
        /// Position of the second label among the human labels.
        index: usize,
        /// The unit.
        unit: String,
        /// The annotator.
        annotator: String,
        /// First label.
        first: String,
        /// Second label.
        second: String,
    },
    /// A judge judged the same unit twice.
    #[error("judge `{judge}` has two judgments of {unit}")]
    DuplicateJudgment {
        /// Position of the second judgment.
        index: usize,
        /// The unit.
        unit: String,
        /// The judge.
        judge: String,
    },
}

impl MetaEvalError {
    /// The position of the offending record, and whether it is a judgment (else a human label).
    pub fn index(&self) -> (usize, bool) {
        match self {
            MetaEvalError::Duplicate { index, .. } => (*index, false),
            MetaEvalError::DuplicateJudgment { index, .. } => (*index, true),
        }
    }
}

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    /// Precision.
    pub precision: Option<f64>,
    /// Recall.
    pub recall: Option<f64>,
    /// F1.
    pub f1: Option<f64>,
    /// Comparisons whose gold label is this class.
    pub support: u64,
}

/// The confusion matrix: rows are gold labels, columns the judge's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// The labels, in order (`null` for unparsed verdicts, last, when there are any).
    pub labels: Vec<Option<String>>,
    /// Counts.
    pub matrix: Vec<Vec<u64>>,
}

/// Every figure for one judge (or for the human baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeReport {
    /// The judge's name (`humans` for the baseline).
    pub judge: String,
    /// Comparisons.
    pub n: usize,
    /// Items compared.
    pub n_items: usize,
    /// Unparsed verdicts among the comparisons (before the unparsed policy).
    pub n_unparsed: usize,
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Macro precision.
    pub macro_precision: Option<f64>,
    /// Macro recall.
    pub macro_recall: Option<f64>,
    /// Macro F1.
    pub macro_f1: Option<f64>,
    /// Micro F1 (equals accuracy unless verdicts fall outside the classes).
    pub micro_f1: Option<f64>,
    /// Per class.
    pub per_class: Map<String, Value>,
    /// Confusion matrix.
    pub confusion: Confusion,
    /// Cohen's kappa against gold.
    pub cohen_kappa: Option<f64>,
    /// Asymptotic standard error of `cohen_kappa` (statsmodels' `std_kappa`; treats every
    /// comparison as independent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohen_kappa_se: Option<f64>,
    /// Analytic (Wald) interval of `cohen_kappa` at the confidence level (statsmodels'
    /// `kappa_low`, `kappa_upp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohen_kappa_ci_analytic: Option<Interval>,
    /// Agreement counting ties.
    pub agreement_with_ties: Option<f64>,
    /// Agreement leaving out comparisons where either side is a tie.
    pub agreement_without_ties: Option<f64>,
    /// Comparisons without a tie.
    pub n_without_ties: usize,
    /// Share of both-order judgments whose orders agree.
    pub position_consistency: Option<f64>,
    /// Share of both-order comparisons where both orders equal gold.
    pub agreement_both_orders: Option<f64>,
    /// Judgments with both orders among the comparisons.
    pub n_both_orders: usize,
    /// Pearson's r of numeric labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pearson: Option<Option<f64>>,
    /// Spearman's rho.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spearman: Option<Option<f64>>,
    /// Kendall's tau-b.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kendall_tau_b: Option<Option<f64>>,
    /// Kendall's tau-c (Stuart's), for rectangular tables of scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kendall_tau_c: Option<Option<f64>>,
    /// Fisher's z interval of `pearson` at the confidence level (scipy's
    /// `pearsonr(...).confidence_interval()`; treats every pair as independent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pearson_ci_analytic: Option<Interval>,
    /// Pairs of scores correlated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_numeric: Option<usize>,
    /// Pairwise accuracy of pointwise scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairwise_accuracy: Option<Option<f64>>,
    /// Model pairs compared for `pairwise_accuracy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_pairs: Option<usize>,
    /// Bootstrap intervals of the headline figures, by name (`accuracy`, `macro_f1`,
    /// `cohen_kappa`, ...), when asked for.
    #[serde(flatten)]
    pub intervals: BTreeMap<String, Option<Interval>>,
}

/// The whole meta-evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaEvalReport {
    /// Gold policy.
    pub policy: Policy,
    /// Unparsed policy.
    pub unparsed: Unparsed,
    /// Items with a gold label.
    pub n_items: usize,
    /// Items with human labels but no gold label under the policy.
    pub n_items_without_gold: usize,
    /// One entry per judge, by name.
    pub judges: Vec<JudgeReport>,
    /// Humans against humans on the judges' items (`null` with fewer than two humans per item).
    pub human_baseline: Option<JudgeReport>,
    /// How intervals were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<crate::agreement::report::IntervalInfo>,
    /// Why figures are `null` (JSON paths as keys).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub null_reasons: BTreeMap<String, String>,
}

/// One comparison: gold against a verdict, on an item.
#[derive(Debug, Clone)]
struct Sample {
    unit: u32,
    gold: String,
    gold_number: Option<f64>,
    /// `None`: unparsed.
    pred: Option<String>,
    pred_number: Option<f64>,
    /// The two orders' verdicts, when the judgment has both.
    orders: Option<(Option<String>, Option<String>)>,
}

fn is_tie(key: &str) -> bool {
    key.to_ascii_lowercase().contains("tie")
}

fn same(a: &str, b: &str) -> bool {
    a == b || (is_tie(a) && is_tie(b))
}

/// A judge's verdicts per unit.
struct JudgeLabels {
    name: String,
    by_unit: HashMap<UnitKey, (LabelValue, Option<(LabelValue, LabelValue)>)>,
}

fn oriented(value: &LabelValue, swapped: bool) -> LabelValue {
    if swapped {
        swap_pairwise_label(value)
    } else {
        value.clone()
    }
}

fn judge_labels(judgments: &[Judgment]) -> Result<Vec<JudgeLabels>, MetaEvalError> {
    let mut judges: Vec<JudgeLabels> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, j) in judgments.iter().enumerate() {
        let name = j.label.annotator.as_str();
        let at = *index.entry(name).or_insert_with(|| {
            judges.push(JudgeLabels {
                name: name.to_string(),
                by_unit: HashMap::new(),
            });
            judges.len() - 1
        });
        let (unit, swapped) = j.label.unit();
        let mut value = oriented(&j.label.label, swapped);
        if value.is_missing()
            && let Some(s) = j.score
        {
            value = LabelValue::Number(s);
        }
        let orders = if j.has_both_orders() {
            let find = |o: &str| {
                j.orders
                    .iter()
                    .find(|v| v.order == o)
                    .map(|v| oriented(&v.label, swapped))
            };
            match (find("AB"), find("BA")) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            }
        } else {
            None
        };
        let judge = &mut judges[at];
        if judge.by_unit.contains_key(&unit) {
            return Err(MetaEvalError::DuplicateJudgment {
                index: i,
                unit: unit.to_string(),
                judge: name.to_string(),
            });
        }
        judge.by_unit.insert(unit, (value, orders));
    }
    judges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(judges)
}

/// One unit's human labels: `(annotator, value)`.
type HumanLabels = Vec<(String, LabelValue)>;

/// Human labels per unit, `(annotator, value)` in input order, after the duplicates policy.
fn human_labels(
    humans: &[Label],
    duplicates: Duplicates,
) -> Result<(Vec<UnitKey>, Vec<HumanLabels>), MetaEvalError> {
    let mut units: Vec<UnitKey> = Vec::new();
    let mut index: HashMap<UnitKey, usize> = HashMap::new();
    let mut labels: Vec<Vec<(String, LabelValue)>> = Vec::new();
    for (i, l) in humans.iter().enumerate() {
        if l.label.is_missing() {
            continue;
        }
        let (unit, swapped) = l.unit();
        let value = oriented(&l.label, swapped);
        let u = *index.entry(unit.clone()).or_insert_with(|| {
            units.push(unit.clone());
            labels.push(Vec::new());
            units.len() - 1
        });
        let list = &mut labels[u];
        match list.iter().position(|(a, _)| *a == l.annotator) {
            None => list.push((l.annotator.clone(), value)),
            Some(p) => match duplicates {
                Duplicates::Error => {
                    return Err(MetaEvalError::Duplicate {
                        index: i,
                        unit: unit.to_string(),
                        annotator: l.annotator.clone(),
                        first: list[p].1.to_string(),
                        second: value.to_string(),
                    });
                }
                Duplicates::First => {}
                Duplicates::Last => list[p].1 = value,
            },
        }
    }
    Ok((units, labels))
}

/// The plurality label with a unique top, by category key: the gold label of an item under
/// the `majority` policy (`None` when no label is a category or the top is shared).
pub fn plurality<'a>(labels: impl Iterator<Item = &'a LabelValue>) -> Option<LabelValue> {
    let mut counts: Vec<(String, &LabelValue, usize)> = Vec::new();
    for v in labels {
        let Some(k) = v.category_key() else { continue };
        match counts.iter_mut().find(|c| c.0 == k) {
            Some(c) => c.2 += 1,
            None => counts.push((k, v, 1)),
        }
    }
    let best = counts.iter().map(|c| c.2).max()?;
    let mut top = counts.iter().filter(|c| c.2 == best);
    let first = top.next()?;
    if top.next().is_some() {
        None
    } else {
        Some(first.1.clone())
    }
}

fn mean_number<'a>(labels: impl Iterator<Item = &'a LabelValue>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for v in labels {
        s += v.as_f64()?;
        n += 1;
    }
    if n == 0 { None } else { Some(s / n as f64) }
}

/// Gold labels of a unit: `(label, number)` pairs (several under `each`).
fn gold_of(labels: &[(String, LabelValue)], policy: Policy) -> Vec<(LabelValue, Option<f64>)> {
    let values = || labels.iter().map(|(_, v)| v);
    match policy {
        Policy::Majority => plurality(values())
            .map(|g| vec![(g, mean_number(values()))])
            .unwrap_or_default(),
        Policy::Unanimous => {
            let first = values().next().and_then(LabelValue::category_key);
            if first.is_some() && values().all(|v| v.category_key() == first) {
                values()
                    .next()
                    .map(|g| vec![(g.clone(), mean_number(values()))])
                    .unwrap_or_default()
            } else {
                Vec::new()
            }
        }
        Policy::Each => values().map(|v| (v.clone(), v.as_f64())).collect(),
    }
}

/// Folds a run of the same judges with the two responses exchanged into `judgments`, as their
/// `BA` order. The swapped run states labels as shown (A = the response shown first); each of
/// its verdicts joins the judgment of the same judge and unit, whose own label becomes the `AB`
/// order. The final label is the orders' common verdict when they agree, else `tie` (missing
/// when both are missing); `consistent` says whether they agreed. Returns the number of swapped
/// judgments that match no judgment (they are ignored).
pub fn fold_swapped(judgments: &mut [Judgment], swapped: Vec<Judgment>, tie: &str) -> usize {
    let mut index = HashMap::new();
    for (i, j) in judgments.iter().enumerate() {
        index.insert((j.label.annotator.clone(), j.label.unit().0), i);
    }
    let mut unmatched = 0;
    for s in swapped {
        let (unit, flipped) = s.label.unit();
        let Some(&i) = index.get(&(s.label.annotator.clone(), unit)) else {
            unmatched += 1;
            continue;
        };
        let j = &mut judgments[i];
        let (_, j_flipped) = j.label.unit();
        // The swapped run states labels as shown; mapped back to its own record frame, then
        // to the frame of the judgment it joins.
        let mut ba = swap_pairwise_label(&s.label.label);
        if flipped != j_flipped {
            ba = swap_pairwise_label(&ba);
        }
        let ab = j.label.label.clone();
        let consistent = !ab.is_missing() && ab.category_key() == ba.category_key();
        j.label.label = if consistent {
            ab.clone()
        } else if ab.is_missing() && ba.is_missing() {
            LabelValue::Missing
        } else {
            LabelValue::Category(tie.to_string())
        };
        j.consistent = Some(consistent);
        j.orders = vec![order_verdict("AB", ab), order_verdict("BA", ba)];
    }
    unmatched
}

fn order_verdict(name: &str, label: LabelValue) -> OrderVerdict {
    OrderVerdict {
        order: name.into(),
        label,
        raw: None,
        parse_error: None,
        extra: Default::default(),
    }
}

/// Minimum acceptable figures per judge; a judge below one, or without the figure, fails.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetaEvalThresholds {
    /// Minimum accuracy against the gold labels.
    pub min_accuracy: Option<f64>,
    /// Minimum Cohen's kappa against the gold labels.
    pub min_kappa: Option<f64>,
}

/// The verdict of the thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaEvalGate {
    /// Whether every judge meets every threshold.
    pub passed: bool,
    /// What failed, judge by judge.
    pub failed: Vec<JudgeGateFailure>,
}

/// One judge below one threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeGateFailure {
    /// The judge.
    pub judge: String,
    /// `accuracy` or `cohen_kappa`.
    pub statistic: &'static str,
    /// Its value (`null` when undefined).
    pub value: Option<f64>,
    /// The minimum asked for.
    pub min: f64,
}

impl MetaEvalThresholds {
    /// Whether any threshold is set.
    pub fn any(&self) -> bool {
        self.min_accuracy.is_some() || self.min_kappa.is_some()
    }

    /// Checks every judge of a report; `None` when no threshold is set.
    pub fn check(&self, report: &MetaEvalReport) -> Option<MetaEvalGate> {
        if !self.any() {
            return None;
        }
        let mut failed = Vec::new();
        for j in &report.judges {
            for (statistic, min, value) in [
                ("accuracy", self.min_accuracy, j.accuracy),
                ("cohen_kappa", self.min_kappa, j.cohen_kappa),
            ] {
                if let Some(min) = min
                    && value.is_none_or(|v| v < min)
                {
                    failed.push(JudgeGateFailure {
                        judge: j.judge.clone(),
                        statistic,
                        value,
                        min,
                    });
                }
            }
        }
        Some(MetaEvalGate {
            passed: failed.is_empty(),
            failed,
        })
    }
}

/// The whole result of `gavel meta-eval`; its JSON is what `gavel meta-eval --format json`
/// prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaEvalResult {
    /// The figures.
    #[serde(flatten)]
    pub report: MetaEvalReport,
    /// The thresholds' verdict, when any threshold is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<MetaEvalGate>,
}

impl MetaEvalResult {
    /// Whether every threshold holds (true when none is set).
    pub fn passed(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.passed)
    }
}

/// [`meta_eval`] with the thresholds checked: everything `gavel meta-eval` computes.
pub fn meta_eval_checked(
    judgments: &[Judgment],
    humans: &[Label],
    opts: &MetaEvalOptions,
    thresholds: &MetaEvalThresholds,
) -> Result<MetaEvalResult, MetaEvalError> {
    let report = meta_eval(judgments, humans, opts)?;
    let gate = thresholds.check(&report);
    Ok(MetaEvalResult { report, gate })
}

/// Runs the meta-evaluation.
pub fn meta_eval(
    judgments: &[Judgment],
    humans: &[Label],
    opts: &MetaEvalOptions,
) -> Result<MetaEvalReport, MetaEvalError> {
    let judges = judge_labels(judgments)?;
    let (units, labels) = human_labels(humans, opts.duplicates)?;
    let golds: Vec<Vec<(LabelValue, Option<f64>)>> =
        labels.iter().map(|l| gold_of(l, opts.policy)).collect();
    let n_gold = golds.iter().filter(|g| !g.is_empty()).count();
    let n_without_gold = labels
        .iter()
        .zip(&golds)
        .filter(|(l, g)| !l.is_empty() && g.is_empty())
        .count();
    // Under the majority policy a numeric verdict is also correlated with the mean human score
    // of items whose scores have no single most frequent value (they have no gold label).
    let mean_score = |list: &[(String, LabelValue)]| -> Option<f64> {
        (opts.policy == Policy::Majority)
            .then(|| mean_number(list.iter().map(|(_, v)| v)))
            .flatten()
    };

    // Comparisons per judge, with units as indices into `units` (renumbered below).
    let mut judged_units = vec![false; units.len()];
    let mut rows: Vec<(Vec<Sample>, Vec<(u32, f64, f64)>, Vec<(u32, i8, i8)>)> = Vec::new();
    for judge in &judges {
        let mut samples = Vec::new();
        let mut scores_only = Vec::new();
        for (u, unit) in units.iter().enumerate() {
            let Some((verdict, orders)) = judge.by_unit.get(unit) else {
                continue;
            };
            // The human baseline covers every judged item, gold or not: with two humans, the
            // items without a majority are exactly those where they disagree.
            judged_units[u] = true;
            if golds[u].is_empty() {
                if let (Some(p), Some(h)) = (verdict.as_f64(), mean_score(&labels[u])) {
                    scores_only.push((u as u32, p, h));
                }
                continue;
            }
            for (gold, gold_number) in &golds[u] {
                samples.push(Sample {
                    unit: u as u32,
                    gold: gold.category_key().unwrap_or_default(),
                    gold_number: *gold_number,
                    pred: verdict.category_key(),
                    pred_number: verdict.as_f64(),
                    orders: orders
                        .as_ref()
                        .map(|(a, b)| (a.category_key(), b.category_key())),
                });
            }
        }
        let pairs = pairwise_pairs(judge, &units, &labels);
        rows.push((samples, scores_only, pairs));
    }

    // Humans against humans on the judged items.
    let mut base = Vec::new();
    let mut base_scores = Vec::new();
    let mut any_pair = false;
    for (u, list) in labels.iter().enumerate() {
        if !judged_units[u] || list.len() < 2 {
            continue;
        }
        any_pair = true;
        for (h, (_, value)) in list.iter().enumerate() {
            let others: Vec<(String, LabelValue)> = list
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != h)
                .map(|(_, x)| x.clone())
                .collect();
            let golds = gold_of(&others, opts.policy);
            if golds.is_empty()
                && let (Some(p), Some(m)) = (value.as_f64(), mean_score(&others))
            {
                base_scores.push((u as u32, p, m));
            }
            for (gold, gold_number) in golds {
                base.push(Sample {
                    unit: u as u32,
                    gold: gold.category_key().unwrap_or_default(),
                    gold_number,
                    pred: value.category_key(),
                    pred_number: value.as_f64(),
                    orders: None,
                });
            }
        }
    }

    // Bootstrap indices: items with a gold label first (0..G), then the other items that some
    // figure uses, in order of first use; the bootstrap resamples them all.
    let mut index = vec![u32::MAX; units.len()];
    let mut next = 0u32;
    for (u, g) in golds.iter().enumerate() {
        if !g.is_empty() {
            index[u] = next;
            next += 1;
        }
    }
    let mut renumber = |u: &mut u32| {
        let slot = &mut index[*u as usize];
        if *slot == u32::MAX {
            *slot = next;
            next += 1;
        }
        *u = *slot;
    };
    for (samples, scores_only, pairs) in &mut rows {
        samples.iter_mut().for_each(|s| renumber(&mut s.unit));
        scores_only.iter_mut().for_each(|s| renumber(&mut s.0));
        pairs.iter_mut().for_each(|p| renumber(&mut p.0));
    }
    base.iter_mut().for_each(|s| renumber(&mut s.unit));
    base_scores.iter_mut().for_each(|s| renumber(&mut s.0));
    let n_units = next as usize;

    let mut reasons = BTreeMap::new();
    let mut reports = Vec::new();
    for (j, (judge, (samples, scores_only, pairs))) in judges.iter().zip(rows).enumerate() {
        reports.push(score(
            &judge.name,
            samples,
            scores_only,
            pairs,
            n_units,
            opts,
            &format!("judges[{j}]"),
            &mut reasons,
        ));
    }
    let human_baseline = if any_pair {
        Some(score(
            "humans",
            base,
            base_scores,
            Vec::new(),
            n_units,
            opts,
            "human_baseline",
            &mut reasons,
        ))
    } else {
        reasons.insert(
            "human_baseline".into(),
            "no judged item has two or more human labels".into(),
        );
        None
    };
    let boot = opts.bootstrap;
    Ok(MetaEvalReport {
        policy: opts.policy,
        unparsed: opts.unparsed,
        n_items: n_gold,
        n_items_without_gold: n_without_gold,
        judges: reports,
        human_baseline,
        interval: (boot.replicates > 0).then_some(crate::agreement::report::IntervalInfo {
            method: "percentile bootstrap over items",
            replicates: boot.replicates,
            seed: boot.seed,
            level: boot.level,
        }),
        null_reasons: reasons,
    })
}

/// For a pointwise numeric judge: `(item bootstrap index, judge order, human order)` per pair
/// of models on an item, orders as -1, 0, 1 (B better, tie, A better).
fn pairwise_pairs(
    judge: &JudgeLabels,
    units: &[UnitKey],
    labels: &[Vec<(String, LabelValue)>],
) -> Vec<(u32, i8, i8)> {
    // The judge's scores per (item, model).
    let mut scores: HashMap<(&str, &str), f64> = HashMap::new();
    for (unit, (v, _)) in &judge.by_unit {
        if let (Some(m), Some(x)) = (unit.model.as_deref(), v.as_f64()) {
            scores.insert((unit.item.as_str(), m), x);
        }
    }
    if scores.is_empty() {
        return Vec::new();
    }
    let sign = |d: f64| -> i8 {
        if d > 0.0 {
            1
        } else if d < 0.0 {
            -1
        } else {
            0
        }
    };
    let mut human_scores: HashMap<(&str, &str), f64> = HashMap::new();
    for (unit, list) in units.iter().zip(labels) {
        if let (Some(m), Some(x)) = (
            unit.model.as_deref(),
            mean_number(list.iter().map(|(_, v)| v)),
        ) {
            human_scores.insert((unit.item.as_str(), m), x);
        }
    }
    let mut out = Vec::new();
    let mut seen_pairs: HashMap<(&str, &str, &str), ()> = HashMap::new();
    // Human pairwise preferences first.
    for (u, (unit, list)) in units.iter().zip(labels).enumerate() {
        let Some((a, b)) = &unit.models else { continue };
        let (Some(sa), Some(sb)) = (
            scores.get(&(unit.item.as_str(), a.as_str())),
            scores.get(&(unit.item.as_str(), b.as_str())),
        ) else {
            continue;
        };
        let Some(pref) = plurality(list.iter().map(|(_, v)| v)) else {
            continue;
        };
        let human = match pref.category_key().as_deref() {
            Some("A") | Some("model_a") => 1,
            Some("B") | Some("model_b") => -1,
            Some(k) if is_tie(k) => 0,
            _ => continue,
        };
        seen_pairs.insert((unit.item.as_str(), a.as_str(), b.as_str()), ());
        out.push((u as u32, sign(sa - sb), human));
    }
    // Then pairs of pointwise human scores.
    let mut by_item: BTreeMap<&str, Vec<(&str, f64, usize)>> = BTreeMap::new();
    for (u, unit) in units.iter().enumerate() {
        if let Some(m) = unit.model.as_deref()
            && let Some(&h) = human_scores.get(&(unit.item.as_str(), m))
        {
            by_item
                .entry(unit.item.as_str())
                .or_default()
                .push((m, h, u));
        }
    }
    for (item, models) in by_item {
        for (i, &(a, ha, ua)) in models.iter().enumerate() {
            for &(b, hb, _) in models.iter().skip(i + 1) {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                if seen_pairs.contains_key(&(item, x, y)) {
                    continue;
                }
                let (Some(sa), Some(sb)) = (scores.get(&(item, a)), scores.get(&(item, b))) else {
                    continue;
                };
                out.push((ua as u32, sign(sa - sb), sign(ha - hb)));
            }
        }
    }
    out
}

/// All figures from one set of comparisons. `scores_only`: `(item, verdict score, mean human
/// score)` of items that enter only the correlations.
#[allow(clippy::too_many_arguments)]
fn score(
    name: &str,
    samples: Vec<Sample>,
    scores_only: Vec<(u32, f64, f64)>,
    pairs: Vec<(u32, i8, i8)>,
    n_units: usize,
    opts: &MetaEvalOptions,
    path: &str,
    reasons: &mut BTreeMap<String, String>,
) -> JudgeReport {
    let n_unparsed = samples.iter().filter(|s| s.pred.is_none()).count();
    let samples: Vec<Sample> = match opts.unparsed {
        Unparsed::Wrong => samples,
        Unparsed::Skip => samples.into_iter().filter(|s| s.pred.is_some()).collect(),
        Unparsed::Tie => samples
            .into_iter()
            .map(|mut s| {
                if s.pred.is_none() {
                    s.pred = Some(opts.tie_label.clone());
                }
                if let Some((a, b)) = &mut s.orders {
                    a.get_or_insert_with(|| opts.tie_label.clone());
                    b.get_or_insert_with(|| opts.tie_label.clone());
                }
                s
            })
            .collect(),
    };

    // Classes: every gold and verdict label, numeric order when all are numbers.
    let mut keys: Vec<String> = samples
        .iter()
        .flat_map(|s| [Some(s.gold.clone()), s.pred.clone()])
        .flatten()
        .collect();
    let all_numeric = keys
        .iter()
        .all(|k| LabelValue::Category(k.clone()).as_f64().is_some());
    keys.sort();
    keys.dedup();
    if all_numeric {
        keys.sort_by(|a, b| {
            let x = LabelValue::Category(a.clone()).as_f64().unwrap_or(0.0);
            let y = LabelValue::Category(b.clone()).as_f64().unwrap_or(0.0);
            x.total_cmp(&y)
        });
    }
    let k = keys.len();
    let ix: HashMap<&str, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let class = |key: &Option<String>| -> u32 {
        key.as_deref()
            .and_then(|k| ix.get(k).copied())
            .unwrap_or(k as u32)
    };
    let has_unparsed = samples.iter().any(|s| s.pred.is_none());
    let width = if has_unparsed { k + 1 } else { k };
    let coded: Vec<(u32, u32, u32)> = samples
        .iter()
        .map(|s| (s.unit, class(&Some(s.gold.clone())), class(&s.pred)))
        .collect();
    let scored: Vec<usize> = (0..k).collect();

    let weight = |w: Option<&[u32]>, unit: u32| -> f64 {
        match w {
            None => 1.0,
            Some(w) => w.get(unit as usize).copied().unwrap_or(0) as f64,
        }
    };
    let confusion = |w: Option<&[u32]>| -> Vec<Vec<f64>> {
        let mut m = vec![vec![0.0; width]; width];
        for &(u, g, p) in &coded {
            let x = weight(w, u);
            if x > 0.0
                && let Some(c) = m.get_mut(g as usize).and_then(|r| r.get_mut(p as usize))
            {
                *c += x;
            }
        }
        m
    };
    let agreement = |w: Option<&[u32]>, ties: bool| -> Option<f64> {
        let (mut hit, mut n) = (0.0, 0.0);
        for s in &samples {
            let x = weight(w, s.unit);
            if x == 0.0 {
                continue;
            }
            let pred = s.pred.as_deref();
            if !ties && (is_tie(&s.gold) || pred.is_some_and(is_tie)) {
                continue;
            }
            n += x;
            if pred.is_some_and(|p| same(p, &s.gold)) {
                hit += x;
            }
        }
        if n == 0.0 { None } else { Some(hit / n) }
    };
    let orders_figures = |w: Option<&[u32]>| -> (Option<f64>, Option<f64>) {
        let (mut consistent, mut both, mut n) = (0.0, 0.0, 0.0);
        for s in &samples {
            let Some((a, b)) = &s.orders else { continue };
            let x = weight(w, s.unit);
            n += x;
            if let (Some(a), Some(b)) = (a, b)
                && same(a, b)
            {
                consistent += x;
                if same(a, &s.gold) {
                    both += x;
                }
            }
        }
        if n == 0.0 {
            (None, None)
        } else {
            (Some(consistent / n), Some(both / n))
        }
    };
    let numeric: Vec<(u32, f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.unit, s.pred_number?, s.gold_number?)))
        .chain(scores_only.iter().copied())
        .collect();
    let is_numeric = !numeric.is_empty() && numeric.len() * 2 >= samples.len() + scores_only.len();
    let correlations = |w: Option<&[u32]>| -> [Option<f64>; 4] {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for &(u, p, g) in &numeric {
            for _ in 0..weight(w, u) as usize {
                x.push(p);
                y.push(g);
            }
        }
        [
            pearson(&x, &y).ok(),
            spearman(&x, &y).ok(),
            kendall_tau(&x, &y, TauVariant::B).ok(),
            kendall_tau(&x, &y, TauVariant::C).ok(),
        ]
    };
    let pairwise = |w: Option<&[u32]>| -> Option<f64> {
        let (mut hit, mut n) = (0.0, 0.0);
        for &(u, j, h) in &pairs {
            let x = weight(w, u);
            n += x;
            if j == h {
                hit += x;
            }
        }
        if n == 0.0 { None } else { Some(hit / n) }
    };

    let m = confusion(None);
    let rep = report_from_confusion(&m, Some(&scored), opts.zero_division);
    let kappa = cohen_kappa_from_table(&m, Weighting::Unweighted);
    let kappa_analytic = cohen_kappa_analytic(&m, opts.bootstrap.level).ok();
    let mut per_class = Map::new();
    for (key, c) in keys.iter().zip(&rep.per_class) {
        let row = ClassRow {
            precision: c.precision,
            recall: c.recall,
            f1: c.f1,
            // Unweighted counts: whole numbers.
            support: c.support.round() as u64,
        };
        per_class.insert(
            key.clone(),
            serde_json::to_value(row).unwrap_or(Value::Null),
        );
    }
    let mut labels_out: Vec<Option<String>> = keys.iter().cloned().map(Some).collect();
    if has_unparsed {
        labels_out.push(None);
    }
    // Humans have no presentation orders; saying so for them would be noise.
    let has_orders = samples.iter().any(|s| s.orders.is_some()) || path != "human_baseline";
    let mut note = |field: &str, value: Option<f64>, why: &str| -> Option<f64> {
        if value.is_none()
            && (has_orders || (!field.contains("order") && field != "position_consistency"))
        {
            reasons.insert(format!("{path}.{field}"), why.to_string());
        }
        value
    };
    let (consistency, both_orders) = orders_figures(None);
    let n_both = samples.iter().filter(|s| s.orders.is_some()).count();
    let n_without_ties = samples
        .iter()
        .filter(|s| !is_tie(&s.gold) && !s.pred.as_deref().is_some_and(is_tie))
        .count();
    let [pe, sp, kt, kc] = correlations(None);
    let mut report = JudgeReport {
        judge: name.to_string(),
        n: samples.len(),
        n_items: {
            let mut u: Vec<u32> = samples.iter().map(|s| s.unit).collect();
            u.sort_unstable();
            u.dedup();
            u.len()
        },
        n_unparsed,
        accuracy: note("accuracy", rep.accuracy, "no comparisons"),
        macro_precision: rep.macro_precision,
        macro_recall: rep.macro_recall,
        macro_f1: rep.macro_f1,
        micro_f1: rep.micro_f1,
        per_class,
        confusion: Confusion {
            labels: labels_out,
            matrix: m
                .iter()
                .map(|r| r.iter().map(|&c| c.round() as u64).collect())
                .collect(),
        },
        cohen_kappa: note(
            "cohen_kappa",
            kappa.ok(),
            &kappa
                .err()
                .map(|e: Undefined| e.to_string())
                .unwrap_or_default(),
        ),
        cohen_kappa_se: kappa_analytic.map(|a| a.1),
        cohen_kappa_ci_analytic: kappa_analytic.map(|a| a.2),
        agreement_with_ties: agreement(None, true),
        agreement_without_ties: note(
            "agreement_without_ties",
            agreement(None, false),
            "every comparison involves a tie",
        ),
        n_without_ties,
        position_consistency: note(
            "position_consistency",
            consistency,
            "no judgment has both presentation orders",
        ),
        agreement_both_orders: note(
            "agreement_both_orders",
            both_orders,
            "no judgment has both presentation orders",
        ),
        n_both_orders: n_both,
        pearson: is_numeric
            .then(|| note("pearson", pe, "fewer than two scores, or constant scores")),
        spearman: is_numeric
            .then(|| note("spearman", sp, "fewer than two scores, or constant scores")),
        kendall_tau_b: is_numeric.then(|| {
            note(
                "kendall_tau_b",
                kt,
                "fewer than two scores, or every pair tied",
            )
        }),
        kendall_tau_c: is_numeric.then(|| {
            note(
                "kendall_tau_c",
                kc,
                "fewer than two scores, or one of them constant",
            )
        }),
        pearson_ci_analytic: is_numeric
            .then(|| pe.map(|r| fisher_interval(r, numeric.len(), opts.bootstrap.level)))
            .flatten(),
        n_numeric: is_numeric.then_some(numeric.len()),
        pairwise_accuracy: (!pairs.is_empty()).then(|| pairwise(None)),
        n_pairs: (!pairs.is_empty()).then_some(pairs.len()),
        intervals: BTreeMap::new(),
    };

    let boot = opts.bootstrap;
    if boot.replicates > 0 && n_units > 0 && (!samples.is_empty() || is_numeric) {
        let values: Vec<Vec<f64>> = map_weights(n_units, boot.replicates, boot.seed, |w| {
            let m = confusion(Some(w));
            let rep = report_from_confusion(&m, Some(&scored), opts.zero_division);
            let (c, b) = orders_figures(Some(w));
            let mut out = vec![
                rep.accuracy,
                rep.macro_f1,
                cohen_kappa_from_table(&m, Weighting::Unweighted).ok(),
                agreement(Some(w), true),
                agreement(Some(w), false),
                c,
                b,
                pairwise(Some(w)),
            ];
            if is_numeric {
                out.extend(correlations(Some(w)));
            }
            out.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()
        });
        let mut names = vec![
            ("accuracy_ci", true),
            ("macro_f1_ci", true),
            ("cohen_kappa_ci", true),
            ("agreement_with_ties_ci", true),
            ("agreement_without_ties_ci", true),
            ("position_consistency_ci", n_both > 0),
            ("agreement_both_orders_ci", n_both > 0),
            ("pairwise_accuracy_ci", !pairs.is_empty()),
        ];
        if is_numeric {
            names.extend([
                ("pearson_ci", true),
                ("spearman_ci", true),
                ("kendall_tau_b_ci", true),
                ("kendall_tau_c_ci", true),
            ]);
        }
        for (j, (field, wanted)) in names.into_iter().enumerate() {
            if !wanted {
                continue;
            }
            let col: Vec<f64> = values
                .iter()
                .map(|v| v.get(j).copied().unwrap_or(f64::NAN))
                .collect();
            let ci = percentile_interval(&col, boot.level);
            if ci.is_none() {
                reasons.insert(
                    format!("{path}.{field}"),
                    "undefined on every resample".into(),
                );
            }
            report.intervals.insert(field.to_string(), ci);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgment(label: &str) -> Judgment {
        Judgment {
            label: Label {
                item: "q".into(),
                annotator: "j".into(),
                label: LabelValue::Category(label.into()),
                model_a: None,
                model_b: None,
                model: None,
                time: None,
                round: None,
                guideline_version: None,
                extra: Default::default(),
            },
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

    #[test]
    fn swapped_runs_become_orders() {
        let mut js = vec![judgment("A")];
        // Shown swapped, the judge preferred the second response: that is A in the record frame.
        assert_eq!(fold_swapped(&mut js, vec![judgment("B")], "tie"), 0);
        assert_eq!(js[0].consistent, Some(true));
        assert_eq!(js[0].label.label, LabelValue::Category("A".into()));
        assert_eq!(js[0].orders.len(), 2);
        let mut js = vec![judgment("A")];
        fold_swapped(&mut js, vec![judgment("A")], "tie");
        assert_eq!(
            (js[0].consistent, js[0].label.label.clone()),
            (Some(false), LabelValue::Category("tie".into()))
        );
        let mut other = judgment("A");
        other.label.item = "elsewhere".into();
        assert_eq!(fold_swapped(&mut js, vec![other], "tie"), 1);
    }
    use gavel_core::{Format, RecordReader};

    fn read<T: gavel_core::FromRecord>(jsonl: &str) -> Vec<T> {
        RecordReader::from_reader(
            "t",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(jsonl.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<T>()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn opts() -> MetaEvalOptions {
        MetaEvalOptions {
            bootstrap: BootstrapConfig {
                replicates: 0,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const HUMANS: &str = concat!(
        "{\"item\":\"1\",\"annotator\":\"h1\",\"label\":\"A\"}\n",
        "{\"item\":\"1\",\"annotator\":\"h2\",\"label\":\"A\"}\n",
        "{\"item\":\"1\",\"annotator\":\"h3\",\"label\":\"B\"}\n",
        "{\"item\":\"2\",\"annotator\":\"h1\",\"label\":\"B\"}\n",
        "{\"item\":\"2\",\"annotator\":\"h2\",\"label\":\"B\"}\n",
        "{\"item\":\"3\",\"annotator\":\"h1\",\"label\":\"tie\"}\n",
        "{\"item\":\"3\",\"annotator\":\"h2\",\"label\":\"A\"}\n",
    );

    #[test]
    fn policies_choose_gold() {
        let humans: Vec<Label> = read(HUMANS);
        let judge: Vec<Judgment> = read(concat!(
            "{\"item\":\"1\",\"annotator\":\"j\",\"label\":\"A\"}\n",
            "{\"item\":\"2\",\"annotator\":\"j\",\"label\":\"A\"}\n",
            "{\"item\":\"3\",\"annotator\":\"j\",\"label\":\"A\"}\n",
        ));
        let maj = meta_eval(&judge, &humans, &opts()).unwrap();
        // Item 3 has no majority (tie vs A).
        assert_eq!((maj.n_items, maj.n_items_without_gold), (2, 1));
        assert_eq!(maj.judges[0].accuracy, Some(0.5));
        let each = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                policy: Policy::Each,
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(each.judges[0].n, 7);
        assert_eq!(each.judges[0].accuracy, Some(3.0 / 7.0));
        // Without ties: item 3's tie vote is left out.
        assert_eq!(each.judges[0].agreement_without_ties, Some(3.0 / 6.0));
        let un = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                policy: Policy::Unanimous,
                ..opts()
            },
        )
        .unwrap();
        assert_eq!((un.n_items, un.judges[0].accuracy), (1, Some(0.0)));
        // Humans: under each, ordered pairs on judged items.
        let hb = each.human_baseline.unwrap();
        assert_eq!(hb.n, 6 + 2 + 2);
    }

    #[test]
    fn unparsed_policies_and_orders() {
        let humans: Vec<Label> = read(HUMANS);
        let judge: Vec<Judgment> = read(concat!(
            "{\"item\":\"1\",\"annotator\":\"j\",\"label\":null,\"orders\":[{\"order\":\"AB\",\"label\":null,\"parse_error\":\"x\"},{\"order\":\"BA\",\"label\":\"A\",\"parse_error\":null}]}\n",
            "{\"item\":\"2\",\"annotator\":\"j\",\"label\":\"B\",\"orders\":[{\"order\":\"AB\",\"label\":\"B\",\"parse_error\":null},{\"order\":\"BA\",\"label\":\"B\",\"parse_error\":null}]}\n",
        ));
        let wrong = meta_eval(&judge, &humans, &opts()).unwrap();
        let j = &wrong.judges[0];
        assert_eq!((j.n, j.n_unparsed, j.accuracy), (2, 1, Some(0.5)));
        assert_eq!(j.confusion.labels.last(), Some(&None));
        assert_eq!(j.position_consistency, Some(0.5));
        assert_eq!(j.agreement_both_orders, Some(0.5));
        let skip = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                unparsed: Unparsed::Skip,
                ..opts()
            },
        )
        .unwrap();
        assert_eq!((skip.judges[0].n, skip.judges[0].accuracy), (1, Some(1.0)));
        let tie = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                unparsed: Unparsed::Tie,
                ..opts()
            },
        )
        .unwrap();
        assert!(tie.judges[0].per_class.contains_key("tie"));
    }

    #[test]
    fn swapped_judgments_are_read_in_the_unit_frame() {
        let humans: Vec<Label> = read(
            "{\"item\":\"1\",\"annotator\":\"h\",\"label\":\"A\",\"model_a\":\"x\",\"model_b\":\"y\"}\n",
        );
        let judge: Vec<Judgment> = read(
            "{\"item\":\"1\",\"annotator\":\"j\",\"label\":\"B\",\"model_a\":\"y\",\"model_b\":\"x\"}\n",
        );
        let r = meta_eval(&judge, &humans, &opts()).unwrap();
        assert_eq!(r.judges[0].accuracy, Some(1.0));
        assert!(r.human_baseline.is_none());
    }

    #[test]
    fn scores_without_a_majority_still_correlate_and_set_the_ceiling() {
        // Two humans score five items; they agree on items 1 and 2 only, so under the majority
        // policy items 3-5 have no gold label.
        let mut h = String::new();
        let mut jl = String::new();
        for (item, a, b, judge) in [
            (1, 1, 1, 1),
            (2, 5, 5, 4),
            (3, 2, 3, 2),
            (4, 4, 5, 5),
            (5, 3, 1, 2),
        ] {
            h.push_str(&format!(
                "{{\"item\":\"{item}\",\"annotator\":\"a\",\"label\":{a}}}\n"
            ));
            h.push_str(&format!(
                "{{\"item\":\"{item}\",\"annotator\":\"b\",\"label\":{b}}}\n"
            ));
            jl.push_str(&format!(
                "{{\"item\":\"{item}\",\"annotator\":\"j\",\"label\":{judge}}}\n"
            ));
        }
        let humans: Vec<Label> = read(&h);
        let judge: Vec<Judgment> = read(&jl);
        let r = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                bootstrap: BootstrapConfig {
                    replicates: 40,
                    seed: 3,
                    level: 0.95,
                },
                ..opts()
            },
        )
        .unwrap();
        assert_eq!((r.n_items, r.n_items_without_gold), (2, 3));
        let j = &r.judges[0];
        // Classification on the two gold items; correlations against the mean human score of
        // all five: judge (1, 4, 2, 5, 2) against (1, 5, 2.5, 4.5, 2).
        assert_eq!(j.n, 2);
        assert_eq!(j.n_numeric, Some(5));
        let x = [1.0, 4.0, 2.0, 5.0, 2.0];
        let y = [1.0, 5.0, 2.5, 4.5, 2.0];
        assert_eq!(j.pearson, Some(pearson(&x, &y).ok()));
        assert_eq!(
            j.kendall_tau_c,
            Some(kendall_tau(&x, &y, TauVariant::C).ok())
        );
        let r_xy = pearson(&x, &y).unwrap();
        assert_eq!(j.pearson_ci_analytic, Some(fisher_interval(r_xy, 5, 0.95)));
        assert!(j.intervals.contains_key("kendall_tau_c_ci"));
        // The ceiling is the humans on all judged items, not only where they agree.
        let base = r.human_baseline.as_ref().unwrap();
        assert_eq!(base.n, 10);
        assert_eq!(base.accuracy, Some(0.4));
        assert!(base.cohen_kappa_se.is_some() && base.cohen_kappa_ci_analytic.is_some());
    }

    #[test]
    fn numeric_scores_and_pairwise_accuracy() {
        let humans: Vec<Label> = read(concat!(
            "{\"item\":\"1\",\"annotator\":\"h\",\"label\":4,\"model\":\"x\"}\n",
            "{\"item\":\"1\",\"annotator\":\"h\",\"label\":2,\"model\":\"y\"}\n",
            "{\"item\":\"2\",\"annotator\":\"h\",\"label\":5,\"model\":\"x\"}\n",
            "{\"item\":\"2\",\"annotator\":\"h\",\"label\":1,\"model\":\"y\"}\n",
        ));
        let judge: Vec<Judgment> = read(concat!(
            "{\"item\":\"1\",\"annotator\":\"j\",\"label\":5,\"model\":\"x\"}\n",
            "{\"item\":\"1\",\"annotator\":\"j\",\"label\":3,\"model\":\"y\"}\n",
            "{\"item\":\"2\",\"annotator\":\"j\",\"label\":2,\"model\":\"x\"}\n",
            "{\"item\":\"2\",\"annotator\":\"j\",\"label\":2,\"model\":\"y\"}\n",
        ));
        let r = meta_eval(
            &judge,
            &humans,
            &MetaEvalOptions {
                bootstrap: BootstrapConfig {
                    replicates: 50,
                    seed: 1,
                    level: 0.9,
                },
                ..opts()
            },
        )
        .unwrap();
        let j = &r.judges[0];
        assert_eq!(j.n_numeric, Some(4));
        assert!(j.pearson.unwrap().is_some());
        // Item 1: judge x > y as humans; item 2: judge ties, humans x > y.
        assert_eq!((j.pairwise_accuracy, j.n_pairs), (Some(Some(0.5)), Some(2)));
        assert!(j.intervals.contains_key("spearman_ci"));
    }
}
