//! From gavel [`Label`] records to an [`AgreementReport`]: every coefficient, per pair of
//! annotators, per annotator against the others, with bootstrap intervals; and the same per
//! time window, round or guideline version ([`drift`]) with thresholds ([`Thresholds`]).
//!
//! Conventions (also in `docs/commands/agree.md`):
//! - The unit of agreement is [`Label::unit`]: the item, with its model pair or model. A pair
//!   given in the other order is the same unit, and its label is read with A and B exchanged
//!   ([`swap_pairwise_label`]).
//! - A `null` label ("saw it, gave no label") is not a label: it is counted in `n_missing`
//!   and otherwise ignored, like a missing value in the references.
//! - The same annotator labelling the same unit twice is an error by default
//!   ([`Duplicates::Error`]); [`Duplicates::First`] or [`Duplicates::Last`] keep one (in input
//!   order).
//! - Items with a single label cannot show agreement but do enter the chance terms of Fleiss'
//!   kappa and AC1 and the value domain, exactly as the references treat a matrix with such
//!   items ([`SingleLabels::Keep`], the default); [`SingleLabels::Drop`] removes them first.
//! - The value domain: `categories` when given (their order is the order of the values),
//!   otherwise the values that occur, in numeric order when every value is a number and in
//!   lexicographic order otherwise. The interval and ratio levels need numbers; the ordinal level
//!   needs numbers or `categories`. Weighted kappas need an order, so they are `null` for
//!   categories that have none.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use gavel_core::records::label_columns::{NO_TIME, NONE};
use gavel_core::{Label, LabelColumns, LabelValue, UnitKey, format_number, swap_pairwise_label};
use serde::Serialize;

use super::cohen::{cohen_kappa_analytic, cohen_kappas_from_table};
use super::multi::multi_weighted;
use super::{
    Level, Rating, Ratings, Tally, Undefined, Weighting, cohen_kappa_from_table,
    krippendorff_alpha_weighted,
};
use crate::bootstrap::{BootstrapConfig, Interval, map_group_weights, percentile_interval};

/// A fast, non-cryptographic hash for the coding tables (keys come from local files, and a
/// collision only costs time): FxHash's multiply-rotate over 8-byte words.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // A full avalanche (MurmurHash3's finaliser): the table takes its bucket from the low
        // bits and its 7-bit tag from the high ones, and ids such as `i1`..`i200000` differ in
        // few bits; a weak mix makes tags collide and every collision costs a key comparison.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl FastHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastHash = BuildHasherDefault<FastHasher>;

/// What to do when one annotator labels the same unit twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Duplicates {
    /// Stop with an error naming the unit, the annotator and both labels.
    #[default]
    Error,
    /// Keep the first label in input order.
    First,
    /// Keep the last label in input order (a correction overrides).
    Last,
}

/// What to do with units that received a single label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SingleLabels {
    /// Keep them, as the references do with the same matrix.
    #[default]
    Keep,
    /// Drop them before computing anything.
    Drop,
}

/// How to compute an [`AgreementReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementOptions {
    /// The level of measurement (sets Krippendorff's distance, and whether numbers are needed).
    pub level: Level,
    /// The value domain in order, when the data alone does not give it.
    pub categories: Option<Vec<String>>,
    /// Duplicate policy.
    pub duplicates: Duplicates,
    /// Single-label units policy.
    pub single: SingleLabels,
    /// Bootstrap over units for the intervals (`replicates: 0` for none).
    pub bootstrap: BootstrapConfig,
}

impl Default for AgreementOptions {
    fn default() -> AgreementOptions {
        AgreementOptions {
            level: Level::Nominal,
            categories: None,
            duplicates: Duplicates::Error,
            single: SingleLabels::Keep,
            bootstrap: BootstrapConfig::default(),
        }
    }
}

/// Why labels could not be turned into a report. `index` is the label's position in the
/// input, so the caller can name its file and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgreementError {
    /// An annotator labelled a unit twice under [`Duplicates::Error`].
    #[error(
        "annotator `{annotator}` labelled {unit} twice ({first} and {second}); choose a duplicates policy (first or last) to keep one"
    )]
    Duplicate {
        /// Position of the second label.
        index: usize,
        /// The unit.
        unit: String,
        /// The annotator.
        annotator: String,
        /// The first label.
        first: String,
        /// The second label.
        second: String,
    },
    /// A label that is not a number where the level needs numbers.
    #[error(
        "label `{value}` of annotator `{annotator}` on {unit} is not a number, which the {level} level needs"
    )]
    NotNumeric {
        /// Position of the label.
        index: usize,
        /// The unit.
        unit: String,
        /// The annotator.
        annotator: String,
        /// The label.
        value: String,
        /// The level.
        level: &'static str,
    },
    /// A label outside the given categories.
    #[error(
        "label `{value}` of annotator `{annotator}` on {unit} is not one of the given categories ({categories})"
    )]
    OutsideCategories {
        /// Position of the label.
        index: usize,
        /// The unit.
        unit: String,
        /// The annotator.
        annotator: String,
        /// The label.
        value: String,
        /// The categories, comma-separated.
        categories: String,
    },
    /// The ordinal level without an order.
    #[error(
        "the ordinal level needs ordered values: the labels are not all numbers, so give the categories in order"
    )]
    Unordered,
}

impl AgreementError {
    /// The position of the offending label in the input, where there is one.
    pub fn index(&self) -> Option<usize> {
        match self {
            AgreementError::Duplicate { index, .. }
            | AgreementError::NotNumeric { index, .. }
            | AgreementError::OutsideCategories { index, .. } => Some(*index),
            AgreementError::Unordered => None,
        }
    }
}

/// Agreement of one pair of annotators on the units both labelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairReport {
    /// First annotator (by name).
    pub a: String,
    /// Second annotator.
    pub b: String,
    /// Units both labelled.
    pub n: usize,
    /// Cohen's kappa, unweighted.
    pub kappa: Option<f64>,
    /// Linear-weighted kappa (`null` for unordered categories).
    pub weighted_linear: Option<f64>,
    /// Quadratic-weighted kappa (`null` for unordered categories).
    pub weighted_quadratic: Option<f64>,
    /// Share of the `n` units on which they agree.
    pub percent_agreement: Option<f64>,
    /// Bootstrap interval of `kappa`, when intervals were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kappa_ci: Option<Option<Interval>>,
    /// Asymptotic standard error of `kappa` (statsmodels' `std_kappa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kappa_se: Option<f64>,
    /// Analytic (Wald) interval `kappa ± z·kappa_se` at the confidence level (statsmodels'
    /// `kappa_low`, `kappa_upp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kappa_ci_analytic: Option<Interval>,
}

/// One annotator against the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorReport {
    /// The annotator.
    pub annotator: String,
    /// Labels the annotator gave (after the duplicates policy; `null` labels not counted).
    pub n: usize,
    /// Share of the compared units where the annotator's label equals the plurality label of
    /// the other annotators (units where the others tie for the top, or where nobody else
    /// labelled, are not compared).
    pub agreement_with_majority: Option<f64>,
    /// Units compared for `agreement_with_majority`.
    pub n_compared: usize,
}

/// How the intervals were computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalInfo {
    /// Always `percentile bootstrap over items`.
    pub method: &'static str,
    /// Resamples.
    pub replicates: usize,
    /// Seed.
    pub seed: u64,
    /// Confidence level.
    pub level: f64,
}

/// Everything `gavel agree` reports for one set of labels (CONTRACT.md shape, extended).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementReport {
    /// Units with at least one label.
    pub n_items: usize,
    /// Annotators with at least one label.
    pub n_annotators: usize,
    /// Labels used (not `null`, after the duplicates policy).
    pub n_labels: usize,
    /// The level of measurement.
    pub level: Level,
    /// `null` labels skipped.
    pub n_missing: usize,
    /// Units with a single label.
    pub n_single_label_items: usize,
    /// Units with two or more labels.
    pub n_pairable_items: usize,
    /// The value domain, in order.
    pub categories: Vec<String>,
    /// Percent agreement.
    pub percent_agreement: Option<f64>,
    /// Fleiss' kappa.
    pub fleiss_kappa: Option<f64>,
    /// Krippendorff's alpha at `level`.
    pub krippendorff_alpha: Option<f64>,
    /// Gwet's AC1.
    pub gwet_ac1: Option<f64>,
    /// Interval of `percent_agreement`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_agreement_ci: Option<Option<Interval>>,
    /// Interval of `fleiss_kappa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleiss_kappa_ci: Option<Option<Interval>>,
    /// Interval of `krippendorff_alpha`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub krippendorff_alpha_ci: Option<Option<Interval>>,
    /// Interval of `gwet_ac1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gwet_ac1_ci: Option<Option<Interval>>,
    /// Cohen's kappas of every pair of annotators that share a unit.
    pub cohen_kappa: Vec<PairReport>,
    /// Each annotator against the others.
    pub annotators: Vec<AnnotatorReport>,
    /// How intervals were computed, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<IntervalInfo>,
    /// For each `null` figure, why it has no value (keys are JSON paths such as
    /// `krippendorff_alpha` or `cohen_kappa[0].weighted_linear`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub null_reasons: BTreeMap<String, String>,
}

/// Labels coded for the statistics.
#[derive(Debug, Clone)]
pub struct Coded {
    /// The annotators, sorted by name.
    pub annotators: Vec<String>,
    /// The value domain's names, in order.
    pub categories: Vec<String>,
    /// The values' numbers, when every value is a number.
    pub points: Option<Vec<f64>>,
    /// Whether the domain has a meaningful order.
    pub ordered: bool,
    /// The ratings, units in order of first appearance.
    pub ratings: Ratings,
    /// `null` labels skipped.
    pub n_missing: usize,
}

/// [`LabelValue::category_key`] without copying a category's text.
fn key_of(v: &LabelValue) -> Cow<'_, str> {
    match v {
        LabelValue::Category(c) => Cow::Borrowed(c.as_str()),
        LabelValue::Number(x) => Cow::Owned(format_number(*x)),
        LabelValue::Missing => Cow::Borrowed(""),
    }
}

/// One label being coded: its unit, annotator, value (an index into the value table) and
/// position in the input.
#[derive(Debug, Clone, Copy)]
struct Coding {
    unit: u32,
    ann: u32,
    value: u32,
    index: u32,
}

/// A unit as ids: item, the model pair in name order, model ([`Label::unit`]'s key);
/// [`NONE`] where absent.
type UnitIds = (u32, u32, u32, u32);

/// The rows to code: the given ones (those in range), or all `n`.
fn each_row(rows: Option<&[u32]>, n: usize) -> impl Iterator<Item = usize> + '_ {
    let (list, range) = match rows {
        Some(r) => (r, 0..0),
        None => (&[][..], 0..n),
    };
    list.iter()
        .map(|&i| i as usize)
        .filter(move |&i| i < n)
        .chain(range)
}

/// Codes labels (unit, annotator, category index) under the options' policies.
pub fn code(labels: &[Label], opts: &AgreementOptions) -> Result<Coded, AgreementError> {
    code_columns(&LabelColumns::from_labels(labels), None, opts)
}

/// Codes the labels of `cols` (all of them, or the `rows` given, in that order) under the
/// options' policies. An error's index is the label's position in `cols`.
pub fn code_columns(
    cols: &LabelColumns,
    rows: Option<&[u32]>,
    opts: &AgreementOptions,
) -> Result<Coded, AgreementError> {
    let n = cols
        .item
        .len()
        .min(cols.annotator.len())
        .min(cols.value.len());
    let n_rows = rows.map_or(n, <[u32]>::len);
    // The value table: the columns' values, plus the A/B-exchanged ones made on demand.
    let mut values: Vec<LabelValue> = cols.values().to_vec();
    let missing: Vec<bool> = values.iter().map(LabelValue::is_missing).collect();
    let mut swapped_of: HashMap<u32, u32, FastHash> = HashMap::default();
    let has_models = cols.has_models();
    // Models ranked by name, so that a pair's order is a comparison of ranks.
    let model_rank: Vec<u32> = if has_models {
        let mut order: Vec<u32> = (0..cols.models.len() as u32).collect();
        order.sort_by(|&x, &y| cols.models.get(x).cmp(cols.models.get(y)));
        let mut rank = vec![0u32; order.len()];
        for (r, &m) in order.iter().enumerate() {
            rank[m as usize] = r as u32;
        }
        rank
    } else {
        Vec::new()
    };
    let opt_at = |col: &Vec<u32>, i: usize| col.get(i).copied().unwrap_or(NONE);

    // Every non-missing label in input order, its unit numbered in order of first appearance.
    // Without models a unit is an item: sized for them all at once.
    let mut unit_keys: Vec<UnitIds> =
        Vec::with_capacity(if has_models { 0 } else { cols.items.len() });
    let mut unit_of_item: Vec<u32> = if has_models {
        Vec::new()
    } else {
        vec![NONE; cols.items.len()]
    };
    let mut unit_ix: HashMap<UnitIds, u32, FastHash> = HashMap::default();
    let mut ann_seen = vec![false; cols.annotators.len()];
    // With up to 64 annotators, each unit's annotators so far as bits: a duplicate shows as a
    // bit already set, and the search for duplicates below runs only then.
    let few_annotators = cols.annotators.len() <= 64;
    let mut unit_annotators: Vec<u64> = if few_annotators && !has_models {
        vec![0; cols.items.len()]
    } else {
        Vec::new()
    };
    let mut maybe_duplicates = !few_annotators;
    let mut all: Vec<Coding> = Vec::with_capacity(n_rows);
    let mut n_missing = 0;
    for i in each_row(rows, n) {
        let v = cols.value[i];
        if missing.get(v as usize).copied().unwrap_or(true) {
            n_missing += 1;
            continue;
        }
        let item = cols.item[i];
        let (unit, swapped) = if has_models {
            let (a, b) = (opt_at(&cols.model_a, i), opt_at(&cols.model_b, i));
            let rank = |m: u32| model_rank.get(m as usize).copied().unwrap_or(0);
            let (key, swapped) = if a != NONE && b != NONE {
                if rank(a) > rank(b) {
                    ((item, b, a, NONE), true)
                } else {
                    ((item, a, b, NONE), false)
                }
            } else {
                ((item, NONE, NONE, opt_at(&cols.model, i)), false)
            };
            let next = unit_keys.len() as u32;
            let u = *unit_ix.entry(key).or_insert_with(|| {
                unit_keys.push(key);
                next
            });
            (u, swapped)
        } else {
            match unit_of_item.get_mut(item as usize) {
                Some(slot) => {
                    if *slot == NONE {
                        *slot = unit_keys.len() as u32;
                        unit_keys.push((item, NONE, NONE, NONE));
                    }
                    (*slot, false)
                }
                None => continue,
            }
        };
        let value = if swapped {
            *swapped_of.entry(v).or_insert_with(|| {
                let s = swap_pairwise_label(&values[v as usize]);
                if s == values[v as usize] {
                    v
                } else {
                    values.push(s);
                    values.len() as u32 - 1
                }
            })
        } else {
            v
        };
        let ann = cols.annotator[i];
        if let Some(seen) = ann_seen.get_mut(ann as usize) {
            *seen = true;
        }
        if few_annotators {
            if unit as usize >= unit_annotators.len() {
                unit_annotators.resize(unit as usize + 1, 0);
            }
            let bit = 1u64 << (ann & 63);
            maybe_duplicates |= unit_annotators[unit as usize] & bit != 0;
            unit_annotators[unit as usize] |= bit;
        }
        all.push(Coding {
            unit,
            ann,
            value,
            index: i as u32,
        });
    }
    drop(unit_of_item);
    drop(unit_ix);
    drop(unit_annotators);
    let n_units = unit_keys.len();
    let unit_name = |u: u32| {
        unit_keys
            .get(u as usize)
            .map(|&(item, a, b, m)| {
                let name = |m: u32| (m != NONE).then(|| cols.models.get(m).to_string());
                UnitKey {
                    item: cols.items.get(item).to_string(),
                    models: name(a).zip(name(b)),
                    model: name(m),
                }
                .to_string()
            })
            .unwrap_or_default()
    };
    let ann_name = |a: u32| cols.annotators.get(a).to_string();

    // Labels grouped by unit in input order (a counting sort): `by_unit[start[u]..start[u+1]]`
    // are positions in `all`.
    let group = |list: &[Coding]| -> (Vec<u32>, Vec<u32>) {
        let mut start = vec![0u32; n_units + 1];
        for k in list {
            start[k.unit as usize + 1] += 1;
        }
        for u in 0..n_units {
            start[u + 1] += start[u];
        }
        let mut by_unit = vec![0u32; list.len()];
        let mut fill = start.clone();
        for (pos, k) in list.iter().enumerate() {
            let at = &mut fill[k.unit as usize];
            by_unit[*at as usize] = pos as u32;
            *at += 1;
        }
        (start, by_unit)
    };
    let (mut start, mut by_unit) = group(&all);

    // Duplicates (one annotator, one unit, twice), found within each unit's labels. For each
    // label, once a duplicate is found: NONE if it is dropped, else the position whose value
    // and index it keeps.
    let mut keep_from: Option<Vec<u32>> = None;
    // The first duplicate in input order: (its position, the first label's position).
    let mut first_duplicate: Option<(u32, u32)> = None;
    let mut run_buf: Vec<(u32, u32)> = Vec::new();
    for u in 0..n_units * usize::from(maybe_duplicates) {
        let members = &by_unit[start[u] as usize..start[u + 1] as usize];
        if members.len() < 2 {
            continue;
        }
        let has_duplicate = members.iter().enumerate().any(|(j, &p)| {
            members[j + 1..]
                .iter()
                .any(|&q| all[q as usize].ann == all[p as usize].ann)
        });
        if !has_duplicate {
            continue;
        }
        let keep = keep_from.get_or_insert_with(|| (0..all.len() as u32).collect());
        run_buf.clear();
        run_buf.extend(members.iter().map(|&pos| (all[pos as usize].ann, pos)));
        // By annotator, then input order.
        run_buf.sort_unstable();
        for run in run_buf.chunk_by(|x, y| x.0 == y.0) {
            if run.len() < 2 {
                continue;
            }
            let (first, second, last) = (run[0].1, run[1].1, run[run.len() - 1].1);
            if first_duplicate.is_none_or(|(p, _)| second < p) {
                first_duplicate = Some((second, first));
            }
            for &(_, pos) in &run[1..] {
                keep[pos as usize] = NONE;
            }
            if opts.duplicates == Duplicates::Last {
                keep[first as usize] = last;
            }
        }
    }
    if opts.duplicates == Duplicates::Error
        && let Some((second, first)) = first_duplicate
    {
        let (s, f) = (all[second as usize], all[first as usize]);
        return Err(AgreementError::Duplicate {
            index: s.index as usize,
            unit: unit_name(s.unit),
            annotator: ann_name(s.ann),
            first: values[f.value as usize].to_string(),
            second: values[s.value as usize].to_string(),
        });
    }
    let mut kept: Vec<Coding> = match keep_from {
        None => all,
        Some(keep) => {
            let mut kept = Vec::with_capacity(all.len());
            for (pos, k) in all.iter().enumerate() {
                let from = keep[pos];
                if let Some(f) = all.get(from as usize) {
                    kept.push(Coding {
                        value: f.value,
                        index: f.index,
                        ..*k
                    });
                }
            }
            (start, by_unit) = group(&kept);
            kept
        }
    };

    // Single-label units.
    if opts.single == SingleLabels::Drop && (0..n_units).any(|u| start[u + 1] - start[u] == 1) {
        kept.retain(|k| start[k.unit as usize + 1] - start[k.unit as usize] >= 2);
        (start, by_unit) = group(&kept);
    }

    // The value domain, from the values the kept labels use.
    let numbers: Vec<f64> = values
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect();
    let mut used = vec![false; values.len()];
    for k in &kept {
        used[k.value as usize] = true;
    }
    let first_with = |bad: &dyn Fn(u32) -> bool| kept.iter().find(|k| bad(k.value)).copied();
    let not_numeric = |k: Coding| AgreementError::NotNumeric {
        index: k.index as usize,
        unit: unit_name(k.unit),
        annotator: ann_name(k.ann),
        value: values[k.value as usize].to_string(),
        level: opts.level.as_str(),
    };
    let numeric_level = opts.level.is_numeric();
    let all_numeric = (0..values.len()).all(|v| !used[v] || !numbers[v].is_nan());
    // How a label's category is found: by its text, or by its number.
    let by_number = opts.categories.is_none() && all_numeric;
    let (categories, points, ordered) = if let Some(given) = &opts.categories {
        let mut cats: Vec<String> = Vec::new();
        for c in given {
            if !cats.contains(c) {
                cats.push(c.clone());
            }
        }
        let pts: Option<Vec<f64>> = cats
            .iter()
            .map(|c| LabelValue::Category(c.clone()).as_f64())
            .collect();
        let given_ix: HashMap<&str, (), FastHash> = cats.iter().map(|c| (c.as_str(), ())).collect();
        let outside: Vec<bool> = values
            .iter()
            .enumerate()
            .map(|(v, x)| used[v] && !given_ix.contains_key(key_of(x).as_ref()))
            .collect();
        if let Some(k) = first_with(&|v| outside[v as usize]) {
            return Err(AgreementError::OutsideCategories {
                index: k.index as usize,
                unit: unit_name(k.unit),
                annotator: ann_name(k.ann),
                value: key_of(&values[k.value as usize]).into_owned(),
                categories: cats.join(", "),
            });
        }
        if numeric_level
            && pts.is_none()
            && let Some(k) = first_with(&|v| numbers[v as usize].is_nan())
        {
            return Err(not_numeric(k));
        }
        (cats, pts, true)
    } else if all_numeric {
        // `+ 0.0` makes -0 and 0 one value under `total_cmp`.
        let mut points: Vec<f64> = (0..values.len())
            .filter(|&v| used[v])
            .map(|v| numbers[v] + 0.0)
            .collect();
        points.sort_by(f64::total_cmp);
        points.dedup();
        let names = points.iter().map(|&x| format_number(x)).collect();
        (names, Some(points), true)
    } else {
        if numeric_level && let Some(k) = first_with(&|v| numbers[v as usize].is_nan()) {
            return Err(not_numeric(k));
        }
        if opts.level == Level::Ordinal {
            return Err(AgreementError::Unordered);
        }
        let mut names: Vec<String> = Vec::new();
        let mut distinct: HashMap<Cow<'_, str>, (), FastHash> = HashMap::default();
        for (v, x) in values.iter().enumerate() {
            if used[v] && distinct.insert(key_of(x), ()).is_none() {
                names.push(key_of(x).into_owned());
            }
        }
        names.sort();
        (names, None, false)
    };
    // Each value's category.
    let text_ix: HashMap<&str, u32, FastHash> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let category: Vec<u32> = (0..values.len())
        .map(|v| {
            if !used[v] {
                0
            } else if by_number {
                let x = numbers[v] + 0.0;
                points
                    .as_deref()
                    .and_then(|p| p.binary_search_by(|y| y.total_cmp(&x)).ok())
                    .unwrap_or(0) as u32
            } else {
                text_ix
                    .get(key_of(&values[v]).as_ref())
                    .copied()
                    .unwrap_or(0)
            }
        })
        .collect();

    // Annotators (those with a label) sorted by name.
    let mut order: Vec<u32> = (0..ann_seen.len() as u32)
        .filter(|&a| ann_seen[a as usize])
        .collect();
    order.sort_by(|&x, &y| cols.annotators.get(x).cmp(cols.annotators.get(y)));
    let mut rank = vec![0u32; ann_seen.len()];
    for (r, &a) in order.iter().enumerate() {
        rank[a as usize] = r as u32;
    }
    let annotators: Vec<String> = order
        .iter()
        .map(|&a| cols.annotators.get(a).to_string())
        .collect();
    // Ratings grouped by unit, units in their order less those left without labels.
    let mut offsets: Vec<usize> = Vec::with_capacity(n_units + 1);
    offsets.push(0);
    let mut entries: Vec<Rating> = Vec::with_capacity(kept.len());
    for u in 0..n_units {
        let members = &by_unit[start[u] as usize..start[u + 1] as usize];
        if members.is_empty() {
            continue;
        }
        let from = entries.len();
        entries.extend(members.iter().map(|&pos| {
            let k = kept[pos as usize];
            Rating {
                annotator: rank[k.ann as usize],
                category: category[k.value as usize],
            }
        }));
        entries[from..].sort_unstable();
        offsets.push(entries.len());
    }
    drop(kept);
    let ratings = Ratings::from_parts(annotators.len(), categories.len(), offsets, entries)
        .map_err(|_| AgreementError::Unordered)?;
    Ok(Coded {
        annotators,
        categories,
        points,
        ordered,
        ratings,
        n_missing,
    })
}

/// Records a statistic: its value, or `None` with the reason stored under `path`.
fn keep(
    reasons: &mut BTreeMap<String, String>,
    path: &str,
    r: Result<f64, Undefined>,
) -> Option<f64> {
    match r {
        Ok(x) if x.is_finite() => Some(x),
        Ok(_) => {
            reasons.insert(path.to_string(), "the value is not finite".to_string());
            None
        }
        Err(e) => {
            reasons.insert(path.to_string(), e.to_string());
            None
        }
    }
}

fn ok_or_nan(r: Result<f64, Undefined>) -> f64 {
    r.unwrap_or(f64::NAN)
}

/// The agreement report of a set of labels.
pub fn report(
    labels: &[Label],
    opts: &AgreementOptions,
) -> Result<AgreementReport, AgreementError> {
    report_columns(&LabelColumns::from_labels(labels), None, opts)
}

/// The agreement report of the labels of `cols` (all, or the `rows` given).
pub fn report_columns(
    cols: &LabelColumns,
    rows: Option<&[u32]>,
    opts: &AgreementOptions,
) -> Result<AgreementReport, AgreementError> {
    let coded = code_columns(cols, rows, opts)?;
    Ok(report_coded(&coded, opts))
}

/// The units grouped by their ratings: one unit per distinct set of ratings (in order of first
/// appearance) and how many units have it.
fn group_units(r: &Ratings) -> (Ratings, Vec<u64>) {
    let mut index: HashMap<&[Rating], usize, FastHash> = HashMap::default();
    let mut first: Vec<usize> = Vec::new();
    let mut sizes: Vec<u64> = Vec::new();
    for u in 0..r.n_units() {
        let g = *index.entry(r.unit(u)).or_insert_with(|| {
            first.push(u);
            sizes.push(0);
            first.len() - 1
        });
        sizes[g] += 1;
    }
    match Ratings::from_units(
        r.n_annotators(),
        r.n_categories(),
        first.iter().map(|&u| r.unit(u).to_vec()),
    ) {
        Ok(grouped) => (grouped, sizes),
        // Cannot happen (the ratings come from `r`); resample the units themselves.
        Err(_) => (r.clone(), vec![1; r.n_units()]),
    }
}

/// Pairs of annotators that share units: `(a, b, [(unit, category a, category b)])`, sorted.
/// The units two annotators share: `(unit, category of a, category of b)`.
type Shared = Vec<(u32, u32, u32)>;

fn pairs(r: &Ratings) -> Vec<(u32, u32, Shared)> {
    let mut map: HashMap<(u32, u32), Shared> = HashMap::new();
    for u in 0..r.n_units() {
        let rs = r.unit(u);
        for (i, x) in rs.iter().enumerate() {
            for y in rs.iter().skip(i + 1) {
                map.entry((x.annotator, y.annotator))
                    .or_default()
                    .push((u as u32, x.category, y.category));
            }
        }
    }
    let mut out: Vec<_> = map.into_iter().map(|((a, b), v)| (a, b, v)).collect();
    out.sort_by_key(|p| (p.0, p.1));
    out
}

/// The agreement table (`k x k` counts, row: the first annotator's category) of every pair of
/// annotators that share a unit, sorted by pair: what [`pairs`] and [`pair_table`] give
/// without weights, in one pass over the units.
fn pair_tables(r: &Ratings, k: usize) -> Vec<(u32, u32, Vec<u64>)> {
    let n_ann = r.n_annotators();
    let kk = k * k;
    // Few annotators: pairs found by position; many: by a map.
    let dense = n_ann <= 64;
    let mut slot: Vec<u32> = if dense {
        vec![NONE; n_ann * n_ann]
    } else {
        Vec::new()
    };
    let mut sparse: HashMap<(u32, u32), u32, FastHash> = HashMap::default();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    // The tables back to back, `k * k` counts each.
    let mut counts: Vec<u64> = Vec::new();
    for u in 0..r.n_units() {
        let rs = r.unit(u);
        for (i, x) in rs.iter().enumerate() {
            for y in &rs[i + 1..] {
                let next = pairs.len() as u32;
                let s = if dense {
                    let c = &mut slot[x.annotator as usize * n_ann + y.annotator as usize];
                    if *c == NONE {
                        *c = next;
                    }
                    *c
                } else {
                    *sparse.entry((x.annotator, y.annotator)).or_insert(next)
                };
                if s == next {
                    pairs.push((x.annotator, y.annotator));
                    counts.resize(counts.len() + kk, 0);
                }
                let at = s as usize * kk + x.category as usize * k + y.category as usize;
                if let Some(cell) = counts.get_mut(at) {
                    *cell += 1;
                }
            }
        }
    }
    let mut out: Vec<(u32, u32, Vec<u64>)> = pairs
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| (a, b, counts[i * kk..(i + 1) * kk].to_vec()))
        .collect();
    out.sort_by_key(|t| (t.0, t.1));
    out
}

fn pair_table(k: usize, entries: &[(u32, u32, u32)], weights: Option<&[u32]>) -> Vec<Vec<f64>> {
    let mut table = vec![vec![0.0; k]; k];
    for &(u, a, b) in entries {
        let w = match weights {
            None => 1.0,
            Some(w) => w.get(u as usize).copied().unwrap_or(0) as f64,
        };
        if w == 0.0 {
            continue;
        }
        if let Some(c) = table
            .get_mut(a as usize)
            .and_then(|r| r.get_mut(b as usize))
        {
            *c += w;
        }
    }
    table
}

/// The report of already-coded labels.
pub fn report_coded(coded: &Coded, opts: &AgreementOptions) -> AgreementReport {
    let r = &coded.ratings;
    let k = coded.categories.len();
    let mut reasons = BTreeMap::new();
    let points = coded.points.as_deref();
    let level = opts.level;

    // The three passes over the units are independent.
    let (t, (pair_list, (annotators, majority_reasons))) = rayon::join(
        || r.tally(),
        || rayon::join(|| pair_tables(r, k), || majority_agreement(coded)),
    );
    let headline = |t: &Tally, w: Option<&[u32]>| -> [Result<f64, Undefined>; 4] {
        let [pa, fk, ac] = multi_weighted(t, w);
        [pa, fk, krippendorff_alpha_weighted(t, level, points, w), ac]
    };
    let [pa, fk, ka, ac] = headline(&t, None);
    let percent_agreement = keep(&mut reasons, "percent_agreement", pa);
    let fleiss_kappa = keep(&mut reasons, "fleiss_kappa", fk);
    let krippendorff_alpha = keep(&mut reasons, "krippendorff_alpha", ka);
    let gwet_ac1 = keep(&mut reasons, "gwet_ac1", ac);

    let mut cohen = Vec::with_capacity(pair_list.len());
    for (i, (a, b, counts)) in pair_list.iter().enumerate() {
        let table: Vec<Vec<f64>> = counts
            .chunks(k.max(1))
            .map(|row| row.iter().map(|&c| c as f64).collect())
            .collect();
        let kappas = cohen_kappas_from_table(&table);
        let analytic = cohen_kappa_analytic(&table, opts.bootstrap.level).ok();
        let n_shared: u64 = counts.iter().sum();
        let agree: u64 = (0..k).map(|c| counts[c * k + c]).sum();
        let path = format!("cohen_kappa[{i}]");
        let (wl, wq) = if coded.ordered {
            (
                keep(
                    &mut reasons,
                    &format!("{path}.weighted_linear"),
                    kappas.weighted_linear,
                ),
                keep(
                    &mut reasons,
                    &format!("{path}.weighted_quadratic"),
                    kappas.weighted_quadratic,
                ),
            )
        } else {
            for f in ["weighted_linear", "weighted_quadratic"] {
                reasons.insert(format!("{path}.{f}"), Undefined::Unordered.to_string());
            }
            (None, None)
        };
        cohen.push(PairReport {
            a: coded
                .annotators
                .get(*a as usize)
                .cloned()
                .unwrap_or_default(),
            b: coded
                .annotators
                .get(*b as usize)
                .cloned()
                .unwrap_or_default(),
            n: n_shared as usize,
            kappa: keep(&mut reasons, &format!("{path}.kappa"), kappas.kappa),
            weighted_linear: wl,
            weighted_quadratic: wq,
            percent_agreement: if n_shared == 0 {
                None
            } else {
                Some(agree as f64 / n_shared as f64)
            },
            kappa_ci: None,
            kappa_se: analytic.map(|a| a.1),
            kappa_ci_analytic: analytic.map(|a| a.2),
        });
    }

    reasons.extend(majority_reasons);

    let mut report = AgreementReport {
        n_items: r.n_units(),
        n_annotators: coded.annotators.len(),
        n_labels: r.n_ratings(),
        level,
        n_missing: coded.n_missing,
        n_single_label_items: (0..t.n_units()).filter(|&u| t.size(u) == 1).count(),
        n_pairable_items: (0..t.n_units()).filter(|&u| t.size(u) >= 2).count(),
        categories: coded.categories.clone(),
        percent_agreement,
        fleiss_kappa,
        krippendorff_alpha,
        gwet_ac1,
        percent_agreement_ci: None,
        fleiss_kappa_ci: None,
        krippendorff_alpha_ci: None,
        gwet_ac1_ci: None,
        cohen_kappa: cohen,
        annotators,
        interval: None,
        null_reasons: BTreeMap::new(),
    };

    let boot = opts.bootstrap;
    if boot.replicates > 0 && r.n_units() > 0 {
        // Items with identical ratings are interchangeable in every statistic, so the bootstrap
        // resamples groups of them: per replicate, a multinomial draw of how many of the n
        // drawn items fall in each group (the same distribution as drawing the items).
        let (grouped, sizes) = group_units(r);
        let gt = grouped.tally();
        let group_pairs = pairs(&grouped);
        // One pass of resamples computes every interval, so all come from the same draws.
        let values: Vec<Vec<f64>> = map_group_weights(&sizes, boot.replicates, boot.seed, |w| {
            let mut out: Vec<f64> = headline(&gt, Some(w)).into_iter().map(ok_or_nan).collect();
            for (_, _, entries) in &group_pairs {
                let table = pair_table(k, entries, Some(w));
                out.push(ok_or_nan(cohen_kappa_from_table(
                    &table,
                    Weighting::Unweighted,
                )));
            }
            out
        });
        let column = |j: usize| -> Option<Interval> {
            let col: Vec<f64> = values
                .iter()
                .map(|v| v.get(j).copied().unwrap_or(f64::NAN))
                .collect();
            percentile_interval(&col, boot.level)
        };
        report.percent_agreement_ci = Some(column(0));
        report.fleiss_kappa_ci = Some(column(1));
        report.krippendorff_alpha_ci = Some(column(2));
        report.gwet_ac1_ci = Some(column(3));
        for (i, p) in report.cohen_kappa.iter_mut().enumerate() {
            p.kappa_ci = Some(column(4 + i));
        }
        for (name, ci) in [
            ("percent_agreement_ci", report.percent_agreement_ci),
            ("fleiss_kappa_ci", report.fleiss_kappa_ci),
            ("krippendorff_alpha_ci", report.krippendorff_alpha_ci),
            ("gwet_ac1_ci", report.gwet_ac1_ci),
        ] {
            if ci == Some(None) {
                reasons.insert(name.to_string(), "undefined on every resample".to_string());
            }
        }
        report.interval = Some(IntervalInfo {
            method: "percentile bootstrap over items",
            replicates: boot.replicates,
            seed: boot.seed,
            level: boot.level,
        });
    }
    report.null_reasons = reasons;
    report
}

/// Each annotator against the plurality label of the other annotators on the same unit, and
/// the reasons for the figures that are null.
fn majority_agreement(coded: &Coded) -> (Vec<AnnotatorReport>, Vec<(String, String)>) {
    let mut reasons = Vec::new();
    let n_ann = coded.annotators.len();
    let (given, compared, agreed) = majority_counts(&coded.ratings, coded.categories.len(), n_ann);
    let reports = (0..n_ann)
        .map(|a| {
            let value = if compared[a] == 0 {
                reasons.push((
                    format!("annotators[{a}].agreement_with_majority"),
                    "no item where the other annotators have a single most common label"
                        .to_string(),
                ));
                None
            } else {
                Some(agreed[a] as f64 / compared[a] as f64)
            };
            AnnotatorReport {
                annotator: coded.annotators.get(a).cloned().unwrap_or_default(),
                n: given[a],
                agreement_with_majority: value,
                n_compared: compared[a],
            }
        })
        .collect();
    (reports, reasons)
}

/// Per annotator: labels given, labels compared with the plurality of the other annotators
/// on the unit (where the others have a single most common label), and how many of those
/// agree with it. One pass per unit over its distinct categories: the plurality of the others
/// follows from the unit's two highest counts.
fn majority_counts(r: &Ratings, k: usize, n_ann: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut given = vec![0usize; n_ann];
    let mut compared = vec![0usize; n_ann];
    let mut agreed = vec![0usize; n_ann];
    let mut counts: Vec<u32> = vec![0; k];
    let mut present: Vec<u32> = Vec::new();
    for u in 0..r.n_units() {
        let rs = r.unit(u);
        present.clear();
        for x in rs {
            if let Some(n) = counts.get_mut(x.category as usize) {
                if *n == 0 {
                    present.push(x.category);
                }
                *n += 1;
            }
        }
        // The highest count, how many categories have it and the first two of them; the next
        // highest count, how many have it and the first of them.
        let (mut a1, mut t1, mut c1, mut c1_other) = (0u32, 0u32, NONE, NONE);
        let (mut a2, mut t2, mut c2) = (0u32, 0u32, NONE);
        for &c in &present {
            let n = counts[c as usize];
            if n > a1 {
                (a2, t2, c2) = (a1, t1, c1);
                (a1, t1, c1, c1_other) = (n, 1, c, NONE);
            } else if n == a1 {
                if t1 == 1 {
                    c1_other = c;
                }
                t1 += 1;
            } else if n > a2 {
                (a2, t2, c2) = (n, 1, c);
            } else if n == a2 {
                t2 += 1;
            }
        }
        for x in rs {
            let a = x.annotator as usize;
            let cx = x.category;
            let n = counts.get(cx as usize).copied().unwrap_or(0);
            // The others' counts are the unit's with one less for `cx`.
            let (best, single) = if n < a1 {
                (c1, t1 == 1)
            } else if t1 >= 2 {
                (if cx == c1 { c1_other } else { c1 }, t1 == 2)
            } else if a1 - 1 > a2 {
                (cx, true)
            } else if a1 - 1 == a2 {
                // A tie with the next categories, or no other label at all.
                (NONE, false)
            } else {
                (c2, t2 == 1)
            };
            if let Some(g) = given.get_mut(a) {
                *g += 1;
            }
            if single && let (Some(cmp), Some(agr)) = (compared.get_mut(a), agreed.get_mut(a)) {
                *cmp += 1;
                if best == cx {
                    *agr += 1;
                }
            }
        }
        for &c in &present {
            counts[c as usize] = 0;
        }
    }
    (given, compared, agreed)
}

/// How to split labels into windows for drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftBy {
    /// Consecutive time windows of this many seconds, starting at midnight (UTC) of the day of
    /// the earliest label.
    Time {
        /// Window length in seconds.
        window_secs: i64,
    },
    /// One window per `round` value, in order of first appearance.
    Round,
    /// One window per `guideline_version` value, in order of first appearance.
    GuidelineVersion,
}

impl DriftBy {
    fn name(&self) -> &'static str {
        match self {
            DriftBy::Time { .. } => "time",
            DriftBy::Round => "round",
            DriftBy::GuidelineVersion => "guideline_version",
        }
    }
}

/// Agreement within one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowReport {
    /// The window: `start/end` (RFC 3339) for time, the value for rounds and versions.
    pub window: String,
    /// Start of a time window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End (exclusive) of a time window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Thresholds this window fails.
    pub flags: Vec<Flag>,
    /// The statistics of the labels in the window.
    #[serde(flatten)]
    pub report: AgreementReport,
}

/// Drift: the report per window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// `time`, `round` or `guideline_version`.
    pub by: &'static str,
    /// Window length in seconds, for time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<i64>,
    /// Labels without the field windows are made from (left out).
    pub n_without_key: usize,
    /// The windows, in order.
    pub windows: Vec<WindowReport>,
}

/// Splits labels into windows and reports each. Windows are checked against `thresholds`.
pub fn drift(
    labels: &[Label],
    by: &DriftBy,
    opts: &AgreementOptions,
    thresholds: &Thresholds,
) -> Result<DriftReport, AgreementError> {
    drift_columns(&LabelColumns::from_labels(labels), by, opts, thresholds)
}

/// [`drift`] on the labels of `cols`.
pub fn drift_columns(
    cols: &LabelColumns,
    by: &DriftBy,
    opts: &AgreementOptions,
    thresholds: &Thresholds,
) -> Result<DriftReport, AgreementError> {
    let n = cols.len();
    // Windows in order of first appearance: (name, start of a time window, rows).
    let mut groups: Vec<(String, Option<i64>, Vec<u32>)> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut without = 0;
    let time_at = |i: usize| cols.time.get(i).copied().filter(|&t| t != NO_TIME);
    let origin = match by {
        DriftBy::Time { .. } => (0..n)
            .filter_map(time_at)
            .min()
            .map(|t| t.div_euclid(86_400) * 86_400),
        _ => None,
    };
    for i in 0..n {
        let id = |col: &Vec<u32>| col.get(i).copied().filter(|&v| v != NONE);
        // The window's key: its start, or the id of the round or version.
        let key = match by {
            DriftBy::Time { window_secs } => match (time_at(i), origin) {
                (Some(t), Some(o)) => {
                    let w = (*window_secs).max(1);
                    Some(o + (t - o).div_euclid(w) * w)
                }
                _ => None,
            },
            DriftBy::Round => id(&cols.round).map(i64::from),
            DriftBy::GuidelineVersion => id(&cols.guideline).map(i64::from),
        };
        let Some(key) = key else {
            without += 1;
            continue;
        };
        let g = *index.entry(key).or_insert_with(|| {
            let (name, start) = match by {
                DriftBy::Time { .. } => (key.to_string(), Some(key)),
                DriftBy::Round => (cols.rounds.get(key as u32).to_string(), None),
                DriftBy::GuidelineVersion => (cols.guidelines.get(key as u32).to_string(), None),
            };
            groups.push((name, start, Vec::new()));
            groups.len() - 1
        });
        groups[g].2.push(i as u32);
    }
    if matches!(by, DriftBy::Time { .. }) {
        groups.sort_by_key(|g| g.1);
    }
    let window_secs = match by {
        DriftBy::Time { window_secs } => Some(*window_secs),
        _ => None,
    };
    let mut windows = Vec::with_capacity(groups.len());
    for (key, start, members) in groups {
        let report = report_columns(cols, Some(&members), opts)?;
        let flags = thresholds.check(&report);
        let (window, start, end) = match (start, window_secs) {
            (Some(s), Some(w)) => {
                let (a, b) = (
                    gavel_core::time::format_rfc3339(s),
                    gavel_core::time::format_rfc3339(s + w),
                );
                (format!("{a}/{b}"), Some(a), Some(b))
            }
            _ => (key, None, None),
        };
        windows.push(WindowReport {
            window,
            start,
            end,
            flags,
            report,
        });
    }
    Ok(DriftReport {
        by: by.name(),
        window_secs,
        n_without_key: without,
        windows,
    })
}

/// The whole result of `gavel agree`: the report on all labels, the drift windows when asked
/// for, and the verdict of the thresholds; its JSON is what `gavel agree --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreeResult {
    /// The statistics of all labels.
    #[serde(flatten)]
    pub report: AgreementReport,
    /// The statistics per window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
    /// The thresholds' verdict, when any threshold is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

impl AgreeResult {
    /// Whether every threshold holds (true when none is set).
    pub fn passed(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.passed)
    }
}

/// The verdict of the thresholds over all labels and every window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Whether nothing failed.
    pub passed: bool,
    /// Failed thresholds: `window` is null for the whole data set.
    pub failed: Vec<GateFailure>,
    /// Reports not checked because they have fewer items labelled twice or more than
    /// [`Thresholds::min_items`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<GateSkip>,
}

/// A report the thresholds were not applied to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateSkip {
    /// The window, or `None` for all labels.
    pub window: Option<String>,
    /// Its items labelled twice or more.
    pub n_pairable_items: usize,
    /// The minimum asked for.
    pub min_items: usize,
}

/// One failed threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateFailure {
    /// The window, or `None` for all labels.
    pub window: Option<String>,
    /// What failed.
    #[serde(flatten)]
    pub flag: Flag,
}

/// Everything `gavel agree` computes: [`report`] on all labels, [`drift`] per window when `by`
/// is given, and the thresholds checked on both (overall first, then each window in order).
pub fn agree(
    labels: &[Label],
    opts: &AgreementOptions,
    by: Option<&DriftBy>,
    thresholds: &Thresholds,
) -> Result<AgreeResult, AgreementError> {
    agree_columns(&LabelColumns::from_labels(labels), opts, by, thresholds)
}

/// [`agree`] on the labels of `cols` (what `gavel agree` runs: the labels are read straight
/// into columns).
pub fn agree_columns(
    cols: &LabelColumns,
    opts: &AgreementOptions,
    by: Option<&DriftBy>,
    thresholds: &Thresholds,
) -> Result<AgreeResult, AgreementError> {
    let overall = report_columns(cols, None, opts)?;
    let drift = by
        .map(|by| drift_columns(cols, by, opts, thresholds))
        .transpose()?;
    let gate = thresholds.any().then(|| {
        let mut failed: Vec<GateFailure> = thresholds
            .check(&overall)
            .into_iter()
            .map(|flag| GateFailure { window: None, flag })
            .collect();
        let mut skipped = Vec::new();
        let mut skip = |window: Option<&str>, r: &AgreementReport| {
            if thresholds.skips(r) {
                skipped.push(GateSkip {
                    window: window.map(str::to_string),
                    n_pairable_items: r.n_pairable_items,
                    min_items: thresholds.min_items,
                });
            }
        };
        skip(None, &overall);
        if let Some(d) = &drift {
            for w in &d.windows {
                skip(Some(&w.window), &w.report);
                failed.extend(w.flags.iter().cloned().map(|flag| GateFailure {
                    window: Some(w.window.clone()),
                    flag,
                }));
            }
        }
        Gate {
            passed: failed.is_empty(),
            failed,
            skipped,
        }
    });
    Ok(AgreeResult {
        report: overall,
        drift,
        gate,
    })
}

/// Minimum acceptable values; a statistic below its minimum, or undefined, is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    /// Minimum percent agreement.
    pub min_percent_agreement: Option<f64>,
    /// Minimum Fleiss' kappa.
    pub min_fleiss_kappa: Option<f64>,
    /// Minimum Krippendorff's alpha.
    pub min_krippendorff_alpha: Option<f64>,
    /// Minimum Gwet's AC1.
    pub min_gwet_ac1: Option<f64>,
    /// Minimum Cohen's kappa of every pair of annotators.
    pub min_cohen_kappa: Option<f64>,
    /// Reports with fewer pairable items are not checked ([`agree`] lists them under
    /// `gate.skipped` instead of failing them).
    pub min_items: usize,
}

/// A threshold that a report does not meet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// The statistic (for pairs: `cohen_kappa[a,b]`).
    pub statistic: String,
    /// Its value (`null` when undefined).
    pub value: Option<f64>,
    /// The minimum asked for.
    pub min: f64,
}

impl Thresholds {
    /// Whether any threshold is set.
    pub fn any(&self) -> bool {
        self.min_percent_agreement.is_some()
            || self.min_fleiss_kappa.is_some()
            || self.min_krippendorff_alpha.is_some()
            || self.min_gwet_ac1.is_some()
            || self.min_cohen_kappa.is_some()
    }

    /// Whether a report has too few items labelled twice or more to be checked.
    pub fn skips(&self, r: &AgreementReport) -> bool {
        r.n_pairable_items < self.min_items
    }

    /// The thresholds a report fails (empty when it passes or has too few items to judge:
    /// see [`Thresholds::skips`]).
    pub fn check(&self, r: &AgreementReport) -> Vec<Flag> {
        let mut flags = Vec::new();
        if self.skips(r) {
            return flags;
        }
        for (name, min, value) in [
            (
                "percent_agreement",
                self.min_percent_agreement,
                r.percent_agreement,
            ),
            ("fleiss_kappa", self.min_fleiss_kappa, r.fleiss_kappa),
            (
                "krippendorff_alpha",
                self.min_krippendorff_alpha,
                r.krippendorff_alpha,
            ),
            ("gwet_ac1", self.min_gwet_ac1, r.gwet_ac1),
        ] {
            if let Some(min) = min
                && value.is_none_or(|v| v < min)
            {
                flags.push(Flag {
                    statistic: name.to_string(),
                    value,
                    min,
                });
            }
        }
        if let Some(min) = self.min_cohen_kappa {
            for p in &r.cohen_kappa {
                if p.kappa.is_none_or(|v| v < min) {
                    flags.push(Flag {
                        statistic: format!("cohen_kappa[{},{}]", p.a, p.b),
                        value: p.kappa,
                        min,
                    });
                }
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::{Format, RecordReader};

    fn labels(jsonl: &str) -> Vec<Label> {
        RecordReader::from_reader(
            "t",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(jsonl.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Label>()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn no_boot() -> AgreementOptions {
        AgreementOptions {
            bootstrap: BootstrapConfig {
                replicates: 0,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn swapped_pairs_are_one_unit() {
        let l = labels(concat!(
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":\"A\",\"model_a\":\"m1\",\"model_b\":\"m2\"}\n",
            "{\"item\":\"q\",\"annotator\":\"y\",\"label\":\"B\",\"model_a\":\"m2\",\"model_b\":\"m1\"}\n",
            "{\"item\":\"r\",\"annotator\":\"x\",\"label\":\"tie\"}\n",
            "{\"item\":\"r\",\"annotator\":\"y\",\"label\":\"A\"}\n",
        ));
        let r = report(&l, &no_boot()).unwrap();
        assert_eq!(r.n_items, 2);
        assert_eq!(r.cohen_kappa.len(), 1);
        assert_eq!(r.cohen_kappa[0].n, 2);
        assert_eq!(r.cohen_kappa[0].percent_agreement, Some(0.5));
        assert_eq!(r.percent_agreement, Some(0.5));
        assert_eq!(r.cohen_kappa[0].weighted_linear, None);
        assert!(
            r.null_reasons
                .contains_key("cohen_kappa[0].weighted_linear")
        );
    }

    #[test]
    fn duplicates_policy() {
        let l = labels(concat!(
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":1}\n",
            "{\"item\":\"q\",\"annotator\":\"y\",\"label\":1}\n",
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":2}\n",
        ));
        let e = report(&l, &no_boot()).unwrap_err();
        assert_eq!(e.index(), Some(2));
        assert!(e.to_string().contains("labelled q twice (1 and 2)"), "{e}");
        let first = report(
            &l,
            &AgreementOptions {
                duplicates: Duplicates::First,
                ..no_boot()
            },
        )
        .unwrap();
        assert_eq!(first.percent_agreement, Some(1.0));
        let last = report(
            &l,
            &AgreementOptions {
                duplicates: Duplicates::Last,
                ..no_boot()
            },
        )
        .unwrap();
        assert_eq!(last.percent_agreement, Some(0.0));
    }

    #[test]
    fn duplicates_are_found_in_input_order_across_units() {
        // Unit r's duplicate (line 4) comes before unit q's second and third x labels (5, 6).
        let l = labels(concat!(
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":1}\n",
            "{\"item\":\"r\",\"annotator\":\"y\",\"label\":3}\n",
            "{\"item\":\"q\",\"annotator\":\"y\",\"label\":2}\n",
            "{\"item\":\"r\",\"annotator\":\"y\",\"label\":1}\n",
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":3}\n",
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":2}\n",
            "{\"item\":\"r\",\"annotator\":\"x\",\"label\":1}\n",
        ));
        let e = report(&l, &no_boot()).unwrap_err();
        assert_eq!(e.index(), Some(3));
        assert!(e.to_string().contains("labelled r twice (3 and 1)"), "{e}");
        let with = |d| {
            code(
                &l,
                &AgreementOptions {
                    duplicates: d,
                    ..no_boot()
                },
            )
            .unwrap()
        };
        // First: q = {x 1, y 2}, r = {y 3, x 1}; last: q = {x 2, y 2}, r = {y 1, x 1}.
        let first = report_coded(&with(Duplicates::First), &no_boot());
        let last = report_coded(&with(Duplicates::Last), &no_boot());
        assert_eq!(first.n_labels, 4);
        assert_eq!(first.percent_agreement, Some(0.0));
        assert_eq!(last.n_labels, 4);
        assert_eq!(last.percent_agreement, Some(1.0));
    }

    #[test]
    fn numbers_and_strings_share_categories_and_order() {
        let l = labels(concat!(
            "{\"item\":\"q\",\"annotator\":\"x\",\"label\":10}\n",
            "{\"item\":\"q\",\"annotator\":\"y\",\"label\":\"10\"}\n",
            "{\"item\":\"r\",\"annotator\":\"x\",\"label\":9}\n",
            "{\"item\":\"r\",\"annotator\":\"y\",\"label\":2}\n",
            "{\"item\":\"s\",\"annotator\":\"y\",\"label\":null}\n",
        ));
        let r = report(
            &l,
            &AgreementOptions {
                level: Level::Ordinal,
                ..no_boot()
            },
        )
        .unwrap();
        assert_eq!(r.categories, vec!["2", "9", "10"]);
        assert_eq!(r.n_missing, 1);
        assert_eq!(r.n_items, 2);
        assert!(r.cohen_kappa[0].weighted_linear.is_some());
        let bad = labels("{\"item\":\"q\",\"annotator\":\"x\",\"label\":\"A\"}\n");
        assert!(matches!(
            report(
                &bad,
                &AgreementOptions {
                    level: Level::Interval,
                    ..no_boot()
                }
            ),
            Err(AgreementError::NotNumeric { .. })
        ));
        assert_eq!(
            report(
                &bad,
                &AgreementOptions {
                    level: Level::Ordinal,
                    ..no_boot()
                }
            ),
            Err(AgreementError::Unordered)
        );
    }

    /// [`majority_counts`] the plain way: for each label, the others' counts scanned in full.
    fn majority_counts_by_scanning(r: &Ratings, k: usize, n_ann: usize) -> [Vec<usize>; 3] {
        let mut out = [vec![0; n_ann], vec![0; n_ann], vec![0; n_ann]];
        for u in 0..r.n_units() {
            let rs = r.unit(u);
            for x in rs {
                let mut others = vec![0u32; k];
                for y in rs.iter().filter(|y| y.annotator != x.annotator) {
                    others[y.category as usize] += 1;
                }
                let top = *others.iter().max().unwrap();
                let tops: Vec<usize> = (0..k).filter(|&c| others[c] == top).collect();
                out[0][x.annotator as usize] += 1;
                if top > 0 && tops.len() == 1 {
                    out[1][x.annotator as usize] += 1;
                    if tops[0] == x.category as usize {
                        out[2][x.annotator as usize] += 1;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn majority_counts_equal_a_full_scan() {
        let mut state = 12345u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % m) as u32
        };
        for k in [1usize, 2, 3, 5] {
            let n_ann = 7;
            let units: Vec<Vec<Rating>> = (0..3000)
                .map(|_| {
                    let m = next(n_ann as u64 + 1);
                    let mut anns: Vec<u32> = (0..n_ann as u32).collect();
                    for i in (1..anns.len()).rev() {
                        anns.swap(i, next(i as u64 + 1) as usize);
                    }
                    let mut rs: Vec<Rating> = anns[..m as usize]
                        .iter()
                        .map(|&a| Rating {
                            annotator: a,
                            category: next(k as u64),
                        })
                        .collect();
                    rs.sort_unstable();
                    rs
                })
                .collect();
            let r = Ratings::from_units(n_ann, k, units).unwrap();
            let (g, c, a) = majority_counts(&r, k, n_ann);
            assert_eq!(
                [g, c, a],
                majority_counts_by_scanning(&r, k, n_ann),
                "k = {k}"
            );
        }
    }

    #[test]
    fn majority_of_the_others() {
        let l = labels(concat!(
            "{\"item\":\"1\",\"annotator\":\"a\",\"label\":\"x\"}\n",
            "{\"item\":\"1\",\"annotator\":\"b\",\"label\":\"x\"}\n",
            "{\"item\":\"1\",\"annotator\":\"c\",\"label\":\"y\"}\n",
            "{\"item\":\"2\",\"annotator\":\"a\",\"label\":\"x\"}\n",
            "{\"item\":\"2\",\"annotator\":\"b\",\"label\":\"y\"}\n",
            "{\"item\":\"2\",\"annotator\":\"c\",\"label\":\"y\"}\n",
        ));
        let r = report(&l, &no_boot()).unwrap();
        let c = &r.annotators[2];
        assert_eq!((c.annotator.as_str(), c.n, c.n_compared), ("c", 2, 1));
        assert_eq!(c.agreement_with_majority, Some(0.0));
        // b's two others always split, so b is never compared.
        let b = &r.annotators[1];
        assert_eq!((b.n_compared, b.agreement_with_majority), (0, None));
        assert!(
            r.null_reasons
                .contains_key("annotators[1].agreement_with_majority")
        );
    }

    #[test]
    fn intervals_are_reproducible_and_bracket_the_estimate() {
        let mut text = String::new();
        for i in 0..60 {
            let x = if i % 3 == 0 { "A" } else { "B" };
            let y = if i % 5 == 0 { "A" } else { x };
            text.push_str(&format!(
                "{{\"item\":\"{i}\",\"annotator\":\"x\",\"label\":\"{x}\"}}\n"
            ));
            text.push_str(&format!(
                "{{\"item\":\"{i}\",\"annotator\":\"y\",\"label\":\"{y}\"}}\n"
            ));
        }
        let l = labels(&text);
        let opts = AgreementOptions {
            bootstrap: BootstrapConfig {
                replicates: 200,
                seed: 3,
                level: 0.9,
            },
            ..Default::default()
        };
        let a = report(&l, &opts).unwrap();
        let b = report(&l, &opts).unwrap();
        assert_eq!(a, b);
        let ci = a.krippendorff_alpha_ci.unwrap().unwrap();
        let alpha = a.krippendorff_alpha.unwrap();
        assert!(ci.lo <= alpha && alpha <= ci.hi, "{ci:?} {alpha}");
        assert!(a.cohen_kappa[0].kappa_ci.unwrap().is_some());
    }

    #[test]
    fn drift_windows_and_thresholds() {
        let mut text = String::new();
        for (day, agree) in [(1, true), (2, true), (9, false), (10, false)] {
            for i in 0..4 {
                let x = if i % 2 == 0 { "A" } else { "B" };
                let y = if agree {
                    x
                } else if x == "A" {
                    "B"
                } else {
                    "A"
                };
                let t = format!("2024-03-{day:02}T10:00:00Z");
                text.push_str(&format!("{{\"item\":\"{day}-{i}\",\"annotator\":\"x\",\"label\":\"{x}\",\"time\":\"{t}\"}}\n"));
                text.push_str(&format!("{{\"item\":\"{day}-{i}\",\"annotator\":\"y\",\"label\":\"{y}\",\"time\":\"{t}\"}}\n"));
            }
        }
        text.push_str("{\"item\":\"z\",\"annotator\":\"x\",\"label\":\"A\"}\n");
        let l = labels(&text);
        let th = Thresholds {
            min_krippendorff_alpha: Some(0.5),
            ..Default::default()
        };
        let d = drift(
            &l,
            &DriftBy::Time {
                window_secs: 7 * 86_400,
            },
            &no_boot(),
            &th,
        )
        .unwrap();
        assert_eq!(d.n_without_key, 1);
        assert_eq!(d.windows.len(), 2);
        assert_eq!(
            d.windows[0].window,
            "2024-03-01T00:00:00Z/2024-03-08T00:00:00Z"
        );
        assert!(d.windows[0].flags.is_empty());
        assert_eq!(d.windows[1].flags.len(), 1);
        assert_eq!(d.windows[1].report.percent_agreement, Some(0.0));
    }
}
