//! Correlation of paired scores: Pearson's r, Spearman's rho, Kendall's tau-b and tau-c, with
//! ties handled as scipy handles them, and Fisher's z interval for r.
//!
//! References (scipy 1.17.1):
//! - [`pearson`]: `scipy.stats.pearsonr`. `r = Σ (x - x̄)(y - ȳ) / √(Σ (x - x̄)² Σ (y - ȳ)²)`,
//!   clipped to `[-1, 1]`. Undefined for fewer than two pairs (scipy raises) and when either
//!   input is constant (scipy warns and returns NaN).
//! - [`spearman`]: `scipy.stats.spearmanr`: Pearson's r of the ranks, ties given their average
//!   rank (`rankdata(method="average")`). Undefined when either input is constant or there are
//!   fewer than two pairs (NaN there).
//! - [`kendall_tau`]: `scipy.stats.kendalltau(variant="b"|"c")`. With `P` concordant and `Q`
//!   discordant pairs, `n₀ = n(n-1)/2`, `n₁`/`n₂` the pairs tied in x / in y:
//!   tau-b `= (P - Q) / √((n₀ - n₁)(n₀ - n₂))`, tau-c `= 2(P - Q) / (n² (m - 1)/m)` with `m` the
//!   smaller number of distinct values; clipped to `[-1, 1]`. Undefined (NaN in scipy) when
//!   every pair is tied in x or in y, or for fewer than two pairs. `Q` is counted in
//!   O(n log n) with a Fenwick tree.
//! - [`fisher_interval`]: the interval scipy's `PearsonRResult.confidence_interval()` gives:
//!   `tanh(atanh(r) ± z_{(1+level)/2} / √(n - 3))`, and `[-1, 1]` for `n ≤ 3`.

use crate::bootstrap::Interval;
use crate::normal;

/// Why a correlation has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationUndefined {
    /// Fewer than two pairs.
    #[error("fewer than two pairs of scores")]
    TooFew,
    /// One of the inputs has a single value.
    #[error("one side's scores are all equal, so the correlation is 0/0")]
    Constant,
    /// The inputs differ in length.
    #[error("the two inputs differ in length")]
    Length,
}

type Result<T> = std::result::Result<T, CorrelationUndefined>;

fn check(x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(CorrelationUndefined::Length);
    }
    if x.len() < 2 {
        return Err(CorrelationUndefined::TooFew);
    }
    Ok(())
}

fn constant(v: &[f64]) -> bool {
    v.first().is_none_or(|&a| v.iter().all(|&b| b == a))
}

/// Pearson's correlation coefficient.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check(x, y)?;
    if constant(x) || constant(y) {
        return Err(CorrelationUndefined::Constant);
    }
    // As scipy: centre, take the norm of the deviations scaled by the largest one (no
    // overflow), divide by it, then take the dot product. Two points give exactly ±1.
    let n = x.len() as f64;
    let unit = |v: &[f64]| -> Option<Vec<f64>> {
        let mean = v.iter().sum::<f64>() / n;
        let dev: Vec<f64> = v.iter().map(|a| a - mean).collect();
        let max = dev.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        if max == 0.0 {
            return None;
        }
        let norm = max
            * dev
                .iter()
                .map(|d| (d / max) * (d / max))
                .sum::<f64>()
                .sqrt();
        Some(dev.into_iter().map(|d| d / norm).collect())
    };
    let (Some(a), Some(b)) = (unit(x), unit(y)) else {
        return Err(CorrelationUndefined::Constant);
    };
    if x.len() == 2 {
        let s = |v: &[f64]| (v[1] - v[0]).signum();
        return Ok(s(x) * s(y));
    }
    let r: f64 = a.iter().zip(&b).map(|(p, q)| p * q).sum();
    Ok(r.clamp(-1.0, 1.0))
}

/// Ranks starting at 1, ties given the average of the ranks they span
/// (`scipy.stats.rankdata(method="average")`).
pub fn rank_average(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && v[order[j]] == v[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) hold ranks i+1..=j; their average is (i + 1 + j) / 2.
        let avg = (i + 1 + j) as f64 / 2.0;
        for &o in &order[i..j] {
            ranks[o] = avg;
        }
        i = j;
    }
    ranks
}

/// Spearman's rank correlation coefficient.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check(x, y)?;
    pearson(&rank_average(x), &rank_average(y))
}

/// Which Kendall tau.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TauVariant {
    /// tau-b: adjusted for ties in either input.
    B,
    /// tau-c (Stuart's): for rectangular tables.
    C,
}

/// Dense ranks `0..m` of the values, and `m`.
fn dense(v: &[f64]) -> (Vec<usize>, usize) {
    // `+ 0.0` turns -0.0 into 0.0, which `total_cmp` would otherwise order apart.
    let v: Vec<f64> = v.iter().map(|x| x + 0.0).collect();
    let mut sorted: Vec<f64> = v.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let ranks = v
        .iter()
        .map(|x| sorted.partition_point(|s| s.total_cmp(x).is_lt()))
        .collect();
    (ranks, sorted.len())
}

fn tied_pairs(counts: impl Iterator<Item = u64>) -> u64 {
    counts.map(|c| c * c.saturating_sub(1) / 2).sum()
}

/// Kendall's tau (b or c).
pub fn kendall_tau(x: &[f64], y: &[f64], variant: TauVariant) -> Result<f64> {
    check(x, y)?;
    let n = x.len();
    let (rx, mx) = dense(x);
    let (ry, my) = dense(y);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (rx[i], ry[i]));

    // Discordant pairs: earlier (smaller or equal x) with a strictly larger y. Pairs with equal
    // x are ordered by y, so they never count.
    let mut tree = vec![0u64; my + 1];
    let mut dis = 0u64;
    for (seen, &i) in order.iter().enumerate() {
        let r = ry[i] + 1;
        let mut at_most = 0;
        let mut k = r;
        while k > 0 {
            at_most += tree[k];
            k &= k - 1;
        }
        dis += seen as u64 - at_most;
        let mut k = r;
        while k <= my {
            tree[k] += 1;
            k += k & k.wrapping_neg();
        }
    }

    let mut cx = vec![0u64; mx];
    let mut cy = vec![0u64; my];
    for i in 0..n {
        cx[rx[i]] += 1;
        cy[ry[i]] += 1;
    }
    let xtie = tied_pairs(cx.into_iter());
    let ytie = tied_pairs(cy.into_iter());
    let mut joint = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && rx[order[j]] == rx[order[i]] && ry[order[j]] == ry[order[i]] {
            j += 1;
        }
        joint.push((j - i) as u64);
        i = j;
    }
    let ntie = tied_pairs(joint.into_iter());
    let tot = (n as u64) * (n as u64 - 1) / 2;
    if xtie == tot || ytie == tot {
        return Err(CorrelationUndefined::Constant);
    }
    let con_minus_dis = tot as f64 - xtie as f64 - ytie as f64 + ntie as f64 - 2.0 * dis as f64;
    let tau = match variant {
        TauVariant::B => {
            con_minus_dis / ((tot - xtie) as f64).sqrt() / ((tot - ytie) as f64).sqrt()
        }
        TauVariant::C => {
            let m = mx.min(my) as f64;
            let size = n as f64;
            2.0 * con_minus_dis / (size * size * (m - 1.0) / m)
        }
    };
    Ok(tau.clamp(-1.0, 1.0))
}

/// Fisher's z interval of Pearson's `r` from `n` pairs at `level`.
pub fn fisher_interval(r: f64, n: usize, level: f64) -> Interval {
    if n <= 3 {
        return Interval { lo: -1.0, hi: 1.0 };
    }
    let z = r.atanh();
    let se = (1.0 / (n as f64 - 3.0)).sqrt();
    let h = normal::quantile(0.5 + level / 2.0);
    Interval {
        lo: (z - h * se).tanh(),
        hi: (z + h * se).tanh(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            rank_average(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
    }

    #[test]
    fn textbook_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        // scipy: pearsonr 0.7745966692414834, spearmanr 0.7378647873726218,
        // kendalltau(b) 0.6708203932499368, kendalltau(c) 0.72
        assert!((pearson(&x, &y).unwrap() - 0.7745966692414834).abs() < 1e-12);
        assert!((spearman(&x, &y).unwrap() - 0.7378647873726218).abs() < 1e-12);
        assert!((kendall_tau(&x, &y, TauVariant::B).unwrap() - 0.6708203932499369).abs() < 1e-12);
        assert!((kendall_tau(&x, &y, TauVariant::C).unwrap() - 0.72).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(pearson(&[1.0], &[2.0]), Err(CorrelationUndefined::TooFew));
        assert_eq!(
            pearson(&[1.0, 1.0], &[2.0, 3.0]),
            Err(CorrelationUndefined::Constant)
        );
        assert_eq!(
            kendall_tau(&[1.0, 2.0], &[3.0, 3.0], TauVariant::B),
            Err(CorrelationUndefined::Constant)
        );
        assert_eq!(
            pearson(&[1.0, 2.0], &[2.0]),
            Err(CorrelationUndefined::Length)
        );
        assert_eq!(pearson(&[1.0, 2.0], &[5.0, 3.0]), Ok(-1.0));
        assert_eq!(
            fisher_interval(0.5, 3, 0.95),
            Interval { lo: -1.0, hi: 1.0 }
        );
    }
}
