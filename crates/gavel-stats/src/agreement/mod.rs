//! Agreement among annotators: percent agreement, Cohen's kappa, Fleiss' kappa, Krippendorff's
//! alpha and Gwet's AC1, each exact to its reference implementation.
//!
//! The data model is the *reliability data* of Krippendorff: units (what was labelled), each
//! with the labels that annotators gave it, coded as category indices `0..k` in the order of
//! the value domain (that order matters for ordinal statistics and weighted kappas). Build it
//! with [`Ratings::from_units`] or [`Ratings::from_matrix`] (annotators x units, as the
//! `krippendorff` package takes it), then call the coefficient functions. A missing label is
//! simply absent.
//!
//! Every coefficient returns `Result<f64, Undefined>`: where the reference returns NaN or
//! raises, we return [`Undefined`] with the reason, never NaN.
//!
//! | coefficient | function | reference |
//! |---|---|---|
//! | percent agreement | [`percent_agreement`] | Fleiss' `P̄`, generalised to missing labels as in Gwet (2014) / irrCAC |
//! | Cohen's kappa (unweighted, linear, quadratic) | [`cohen_kappa`] | `sklearn.metrics.cohen_kappa_score` |
//! | Fleiss' kappa | [`fleiss_kappa`] | `statsmodels.stats.inter_rater.fleiss_kappa` (complete data); irrCAC's `fleiss()` with missing labels |
//! | Krippendorff's alpha | [`krippendorff_alpha`] | `krippendorff.alpha` 0.9.0 |
//! | Gwet's AC1 | [`gwet_ac1`] | irrCAC's `gwet()` (Gwet 2008, 2014) |
//!
//! [`report`] turns gavel [`Label`](gavel_core::Label) records into an [`AgreementReport`]
//! (all of the above, per pair of annotators, per annotator against the others, with bootstrap
//! intervals): the one code path behind `gavel agree`, the annotation dashboard and `gavel run`.

mod cohen;
mod krippendorff;
mod multi;
pub mod report;

pub use cohen::{
    CohenKappa, Weighting, cohen_kappa, cohen_kappa_analytic, cohen_kappa_asymptotic,
    cohen_kappa_from_table, cohen_kappas_from_table,
};
pub use krippendorff::{Level, krippendorff_alpha, krippendorff_alpha_weighted};
pub use multi::{
    fleiss_kappa, fleiss_kappa_weighted, gwet_ac1, gwet_ac1_weighted, percent_agreement,
    percent_agreement_weighted,
};
pub use report::{
    AgreementError, AgreementOptions, AgreementReport, DriftBy, DriftReport, Duplicates,
    SingleLabels, Thresholds, drift, report,
};

use serde::Serialize;

/// Why a coefficient has no value on some data (where the reference returns NaN or raises).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Undefined {
    /// No unit has labels from two or more annotators.
    #[error("no item has two or more labels")]
    NoPairableUnit,
    /// The value domain has a single value (krippendorff raises `ValueError` here).
    #[error("every label has the same value, so there is no disagreement to measure")]
    OneValue,
    /// Chance agreement is 1 (or expected disagreement 0): the coefficient is 0/0 (NaN in the
    /// reference).
    #[error("chance agreement is 1 (only one category is used), so the coefficient is 0/0")]
    NoExpectedDisagreement,
    /// There are no labels to compare at all.
    #[error("no labels to compare")]
    Empty,
    /// The statistic needs an order of the categories, and they have none.
    #[error("the categories have no order (give numeric labels or an explicit order)")]
    Unordered,
}

/// One label: which annotator gave which category (an index into the value domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rating {
    /// The annotator's index.
    pub annotator: u32,
    /// The category's index in the value domain.
    pub category: u32,
}

/// Reliability data: units, each with the ratings it received.
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    n_annotators: usize,
    n_categories: usize,
    offsets: Vec<usize>,
    entries: Vec<Rating>,
}

/// An index in the input was out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rating of unit {unit} uses {what} {index}, but there are only {limit}")]
pub struct OutOfRange {
    /// The unit's position.
    pub unit: usize,
    /// `"annotator"` or `"category"`.
    pub what: &'static str,
    /// The bad index.
    pub index: u32,
    /// The number of annotators or categories declared.
    pub limit: usize,
}

/// Unit `unit`'s rating `r` names an annotator and a category within the declared counts.
fn check_rating(
    unit: usize,
    r: Rating,
    n_annotators: usize,
    n_categories: usize,
) -> Result<(), OutOfRange> {
    if r.annotator as usize >= n_annotators {
        return Err(OutOfRange {
            unit,
            what: "annotator",
            index: r.annotator,
            limit: n_annotators,
        });
    }
    if r.category as usize >= n_categories {
        return Err(OutOfRange {
            unit,
            what: "category",
            index: r.category,
            limit: n_categories,
        });
    }
    Ok(())
}

impl Ratings {
    /// Builds reliability data from units given as lists of ratings, with `n_annotators`
    /// annotators and `n_categories` categories in the value domain.
    pub fn from_units<U, I>(
        n_annotators: usize,
        n_categories: usize,
        units: U,
    ) -> Result<Ratings, OutOfRange>
    where
        U: IntoIterator<Item = I>,
        I: IntoIterator<Item = Rating>,
    {
        let mut offsets = vec![0];
        let mut entries = Vec::new();
        for (u, unit) in units.into_iter().enumerate() {
            for r in unit {
                check_rating(u, r, n_annotators, n_categories)?;
                entries.push(r);
            }
            offsets.push(entries.len());
        }
        Ok(Ratings {
            n_annotators,
            n_categories,
            offsets,
            entries,
        })
    }

    /// Reliability data from its parts: unit `u`'s ratings are `entries[offsets[u]..
    /// offsets[u + 1]]` (`offsets` starts at 0, ascends and ends at `entries.len()`).
    pub(crate) fn from_parts(
        n_annotators: usize,
        n_categories: usize,
        offsets: Vec<usize>,
        entries: Vec<Rating>,
    ) -> Result<Ratings, OutOfRange> {
        let bad_offsets = offsets.first() != Some(&0)
            || offsets.last() != Some(&entries.len())
            || offsets.windows(2).any(|w| w[0] > w[1]);
        if bad_offsets {
            return Err(OutOfRange {
                unit: 0,
                what: "offset",
                index: 0,
                limit: entries.len(),
            });
        }
        for (u, w) in offsets.windows(2).enumerate() {
            for &r in &entries[w[0]..w[1]] {
                check_rating(u, r, n_annotators, n_categories)?;
            }
        }
        Ok(Ratings {
            n_annotators,
            n_categories,
            offsets,
            entries,
        })
    }

    /// Builds reliability data from an annotators x units matrix (the `krippendorff` package's
    /// `reliability_data`), `None` for a missing label. The value domain is `0..n_categories`.
    pub fn from_matrix(
        matrix: &[Vec<Option<u32>>],
        n_categories: usize,
    ) -> Result<Ratings, OutOfRange> {
        let n_units = matrix.iter().map(Vec::len).max().unwrap_or(0);
        let units = (0..n_units).map(|u| {
            matrix
                .iter()
                .enumerate()
                .filter_map(move |(a, row)| {
                    row.get(u).copied().flatten().map(|c| Rating {
                        annotator: a as u32,
                        category: c,
                    })
                })
                .collect::<Vec<_>>()
        });
        Ratings::from_units(matrix.len(), n_categories, units)
    }

    /// Number of units (including units with no rating).
    pub fn n_units(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of annotators declared.
    pub fn n_annotators(&self) -> usize {
        self.n_annotators
    }

    /// Number of categories in the value domain.
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// Total number of ratings.
    pub fn n_ratings(&self) -> usize {
        self.entries.len()
    }

    /// The ratings of unit `u` (empty if out of range).
    pub fn unit(&self, u: usize) -> &[Rating] {
        match (self.offsets.get(u), self.offsets.get(u + 1)) {
            (Some(&a), Some(&b)) => self.entries.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Per-unit category counts, the form every multi-annotator coefficient works from.
    pub fn tally(&self) -> Tally {
        let k = self.n_categories;
        let mut t = Tally {
            n_categories: k,
            offsets: Vec::with_capacity(self.n_units() + 1),
            cells: Vec::with_capacity(self.entries.len()),
            sizes: Vec::with_capacity(self.n_units()),
        };
        t.offsets.push(0);
        // Few categories: counted in place; many: sorted per unit.
        let mut counts: Vec<u32> = vec![0; if k <= 32 { k } else { 0 }];
        let mut scratch: Vec<u32> = Vec::new();
        for u in 0..self.n_units() {
            let ratings = self.unit(u);
            if k <= 32 {
                for r in ratings {
                    if let Some(n) = counts.get_mut(r.category as usize) {
                        *n += 1;
                    }
                }
                for (c, n) in counts.iter_mut().enumerate() {
                    if *n > 0 {
                        t.cells.push((c as u32, *n));
                        *n = 0;
                    }
                }
            } else {
                scratch.clear();
                scratch.extend(ratings.iter().map(|r| r.category));
                scratch.sort_unstable();
                for run in scratch.chunk_by(|a, b| a == b) {
                    t.cells.push((run[0], run.len() as u32));
                }
            }
            t.offsets.push(t.cells.len());
            t.sizes.push(ratings.len() as u32);
        }
        t
    }
}

/// Per-unit category counts `n_uc` (sparse): for unit `u`, the categories it received and how
/// often. Statistics take optional unit weights (bootstrap multiplicities) on top of it.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    n_categories: usize,
    offsets: Vec<usize>,
    cells: Vec<(u32, u32)>,
    sizes: Vec<u32>,
}

impl Tally {
    /// A tally from a units x categories count table (statsmodels' `fleiss_kappa` input form).
    pub fn from_counts(table: &[Vec<u32>]) -> Tally {
        let n_categories = table.iter().map(Vec::len).max().unwrap_or(0);
        let mut t = Tally {
            n_categories,
            offsets: vec![0],
            cells: Vec::new(),
            sizes: Vec::new(),
        };
        for row in table {
            let mut m = 0;
            for (c, &n) in row.iter().enumerate() {
                if n > 0 {
                    t.cells.push((c as u32, n));
                    m += n;
                }
            }
            t.offsets.push(t.cells.len());
            t.sizes.push(m);
        }
        t
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.sizes.len()
    }

    /// Number of categories in the value domain.
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// The `(category, count)` cells of unit `u`, categories ascending.
    pub fn cells(&self, u: usize) -> &[(u32, u32)] {
        match (self.offsets.get(u), self.offsets.get(u + 1)) {
            (Some(&a), Some(&b)) => self.cells.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// How many ratings unit `u` received.
    pub fn size(&self, u: usize) -> u32 {
        self.sizes.get(u).copied().unwrap_or(0)
    }

    /// The weight of unit `u`: 1 without weights.
    fn weight(weights: Option<&[u32]>, u: usize) -> f64 {
        match weights {
            None => 1.0,
            Some(w) => w.get(u).copied().unwrap_or(0) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_categories_per_unit() {
        let r = Ratings::from_matrix(
            &[
                vec![Some(0), Some(1), None],
                vec![Some(0), Some(0), Some(2)],
            ],
            3,
        )
        .unwrap();
        assert_eq!(r.n_units(), 3);
        let t = r.tally();
        assert_eq!(t.cells(0), &[(0, 2)]);
        assert_eq!(t.cells(1), &[(0, 1), (1, 1)]);
        assert_eq!(t.cells(2), &[(2, 1)]);
        assert_eq!((t.size(0), t.size(2)), (2, 1));
        assert!(Ratings::from_matrix(&[vec![Some(5)]], 3).is_err());
    }
}
