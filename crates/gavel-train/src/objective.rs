//! Training objectives and their losses.
//!
//! - **Pairwise preference** (a reward model): the judge gives each (instruction, response) a
//!   score s; for a pair, d = s_A - s_B. Bradley-Terry: P(A) = σ(d). Ties are handled
//!   explicitly by [`TieMode`]: Davidson's (1970) model, P(A) : P(B) : P(tie) =
//!   e^{d/2} : e^{-d/2} : ν with ν = e^θ learned (a softmax over (d/2, -d/2, θ)); or a tie as
//!   half a win for each side; or ties left out.
//! - **Pointwise**: one response, a number (mean squared error) or a category (cross-entropy).
//! - **Pair classifier**: both responses in one input, three classes (A, B, tie), trained on
//!   both orders of every pair (swap augmentation).
//!
//! Every loss is the mean over the batch of a (soft-target) negative log-likelihood or squared
//! error, checked against PyTorch in `tests/step.rs`.

use candle_core::{D, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What the judge learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// A score per response; a preference from the score difference.
    Pairwise,
    /// A score (regression) or a category (classification) per response.
    Pointwise,
    /// A 3-way verdict over both responses.
    PairClassifier,
}

impl Objective {
    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Pairwise => "pairwise",
            Objective::Pointwise => "pointwise",
            Objective::PairClassifier => "pair-classifier",
        }
    }
}

/// How the pairwise objective treats ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TieMode {
    /// Davidson's model with a learned tie parameter.
    Davidson,
    /// A tie counts as half a win for each response.
    Half,
    /// Ties are left out of training.
    Skip,
}

/// A pairwise preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pref {
    /// Response A is better.
    A,
    /// Response B is better.
    B,
    /// Neither.
    #[serde(rename = "tie")]
    Tie,
}

impl Pref {
    /// The label written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Pref::A => "A",
            Pref::B => "B",
            Pref::Tie => "tie",
        }
    }

    /// The same preference with A and B exchanged.
    pub fn swapped(self) -> Pref {
        match self {
            Pref::A => Pref::B,
            Pref::B => Pref::A,
            Pref::Tie => Pref::Tie,
        }
    }

    /// Reads `A`, `B`, `tie` (any case), and the Battle spellings `model_a`, `model_b`,
    /// `tie (bothbad)`.
    pub fn parse(s: &str) -> Option<Pref> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a" | "model_a" => Some(Pref::A),
            "b" | "model_b" => Some(Pref::B),
            "tie" | "tie (bothbad)" | "draw" => Some(Pref::Tie),
            _ => None,
        }
    }

    /// The class index of the pair classifier (A, B, tie).
    pub fn index(self) -> usize {
        match self {
            Pref::A => 0,
            Pref::B => 1,
            Pref::Tie => 2,
        }
    }
}

/// log softmax over the last dimension, in differentiable operations.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    // The maximum only keeps exp() in range; the result does not depend on it.
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Mean over rows of -Σ_c w_c log softmax(logits)_c, with the target weights `w` given per row
/// (one-hot for hard labels).
pub fn soft_cross_entropy(logits: &Tensor, weights: Vec<f32>) -> Result<Tensor> {
    let (n, c) = logits.dims2()?;
    let w = Tensor::from_vec(weights, (n, c), logits.device())?;
    let nll = (log_softmax(logits)? * w)?.sum(1)?.neg()?;
    Ok(nll.mean_all()?)
}

/// The pairwise loss. `scores` holds 2N scores, A and B of each pair side by side
/// (`[a0, b0, a1, b1, ...]`); `tie_logit` is θ, needed with [`TieMode::Davidson`]. Pairs
/// labelled tie must already be dropped under [`TieMode::Skip`].
pub fn pairwise_loss(
    scores: &Tensor,
    prefs: &[Pref],
    ties: TieMode,
    tie_logit: Option<&Tensor>,
) -> Result<Tensor> {
    let n = prefs.len();
    let pairs = scores.reshape((n, 2))?;
    let d = (pairs.narrow(1, 0, 1)? - pairs.narrow(1, 1, 1)?)?;
    let half = (&d * 0.5)?;
    let davidson = ties == TieMode::Davidson;
    let logits = match (davidson, tie_logit) {
        (true, Some(theta)) => Tensor::cat(
            &[
                half.clone(),
                half.neg()?,
                theta.reshape((1, 1))?.broadcast_as((n, 1))?,
            ],
            1,
        )?,
        (true, None) => {
            return Err(crate::Error::Settings(
                "Davidson ties need the head's tie parameter".into(),
            ));
        }
        _ => Tensor::cat(&[half.clone(), half.neg()?], 1)?,
    };
    let c = if davidson { 3 } else { 2 };
    let mut w = vec![0f32; n * c];
    for (i, p) in prefs.iter().enumerate() {
        match (p, davidson) {
            (Pref::A, _) => w[i * c] = 1.0,
            (Pref::B, _) => w[i * c + 1] = 1.0,
            (Pref::Tie, true) => w[i * c + 2] = 1.0,
            (Pref::Tie, false) => {
                w[i * c] = 0.5;
                w[i * c + 1] = 0.5;
            }
        }
    }
    soft_cross_entropy(&logits, w)
}

/// Mean squared error of `(N)` (or `(N, 1)`) predictions against targets.
pub fn regression_loss(pred: &Tensor, targets: &[f32]) -> Result<Tensor> {
    let pred = pred.flatten_all()?;
    let y = Tensor::from_vec(targets.to_vec(), targets.len(), &Device::Cpu)?;
    Ok((pred - y)?.sqr()?.mean_all()?)
}

/// Cross-entropy of `(N, C)` logits against class indices.
pub fn classification_loss(logits: &Tensor, targets: &[usize]) -> Result<Tensor> {
    let (n, c) = logits.dims2()?;
    let mut w = vec![0f32; n * c];
    for (i, &t) in targets.iter().enumerate() {
        w[i * c + t] = 1.0;
    }
    soft_cross_entropy(logits, w)
}

/// The three probabilities of Davidson's model for a score difference `d` and θ:
/// `(P(A), P(B), P(tie))`.
pub fn davidson_probs(d: f64, theta: f64) -> (f64, f64, f64) {
    let z = [d / 2.0, -d / 2.0, theta];
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    (e[0] / s, e[1] / s, e[2] / s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn davidson_without_ties_is_bradley_terry() {
        let (a, b, t) = davidson_probs(1.3, -60.0);
        assert!((a - 1.0 / (1.0 + (-1.3f64).exp())).abs() < 1e-12);
        assert!((a + b + t - 1.0).abs() < 1e-12);
        // Equal scores and ν = 1: all three outcomes equally likely.
        let (a, b, t) = davidson_probs(0.0, 0.0);
        assert!((a - 1.0 / 3.0).abs() < 1e-12 && (a - b).abs() < 1e-12 && (t - a).abs() < 1e-12);
    }

    #[test]
    fn prefs_parse_the_usual_spellings() {
        assert_eq!(Pref::parse(" a "), Some(Pref::A));
        assert_eq!(Pref::parse("model_b"), Some(Pref::B));
        assert_eq!(Pref::parse("Tie (bothbad)"), Some(Pref::Tie));
        assert_eq!(Pref::parse("1"), None);
        assert_eq!(Pref::A.swapped(), Pref::B);
    }
}
