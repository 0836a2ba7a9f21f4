//! AlpacaEval 2's length-controlled win rate (Dubois et al., "Length-Controlled AlpacaEval: A
//! Simple Way to Debias Automatic Evaluators", 2024).
//!
//! Judges prefer longer answers, so part of a raw win rate against a baseline is the length
//! difference. AlpacaEval fits, per model, a logistic regression (GLM) of the preference for
//! the model over the baseline on a length term and a model term, then predicts the win rate
//! the model would have had if its outputs were as long as the baseline's: the length term set
//! to zero.
//!
//! With `y_k` the model's score on comparison k (1 win, 1/2 tie, 0 loss; AlpacaEval treats it as
//! a soft label) and `Δ_k = len(baseline output) − len(model output)` in characters:
//!
//! ```text
//! logit P(model preferred) = θ + φ · tanh(Δ_k / sd(Δ))        (sd with ddof 1)
//! LC win rate               = σ(θ)                             (Δ set to 0)
//! ```
//!
//! This is AlpacaEval's GLM formula `length_controlled_minimal` (its `tanh(std_delta_len)` and
//! `not_gamed_baseline` columns). Two documented differences: AlpacaEval's default
//! `length_controlled_v1` adds an instruction-difficulty term whose per-instruction values come
//! precomputed for its own 805 instructions (not available for other data), and AlpacaEval fits
//! with an L1 penalty whose strength is picked by 5-fold cross-validation (liblinear), while we
//! compute the unpenalized maximum-likelihood fit (Newton's method, to a step below 1e-13);
//! with a few hundred comparisons per model the penalty chosen is weak and the two agree
//! closely. The standard error is the delta-method one from the Fisher information,
//! `σ(θ)(1 − σ(θ))·sqrt([I⁻¹]_θθ)` (AlpacaEval reports the spread of per-instruction
//! predictions instead, which is zero without the instruction term).

/// One comparison of the model with the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The model's score: 1 win, 1/2 tie, 0 loss (any value in [0, 1]).
    pub preference: f64,
    /// Length of the model's output (characters).
    pub model_length: f64,
    /// Length of the baseline's output (characters).
    pub baseline_length: f64,
}

/// A length-controlled win rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LengthControlled {
    /// σ(θ), in [0, 1].
    pub win_rate: f64,
    /// Its delta-method standard error.
    pub standard_error: f64,
    /// θ, the model term (log-odds at equal length).
    pub model_coef: f64,
    /// φ, the coefficient of `tanh(Δ/sd(Δ))`.
    pub length_coef: f64,
    /// sd(Δ), the length-difference scale (ddof 1).
    pub length_sd: f64,
    /// The number of comparisons used.
    pub n: usize,
}

/// Why no length-controlled win rate could be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Fewer than two comparisons.
    #[error("fewer than two comparisons with the baseline")]
    TooFew,
    /// A preference or length that is not a finite number in range.
    #[error("a preference outside [0, 1] or a length that is not a finite number")]
    BadValue,
    /// All length differences are equal, so length and model effects cannot be told apart.
    #[error("the length differences do not vary, so the length effect cannot be estimated")]
    NoLengthVariation,
    /// The regression has no finite maximum (e.g. the model won every comparison).
    #[error(
        "the length regression has no finite fit (the outcomes are perfectly predicted, e.g. every comparison was won or lost)"
    )]
    NoFiniteFit,
}

/// The length-controlled win rate of one model against the baseline.
pub fn length_controlled(obs: &[Observation]) -> Result<LengthControlled, Unavailable> {
    let n = obs.len();
    if n < 2 {
        return Err(Unavailable::TooFew);
    }
    if obs.iter().any(|o| {
        !(o.preference.is_finite()
            && (0.0..=1.0).contains(&o.preference)
            && o.model_length.is_finite()
            && o.baseline_length.is_finite())
    }) {
        return Err(Unavailable::BadValue);
    }
    let delta: Vec<f64> = obs
        .iter()
        .map(|o| o.baseline_length - o.model_length)
        .collect();
    let mean = delta.iter().sum::<f64>() / n as f64;
    let sd = (delta.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    if !(sd.is_finite() && sd > 0.0) {
        return Err(Unavailable::NoLengthVariation);
    }
    let x: Vec<f64> = delta.iter().map(|d| (d / sd).tanh()).collect();
    let y: Vec<f64> = obs.iter().map(|o| o.preference).collect();
    if y.iter().all(|&v| v == 1.0) || y.iter().all(|&v| v == 0.0) {
        return Err(Unavailable::NoFiniteFit);
    }
    let (phi, theta, info) = fit(&x, &y).ok_or(Unavailable::NoFiniteFit)?;
    // Covariance = I⁻¹ for the 2×2 information [[Σwx², Σwx], [Σwx, Σw]]; θ is the second.
    let [ixx, ix1, i11] = info;
    let det = ixx * i11 - ix1 * ix1;
    if !(det.is_finite() && det > 0.0) {
        return Err(Unavailable::NoFiniteFit);
    }
    let var_theta = ixx / det;
    let s = sigmoid(theta);
    Ok(LengthControlled {
        win_rate: s,
        standard_error: s * (1.0 - s) * var_theta.sqrt(),
        model_coef: theta,
        length_coef: phi,
        length_sd: sd,
        n,
    })
}

/// Newton's method for `logit p = φ x + θ` with soft labels. Returns φ, θ and the Fisher
/// information `[Σ w x², Σ w x, Σ w]` at the optimum.
fn fit(x: &[f64], y: &[f64]) -> Option<(f64, f64, [f64; 3])> {
    let (mut phi, mut theta) = (0.0f64, 0.0f64);
    let mut ll = log_likelihood(x, y, phi, theta);
    for _ in 0..200 {
        let (mut gx, mut g1, mut hxx, mut hx1, mut h11) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(y) {
            let p = sigmoid(phi * xi + theta);
            let r = yi - p;
            gx += r * xi;
            g1 += r;
            let w = p * (1.0 - p);
            hxx += w * xi * xi;
            hx1 += w * xi;
            h11 += w;
        }
        let det = hxx * h11 - hx1 * hx1;
        if !(det.is_finite() && det > 0.0) {
            return None;
        }
        let dphi = (h11 * gx - hx1 * g1) / det;
        let dtheta = (hxx * g1 - hx1 * gx) / det;
        let mut t = 1.0;
        loop {
            let (p2, t2) = (phi + t * dphi, theta + t * dtheta);
            let new_ll = log_likelihood(x, y, p2, t2);
            if new_ll >= ll - 1e-12 * ll.abs().max(1.0) || t < 1e-10 {
                phi = p2;
                theta = t2;
                ll = new_ll;
                break;
            }
            t *= 0.5;
        }
        if !(phi.is_finite() && theta.is_finite()) || phi.abs() > 50.0 || theta.abs() > 50.0 {
            return None;
        }
        let step = (t * dphi).abs().max((t * dtheta).abs());
        if step <= 1e-13 * (1.0 + phi.abs().max(theta.abs())) {
            let (mut ixx, mut ix1, mut i11) = (0.0, 0.0, 0.0);
            for &xi in x {
                let p = sigmoid(phi * xi + theta);
                let w = p * (1.0 - p);
                ixx += w * xi * xi;
                ix1 += w * xi;
                i11 += w;
            }
            return Some((phi, theta, [ixx, ix1, i11]));
        }
    }
    None
}

fn log_likelihood(x: &[f64], y: &[f64], phi: f64, theta: f64) -> f64 {
    x.iter()
        .zip(y)
        .map(|(&xi, &yi)| {
            let z = phi * xi + theta;
            // y ln σ(z) + (1 − y) ln σ(−z) = −y softplus(−z) − (1 − y) softplus(z)
            -yi * softplus(-z) - (1.0 - yi) * softplus(z)
        })
        .sum()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(list: &[(f64, f64, f64)]) -> Vec<Observation> {
        list.iter()
            .map(|&(preference, model_length, baseline_length)| Observation {
                preference,
                model_length,
                baseline_length,
            })
            .collect()
    }

    #[test]
    fn longer_wins_are_discounted() {
        // The model wins when it is longer and loses when shorter: controlling for length
        // pulls the win rate back towards one half.
        let mut list = Vec::new();
        for k in 0..40 {
            let longer = k % 4 != 0;
            let len = if longer {
                1500.0 + k as f64
            } else {
                700.0 + k as f64
            };
            let won = if longer { k % 3 != 0 } else { k % 8 == 0 };
            list.push((if won { 1.0 } else { 0.0 }, len, 1000.0));
        }
        let o = obs(&list);
        let raw = o.iter().map(|x| x.preference).sum::<f64>() / o.len() as f64;
        let lc = length_controlled(&o).unwrap();
        assert!(lc.win_rate < raw, "{} vs {raw}", lc.win_rate);
        assert!(lc.length_coef < 0.0);
        assert!(lc.standard_error > 0.0);
    }

    #[test]
    fn degenerate_inputs_say_why() {
        assert_eq!(
            length_controlled(&obs(&[(1.0, 10.0, 5.0)])),
            Err(Unavailable::TooFew)
        );
        assert_eq!(
            length_controlled(&obs(&[(1.0, 10.0, 5.0), (0.0, 10.0, 5.0)])),
            Err(Unavailable::NoLengthVariation)
        );
        assert_eq!(
            length_controlled(&obs(&[(1.0, 10.0, 5.0), (1.0, 12.0, 5.0)])),
            Err(Unavailable::NoFiniteFit)
        );
        assert_eq!(
            length_controlled(&obs(&[(1.5, 10.0, 5.0), (1.0, 12.0, 5.0)])),
            Err(Unavailable::BadValue)
        );
    }
}
