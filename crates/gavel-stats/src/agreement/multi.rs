//! Multi-annotator coefficients built on per-unit category counts: percent agreement, Fleiss'
//! kappa and Gwet's AC1.
//!
//! Notation (Gwet 2014, "Handbook of Inter-Rater Reliability", 4th ed., ch. 2 and 4; irrCAC):
//! `r_ik` is how many annotators put unit `i` in category `k`, `r_i = Σ_k r_ik`, `q` is the
//! number of categories, `n` the number of units with at least one label and `n'` the number
//! with at least two.
//!
//! - observed agreement `p_a = (1/n') Σ_{i: r_i ≥ 2} Σ_k r_ik (r_ik - 1) / (r_i (r_i - 1))`
//!   (with one label per annotator and no missing data this is Fleiss' `P̄`);
//! - category prevalence `π_k = (1/n) Σ_i r_ik / r_i` (Fleiss' `p_j` for complete data);
//! - Fleiss: `p_e = Σ_k π_k²`, `κ = (p_a - p_e) / (1 - p_e)`;
//! - Gwet's AC1: `p_e = Σ_k π_k (1 - π_k) / (q - 1)`, `AC1 = (p_a - p_e) / (1 - p_e)`.
//!
//! With complete data (every unit labelled by the same number of annotators) Fleiss' kappa
//! equals `statsmodels.stats.inter_rater.fleiss_kappa(table, method="fleiss")`; with missing
//! labels statsmodels assumes equal counts and gives another number, and we follow irrCAC's
//! `CAC.fleiss()` (Gwet's generalisation above). AC1 equals irrCAC's `CAC.gwet()` with
//! identity weights, where `q` is the number of categories in the value domain.
//!
//! Bootstrap weights: each function has a `_weighted` form in which unit `i` counts `w_i`
//! times (`w_i` = how often a resample drew it), so a replicate costs one pass over the units.

use super::{Tally, Undefined};

/// Sums shared by the three coefficients.
struct Sums {
    /// Σ over pairable units of w · p_a,i.
    pa_sum: f64,
    /// Σ over pairable units of w.
    pairable: f64,
    /// Σ over labelled units of w · r_ik / r_i, per category.
    prevalence: Vec<f64>,
    /// Σ over labelled units of w.
    labelled: f64,
}

fn sums(t: &Tally, weights: Option<&[u32]>) -> Sums {
    let mut s = Sums {
        pa_sum: 0.0,
        pairable: 0.0,
        prevalence: vec![0.0; t.n_categories()],
        labelled: 0.0,
    };
    for u in 0..t.n_units() {
        let w = Tally::weight(weights, u);
        if w == 0.0 {
            continue;
        }
        let m = t.size(u) as f64;
        if m < 1.0 {
            continue;
        }
        s.labelled += w;
        let mut agree = 0.0;
        for &(c, n) in t.cells(u) {
            let n = n as f64;
            agree += n * (n - 1.0);
            if let Some(p) = s.prevalence.get_mut(c as usize) {
                *p += w * n / m;
            }
        }
        if m >= 2.0 {
            s.pairable += w;
            s.pa_sum += w * agree / (m * (m - 1.0));
        }
    }
    s
}

/// Percent agreement, Fleiss' kappa and Gwet's AC1 from one pass over the units (each as
/// its own function computes it).
pub(crate) fn multi_weighted(t: &Tally, weights: Option<&[u32]>) -> [Result<f64, Undefined>; 3] {
    let s = sums(t, weights);
    [
        percent_from(&s),
        fleiss_from(&s),
        ac1_from(t.n_categories(), &s),
    ]
}

/// Percent agreement: the mean over units with two or more labels of the share of agreeing
/// pairs of labels (`p_a` above; for two annotators, the share of units where they agree).
/// Undefined when no unit has two labels.
pub fn percent_agreement(t: &Tally) -> Result<f64, Undefined> {
    percent_agreement_weighted(t, None)
}

/// [`percent_agreement`] with unit weights.
pub fn percent_agreement_weighted(t: &Tally, weights: Option<&[u32]>) -> Result<f64, Undefined> {
    percent_from(&sums(t, weights))
}

fn percent_from(s: &Sums) -> Result<f64, Undefined> {
    if s.pairable == 0.0 {
        return Err(Undefined::NoPairableUnit);
    }
    Ok(s.pa_sum / s.pairable)
}

/// Fleiss' kappa (Fleiss 1971), generalised to missing labels as in irrCAC. Undefined when no
/// unit has two labels, or when a single category is used (`p_e = 1`: statsmodels returns
/// NaN there).
pub fn fleiss_kappa(t: &Tally) -> Result<f64, Undefined> {
    fleiss_kappa_weighted(t, None)
}

/// [`fleiss_kappa`] with unit weights.
pub fn fleiss_kappa_weighted(t: &Tally, weights: Option<&[u32]>) -> Result<f64, Undefined> {
    fleiss_from(&sums(t, weights))
}

fn fleiss_from(s: &Sums) -> Result<f64, Undefined> {
    if s.pairable == 0.0 {
        return Err(Undefined::NoPairableUnit);
    }
    let pa = s.pa_sum / s.pairable;
    let pe: f64 = s
        .prevalence
        .iter()
        .map(|p| (p / s.labelled) * (p / s.labelled))
        .sum();
    if pe == 1.0 {
        return Err(Undefined::NoExpectedDisagreement);
    }
    Ok((pa - pe) / (1.0 - pe))
}

/// Gwet's AC1 (Gwet 2008) with `q` = the number of categories in the value domain. With a
/// single category every pair agrees and AC1 is 1 (irrCAC sets `p_e = 1 - 1e-15` there, which
/// gives exactly 1). Undefined when no unit has two labels.
pub fn gwet_ac1(t: &Tally) -> Result<f64, Undefined> {
    gwet_ac1_weighted(t, None)
}

/// [`gwet_ac1`] with unit weights.
pub fn gwet_ac1_weighted(t: &Tally, weights: Option<&[u32]>) -> Result<f64, Undefined> {
    ac1_from(t.n_categories(), &sums(t, weights))
}

fn ac1_from(q: usize, s: &Sums) -> Result<f64, Undefined> {
    if s.pairable == 0.0 {
        return Err(Undefined::NoPairableUnit);
    }
    let pa = s.pa_sum / s.pairable;
    if q < 2 {
        return Ok(1.0);
    }
    let spread: f64 = s
        .prevalence
        .iter()
        .map(|p| {
            let pi = p / s.labelled;
            pi * (1.0 - pi)
        })
        .sum();
    let q = q as f64;
    let pe = q * spread / (q * (q - 1.0));
    Ok((pa - pe) / (1.0 - pe))
}

#[cfg(test)]
mod tests {
    use super::super::Ratings;
    use super::*;

    fn tally(matrix: &[&[Option<u32>]], k: usize) -> Tally {
        let m: Vec<Vec<Option<u32>>> = matrix.iter().map(|r| r.to_vec()).collect();
        Ratings::from_matrix(&m, k).unwrap().tally()
    }

    #[test]
    fn fleiss_1971_table() {
        // Fleiss (1971) / Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters,
        // 5 categories; kappa = 0.210 (P̄ = 0.378, P̄e = 0.213).
        let table = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let t = Tally::from_counts(&table);
        let k = fleiss_kappa(&t).unwrap();
        assert!((k - 0.20993070442195522).abs() < 1e-12, "{k}");
        assert!((percent_agreement(&t).unwrap() - 0.37802197802197807).abs() < 1e-12);
    }

    #[test]
    fn degenerate_cases() {
        let one = tally(&[&[Some(0), Some(0)], &[Some(0), Some(0)]], 1);
        assert_eq!(fleiss_kappa(&one), Err(Undefined::NoExpectedDisagreement));
        assert_eq!(gwet_ac1(&one), Ok(1.0));
        assert_eq!(percent_agreement(&one), Ok(1.0));
        let lonely = tally(&[&[Some(0), None], &[None, Some(1)]], 2);
        assert_eq!(fleiss_kappa(&lonely), Err(Undefined::NoPairableUnit));
        assert_eq!(
            percent_agreement(&Tally::default()),
            Err(Undefined::NoPairableUnit)
        );
    }

    #[test]
    fn weights_repeat_units() {
        let t = tally(
            &[&[Some(0), Some(1), Some(1)], &[Some(0), Some(1), Some(0)]],
            2,
        );
        let doubled = tally(
            &[
                &[Some(0), Some(1), Some(1), Some(1)],
                &[Some(0), Some(1), Some(0), Some(0)],
            ],
            2,
        );
        let w = [1, 1, 2];
        for (a, b) in [
            (fleiss_kappa_weighted(&t, Some(&w)), fleiss_kappa(&doubled)),
            (gwet_ac1_weighted(&t, Some(&w)), gwet_ac1(&doubled)),
            (
                percent_agreement_weighted(&t, Some(&w)),
                percent_agreement(&doubled),
            ),
        ] {
            assert!((a.unwrap() - b.unwrap()).abs() < 1e-12);
        }
    }
}
