//! Is A better than B? Predicted win probability and the sign test on shared items.
//!
//! - [`win_probability`]: what the Elo / Bradley-Terry scale predicts,
//!   `P(A beats B) = 1 / (1 + base^((r_B − r_A)/scale))`.
//! - [`sign_test`]: the exact two-sided sign test (a binomial test with p = 1/2 on the items
//!   where A and B differ; items where they are equal are set aside), matching
//!   `scipy.stats.binomtest(better, better + worse, 0.5)`; also the one-sided p-value for
//!   "A better than B" (`alternative="greater"`).
//! - [`compare`]: which items to pair. When comparisons name their items, A's score on an item
//!   is its mean score over all its comparisons on that item (win 1, tie 1/2, loss 0), the
//!   same for B, and the test runs over the items both were compared on (their head-to-head
//!   comparisons count directly: a win for A is 1 against 0). Without item names, it runs
//!   over A's and B's head-to-head comparisons.

use std::collections::HashMap;

use super::dist::binomial_half_cdf;
use super::{Battles, Outcome};

/// `P(A beats B)` predicted from two ratings on an Elo / Bradley-Terry scale.
pub fn win_probability(rating_a: f64, rating_b: f64, scale: f64, base: f64) -> f64 {
    1.0 / (1.0 + base.powf((rating_b - rating_a) / scale))
}

/// The result of a sign test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignTest {
    /// Units where A was better.
    pub better: u64,
    /// Units where B was better.
    pub worse: u64,
    /// Units where they were equal (not used by the test).
    pub equal: u64,
    /// Two-sided exact p-value (1 when no unit differs).
    pub p_value: f64,
    /// One-sided exact p-value for "A better than B".
    pub p_greater: f64,
}

/// The exact sign test on counts of better, worse and equal units.
pub fn sign_test(better: u64, worse: u64, equal: u64) -> SignTest {
    let n = better + worse;
    let p_greater = if n == 0 || better == 0 {
        1.0
    } else {
        // P(X >= better) = P(X <= worse) by symmetry.
        binomial_half_cdf(worse, n)
    };
    let p_value = if n == 0 || 2 * better == n {
        1.0
    } else {
        (2.0 * binomial_half_cdf(better.min(worse), n)).min(1.0)
    };
    SignTest {
        better,
        worse,
        equal,
        p_value,
        p_greater,
    }
}

/// What the paired comparison ran over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairedOn {
    /// Items on which both models were compared.
    SharedItems,
    /// The two models' head-to-head comparisons (the data names no items).
    HeadToHead,
}

/// A paired comparison of two models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// What the units are.
    pub on: PairedOn,
    /// The sign test over those units.
    pub test: SignTest,
    /// Mean of A's score minus B's over the units (in [-1, 1]); `None` with no units.
    pub mean_difference: Option<f64>,
}

/// Compares models `a` and `b` (indices) with the sign test, over shared items when the
/// comparisons name items, otherwise over their head-to-head comparisons.
pub fn compare(battles: &Battles, a: usize, b: usize) -> Comparison {
    let has_items = battles.battles().iter().any(|x| x.item.is_some());
    let mut better = 0;
    let mut worse = 0;
    let mut equal = 0;
    let mut diff_sum = 0.0;
    let on = if has_items {
        // item -> (sum of A's scores, count, sum of B's scores, count)
        let mut per_item: HashMap<u32, [f64; 4]> = HashMap::new();
        for x in battles.battles() {
            let Some(item) = x.item else { continue };
            let (ma, mb) = (x.a as usize, x.b as usize);
            let score_a = x.outcome.score_a();
            for (model, score) in [(ma, score_a), (mb, 1.0 - score_a)] {
                let slot = if model == a {
                    0
                } else if model == b {
                    2
                } else {
                    continue;
                };
                let e = per_item.entry(item).or_insert([0.0; 4]);
                e[slot] += score;
                e[slot + 1] += 1.0;
            }
        }
        let mut items: Vec<(u32, [f64; 4])> = per_item.into_iter().collect();
        items.sort_by_key(|(k, _)| *k);
        for (_, [sa, na, sb, nb]) in items {
            if na == 0.0 || nb == 0.0 {
                continue;
            }
            let d = sa / na - sb / nb;
            diff_sum += d;
            if d > 0.0 {
                better += 1;
            } else if d < 0.0 {
                worse += 1;
            } else {
                equal += 1;
            }
        }
        PairedOn::SharedItems
    } else {
        for x in battles.battles() {
            let (ma, mb) = (x.a as usize, x.b as usize);
            let outcome = if ma == a && mb == b {
                x.outcome
            } else if ma == b && mb == a {
                x.outcome.swapped()
            } else {
                continue;
            };
            match outcome {
                Outcome::WinA => {
                    better += 1;
                    diff_sum += 1.0;
                }
                Outcome::WinB => {
                    worse += 1;
                    diff_sum -= 1.0;
                }
                Outcome::Tie => equal += 1,
            }
        }
        PairedOn::HeadToHead
    };
    let units = better + worse + equal;
    Comparison {
        on,
        test: sign_test(better, worse, equal),
        mean_difference: (units > 0).then(|| diff_sum / units as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_test_matches_scipy_binomtest() {
        // scipy.stats.binomtest(7, 10, 0.5).pvalue = 0.34375; alternative="greater": 0.171875
        let t = sign_test(7, 3, 4);
        assert!((t.p_value - 0.34375).abs() < 1e-15);
        assert!((t.p_greater - 0.171875).abs() < 1e-15);
        assert_eq!(sign_test(5, 5, 0).p_value, 1.0);
        assert_eq!(sign_test(0, 0, 9).p_value, 1.0);
        assert_eq!(sign_test(0, 4, 0).p_greater, 1.0);
        assert!((sign_test(0, 4, 0).p_value - 0.125).abs() < 1e-15);
    }

    #[test]
    fn win_probability_is_logistic_in_rating_gap() {
        assert_eq!(win_probability(1000.0, 1000.0, 400.0, 10.0), 0.5);
        assert!((win_probability(1400.0, 1000.0, 400.0, 10.0) - 10.0 / 11.0).abs() < 1e-15);
    }

    #[test]
    fn shared_items_pair_scores_across_opponents() {
        let mut b = Battles::new();
        // Both x and y met the baseline on q1, q2, q3; x did better on q1 and q2, equal on q3.
        b.push("x", "base", Outcome::WinA, Some("q1")).unwrap();
        b.push("y", "base", Outcome::WinB, Some("q1")).unwrap();
        b.push("base", "x", Outcome::Tie, Some("q2")).unwrap();
        b.push("y", "base", Outcome::WinB, Some("q2")).unwrap();
        b.push("x", "base", Outcome::WinA, Some("q3")).unwrap();
        b.push("y", "base", Outcome::WinA, Some("q3")).unwrap();
        b.push("x", "base", Outcome::WinA, Some("q4")).unwrap();
        let c = compare(&b, 0, 2);
        assert_eq!(c.on, PairedOn::SharedItems);
        assert_eq!((c.test.better, c.test.worse, c.test.equal), (2, 0, 1));
        assert!((c.mean_difference.unwrap() - 0.5).abs() < 1e-15);
        let mut h = Battles::new();
        h.push("x", "y", Outcome::WinA, None).unwrap();
        h.push("y", "x", Outcome::WinA, None).unwrap();
        h.push("y", "x", Outcome::WinB, None).unwrap();
        let c = compare(&h, 0, 1);
        assert_eq!(c.on, PairedOn::HeadToHead);
        assert_eq!((c.test.better, c.test.worse), (2, 1));
    }
}
