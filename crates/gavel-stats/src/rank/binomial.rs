//! Exact binomial and multinomial sampling, so that resampling a million battles costs a few
//! draws per distinct (pair, outcome) cell instead of a million.
//!
//! A bootstrap resample of N battles drawn with replacement has the same distribution as a
//! multinomial draw of N over the distinct cells with probabilities count/N; a multinomial is
//! drawn as a chain of binomials, each cell conditioned on the ones before it.
//!
//! Binomial variates: inversion (sequential search from 0) when `n·min(p, 1-p) < 10`, and
//! otherwise Hörmann's BTRS, transformed rejection with squeeze (W. Hörmann, "The generation
//! of binomial random variates", J. Stat. Comput. Simul. 46, 1993), which is exact and takes
//! about 1.2 uniform pairs per variate whatever `n`.

use super::dist::ln_gamma;
use crate::rng::Rng;

/// A Binomial(n, p) variate.
pub fn binomial(rng: &mut Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    if (n as f64) * p < 10.0 {
        inversion(rng, n, p)
    } else {
        btrs(rng, n, p)
    }
}

fn inversion(rng: &mut Rng, n: u64, p: f64) -> u64 {
    let q = 1.0 - p;
    let s = p / q;
    let a = (n as f64 + 1.0) * s;
    loop {
        let mut r = ((n as f64) * (-p).ln_1p()).exp();
        let mut u = rng.next_f64();
        let mut x: u64 = 0;
        while u > r {
            u -= r;
            x += 1;
            if x > n {
                break;
            }
            r *= a / x as f64 - s;
        }
        // Rounding can leave a sliver of probability unassigned at the far tail; draw again
        // rather than return an impossible value.
        if x <= n {
            return x;
        }
    }
}

fn btrs(rng: &mut Rng, n: u64, p: f64) -> u64 {
    let nf = n as f64;
    let q = 1.0 - p;
    let spq = (nf * p * q).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = nf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let alpha = (2.83 + 5.1 / b) * spq;
    let lpq = (p / q).ln();
    let m = ((nf + 1.0) * p).floor();
    let h = ln_gamma(m + 1.0) + ln_gamma(nf - m + 1.0);
    loop {
        let u = rng.next_f64() - 0.5;
        let v = rng.next_f64();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + c).floor();
        if k < 0.0 || k > nf {
            continue;
        }
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        let v = (v * alpha / (a / (us * us) + b)).ln();
        if v <= h - ln_gamma(k + 1.0) - ln_gamma(nf - k + 1.0) + (k - m) * lpq {
            return k as u64;
        }
    }
}

/// Draws `n` items over cells with the given counts (probabilities `counts[k] / sum`), writing
/// how many fell in each cell into `out` (same length as `counts`).
pub fn multinomial(rng: &mut Rng, n: u64, counts: &[u64], out: &mut [u64]) {
    let mut remaining_total: u64 = counts.iter().sum();
    let mut remaining_n = n;
    for (k, (&c, o)) in counts.iter().zip(out.iter_mut()).enumerate() {
        if remaining_n == 0 || c == 0 || remaining_total == 0 {
            *o = 0;
            if c > 0 {
                remaining_total -= c;
            }
            continue;
        }
        let x = if c >= remaining_total || k + 1 == counts.len() {
            remaining_n
        } else {
            binomial(rng, remaining_n, c as f64 / remaining_total as f64)
        };
        *o = x;
        remaining_n -= x;
        remaining_total -= c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(n: u64, p: f64, draws: usize, seed: u64) -> (f64, f64) {
        let mut rng = Rng::new(seed);
        let xs: Vec<f64> = (0..draws)
            .map(|_| binomial(&mut rng, n, p) as f64)
            .collect();
        let mean = xs.iter().sum::<f64>() / draws as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (draws as f64 - 1.0);
        (mean, var)
    }

    #[test]
    fn binomial_moments_match_in_both_regimes() {
        for &(n, p) in &[
            (20u64, 0.1),
            (1_000, 0.003),
            (1_000, 0.3),
            (1_000_000, 0.5),
            (50, 0.9),
            (1_000_000, 0.999),
        ] {
            let draws = 40_000;
            let (mean, var) = moments(n, p, draws, 11);
            let (m0, v0) = (n as f64 * p, n as f64 * p * (1.0 - p));
            // Five standard errors of the mean, and a 5% band on the variance.
            assert!(
                (mean - m0).abs() < 5.0 * (v0 / draws as f64).sqrt(),
                "n={n} p={p} mean {mean} vs {m0}"
            );
            assert!(
                (var / v0 - 1.0).abs() < 0.05,
                "n={n} p={p} var {var} vs {v0}"
            );
        }
    }

    #[test]
    fn binomial_matches_the_pmf() {
        // A chi-square check of BTRS against the exact probabilities, n = 60, p = 0.4.
        let (n, p) = (60u64, 0.4);
        let draws = 200_000;
        let mut rng = Rng::new(5);
        let mut hist = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            hist[binomial(&mut rng, n, p) as usize] += 1;
        }
        let mut chi2 = 0.0;
        let mut cells = 0;
        for (k, &h) in hist.iter().enumerate() {
            let e = draws as f64 * crate::rank::dist::binomial_pmf(k as u64, n, p);
            if e >= 20.0 {
                chi2 += (h as f64 - e).powi(2) / e;
                cells += 1;
            }
        }
        // ~25 cells: the 0.9999 quantile of chi-square with 25 degrees of freedom is about 59.
        assert!(cells > 20 && chi2 < 59.0, "chi2 {chi2} over {cells} cells");
    }

    #[test]
    fn multinomial_keeps_the_total_and_the_proportions() {
        let counts = [500u64, 0, 300, 200, 0];
        let mut out = [0u64; 5];
        let mut rng = Rng::new(3);
        let mut sums = [0u64; 5];
        for _ in 0..2_000 {
            multinomial(&mut rng, 1_000, &counts, &mut out);
            assert_eq!(out.iter().sum::<u64>(), 1_000);
            assert_eq!(out[1] + out[4], 0);
            for (s, o) in sums.iter_mut().zip(out) {
                *s += o;
            }
        }
        let share = sums[0] as f64 / 2_000_000.0;
        assert!((share - 0.5).abs() < 0.003, "{share}");
    }
}
