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
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use gavel_core::{Label, LabelValue, UnitKey, format_number, swap_pairwise_label};
use rayon::prelude::*;
use serde::Serialize;

use super::cohen::{cohen_kappa_analytic, cohen_kappas_from_table};
use super::{
    Level, Rating, Ratings, Undefined, Weighting, cohen_kappa_from_table, fleiss_kappa_weighted,
    gwet_ac1_weighted, krippendorff_alpha_weighted, percent_agreement_weighted,
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

/// For keys that are already [`FastHasher`] hashes: passes them through.
#[derive(Default, Clone, Copy)]
struct HashOfHash(u64);

impl Hasher for HashOfHash {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = FastHasher(self.0);
        h.write(bytes);
        self.0 = h.finish();
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

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
    /// The units, in order of first appearance.
    pub units: Vec<UnitKey>,
    /// The annotators, sorted by name.
    pub annotators: Vec<String>,
    /// The value domain's names, in order.
    pub categories: Vec<String>,
    /// The values' numbers, when every value is a number.
    pub points: Option<Vec<f64>>,
    /// Whether the domain has a meaningful order.
    pub ordered: bool,
    /// The ratings.
    pub ratings: Ratings,
    /// `null` labels skipped.
    pub n_missing: usize,
}

/// A unit as borrowed from a label: item, sorted model pair, model ([`Label::unit`]'s key).
type UnitRef<'a> = (&'a str, Option<(&'a str, &'a str)>, Option<&'a str>);

/// [`Label::unit`] without copying: the unit's key and whether A and B are exchanged in it.
fn unit_ref(l: &Label) -> (UnitRef<'_>, bool) {
    match (&l.model_a, &l.model_b) {
        (Some(a), Some(b)) if a > b => ((&l.item, Some((b, a)), None), true),
        (Some(a), Some(b)) => ((&l.item, Some((a, b)), None), false),
        _ => ((&l.item, None, l.model.as_deref()), false),
    }
}

/// [`LabelValue::category_key`] without copying a category's text.
fn key_of(v: &LabelValue) -> Cow<'_, str> {
    match v {
        LabelValue::Category(c) => Cow::Borrowed(c.as_str()),
        LabelValue::Number(x) => Cow::Owned(format_number(*x)),
        LabelValue::Missing => Cow::Borrowed(""),
    }
}

/// Units numbered in order of first appearance, found by their precomputed hash.
struct UnitIndex<'a> {
    /// Hash -> the first unit with that hash.
    by_hash: HashMap<u64, u32, BuildHasherDefault<HashOfHash>>,
    /// Units whose hash an earlier, different unit has.
    collided: HashMap<UnitRef<'a>, u32, FastHash>,
    units: Vec<UnitRef<'a>>,
}

impl<'a> UnitIndex<'a> {
    fn with_capacity(n: usize) -> UnitIndex<'a> {
        UnitIndex {
            by_hash: HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default()),
            collided: HashMap::default(),
            units: Vec::new(),
        }
    }

    /// The unit's number; `hash` is its key's hash.
    fn get_or_insert(&mut self, hash: u64, unit: UnitRef<'a>) -> u32 {
        let next = self.units.len() as u32;
        match self.by_hash.entry(hash) {
            Entry::Vacant(e) => {
                self.units.push(unit);
                *e.insert(next)
            }
            Entry::Occupied(e) if self.units[*e.get() as usize] == unit => *e.get(),
            Entry::Occupied(_) => *self.collided.entry(unit).or_insert_with(|| {
                self.units.push(unit);
                next
            }),
        }
    }

    fn into_units(self) -> Vec<UnitRef<'a>> {
        self.units
    }
}

/// One label being coded: unit, annotator, value, index, and the value's number (NaN when it
/// is not a number).
type Coding<'a> = (u32, u32, Cow<'a, LabelValue>, usize, f64);

/// Codes labels (unit, annotator, category index) under the options' policies.
pub fn code(labels: &[Label], opts: &AgreementOptions) -> Result<Coded, AgreementError> {
    // Units are interned by the hash of their key, computed for every label up front on all
    // cores (reading the ids out of the labels is most of the cost). The table maps a hash to
    // the first unit that has it, in small entries that stay in cache; a different unit with
    // the same hash (astronomically rare, but possible) goes to a second table keyed by the
    // unit itself. Sized for two labels per unit up front.
    let hashes: Vec<u64> = labels
        .par_iter()
        .with_min_len(1 << 14)
        .map(|l| FastHash::default().hash_one(unit_ref(l).0))
        .collect();
    let mut unit_ix = UnitIndex::with_capacity(labels.len() / 2);
    let mut ann_ix: HashMap<&str, u32, FastHash> = HashMap::default();
    let mut ann_names: Vec<&str> = Vec::new();
    // Every non-missing label in input order: (unit, annotator, value, index, number), the
    // number being the value's (NaN when it is not one), read once while the label is at hand.
    let mut all: Vec<Coding<'_>> = Vec::with_capacity(labels.len());
    let mut n_missing = 0;
    let unit_key = |u: &UnitRef<'_>| UnitKey {
        item: u.0.to_string(),
        models: u.1.map(|(a, b)| (a.to_string(), b.to_string())),
        model: u.2.map(str::to_string),
    };
    for (index, label) in labels.iter().enumerate() {
        if label.label.is_missing() {
            n_missing += 1;
            continue;
        }
        let (unit, swapped) = unit_ref(label);
        let value = if swapped {
            Cow::Owned(swap_pairwise_label(&label.label))
        } else {
            Cow::Borrowed(&label.label)
        };
        let u = unit_ix.get_or_insert(hashes[index], unit);
        // Few annotators: a scan of their names beats hashing.
        let name = label.annotator.as_str();
        let a = match ann_names.iter().take(8).position(|&n| n == name) {
            Some(a) => a as u32,
            None => {
                let next_ann = ann_names.len() as u32;
                *ann_ix.entry(name).or_insert_with(|| {
                    ann_names.push(name);
                    next_ann
                })
            }
        };
        let number = value.as_f64().unwrap_or(f64::NAN);
        all.push((u, a, value, index, number));
    }
    drop(hashes);
    let units = unit_ix.into_units();

    // Duplicates (one annotator, one unit, twice), found within each unit's labels: positions
    // in `all`, grouped by unit in input order (a counting sort).
    let mut group_start = vec![0usize; units.len() + 1];
    for k in &all {
        group_start[k.0 as usize + 1] += 1;
    }
    for u in 0..units.len() {
        group_start[u + 1] += group_start[u];
    }
    let mut by_unit_pos = vec![0usize; all.len()];
    {
        let mut fill = group_start.clone();
        for (pos, k) in all.iter().enumerate() {
            by_unit_pos[fill[k.0 as usize]] = pos;
            fill[k.0 as usize] += 1;
        }
    }
    // For each label: `None` if it is dropped, else the position whose value and index it keeps.
    let mut keep_from: Vec<Option<usize>> = (0..all.len()).map(Some).collect();
    // The first duplicate in input order: (its position, the first label's position).
    let mut first_duplicate: Option<(usize, usize)> = None;
    let mut group: Vec<(u32, usize)> = Vec::new();
    for u in 0..units.len() {
        let members = &by_unit_pos[group_start[u]..group_start[u + 1]];
        if members.len() < 2 {
            continue;
        }
        group.clear();
        group.extend(members.iter().map(|&pos| (all[pos].1, pos)));
        // By annotator, then input order.
        group.sort_unstable();
        for run in group.chunk_by(|x, y| x.0 == y.0) {
            if run.len() < 2 {
                continue;
            }
            let (first, second, last) = (run[0].1, run[1].1, run[run.len() - 1].1);
            if first_duplicate.is_none_or(|(p, _)| second < p) {
                first_duplicate = Some((second, first));
            }
            for &(_, pos) in &run[1..] {
                keep_from[pos] = None;
            }
            if opts.duplicates == Duplicates::Last {
                keep_from[first] = Some(last);
            }
        }
    }
    if opts.duplicates == Duplicates::Error
        && let Some((second, first)) = first_duplicate
    {
        let (u, a, value, index, _) = &all[second];
        return Err(AgreementError::Duplicate {
            index: *index,
            unit: units
                .get(*u as usize)
                .map(|u| unit_key(u).to_string())
                .unwrap_or_default(),
            annotator: ann_names
                .get(*a as usize)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            first: all[first].2.to_string(),
            second: value.to_string(),
        });
    }
    drop(by_unit_pos);
    let values: Vec<(Cow<'_, LabelValue>, usize, f64)> =
        all.iter().map(|k| (k.2.clone(), k.3, k.4)).collect();
    let mut kept: Vec<Coding<'_>> = Vec::with_capacity(all.len());
    for (pos, k) in all.into_iter().enumerate() {
        if let Some(from) = keep_from[pos] {
            let (value, index, number) = if from == pos {
                (k.2, k.3, k.4)
            } else {
                values[from].clone()
            };
            kept.push((k.0, k.1, value, index, number));
        }
    }
    drop(values);

    // Single-label units.
    let mut per_unit = vec![0u32; units.len()];
    for k in &kept {
        per_unit[k.0 as usize] += 1;
    }
    if opts.single == SingleLabels::Drop {
        kept.retain(|k| per_unit[k.0 as usize] >= 2);
    }

    // The value domain.
    let unit_name = |u: u32| {
        units
            .get(u as usize)
            .map(|u| unit_key(u).to_string())
            .unwrap_or_default()
    };
    let ann_name = |a: u32| {
        ann_names
            .get(a as usize)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let numeric_level = opts.level.is_numeric();
    let all_numeric = kept.iter().all(|k| !k.4.is_nan());
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
        for k in &kept {
            let key = key_of(&k.2);
            if !given_ix.contains_key(key.as_ref()) {
                return Err(AgreementError::OutsideCategories {
                    index: k.3,
                    unit: unit_name(k.0),
                    annotator: ann_name(k.1),
                    value: key.into_owned(),
                    categories: cats.join(", "),
                });
            }
        }
        if numeric_level
            && pts.is_none()
            && let Some(k) = kept.iter().find(|k| k.4.is_nan())
        {
            return Err(not_numeric(k, &unit_name, &ann_name, opts.level));
        }
        (cats, pts, true)
    } else if all_numeric {
        let mut values: Vec<f64> = kept
            .iter()
            // `+ 0.0` makes -0 and 0 one value under `total_cmp`.
            .map(|k| k.4 + 0.0)
            .collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let names = values.iter().map(|&x| format_number(x)).collect();
        (names, Some(values), true)
    } else {
        if numeric_level && let Some(k) = kept.iter().find(|k| k.4.is_nan()) {
            return Err(not_numeric(k, &unit_name, &ann_name, opts.level));
        }
        if opts.level == Level::Ordinal {
            return Err(AgreementError::Unordered);
        }
        let mut distinct: HashMap<Cow<'_, str>, (), FastHash> = HashMap::default();
        for k in &kept {
            distinct.entry(key_of(&k.2)).or_insert(());
        }
        let mut names: Vec<String> = distinct.into_keys().map(Cow::into_owned).collect();
        names.sort();
        (names, None, false)
    };
    let text_ix: HashMap<&str, u32, FastHash> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let category_of = |v: &LabelValue, number: f64| -> u32 {
        if by_number {
            let x = number + 0.0;
            points
                .as_deref()
                .and_then(|p| p.binary_search_by(|y| y.total_cmp(&x)).ok())
                .unwrap_or(0) as u32
        } else {
            text_ix.get(key_of(v).as_ref()).copied().unwrap_or(0)
        }
    };

    // Annotators sorted by name; units keep their order, less those left without labels.
    let mut order: Vec<u32> = (0..ann_names.len() as u32).collect();
    order.sort_by(|&x, &y| ann_names[x as usize].cmp(ann_names[y as usize]));
    let mut rank = vec![0u32; ann_names.len()];
    for (r, &a) in order.iter().enumerate() {
        rank[a as usize] = r as u32;
    }
    let annotators: Vec<String> = order
        .iter()
        .map(|&a| ann_names[a as usize].to_string())
        .collect();
    // Ratings grouped by unit (a counting sort keeps the units' order).
    let mut start = vec![0usize; units.len() + 1];
    for k in &kept {
        start[k.0 as usize + 1] += 1;
    }
    for u in 0..units.len() {
        start[u + 1] += start[u];
    }
    let mut fill = start.clone();
    let mut flat = vec![
        Rating {
            annotator: 0,
            category: 0
        };
        kept.len()
    ];
    for k in &kept {
        let at = &mut fill[k.0 as usize];
        flat[*at] = Rating {
            annotator: rank[k.1 as usize],
            category: category_of(&k.2, k.4),
        };
        *at += 1;
    }
    drop(kept);
    let mut kept_units = Vec::new();
    let mut unit_ratings: Vec<&[Rating]> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        let rs = &mut flat[start[u]..start[u + 1]];
        if !rs.is_empty() {
            rs.sort_unstable();
            kept_units.push(unit_key(unit));
        }
    }
    for u in 0..units.len() {
        if start[u] < start[u + 1] {
            unit_ratings.push(&flat[start[u]..start[u + 1]]);
        }
    }
    let n_categories = categories.len();
    let ratings = Ratings::from_units(
        annotators.len(),
        n_categories,
        unit_ratings.into_iter().map(|rs| rs.iter().copied()),
    )
    .map_err(|_| AgreementError::Unordered)?;
    Ok(Coded {
        units: kept_units,
        annotators,
        categories,
        points,
        ordered,
        ratings,
        n_missing,
    })
}

fn not_numeric(
    k: &Coding<'_>,
    unit_name: &dyn Fn(u32) -> String,
    ann_name: &dyn Fn(u32) -> String,
    level: Level,
) -> AgreementError {
    AgreementError::NotNumeric {
        index: k.3,
        unit: unit_name(k.0),
        annotator: ann_name(k.1),
        value: k.2.to_string(),
        level: level.as_str(),
    }
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
    let coded = code(labels, opts)?;
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
    let t = r.tally();
    let k = coded.categories.len();
    let mut reasons = BTreeMap::new();
    let points = coded.points.as_deref();
    let level = opts.level;

    let headline = |w: Option<&[u32]>| -> [Result<f64, Undefined>; 4] {
        [
            percent_agreement_weighted(&t, w),
            fleiss_kappa_weighted(&t, w),
            krippendorff_alpha_weighted(&t, level, points, w),
            gwet_ac1_weighted(&t, w),
        ]
    };
    let [pa, fk, ka, ac] = headline(None);
    let percent_agreement = keep(&mut reasons, "percent_agreement", pa);
    let fleiss_kappa = keep(&mut reasons, "fleiss_kappa", fk);
    let krippendorff_alpha = keep(&mut reasons, "krippendorff_alpha", ka);
    let gwet_ac1 = keep(&mut reasons, "gwet_ac1", ac);

    let pair_list = pairs(r);
    let mut cohen = Vec::with_capacity(pair_list.len());
    for (i, (a, b, entries)) in pair_list.iter().enumerate() {
        let table = pair_table(k, entries, None);
        let kappas = cohen_kappas_from_table(&table);
        let analytic = cohen_kappa_analytic(&table, opts.bootstrap.level).ok();
        let agree = entries.iter().filter(|e| e.1 == e.2).count();
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
            n: entries.len(),
            kappa: keep(&mut reasons, &format!("{path}.kappa"), kappas.kappa),
            weighted_linear: wl,
            weighted_quadratic: wq,
            percent_agreement: if entries.is_empty() {
                None
            } else {
                Some(agree as f64 / entries.len() as f64)
            },
            kappa_ci: None,
            kappa_se: analytic.map(|a| a.1),
            kappa_ci_analytic: analytic.map(|a| a.2),
        });
    }

    let annotators = majority_agreement(coded, &mut reasons);

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
            let mut out: Vec<f64> = [
                percent_agreement_weighted(&gt, Some(w)),
                fleiss_kappa_weighted(&gt, Some(w)),
                krippendorff_alpha_weighted(&gt, level, points, Some(w)),
                gwet_ac1_weighted(&gt, Some(w)),
            ]
            .into_iter()
            .map(ok_or_nan)
            .collect();
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

/// Each annotator against the plurality label of the other annotators on the same unit.
fn majority_agreement(
    coded: &Coded,
    reasons: &mut BTreeMap<String, String>,
) -> Vec<AnnotatorReport> {
    let r = &coded.ratings;
    let n_ann = coded.annotators.len();
    let mut given = vec![0usize; n_ann];
    let mut compared = vec![0usize; n_ann];
    let mut agreed = vec![0usize; n_ann];
    let mut counts: Vec<u32> = vec![0; coded.categories.len()];
    for u in 0..r.n_units() {
        let rs = r.unit(u);
        for x in rs {
            counts[x.category as usize] += 1;
        }
        for x in rs {
            given[x.annotator as usize] += 1;
            counts[x.category as usize] -= 1;
            let mut best = 0u32;
            let mut best_c = None;
            let mut tied = false;
            for y in rs {
                let n = counts[y.category as usize];
                if n == 0 || Some(y.category) == best_c {
                    continue;
                }
                if n > best {
                    best = n;
                    best_c = Some(y.category);
                    tied = false;
                } else if n == best {
                    tied = true;
                }
            }
            counts[x.category as usize] += 1;
            if let (Some(c), false) = (best_c, tied) {
                compared[x.annotator as usize] += 1;
                if c == x.category {
                    agreed[x.annotator as usize] += 1;
                }
            }
        }
        for x in rs {
            counts[x.category as usize] = 0;
        }
    }
    (0..n_ann)
        .map(|a| {
            let value = if compared[a] == 0 {
                reasons.insert(
                    format!("annotators[{a}].agreement_with_majority"),
                    "no item where the other annotators have a single most common label"
                        .to_string(),
                );
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
        .collect()
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
    let mut groups: Vec<(String, Option<i64>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut without = 0;
    let origin = match by {
        DriftBy::Time { .. } => labels
            .iter()
            .filter_map(Label::timestamp)
            .min()
            .map(|t| t.div_euclid(86_400) * 86_400),
        _ => None,
    };
    for (i, l) in labels.iter().enumerate() {
        let key = match by {
            DriftBy::Time { window_secs } => match (l.timestamp(), origin) {
                (Some(t), Some(o)) => {
                    let w = (*window_secs).max(1);
                    let start = o + (t - o).div_euclid(w) * w;
                    Some((start.to_string(), Some(start)))
                }
                _ => None,
            },
            DriftBy::Round => l.round.clone().map(|r| (r, None)),
            DriftBy::GuidelineVersion => l.guideline_version.clone().map(|r| (r, None)),
        };
        let Some((key, start)) = key else {
            without += 1;
            continue;
        };
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, start, Vec::new()));
            groups.len() - 1
        });
        groups[g].2.push(i);
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
        let subset: Vec<Label> = members
            .iter()
            .filter_map(|&i| labels.get(i).cloned())
            .collect();
        let report = match report(&subset, opts) {
            Ok(r) => r,
            Err(e) => return Err(reindex(e, &members)),
        };
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

/// Maps an error's label index in a subset back to the index in the whole input.
fn reindex(e: AgreementError, members: &[usize]) -> AgreementError {
    let fix = |i: usize| members.get(i).copied().unwrap_or(i);
    match e {
        AgreementError::Duplicate {
            index,
            unit,
            annotator,
            first,
            second,
        } => AgreementError::Duplicate {
            index: fix(index),
            unit,
            annotator,
            first,
            second,
        },
        AgreementError::NotNumeric {
            index,
            unit,
            annotator,
            value,
            level,
        } => AgreementError::NotNumeric {
            index: fix(index),
            unit,
            annotator,
            value,
            level,
        },
        AgreementError::OutsideCategories {
            index,
            unit,
            annotator,
            value,
            categories,
        } => AgreementError::OutsideCategories {
            index: fix(index),
            unit,
            annotator,
            value,
            categories,
        },
        AgreementError::Unordered => AgreementError::Unordered,
    }
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
    let overall = report(labels, opts)?;
    let drift = by
        .map(|by| drift(labels, by, opts, thresholds))
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

    #[test]
    fn units_with_one_hash_stay_apart() {
        let mut ix = UnitIndex::with_capacity(4);
        let (a, b, c) = (
            ("q1", None, None),
            ("q2", None, Some("m")),
            ("q1", Some(("x", "y")), None),
        );
        assert_eq!(ix.get_or_insert(7, a), 0);
        assert_eq!(ix.get_or_insert(7, b), 1);
        assert_eq!(ix.get_or_insert(7, c), 2);
        assert_eq!(ix.get_or_insert(7, b), 1);
        assert_eq!(ix.get_or_insert(7, a), 0);
        assert_eq!(ix.get_or_insert(9, ("q3", None, None)), 3);
        assert_eq!(ix.get_or_insert(7, c), 2);
        assert_eq!(ix.into_units(), vec![a, b, c, ("q3", None, None)]);
    }

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
