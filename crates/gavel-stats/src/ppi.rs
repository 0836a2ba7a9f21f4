//! Prediction-powered inference: an unbiased estimate of a human-label mean (say, the human win
//! rate of model A over model B) from many judge labels plus human labels on a subset, with a
//! valid confidence interval.
//!
//! Angelopoulos, Bates, Fannjiang, Jordan and Zrnic, "Prediction-powered inference", Science
//! 382 (2023); power tuning from Angelopoulos, Duchi and Zrnic, "PPI++: Efficient
//! prediction-powered inference" (2023). Reference implementation: `ppi_py` (`ppi_mean_ci`,
//! `classical_mean_ci`), whose numbers these functions reproduce.
//!
//! With human labels `Y` and judge labels `Ŷ` on `n` labelled units and judge labels `Ŷᵘ` on
//! `N` further units without human labels, and a weight `λ`:
//!
//! ```text
//! estimate = λ·mean(Ŷᵘ) + mean(Y − λ·Ŷ)
//! se       = sqrt( var(λ·Ŷᵘ)/N + var(Y − λ·Ŷ)/n )          (variances with ddof 0)
//! interval = estimate ± z(1 − α/2)·se
//! ```
//!
//! `λ = 1` is the original prediction-powered estimate; `λ = 0` is the classical estimate from
//! human labels alone. The tuned `λ = cov(Y, Ŷ) / ((1 + n/N)·var(Ŷ ∪ Ŷᵘ))` (covariance with
//! ddof 0 over the labelled units, variance with ddof 1 over all judge labels), clipped to
//! [0, 1], minimises the estimated variance, so a poor judge cannot make the interval much
//! worse than human labels alone. When the judge labels do not vary at all they carry no
//! information and λ is 0.
//!
//! The estimate is unbiased for the human mean whatever the judge's bias, because the
//! rectifier `mean(Y − λŶ)` measures that bias on the labelled units; it assumes the labelled
//! units are a random sample of all units.
//!
//! ```
//! use gavel_stats::ppi::{ppi_mean, Lambda};
//! let y = [1.0, 0.0, 1.0, 1.0];
//! let yhat = [1.0, 0.0, 0.0, 1.0];
//! let unlabeled = [1.0, 1.0, 0.0, 1.0, 0.5, 1.0];
//! let e = ppi_mean(&y, &yhat, &unlabeled, 0.05, Lambda::Fixed(1.0)).unwrap();
//! assert!((e.estimate - (4.5 / 6.0 + 0.25)).abs() < 1e-12);
//! ```

use std::collections::BTreeMap;

use crate::rank::dist::normal_quantile;

/// A mean with a normal (CLT) interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanEstimate {
    /// The mean.
    pub estimate: f64,
    /// Its standard error, `sd(ddof 0)/sqrt(n)` as `ppi_py.classical_mean_ci` computes it.
    pub std_error: f64,
    /// `estimate ± z(1 − α/2)·std_error`.
    pub ci: (f64, f64),
    /// The number of units.
    pub n: usize,
}

/// How to weight the judge labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lambda {
    /// The variance-minimising weight of PPI++, clipped to [0, 1] (`ppi_py`'s default).
    Tuned,
    /// A fixed weight in [0, 1]: 1 is plain prediction-powered inference, 0 is human-only.
    Fixed(f64),
}

/// A prediction-powered estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpiEstimate {
    /// The estimate of the human mean.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// `estimate ± z(1 − α/2)·std_error`.
    pub ci: (f64, f64),
    /// The weight λ used.
    pub lambda: f64,
    /// Units with both a human and a judge label.
    pub n_labeled: usize,
    /// Units with a judge label only.
    pub n_unlabeled: usize,
}

/// Why an estimate could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PpiError {
    /// No units with both labels (PPI needs at least two) or no human labels at all.
    #[error("too few units with both a human and a judge label (need at least 2)")]
    TooFewLabeled,
    /// No units with a judge label only.
    #[error("no units with a judge label but no human label")]
    NoUnlabeled,
    /// No units at all.
    #[error("no labels")]
    Empty,
    /// `y` and `yhat` differ in length.
    #[error("the human and judge labels of the labelled units differ in number")]
    LengthMismatch,
    /// A value that is not a finite number.
    #[error("a label value is not a finite number")]
    BadValue,
    /// α outside (0, 1) or λ outside [0, 1].
    #[error("alpha must be in (0, 1) and lambda in [0, 1]")]
    BadParameter,
}

fn z_value(alpha: f64) -> Result<f64, PpiError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(PpiError::BadParameter);
    }
    Ok(normal_quantile(1.0 - alpha / 2.0))
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Variance with ddof 0 (numpy's default `std()` squared).
fn var0(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64
}

/// The classical estimate from human labels alone (`ppi_py.classical_mean_ci`).
pub fn classical_mean(y: &[f64], alpha: f64) -> Result<MeanEstimate, PpiError> {
    let z = z_value(alpha)?;
    if y.is_empty() {
        return Err(PpiError::Empty);
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(PpiError::BadValue);
    }
    let estimate = mean(y);
    let std_error = var0(y).sqrt() / (y.len() as f64).sqrt();
    Ok(MeanEstimate {
        estimate,
        std_error,
        ci: (estimate - z * std_error, estimate + z * std_error),
        n: y.len(),
    })
}

/// The prediction-powered estimate of the mean of `y` (`ppi_py.ppi_mean_ci`).
pub fn ppi_mean(
    y: &[f64],
    yhat: &[f64],
    yhat_unlabeled: &[f64],
    alpha: f64,
    lambda: Lambda,
) -> Result<PpiEstimate, PpiError> {
    let z = z_value(alpha)?;
    if y.len() != yhat.len() {
        return Err(PpiError::LengthMismatch);
    }
    if y.len() < 2 {
        return Err(PpiError::TooFewLabeled);
    }
    if yhat_unlabeled.is_empty() {
        return Err(PpiError::NoUnlabeled);
    }
    if y.iter()
        .chain(yhat)
        .chain(yhat_unlabeled)
        .any(|v| !v.is_finite())
    {
        return Err(PpiError::BadValue);
    }
    let (n, big_n) = (y.len() as f64, yhat_unlabeled.len() as f64);
    let lambda = match lambda {
        Lambda::Fixed(l) if (0.0..=1.0).contains(&l) => l,
        Lambda::Fixed(_) => return Err(PpiError::BadParameter),
        Lambda::Tuned => {
            let (my, mh) = (mean(y), mean(yhat));
            let cov0 = y
                .iter()
                .zip(yhat)
                .map(|(a, b)| (a - my) * (b - mh))
                .sum::<f64>()
                / n;
            let all: Vec<f64> = yhat.iter().chain(yhat_unlabeled).copied().collect();
            let m_all = mean(&all);
            let var1 = all.iter().map(|v| (v - m_all) * (v - m_all)).sum::<f64>()
                / (all.len() as f64 - 1.0);
            let l = cov0 / ((1.0 + n / big_n) * var1);
            if l.is_finite() {
                l.clamp(0.0, 1.0)
            } else {
                0.0
            }
        }
    };
    let imputed: Vec<f64> = yhat_unlabeled.iter().map(|v| lambda * v).collect();
    let rectifier: Vec<f64> = y.iter().zip(yhat).map(|(a, b)| a - lambda * b).collect();
    let estimate = mean(&imputed) + mean(&rectifier);
    let std_error = (var0(&imputed) / big_n + var0(&rectifier) / n).sqrt();
    Ok(PpiEstimate {
        estimate,
        std_error,
        ci: (estimate - z * std_error, estimate + z * std_error),
        lambda,
        n_labeled: y.len(),
        n_unlabeled: yhat_unlabeled.len(),
    })
}

/// Judge-only, human-only and prediction-powered estimates of one mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimates {
    /// The mean of the judge labels over every judged unit (the judge's own view, biased if
    /// the judge is).
    pub judge_only: Result<MeanEstimate, PpiError>,
    /// The mean of the human labels over every human-labelled unit.
    pub human_only: Result<MeanEstimate, PpiError>,
    /// The prediction-powered estimate of the human mean.
    pub ppi: Result<PpiEstimate, PpiError>,
    /// Units with a human label but no judge label (used by the human-only estimate only).
    pub n_human_without_judge: usize,
}

/// Matches judge and human labels by unit key (several labels of one unit are averaged, e.g.
/// three annotators), then computes the three estimates. Units are taken in key order, so the
/// result does not depend on the input order.
pub fn estimates<K: Ord + Clone>(
    judge: &[(K, f64)],
    human: &[(K, f64)],
    alpha: f64,
    lambda: Lambda,
) -> Estimates {
    let judge_means = average_by_key(judge);
    let human_means = average_by_key(human);
    let mut y = Vec::new();
    let mut yhat = Vec::new();
    let mut unlabeled = Vec::new();
    for (k, &j) in &judge_means {
        match human_means.get(k) {
            Some(&h) => {
                y.push(h);
                yhat.push(j);
            }
            None => unlabeled.push(j),
        }
    }
    let all_judge: Vec<f64> = judge_means.values().copied().collect();
    let all_human: Vec<f64> = human_means.values().copied().collect();
    Estimates {
        judge_only: classical_mean(&all_judge, alpha),
        human_only: classical_mean(&all_human, alpha),
        ppi: ppi_mean(&y, &yhat, &unlabeled, alpha, lambda),
        n_human_without_judge: human_means.len() - y.len(),
    }
}

fn average_by_key<K: Ord + Clone>(values: &[(K, f64)]) -> BTreeMap<K, f64> {
    let mut sums: BTreeMap<K, (f64, usize)> = BTreeMap::new();
    for (k, v) in values {
        let e = sums.entry(k.clone()).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (s, c))| (k, s / c as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_zero_is_the_classical_estimate() {
        let y = [1.0, 0.0, 0.5, 1.0, 1.0];
        let yhat = [1.0, 1.0, 0.5, 1.0, 0.0];
        let unl = [1.0, 0.0, 1.0];
        let p = ppi_mean(&y, &yhat, &unl, 0.1, Lambda::Fixed(0.0)).unwrap();
        let c = classical_mean(&y, 0.1).unwrap();
        assert!((p.estimate - c.estimate).abs() < 1e-15);
        assert!((p.std_error - c.std_error).abs() < 1e-15);
    }

    #[test]
    fn a_perfect_judge_narrows_the_interval() {
        let y: Vec<f64> = (0..40).map(|i| f64::from(i % 3 == 0)).collect();
        let unl: Vec<f64> = (0..400).map(|i| f64::from(i % 3 == 0)).collect();
        let p = ppi_mean(&y, &y, &unl, 0.05, Lambda::Tuned).unwrap();
        let c = classical_mean(&y, 0.05).unwrap();
        assert!(p.std_error < 0.5 * c.std_error);
        assert!(p.lambda > 0.9);
        // A judge whose labels never vary is ignored.
        let flat = vec![1.0; 40];
        let p = ppi_mean(&y, &flat, &vec![1.0; 400], 0.05, Lambda::Tuned).unwrap();
        assert_eq!(p.lambda, 0.0);
    }

    #[test]
    fn estimates_match_units_by_key() {
        let judge = vec![("a", 1.0), ("b", 0.0), ("c", 1.0), ("d", 1.0), ("e", 0.0)];
        let human = vec![("a", 1.0), ("a", 0.0), ("b", 0.0), ("c", 1.0), ("z", 1.0)];
        let e = estimates(&judge, &human, 0.05, Lambda::Fixed(1.0));
        assert_eq!(e.n_human_without_judge, 1);
        let p = e.ppi.unwrap();
        assert_eq!((p.n_labeled, p.n_unlabeled), (3, 2));
        // mean(Ŷᵘ) = 0.5; rectifier: a 0.5-1, b 0-0, c 1-1 -> mean -1/6.
        assert!((p.estimate - (0.5 - 1.0 / 6.0)).abs() < 1e-15);
        assert_eq!(e.human_only.unwrap().n, 4);
        assert_eq!(e.judge_only.unwrap().n, 5);
        assert_eq!(
            ppi_mean(&[1.0], &[1.0], &[1.0], 0.05, Lambda::Tuned),
            Err(PpiError::TooFewLabeled)
        );
    }
}
