//! Bradley-Terry maximum likelihood, as the Chatbot Arena notebook's `compute_mle_elo` fits it.
//!
//! The notebook fits a logistic regression without intercept or penalty on a design with
//! `+ln(base)` in model A's column and `-ln(base)` in model B's, where each battle counts twice:
//! two rows with outcome 1 for an A win, two with 0 for a B win, and one of each for a tie (ties
//! are half a win to each side). Ratings are `scale·coef + init` (scale 400, base 10, init 1000),
//! optionally shifted so that an anchor model has a given rating.
//!
//! With `β = ln(base)·coef`, the model is `P(i beats j) = σ(β_i − β_j)` and the log likelihood is
//! `Σ_pairs a_ij ln σ(β_i − β_j) + a_ji ln σ(β_j − β_i)` with `a_ij = wins_ij + ties_ij/2`, which
//! depends on the counts only. The likelihood is unchanged when every β moves by the same amount;
//! scikit-learn's solver starts at zero and only moves along gradients, which sum to zero here,
//! so it returns the solution with `Σβ = 0`, that is mean rating `init`. We solve the same
//! problem by Newton's method on the aggregated counts (one model pinned while solving, then all
//! centred), with step halving for safety, to a step below 1e-13: the rating is exact to about
//! 1e-10, where scikit-learn's default tolerance stops about 1e-3 short.
//!
//! The maximum exists (and is unique up to the shift) exactly when the comparison graph is
//! connected and no set of models won every comparison with the others; [`fit`] checks both
//! (see [`super::graph`]).

use super::graph;
use super::{PairCount, PairCounts, RankError};

/// Parameters of the rating scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Rating points per factor of `base` in the odds (400).
    pub scale: f64,
    /// The odds base (10).
    pub base: f64,
    /// The mean rating (1000), unless an anchor is given.
    pub init: f64,
    /// A model index and the rating it should have; everything shifts with it.
    pub anchor: Option<(usize, f64)>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
            anchor: None,
        }
    }
}

impl Params {
    /// Turns log-odds strengths (`β`, centred) into ratings on this scale.
    pub fn to_ratings(&self, beta: &[f64]) -> Vec<f64> {
        let factor = self.scale / self.base.ln();
        let mut ratings: Vec<f64> = beta.iter().map(|b| self.init + factor * b).collect();
        if let Some((model, rating)) = self.anchor
            && let Some(&current) = ratings.get(model)
        {
            let shift = rating - current;
            for r in &mut ratings {
                *r += shift;
            }
        }
        ratings
    }

    fn check(&self, n_models: usize) -> Result<(), RankError> {
        super::elo::check_scale(self.scale, self.base, self.init)?;
        if let Some((model, rating)) = self.anchor {
            if model >= n_models {
                return Err(RankError::InvalidParameter(format!(
                    "the anchor model index {model} is out of range"
                )));
            }
            if !rating.is_finite() {
                return Err(RankError::InvalidParameter(format!(
                    "the anchor rating must be a finite number, not {rating}"
                )));
            }
        }
        Ok(())
    }
}

/// Bradley-Terry ratings, one per model index, with model names for error messages.
pub fn fit_named(
    counts: &PairCounts,
    names: &[String],
    params: &Params,
) -> Result<Vec<f64>, RankError> {
    params.check(counts.n_models)?;
    graph::check_identifiable(counts, names)?;
    let beta = solve(counts.n_models, &counts.pairs, None)
        .ok_or(RankError::NotConverged("Bradley-Terry"))?;
    Ok(params.to_ratings(&beta))
}

/// Bradley-Terry ratings, one per model index (errors name models by index; see
/// [`fit_named`]).
pub fn fit(counts: &PairCounts, params: &Params) -> Result<Vec<f64>, RankError> {
    let names: Vec<String> = (0..counts.n_models).map(|i| format!("#{i}")).collect();
    fit_named(counts, &names, params)
}

/// The centred maximum-likelihood strengths `β` (natural log-odds units), starting from
/// `start` when given. `None` when Newton's method fails to converge, which happens only when
/// the maximum does not exist (check with [`graph::separated`] first).
pub fn solve(n_models: usize, pairs: &[PairCount], start: Option<&[f64]>) -> Option<Vec<f64>> {
    let p = n_models;
    if p == 0 {
        return Some(Vec::new());
    }
    let mut beta: Vec<f64> = match start {
        Some(s) if s.len() == p => s.to_vec(),
        _ => vec![0.0; p],
    };
    if p == 1 {
        return Some(vec![0.0]);
    }
    // Pin the model with the most battles: the reduced system is then best conditioned.
    let mut battles = vec![0u64; p];
    for q in pairs {
        if let (Some(_), Some(_)) = (battles.get(q.i as usize), battles.get(q.j as usize)) {
            battles[q.i as usize] += q.n();
            battles[q.j as usize] += q.n();
        }
    }
    let pinned = (0..p).max_by_key(|&i| (battles[i], std::cmp::Reverse(i)))?;
    let free = |i: usize| -> Option<usize> {
        match i.cmp(&pinned) {
            std::cmp::Ordering::Less => Some(i),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(i - 1),
        }
    };
    let m = p - 1;
    let mut grad = vec![0.0; p];
    let mut hess = vec![0.0; m * m];
    let mut step = vec![0.0; m];
    let mut trial = vec![0.0; p];
    let mut ll = log_likelihood(pairs, &beta);
    for _ in 0..200 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        hess.iter_mut().for_each(|h| *h = 0.0);
        for q in pairs {
            let (i, j) = (q.i as usize, q.j as usize);
            let n = q.n() as f64;
            if i >= p || j >= p || n == 0.0 {
                continue;
            }
            let a = q.wins_i as f64 + 0.5 * q.ties as f64;
            let s = sigmoid(beta[i] - beta[j]);
            let g = a - n * s;
            grad[i] += g;
            grad[j] -= g;
            let w = n * s * (1.0 - s);
            let (fi, fj) = (free(i), free(j));
            if let Some(fi) = fi {
                hess[fi * m + fi] += w;
            }
            if let Some(fj) = fj {
                hess[fj * m + fj] += w;
            }
            if let (Some(fi), Some(fj)) = (fi, fj) {
                hess[fi * m + fj] -= w;
                hess[fj * m + fi] -= w;
            }
        }
        for (i, g) in grad.iter().enumerate() {
            if let Some(fi) = free(i) {
                step[fi] = *g;
            }
        }
        if !cholesky_solve(&mut hess, &mut step, m) {
            return None;
        }
        let max_step = step.iter().fold(0.0f64, |acc, s| acc.max(s.abs()));
        if !max_step.is_finite() {
            return None;
        }
        // Newton on a concave likelihood: take the full step unless it lowers the likelihood
        // (possible far from the optimum), then halve.
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            for (i, b) in beta.iter().enumerate() {
                trial[i] = match free(i) {
                    Some(fi) => b + t * step[fi],
                    None => *b,
                };
            }
            let new_ll = log_likelihood(pairs, &trial);
            if new_ll >= ll - 1e-12 * ll.abs().max(1.0) || t * max_step < 1e-10 {
                ll = new_ll;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            return None;
        }
        std::mem::swap(&mut beta, &mut trial);
        if beta.iter().any(|b| !b.is_finite() || b.abs() > 1e4) {
            return None;
        }
        if t * max_step <= 1e-13 * (1.0 + beta.iter().fold(0.0f64, |a, b| a.max(b.abs()))) {
            let mean = beta.iter().sum::<f64>() / p as f64;
            beta.iter_mut().for_each(|b| *b -= mean);
            return Some(beta);
        }
    }
    None
}

/// The log likelihood of strengths `beta` (ties as half a win each way).
pub fn log_likelihood(pairs: &[PairCount], beta: &[f64]) -> f64 {
    let mut ll = 0.0;
    for q in pairs {
        let (Some(&bi), Some(&bj)) = (beta.get(q.i as usize), beta.get(q.j as usize)) else {
            continue;
        };
        let d = bi - bj;
        let half_ties = 0.5 * q.ties as f64;
        let a = q.wins_i as f64 + half_ties;
        let b = q.wins_j as f64 + half_ties;
        if a > 0.0 {
            ll -= a * softplus(-d);
        }
        if b > 0.0 {
            ll -= b * softplus(d);
        }
    }
    ll
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Solves `A x = b` in place for symmetric positive definite `A` (row-major `m×m`, destroyed);
/// `false` if `A` is not numerically positive definite.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], m: usize) -> bool {
    for j in 0..m {
        let mut d = a[j * m + j];
        for k in 0..j {
            d -= a[j * m + k] * a[j * m + k];
        }
        if d.is_nan() || d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in (j + 1)..m {
            let mut s = a[i * m + j];
            let (row_i, row_j) = (&a[i * m..i * m + j], &a[j * m..j * m + j]);
            for (x, y) in row_i.iter().zip(row_j) {
                s -= x * y;
            }
            a[i * m + j] = s / d;
        }
    }
    // Forward: L y = b; backward: Lᵀ x = y.
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * m + k] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in (i + 1)..m {
            s -= a[k * m + i] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::{Battles, Outcome};

    #[test]
    fn two_models_match_the_closed_form() {
        // 3 wins and 1 loss: P = 3/4, so the gap is 400·log10(3) and the mean is 1000.
        let mut b = Battles::new();
        for o in [Outcome::WinA, Outcome::WinA, Outcome::WinA, Outcome::WinB] {
            b.push("x", "y", o, None).unwrap();
        }
        let r = fit_named(&b.counts(), b.models(), &Params::default()).unwrap();
        let gap = 400.0 * 3f64.log10();
        assert!((r[0] - (1000.0 + gap / 2.0)).abs() < 1e-9, "{r:?}");
        assert!((r[1] - (1000.0 - gap / 2.0)).abs() < 1e-9, "{r:?}");
        let anchored = Params {
            anchor: Some((1, 1114.0)),
            ..Params::default()
        };
        let r = fit_named(&b.counts(), b.models(), &anchored).unwrap();
        assert!((r[1] - 1114.0).abs() < 1e-12 && (r[0] - 1114.0 - gap).abs() < 1e-9);
    }

    #[test]
    fn gradient_vanishes_at_the_solution() {
        let mut b = Battles::new();
        let names = ["a", "b", "c", "d"];
        let mut k = 0u64;
        for i in 0..4 {
            for j in 0..4 {
                if i == j {
                    continue;
                }
                for _ in 0..(3 + (i * 5 + j * 3) % 7) {
                    k += 1;
                    let o = match (k * 7 + i as u64) % 5 {
                        0 | 1 if i < j => Outcome::WinA,
                        0 => Outcome::WinA,
                        2 => Outcome::Tie,
                        _ => Outcome::WinB,
                    };
                    b.push(names[i], names[j], o, None).unwrap();
                }
            }
        }
        let counts = b.counts();
        let beta = solve(counts.n_models, &counts.pairs, None).unwrap();
        assert!(beta.iter().sum::<f64>().abs() < 1e-12);
        let mut grad = [0.0; 4];
        for q in &counts.pairs {
            let s = sigmoid(beta[q.i as usize] - beta[q.j as usize]);
            let g = q.wins_i as f64 + 0.5 * q.ties as f64 - q.n() as f64 * s;
            grad[q.i as usize] += g;
            grad[q.j as usize] -= g;
        }
        assert!(grad.iter().all(|g| g.abs() < 1e-9), "{grad:?}");
    }

    #[test]
    fn unidentifiable_data_is_an_error_not_a_number() {
        let mut b = Battles::new();
        b.push("x", "y", Outcome::WinA, None).unwrap();
        b.push("y", "z", Outcome::Tie, None).unwrap();
        let err = fit_named(&b.counts(), b.models(), &Params::default()).unwrap_err();
        assert!(matches!(err, RankError::Separated { ref models, won: true } if models == &["x"]));
        let bad = Params {
            base: 1.0,
            ..Params::default()
        };
        assert!(matches!(
            fit_named(&b.counts(), b.models(), &bad),
            Err(RankError::InvalidParameter(_))
        ));
    }
}
