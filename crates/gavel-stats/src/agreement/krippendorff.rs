//! Krippendorff's alpha for any number of annotators, missing labels, and the nominal,
//! ordinal, interval and ratio levels of measurement.
//!
//! Formula (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"; the `krippendorff`
//! Python package 0.9.0, which we match): only units with two or more labels ("pairable"
//! units) count. With `n_uc` the number of labels of value `c` in unit `u` and `m_u` its labels,
//! the coincidence matrix is `o_ck = Σ_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)`, its margins
//! `n_c = Σ_k o_ck` and `n = Σ_c n_c`. Then
//!
//! `α = 1 - D_o / D_e`, with `D_o = Σ_ck o_ck δ²_ck` and `D_e = Σ_ck n_c n_k δ²_ck / (n - 1)`.
//!
//! Distances `δ²_ck` between values `v_c < v_k` in the value domain:
//! - nominal: 1 when `c ≠ k`;
//! - ordinal: `(Σ_{g=c..k} n_g - (n_c + n_k)/2)²`, the cumulative-frequency distance of the
//!   package (only the order of the values matters, not their numbers);
//! - interval: `(v_c - v_k)²`;
//! - ratio: `((v_c - v_k) / (v_c + v_k))²`, 0 when `v_c + v_k = 0`.
//!
//! The value domain is the set of values that occur in the data (the package's default), in
//! ascending order. Degenerate cases, as the package: a domain of one value raises
//! `ValueError` there and is [`Undefined::OneValue`] here; no pairable unit raises there and
//! is [`Undefined::NoPairableUnit`] here; `D_e = 0` (every pairable label equal while the domain
//! has other values from single-label units) is NaN there and
//! [`Undefined::NoExpectedDisagreement`] here.
//!
//! Computation: the ordinal distance is the interval distance between the "mid-ranks"
//! `M_c = Σ_{g≤c} n_g - n_c/2`, and for both `Σ_ck n_c n_k (x_c - x_k)² = 2 n Σ_c n_c (x_c - x̄)²`,
//! so `D_e` costs O(k) instead of O(k²) (k can be large for continuous scores). `D_o` is
//! summed unit by unit over the unit's distinct values.

use serde::Serialize;

use super::{Tally, Undefined};

/// Stevens' level of measurement, which sets the distance between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Unordered categories.
    #[default]
    Nominal,
    /// Ordered categories; only the order matters.
    Ordinal,
    /// Numbers whose differences matter.
    Interval,
    /// Numbers with a true zero, whose ratios matter.
    Ratio,
}

impl Level {
    /// The level's name as written on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }

    /// Whether the level needs the categories' numeric values.
    pub fn is_numeric(self) -> bool {
        matches!(self, Level::Interval | Level::Ratio)
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "nominal" => Ok(Level::Nominal),
            "ordinal" => Ok(Level::Ordinal),
            "interval" => Ok(Level::Interval),
            "ratio" => Ok(Level::Ratio),
            _ => Err(format!(
                "unknown level `{s}` (expected nominal, ordinal, interval or ratio)"
            )),
        }
    }
}

/// Krippendorff's alpha. `points` are the numeric values of the categories (ascending, used by
/// the interval and ratio levels); without them category `c` has the value `c`, as in the
/// package's `value_counts` form.
pub fn krippendorff_alpha(
    t: &Tally,
    level: Level,
    points: Option<&[f64]>,
) -> Result<f64, Undefined> {
    krippendorff_alpha_weighted(t, level, points, None)
}

/// [`krippendorff_alpha`] where unit `u` counts `weights[u]` times (bootstrap resamples).
pub fn krippendorff_alpha_weighted(
    t: &Tally,
    level: Level,
    points: Option<&[f64]>,
    weights: Option<&[u32]>,
) -> Result<f64, Undefined> {
    let k = t.n_categories();
    if k == 0 {
        // No value at all (every label missing): the package raises as for a single value.
        return Err(Undefined::Empty);
    }
    if k == 1 {
        return Err(Undefined::OneValue);
    }
    let mut n_c = vec![0.0f64; k];
    let mut any_pairable = false;
    for u in 0..t.n_units() {
        let w = Tally::weight(weights, u);
        if w == 0.0 || t.size(u) < 2 {
            continue;
        }
        any_pairable = true;
        for &(c, n) in t.cells(u) {
            if let Some(x) = n_c.get_mut(c as usize) {
                *x += w * n as f64;
            }
        }
    }
    if !any_pairable {
        return Err(Undefined::NoPairableUnit);
    }
    let n: f64 = n_c.iter().sum();
    let values: Vec<f64> = match level {
        Level::Nominal => Vec::new(),
        Level::Ordinal => {
            let mut cum = 0.0;
            n_c.iter()
                .map(|&x| {
                    cum += x;
                    cum - x / 2.0
                })
                .collect()
        }
        Level::Interval | Level::Ratio => (0..k)
            .map(|c| points.and_then(|p| p.get(c).copied()).unwrap_or(c as f64))
            .collect(),
    };
    let value = |c: usize| values.get(c).copied().unwrap_or(0.0);
    let delta = |c: usize, d: usize| -> f64 {
        match level {
            Level::Nominal => f64::from(u8::from(c != d)),
            Level::Ordinal | Level::Interval => {
                let x = value(c) - value(d);
                x * x
            }
            Level::Ratio => {
                let (a, b) = (value(c), value(d));
                if a + b == 0.0 {
                    0.0
                } else {
                    let x = (a - b) / (a + b);
                    x * x
                }
            }
        }
    };

    let expected_sum = match level {
        Level::Nominal => n * n - n_c.iter().map(|x| x * x).sum::<f64>(),
        Level::Ordinal | Level::Interval => {
            let mean = n_c
                .iter()
                .enumerate()
                .map(|(c, &x)| x * value(c))
                .sum::<f64>()
                / n;
            2.0 * n
                * n_c
                    .iter()
                    .enumerate()
                    .map(|(c, &x)| x * (value(c) - mean).powi(2))
                    .sum::<f64>()
        }
        Level::Ratio => {
            let used: Vec<usize> = (0..k).filter(|&c| n_c[c] > 0.0).collect();
            let mut s = 0.0;
            for &c in &used {
                for &d in &used {
                    s += n_c[c] * n_c[d] * delta(c, d);
                }
            }
            s
        }
    };
    let d_e = expected_sum / (n - 1.0);
    if d_e == 0.0 || !d_e.is_finite() {
        return Err(Undefined::NoExpectedDisagreement);
    }

    let mut d_o = 0.0;
    for u in 0..t.n_units() {
        let w = Tally::weight(weights, u);
        let m = t.size(u);
        if w == 0.0 || m < 2 {
            continue;
        }
        let cells = t.cells(u);
        let mut s = 0.0;
        for (i, &(c, nc)) in cells.iter().enumerate() {
            for &(d, nd) in cells.iter().skip(i + 1) {
                s += 2.0 * nc as f64 * nd as f64 * delta(c as usize, d as usize);
            }
        }
        d_o += w * s / (m as f64 - 1.0);
    }
    Ok(1.0 - d_o / d_e)
}

#[cfg(test)]
mod tests {
    use super::super::Ratings;
    use super::*;

    /// Codes a matrix of numbers (annotators x units, NaN = missing) with the observed values,
    /// ascending, as the value domain.
    fn code(matrix: &[&[f64]]) -> (Tally, Vec<f64>) {
        let mut domain: Vec<f64> = matrix
            .iter()
            .flat_map(|r| r.iter().copied())
            .filter(|x| !x.is_nan())
            .collect();
        domain.sort_by(f64::total_cmp);
        domain.dedup();
        let coded: Vec<Vec<Option<u32>>> = matrix
            .iter()
            .map(|r| {
                r.iter()
                    .map(|x| domain.iter().position(|d| d == x).map(|p| p as u32))
                    .collect()
            })
            .collect();
        (
            Ratings::from_matrix(&coded, domain.len()).unwrap().tally(),
            domain,
        )
    }

    const NA: f64 = f64::NAN;

    #[test]
    fn krippendorff_2011_example_a_binary() {
        // "Computing Krippendorff's Alpha-Reliability" (2011), A: binary data, two observers,
        // no missing data; published alpha = 0.095.
        let (t, d) = code(&[
            &[0., 1., 0., 0., 0., 0., 0., 0., 1., 0.],
            &[1., 1., 1., 0., 0., 1., 0., 0., 0., 0.],
        ]);
        let a = krippendorff_alpha(&t, Level::Nominal, Some(&d)).unwrap();
        assert!((a - 0.095).abs() < 5e-4, "{a}");
    }

    #[test]
    fn krippendorff_2011_example_b_nominal() {
        // Same paper, B: nominal data (a..e coded 1..5), two observers, no missing data;
        // published alpha = 0.692.
        let (t, d) = code(&[
            &[1., 1., 2., 2., 4., 3., 3., 3., 5., 4., 4., 1.],
            &[2., 1., 2., 2., 2., 3., 3., 3., 5., 4., 4., 4.],
        ]);
        let a = krippendorff_alpha(&t, Level::Nominal, Some(&d)).unwrap();
        assert!((a - 0.692).abs() < 5e-4, "{a}");
    }

    #[test]
    fn krippendorff_2011_example_c_all_levels() {
        // Same paper, C: four observers, 12 units, missing data. Published:
        // nominal .743, ordinal .815, interval .849, ratio .797.
        let (t, d) = code(&[
            &[1., 2., 3., 3., 2., 1., 4., 1., 2., NA, NA, NA],
            &[1., 2., 3., 3., 2., 2., 4., 1., 2., 5., NA, 3.],
            &[NA, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., NA],
            &[1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., NA],
        ]);
        for (level, published) in [
            (Level::Nominal, 0.743),
            (Level::Ordinal, 0.815),
            (Level::Interval, 0.849),
            (Level::Ratio, 0.797),
        ] {
            let a = krippendorff_alpha(&t, level, Some(&d)).unwrap();
            assert!((a - published).abs() < 5e-4, "{level:?}: {a}");
        }
    }

    #[test]
    fn degenerate_cases_follow_the_package() {
        let (one, d) = code(&[&[1., 1.], &[1., 1.]]);
        assert_eq!(
            krippendorff_alpha(&one, Level::Nominal, Some(&d)),
            Err(Undefined::OneValue)
        );
        let (lonely, d) = code(&[&[1., NA], &[NA, 2.]]);
        assert_eq!(
            krippendorff_alpha(&lonely, Level::Interval, Some(&d)),
            Err(Undefined::NoPairableUnit)
        );
        // Pairable labels all equal; a second value only in a single-label unit: NaN there.
        let (flat, d) = code(&[&[1., 2.], &[1., NA]]);
        assert_eq!(
            krippendorff_alpha(&flat, Level::Nominal, Some(&d)),
            Err(Undefined::NoExpectedDisagreement)
        );
        let (perfect, d) = code(&[&[1., 2.], &[1., 2.]]);
        assert_eq!(
            krippendorff_alpha(&perfect, Level::Ordinal, Some(&d)),
            Ok(1.0)
        );
    }
}
