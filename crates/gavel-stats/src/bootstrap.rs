//! Bootstrap resampling over items: seeded, reproducible, parallel.
//!
//! A replicate draws `n` items with replacement from `n` (Efron's nonparametric bootstrap).
//! Replicate `r` of a run seeded with `seed` draws from its own stream,
//! [`Rng::for_replicate(seed, r)`](crate::rng::Rng::for_replicate), so the draws (and every
//! result) depend on the seed only: never on the thread count or on which thread ran which
//! replicate. Replicates run in parallel with rayon; each worker reuses one buffer of `n`
//! entries, so memory does not grow with the number of replicates beyond the one value per
//! replicate that the caller asks for.
//!
//! The same seed gives the same draws to [`map_indices`] and [`map_weights`]: the weights are
//! the counts of the drawn indices. [`map_group_weights`] resamples items that fall into groups
//! of interchangeable ones (e.g. items with identical labels) by drawing the group counts
//! directly, a multinomial draw whose cost does not grow with the number of items. Statistics that are sums over items (most agreement and
//! classification statistics) are cheapest from weights; order-dependent ones (online Elo) need
//! the indices in drawing order.
//!
//! Intervals: [`percentile_interval`] is the percentile bootstrap interval (Efron and
//! Tibshirani 1993, ch. 13): the `(1 - level) / 2` and `(1 + level) / 2` quantiles of the
//! replicate values, with numpy's default linear interpolation (`np.percentile`,
//! `method="linear"`, Hyndman and Fan type 7), which is also what pandas' `quantile` does.
//!
//! ```
//! use gavel_stats::bootstrap::{map_weights, percentile_interval};
//! let correct = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
//! let accuracy = |w: &[u32]| {
//!     let (hit, n) = w.iter().zip(&correct).fold((0.0, 0.0), |(h, n), (&w, &c)| {
//!         (h + w as f64 * c, n + w as f64)
//!     });
//!     hit / n
//! };
//! let values = map_weights(correct.len(), 1000, 42, accuracy);
//! let ci = percentile_interval(&values, 0.95).unwrap();
//! assert!(ci.lo <= 0.75 && 0.75 <= ci.hi);
//! ```

use rayon::prelude::*;
use serde::Serialize;

use crate::rng::Rng;

/// How a bootstrap is run: the number of replicates, the seed and the interval's level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapConfig {
    /// Number of resamples; 0 turns the bootstrap off.
    pub replicates: usize,
    /// Seed of the run; replicate `r` uses `Rng::for_replicate(seed, r)`.
    pub seed: u64,
    /// Confidence level of the interval, e.g. 0.95.
    pub level: f64,
}

impl Default for BootstrapConfig {
    fn default() -> BootstrapConfig {
        BootstrapConfig {
            replicates: 1000,
            seed: 0,
            level: 0.95,
        }
    }
}

/// A two-sided interval `[lo, hi]`. Serializes as the two-element array `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.lo, self.hi].serialize(s)
    }
}

/// Writes the indices drawn by replicate `replicate` into `out` (cleared first): `n` uniform
/// draws from `0..n`, in drawing order.
pub fn draw_indices(seed: u64, replicate: u64, n: usize, out: &mut Vec<usize>) {
    out.clear();
    if n == 0 {
        return;
    }
    let mut rng = Rng::for_replicate(seed, replicate);
    out.extend((0..n).map(|_| rng.below(n as u64) as usize));
}

/// Writes how many times replicate `replicate` drew each of the `n` items into `out`
/// (resized to `n`): the counts of [`draw_indices`]' indices.
pub fn draw_weights(seed: u64, replicate: u64, n: usize, out: &mut Vec<u32>) {
    out.clear();
    out.resize(n, 0);
    if n == 0 {
        return;
    }
    let mut rng = Rng::for_replicate(seed, replicate);
    for _ in 0..n {
        let i = rng.below(n as u64) as usize;
        if let Some(c) = out.get_mut(i) {
            *c += 1;
        }
    }
}

/// Evaluates `statistic` on every replicate's drawn indices (in drawing order), in parallel.
/// The result has one value per replicate, in replicate order.
pub fn map_indices<T, F>(n_items: usize, replicates: usize, seed: u64, statistic: F) -> Vec<T>
where
    T: Send,
    F: Fn(&[usize]) -> T + Sync,
{
    (0..replicates)
        .into_par_iter()
        .map_init(Vec::new, |buf, r| {
            draw_indices(seed, r as u64, n_items, buf);
            statistic(buf)
        })
        .collect()
}

/// Evaluates `statistic` on every replicate's item weights (how many times each item was
/// drawn), in parallel. The result has one value per replicate, in replicate order.
pub fn map_weights<T, F>(n_items: usize, replicates: usize, seed: u64, statistic: F) -> Vec<T>
where
    T: Send,
    F: Fn(&[u32]) -> T + Sync,
{
    (0..replicates)
        .into_par_iter()
        .map_init(Vec::new, |buf, r| {
            draw_weights(seed, r as u64, n_items, buf);
            statistic(buf)
        })
        .collect()
}

/// Evaluates `statistic` on every replicate of a bootstrap over items that fall into groups of
/// interchangeable items (`sizes[g]` items in group g, `n = Σ sizes`), in parallel. A replicate
/// draws `n` items with replacement, given as how many draws fell in each group: a multinomial
/// draw of `n` over the groups with probabilities `sizes[g] / n`, which is exactly the
/// distribution of the group counts of [`map_weights`]' draws, at a cost that grows with the
/// number of groups, not of items. The result has one value per replicate, in replicate order;
/// replicate `r` draws from `Rng::for_replicate(seed, r)`.
pub fn map_group_weights<T, F>(sizes: &[u64], replicates: usize, seed: u64, statistic: F) -> Vec<T>
where
    T: Send,
    F: Fn(&[u32]) -> T + Sync,
{
    let n: u64 = sizes.iter().sum();
    (0..replicates)
        .into_par_iter()
        .map_init(
            || (vec![0u64; sizes.len()], vec![0u32; sizes.len()]),
            |(drawn, weights), r| {
                let mut rng = Rng::for_replicate(seed, r as u64);
                crate::rank::binomial::multinomial(&mut rng, n, sizes, drawn);
                for (w, &d) in weights.iter_mut().zip(drawn.iter()) {
                    *w = u32::try_from(d).unwrap_or(u32::MAX);
                }
                statistic(weights)
            },
        )
        .collect()
}

/// The `q`-quantile (`0 <= q <= 1`) of sorted, NaN-free values with linear interpolation
/// (numpy's default). `None` for no values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let last = *sorted.last()?;
    if n == 1 {
        return Some(last);
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let below = h.floor() as usize;
    let frac = h - below as f64;
    let a = *sorted.get(below)?;
    let b = sorted.get(below + 1).copied().unwrap_or(a);
    // numpy's `_lerp`: a + (b - a) * t, switched to b - (b - a) * (1 - t) for t >= 0.5,
    // which keeps the result exact at both ends.
    let diff = b - a;
    Some(if frac >= 0.5 {
        b - diff * (1.0 - frac)
    } else {
        a + diff * frac
    })
}

/// The percentile interval at `level` (e.g. 0.95) of replicate values. NaN values (replicates
/// where the statistic was undefined) are left out. `None` when no value is left.
pub fn percentile_interval(values: &[f64], level: f64) -> Option<Interval> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        lo: quantile_sorted(&v, alpha)?,
        hi: quantile_sorted(&v, 1.0 - alpha)?,
    })
}

/// The percentile interval of one statistic over replicates: `statistic` returns `None` (or
/// NaN) where it is undefined on a resample; such replicates are left out.
pub fn interval_over_weights<F>(
    n_items: usize,
    config: &BootstrapConfig,
    statistic: F,
) -> Option<Interval>
where
    F: Fn(&[u32]) -> Option<f64> + Sync,
{
    if config.replicates == 0 || n_items == 0 {
        return None;
    }
    let values: Vec<f64> = map_weights(n_items, config.replicates, config.seed, |w| {
        statistic(w).unwrap_or(f64::NAN)
    });
    percentile_interval(&values, config.level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_counts_of_indices() {
        let mut idx = Vec::new();
        let mut w = Vec::new();
        draw_indices(9, 3, 50, &mut idx);
        draw_weights(9, 3, 50, &mut w);
        let mut counts = vec![0u32; 50];
        for &i in &idx {
            counts[i] += 1;
        }
        assert_eq!(counts, w);
        assert_eq!(w.iter().sum::<u32>(), 50);
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let stat = |w: &[u32]| {
            w.iter()
                .enumerate()
                .map(|(i, &c)| i as u64 * c as u64)
                .sum::<u64>()
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| map_weights(100, 64, 5, stat));
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| map_weights(100, 64, 5, stat));
        assert_eq!(one, four);
        let other_seed = map_weights(100, 64, 6, stat);
        assert_ne!(one, other_seed);
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        // np.percentile([1, 2, 3, 4, 10], [2.5, 50, 97.5]) == [1.1, 3.0, 9.4]
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let ci = percentile_interval(&v, 0.95).unwrap();
        assert!((ci.lo - 1.1).abs() < 1e-12, "{ci:?}");
        assert!((ci.hi - 9.4).abs() < 1e-12, "{ci:?}");
        assert_eq!(quantile_sorted(&v, 0.5), Some(3.0));
        assert_eq!(quantile_sorted(&[7.0], 0.3), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.3), None);
    }

    #[test]
    fn nan_replicates_are_left_out() {
        let v = [f64::NAN, 1.0, 2.0, f64::NAN, 3.0];
        let ci = percentile_interval(&v, 0.5).unwrap();
        assert_eq!((ci.lo, ci.hi), (1.5, 2.5));
        assert_eq!(percentile_interval(&[f64::NAN], 0.95), None);
    }

    #[test]
    fn empty_input_gives_no_interval() {
        let cfg = BootstrapConfig::default();
        assert_eq!(interval_over_weights(0, &cfg, |_| Some(1.0)), None);
        let off = BootstrapConfig {
            replicates: 0,
            ..cfg
        };
        assert_eq!(interval_over_weights(5, &off, |_| Some(1.0)), None);
    }
}
