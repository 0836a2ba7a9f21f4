//! Bootstrap intervals for ratings, and ranks that respect them.
//!
//! Each replicate resamples the battles with replacement (as the Chatbot Arena notebook's
//! `get_bootstrap_result` does with `battles.sample(frac=1, replace=True)`) and recomputes the
//! ratings. For Bradley-Terry and win rates, which depend on per-pair counts only, a replicate
//! is a multinomial draw of N battles over the distinct (pair, outcome) cells with
//! probabilities count/N, as FastChat's `compute_bootstrap_bt` does, so its cost does not grow
//! with N. Elo depends on the order, so its replicates draw N battle indices and replay them in
//! the drawn order.
//!
//! Replicate r draws from `Rng::for_replicate(seed, r)`, so results depend on the seed only,
//! never on the number of threads (rayon spreads replicates over the current pool).
//!
//! Intervals are percentiles of the replicate values with linear interpolation (numpy's and
//! pandas' default `quantile`). A replicate in which a model's rating is undefined (it drew no
//! battle of that model, or Bradley-Terry had no finite maximum) leaves that model's value out;
//! such replicates are counted in [`Replicates::degenerate`].
//!
//! Ranks (Chatbot Arena's "rank (UB)"): a model's rank is one plus the number of models whose
//! interval lies entirely above its own, so models with overlapping intervals can share a rank.

use rayon::prelude::*;

use super::elo;
use super::{Battles, PairCount, PairCounts, bt, graph, winrate};
use crate::rng::Rng;

/// Replicate values: `rounds` rows of one value per model (`NaN` = undefined in that row).
#[derive(Debug, Clone, PartialEq)]
pub struct Replicates {
    /// The number of models per row.
    pub n_models: usize,
    /// The number of replicates.
    pub rounds: usize,
    /// Row-major values, `rounds × n_models`.
    pub values: Vec<f64>,
    /// How many replicates had no usable fit at all (Bradley-Terry without a finite maximum).
    pub degenerate: usize,
}

impl Replicates {
    fn from_rows(n_models: usize, rows: Vec<Option<Vec<f64>>>) -> Replicates {
        let rounds = rows.len();
        let mut values = Vec::with_capacity(rounds * n_models);
        let mut degenerate = 0;
        for row in rows {
            match row {
                Some(r) if r.len() == n_models => values.extend(r),
                _ => {
                    degenerate += 1;
                    values.extend(std::iter::repeat_n(f64::NAN, n_models));
                }
            }
        }
        Replicates {
            n_models,
            rounds,
            values,
            degenerate,
        }
    }

    /// The defined values of one model across replicates.
    pub fn column(&self, model: usize) -> Vec<f64> {
        if model >= self.n_models {
            return Vec::new();
        }
        self.values
            .iter()
            .skip(model)
            .step_by(self.n_models.max(1))
            .copied()
            .filter(|v| v.is_finite())
            .collect()
    }

    /// Percentile intervals at the given confidence (e.g. 0.95: the 2.5th and 97.5th
    /// percentiles); `None` for a model with no defined value.
    pub fn intervals(&self, confidence: f64) -> Vec<Option<(f64, f64)>> {
        let lo_q = (1.0 - confidence) / 2.0;
        let hi_q = 1.0 - lo_q;
        (0..self.n_models)
            .map(|m| {
                let mut col = self.column(m);
                if col.is_empty() {
                    return None;
                }
                col.sort_by(f64::total_cmp);
                Some((percentile(&col, lo_q), percentile(&col, hi_q)))
            })
            .collect()
    }

    /// The share of replicates (where both are defined) in which `b` is at least as high as
    /// `a`: a one-sided bootstrap p-value for "a is higher than b". `None` if no replicate has
    /// both.
    pub fn share_not_above(&self, a: usize, b: usize) -> Option<f64> {
        if a >= self.n_models || b >= self.n_models {
            return None;
        }
        let (mut n, mut k) = (0usize, 0usize);
        for row in self.values.chunks_exact(self.n_models) {
            let (va, vb) = (row[a], row[b]);
            if va.is_finite() && vb.is_finite() {
                n += 1;
                if vb >= va {
                    k += 1;
                }
            }
        }
        (n > 0).then(|| k as f64 / n as f64)
    }
}

/// The q-quantile (0..=1) of sorted values with linear interpolation between order statistics
/// (numpy's default): position `(n-1)·q`.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let t = h - lo as f64;
            let (a, b) = (sorted[lo], sorted[hi]);
            // numpy's `_lerp`, which interpolates from the nearer end.
            if t >= 0.5 {
                b - (b - a) * (1.0 - t)
            } else {
                a + (b - a) * t
            }
        }
    }
}

/// Ranks that respect intervals: `1 + #{j : lower_j > upper_i}`. A model without an interval
/// uses its point value as a zero-width interval; a model without a value gets no rank.
pub fn ranks(values: &[Option<f64>], intervals: &[Option<(f64, f64)>]) -> Vec<Option<usize>> {
    let bounds: Vec<Option<(f64, f64)>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match (intervals.get(i).copied().flatten(), v) {
            (Some(ci), _) => Some(ci),
            (None, Some(x)) => Some((*x, *x)),
            (None, None) => None,
        })
        .collect();
    bounds
        .iter()
        .zip(values)
        .map(|(b, v)| {
            let (_, upper) = (*b)?;
            v.as_ref()?;
            Some(
                1 + bounds
                    .iter()
                    .flatten()
                    .filter(|(lower, _)| *lower > upper)
                    .count(),
            )
        })
        .collect()
}

/// The (pair, outcome) cells with battles, in a fixed order, and their counts.
fn cells(counts: &PairCounts) -> (Vec<(usize, u8)>, Vec<u64>) {
    let mut cells = Vec::new();
    let mut n = Vec::new();
    for (k, p) in counts.pairs.iter().enumerate() {
        for (o, c) in [(0u8, p.wins_i), (1, p.wins_j), (2, p.ties)] {
            if c > 0 {
                cells.push((k, o));
                n.push(c);
            }
        }
    }
    (cells, n)
}

/// One multinomial resample of the counts.
fn resample(
    counts: &PairCounts,
    cells: &[(usize, u8)],
    cell_counts: &[u64],
    rng: &mut Rng,
) -> PairCounts {
    let total: u64 = cell_counts.iter().sum();
    let mut drawn = vec![0u64; cell_counts.len()];
    super::binomial::multinomial(rng, total, cell_counts, &mut drawn);
    let mut pairs: Vec<PairCount> = counts
        .pairs
        .iter()
        .map(|p| PairCount {
            wins_i: 0,
            wins_j: 0,
            ties: 0,
            ..*p
        })
        .collect();
    for (&(k, o), &x) in cells.iter().zip(&drawn) {
        if let Some(p) = pairs.get_mut(k) {
            match o {
                0 => p.wins_i = x,
                1 => p.wins_j = x,
                _ => p.ties = x,
            }
        }
    }
    pairs.retain(|p| p.n() > 0);
    PairCounts {
        n_models: counts.n_models,
        pairs,
    }
}

/// Bradley-Terry ratings on `rounds` multinomial resamples. A replicate whose comparison
/// graph falls apart or has no finite maximum counts as degenerate.
pub fn bradley_terry(
    counts: &PairCounts,
    params: &bt::Params,
    rounds: usize,
    seed: u64,
) -> Replicates {
    let n = counts.n_models;
    let start = bt::solve(n, &counts.pairs, None);
    let (cells, cell_counts) = cells(counts);
    let rows: Vec<Option<Vec<f64>>> = (0..rounds)
        .into_par_iter()
        .map(|r| {
            let mut rng = Rng::for_replicate(seed, r as u64);
            let sample = resample(counts, &cells, &cell_counts, &mut rng);
            if graph::groups(&sample).len() > 1 || graph::separated(&sample).is_some() {
                return None;
            }
            let beta = bt::solve(n, &sample.pairs, start.as_deref())?;
            Some(params.to_ratings(&beta))
        })
        .collect();
    Replicates::from_rows(n, rows)
}

/// Win rates on `rounds` multinomial resamples: each model's mean win rate over its
/// opponents, or, with a baseline index, each model's win rate against the baseline
/// (the baseline's own column stays undefined).
pub fn win_rates(
    counts: &PairCounts,
    baseline: Option<usize>,
    rounds: usize,
    seed: u64,
) -> Replicates {
    let n = counts.n_models;
    let (cells, cell_counts) = cells(counts);
    let rows: Vec<Option<Vec<f64>>> = (0..rounds)
        .into_par_iter()
        .map(|r| {
            let mut rng = Rng::for_replicate(seed, r as u64);
            let sample = resample(counts, &cells, &cell_counts, &mut rng);
            let values: Vec<f64> = match baseline {
                None => winrate::mean_win_rates(&sample)
                    .into_iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect(),
                Some(b) => winrate::against_baseline(&sample, b)
                    .into_iter()
                    .map(|v| v.map_or(f64::NAN, |w| w.win_rate))
                    .collect(),
            };
            Some(values)
        })
        .collect();
    Replicates::from_rows(n, rows)
}

/// Elo ratings on `rounds` resamples: N battle indices drawn with replacement, replayed in the
/// drawn order. A model drawn in no battle is undefined in that replicate.
pub fn elo(battles: &Battles, params: &elo::Params, rounds: usize, seed: u64) -> Replicates {
    let n = battles.models().len();
    let list = battles.battles();
    let len = list.len() as u64;
    let rows: Vec<Option<Vec<f64>>> = (0..rounds)
        .into_par_iter()
        .map(|r| {
            if len == 0 {
                return None;
            }
            let mut rng = Rng::for_replicate(seed, r as u64);
            let drawn = (0..len).filter_map(|_| list.get(rng.below(len) as usize).copied());
            let ratings = elo::replay(n, drawn, params);
            Some(ratings.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        })
        .collect();
    Replicates::from_rows(n, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::Outcome;

    fn sample_battles() -> Battles {
        let mut b = Battles::new();
        let models = ["a", "b", "c", "d", "e"];
        let mut rng = Rng::new(99);
        for _ in 0..3_000 {
            let i = rng.below(5) as usize;
            let j = (i + 1 + rng.below(4) as usize) % 5;
            // Stronger models have lower indices.
            let p_a = 1.0 / (1.0 + 10f64.powf((i as f64 - j as f64) * 0.15));
            let u = rng.next_f64();
            let o = if u < 0.1 {
                Outcome::Tie
            } else if u < 0.1 + 0.9 * p_a {
                Outcome::WinA
            } else {
                Outcome::WinB
            };
            b.push(models[i], models[j], o, None).unwrap();
        }
        b
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Bit patterns, so that undefined (NaN) entries compare equal too.
    fn bits(r: &Replicates) -> (usize, Vec<u64>) {
        (r.degenerate, r.values.iter().map(|v| v.to_bits()).collect())
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let b = sample_battles();
        let counts = b.counts();
        let p = bt::Params::default();
        let one = pool(1).install(|| bradley_terry(&counts, &p, 64, 7));
        let four = pool(4).install(|| bradley_terry(&counts, &p, 64, 7));
        assert_eq!(bits(&one), bits(&four));
        assert_eq!(one.degenerate, 0);
        let other_seed = pool(4).install(|| bradley_terry(&counts, &p, 64, 8));
        assert_ne!(bits(&one), bits(&other_seed));
        let e1 = pool(1).install(|| elo(&b, &elo::Params::default(), 16, 3));
        let e3 = pool(3).install(|| elo(&b, &elo::Params::default(), 16, 3));
        assert_eq!(bits(&e1), bits(&e3));
        let w1 = pool(1).install(|| win_rates(&counts, Some(0), 32, 3));
        let w2 = pool(2).install(|| win_rates(&counts, Some(0), 32, 3));
        assert_eq!(bits(&w1), bits(&w2));
    }

    #[test]
    fn intervals_cover_the_estimate_and_order_models() {
        let b = sample_battles();
        let counts = b.counts();
        let p = bt::Params::default();
        let point = bt::fit_named(&counts, b.models(), &p).unwrap();
        let reps = bradley_terry(&counts, &p, 200, 1);
        let ci = reps.intervals(0.95);
        for (m, c) in ci.iter().enumerate() {
            let (lo, hi) = c.unwrap();
            assert!(
                lo < point[m] && point[m] < hi,
                "{m}: {lo} {} {hi}",
                point[m]
            );
        }
        let values: Vec<Option<f64>> = point.iter().copied().map(Some).collect();
        let r = ranks(&values, &ci);
        // a is strongest, e weakest; with 3000 battles their intervals separate.
        assert_eq!(r[0], Some(1), "{ci:?}");
        assert!(r[4].unwrap() >= 3, "{ci:?}");
        assert!(reps.share_not_above(0, 4).unwrap() < 0.01);
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.5), 3.0);
        // numpy.quantile([1, 2, 4, 8], q) for q = 0.975, 0.025, 0.3
        assert_eq!(percentile(&v, 0.975), 7.699999999999999);
        assert_eq!(percentile(&v, 0.025), 1.075);
        assert_eq!(percentile(&v, 0.3), 1.9);
        assert_eq!(percentile(&v, 1.0), 8.0);
    }

    #[test]
    fn ranks_share_places_when_intervals_overlap() {
        let values = [Some(10.0), Some(9.0), Some(5.0), None];
        let ci = [Some((8.0, 12.0)), Some((7.0, 11.0)), Some((4.0, 6.0)), None];
        assert_eq!(ranks(&values, &ci), vec![Some(1), Some(1), Some(3), None]);
        // Without intervals, ranks are plain order with ties sharing.
        assert_eq!(
            ranks(&[Some(2.0), Some(2.0), Some(1.0)], &[]),
            vec![Some(1), Some(1), Some(3)]
        );
    }
}
