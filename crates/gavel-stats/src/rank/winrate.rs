//! Win rates, with ties counted as half a win to each side.
//!
//! - Pairwise: `W[i][j] = (wins of i over j + ties/2) / battles between i and j`, undefined
//!   where the two never met. A model's mean win rate is the plain mean of its row over the
//!   opponents it met (as pandas' `mean()` skips missing cells in the Chatbot Arena notebook's
//!   pairwise table; the notebook drops ties, we count them as halves).
//! - Against a baseline (AlpacaEval's `get_winrate`): each battle with the baseline scores
//!   `x = 1` (win), `1/2` (tie) or `0` (loss); the win rate is `100·mean(x)` and its standard
//!   error `100·sd(x)/sqrt(n)` with the sample standard deviation (ddof 1, pandas' `sem()`).
//!
//! All win rates here are fractions in [0, 1]; the CLI shows percentages like AlpacaEval.

use super::{Battles, PairCounts};

/// The pairwise win-rate matrix: `rates[i][j]` is i's win rate against j, `None` where they
/// never met (and on the diagonal).
#[derive(Debug, Clone, PartialEq)]
pub struct WinRateMatrix {
    /// Row i, column j: i's win rate against j.
    pub rates: Vec<Vec<Option<f64>>>,
    /// Row i, column j: the number of battles between i and j.
    pub battles: Vec<Vec<u64>>,
}

impl WinRateMatrix {
    /// Each model's mean win rate over the opponents it met; `None` for a model that met none.
    pub fn mean_win_rates(&self) -> Vec<Option<f64>> {
        self.rates.iter().map(|row| mean_of_present(row)).collect()
    }
}

fn mean_of_present(row: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = row
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, n), &x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The pairwise win-rate matrix of aggregated counts.
pub fn matrix(counts: &PairCounts) -> WinRateMatrix {
    let n = counts.n_models;
    let mut rates = vec![vec![None; n]; n];
    let mut battles = vec![vec![0u64; n]; n];
    for p in &counts.pairs {
        let (i, j) = (p.i as usize, p.j as usize);
        let total = p.n();
        if i >= n || j >= n || total == 0 {
            continue;
        }
        let t = total as f64;
        rates[i][j] = Some((p.wins_i as f64 + 0.5 * p.ties as f64) / t);
        rates[j][i] = Some((p.wins_j as f64 + 0.5 * p.ties as f64) / t);
        battles[i][j] = total;
        battles[j][i] = total;
    }
    WinRateMatrix { rates, battles }
}

/// Each model's mean win rate over its opponents, computed straight from the counts (what the
/// bootstrap evaluates per replicate, without building a matrix).
pub fn mean_win_rates(counts: &PairCounts) -> Vec<Option<f64>> {
    let n = counts.n_models;
    let mut sum = vec![0.0; n];
    let mut met = vec![0usize; n];
    for p in &counts.pairs {
        let (i, j) = (p.i as usize, p.j as usize);
        let total = p.n();
        if i >= n || j >= n || total == 0 {
            continue;
        }
        let t = total as f64;
        sum[i] += (p.wins_i as f64 + 0.5 * p.ties as f64) / t;
        sum[j] += (p.wins_j as f64 + 0.5 * p.ties as f64) / t;
        met[i] += 1;
        met[j] += 1;
    }
    sum.iter()
        .zip(&met)
        .map(|(&s, &m)| (m > 0).then(|| s / m as f64))
        .collect()
}

/// One model's win rate against the baseline (AlpacaEval's head-to-head figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineWinRate {
    /// Mean score against the baseline, in [0, 1] (ties count 1/2).
    pub win_rate: f64,
    /// Its standard error (`sd(x, ddof=1)/sqrt(n)`); `None` with fewer than two battles.
    pub standard_error: Option<f64>,
    /// Battles won against the baseline.
    pub wins: u64,
    /// Battles the baseline won.
    pub losses: u64,
    /// Ties.
    pub ties: u64,
}

impl BaselineWinRate {
    /// The number of battles with the baseline.
    pub fn n(&self) -> u64 {
        self.wins + self.losses + self.ties
    }

    /// From counts: the mean and sample standard error of scores in {0, 1/2, 1}.
    pub fn from_counts(wins: u64, losses: u64, ties: u64) -> Option<BaselineWinRate> {
        let n = wins + losses + ties;
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let mean = (wins as f64 + 0.5 * ties as f64) / nf;
        let standard_error = (n >= 2).then(|| {
            let ss = wins as f64 * (1.0 - mean).powi(2)
                + ties as f64 * (0.5 - mean).powi(2)
                + losses as f64 * mean.powi(2);
            (ss / (nf - 1.0)).sqrt() / nf.sqrt()
        });
        Some(BaselineWinRate {
            win_rate: mean,
            standard_error,
            wins,
            losses,
            ties,
        })
    }
}

/// Each model's win rate against `baseline` (by index): `None` for models that never met it.
/// The baseline's own entry is `None` too (AlpacaEval prints 50 for it by construction).
pub fn against_baseline(counts: &PairCounts, baseline: usize) -> Vec<Option<BaselineWinRate>> {
    let mut out = vec![None; counts.n_models];
    for p in &counts.pairs {
        let (i, j) = (p.i as usize, p.j as usize);
        let (model, wins, losses) = if j == baseline {
            (i, p.wins_i, p.wins_j)
        } else if i == baseline {
            (j, p.wins_j, p.wins_i)
        } else {
            continue;
        };
        if let Some(slot) = out.get_mut(model) {
            *slot = BaselineWinRate::from_counts(wins, losses, p.ties);
        }
    }
    out
}

/// Every battle's score from the point of view of each model, per model: what the sign test
/// and length-controlled win rate consume. (Kept here so that "ties count 1/2" lives in one
/// place.)
pub fn scores_against(battles: &Battles, model: usize, opponent: usize) -> Vec<f64> {
    battles
        .battles()
        .iter()
        .filter_map(|b| {
            let (a, bb) = (b.a as usize, b.b as usize);
            if a == model && bb == opponent {
                Some(b.outcome.score_a())
            } else if a == opponent && bb == model {
                Some(b.outcome.swapped().score_a())
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::Outcome;

    #[test]
    fn matrix_and_means_count_ties_as_halves() {
        let mut b = Battles::new();
        b.push("x", "y", Outcome::WinA, None).unwrap();
        b.push("y", "x", Outcome::Tie, None).unwrap();
        b.push("x", "z", Outcome::WinB, None).unwrap();
        let m = matrix(&b.counts());
        assert_eq!(m.rates[0][1], Some(0.75));
        assert_eq!(m.rates[1][0], Some(0.25));
        assert_eq!(m.rates[0][2], Some(0.0));
        assert_eq!(m.rates[1][2], None);
        assert_eq!(m.mean_win_rates(), vec![Some(0.375), Some(0.25), Some(1.0)]);
        assert_eq!(mean_win_rates(&b.counts()), m.mean_win_rates());
    }

    #[test]
    fn baseline_win_rate_reproduces_an_alpacaeval_row() {
        // AlpacaEval 2 leaderboard (alpaca_eval_gpt4_turbo_fn), Yi-34B-Chat against gpt4_turbo:
        // n_wins 280, n_wins_base 524, n_draws 1: win_rate 34.84472049689441,
        // standard_error 1.6792603475419352.
        let w = BaselineWinRate::from_counts(280, 524, 1).unwrap();
        assert!((100.0 * w.win_rate - 34.84472049689441).abs() < 1e-12);
        assert!((100.0 * w.standard_error.unwrap() - 1.6792603475419352).abs() < 1e-12);
        assert_eq!(
            BaselineWinRate::from_counts(1, 0, 0)
                .unwrap()
                .standard_error,
            None
        );
        assert_eq!(BaselineWinRate::from_counts(0, 0, 0), None);
    }
}
