//! Online Elo, as the Chatbot Arena notebook's `compute_online_elo` computes it.
//!
//! Every model starts at `init`. For each battle in turn, with ratings `ra`, `rb` before it:
//! `ea = 1 / (1 + base^((rb - ra)/scale))`, `eb = 1 / (1 + base^((ra - rb)/scale))`, A's score
//! `sa` is 1, 0 or 1/2, and then `ra += k·(sa - ea)`, `rb += k·(1 - sa - eb)`. Defaults are the
//! notebook's: `k = 4`, `scale = 400`, `base = 10`, `init = 1000`. The result depends on the
//! order of the battles; [`Order::Shuffled`] replays them in a seeded random order.

use super::{Battles, IndexedBattle, RankError};
use crate::rng::Rng;

/// The order in which battles are replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// As given (file order).
    Given,
    /// A random permutation drawn from this seed.
    Shuffled(u64),
}

/// Elo's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// The step size K.
    pub k: f64,
    /// Rating points per factor of `base` in the odds.
    pub scale: f64,
    /// The odds base.
    pub base: f64,
    /// The starting rating.
    pub init: f64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            k: 4.0,
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
        }
    }
}

impl Params {
    /// Fails on a parameter out of range (K not finite and positive, scale not positive, base
    /// not above 1).
    pub fn check(&self) -> Result<(), RankError> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(RankError::InvalidParameter(format!(
                "the Elo K must be a positive number, not {}",
                self.k
            )));
        }
        check_scale(self.scale, self.base, self.init)
    }
}

pub(crate) fn check_scale(scale: f64, base: f64, init: f64) -> Result<(), RankError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(RankError::InvalidParameter(format!(
            "the rating scale must be a positive number, not {scale}"
        )));
    }
    if !(base.is_finite() && base > 1.0) {
        return Err(RankError::InvalidParameter(format!(
            "the odds base must be a number above 1, not {base}"
        )));
    }
    if !init.is_finite() {
        return Err(RankError::InvalidParameter(format!(
            "the initial rating must be a finite number, not {init}"
        )));
    }
    Ok(())
}

/// Elo ratings after replaying all battles in the given order, one per model index.
pub fn ratings(battles: &Battles, params: &Params, order: Order) -> Result<Vec<f64>, RankError> {
    params.check()?;
    if battles.is_empty() {
        return Err(RankError::NoBattles);
    }
    let n = battles.models().len();
    let list = battles.battles();
    let ratings = match order {
        Order::Given => replay(n, list.iter().copied(), params),
        Order::Shuffled(seed) => {
            let mut idx: Vec<usize> = (0..list.len()).collect();
            Rng::new(seed).shuffle(&mut idx);
            replay(n, idx.iter().filter_map(|&i| list.get(i).copied()), params)
        }
    };
    Ok(ratings
        .into_iter()
        .map(|r| r.unwrap_or(params.init))
        .collect())
}

/// Replays battles; a model that took part in none keeps `None`.
pub(crate) fn replay(
    n_models: usize,
    battles: impl Iterator<Item = IndexedBattle>,
    params: &Params,
) -> Vec<Option<f64>> {
    let mut rating: Vec<Option<f64>> = vec![None; n_models];
    for b in battles {
        let (a, bb) = (b.a as usize, b.b as usize);
        if a >= n_models || bb >= n_models {
            continue;
        }
        let ra = rating[a].unwrap_or(params.init);
        let rb = rating[bb].unwrap_or(params.init);
        let ea = 1.0 / (1.0 + params.base.powf((rb - ra) / params.scale));
        let eb = 1.0 / (1.0 + params.base.powf((ra - rb) / params.scale));
        let sa = b.outcome.score_a();
        rating[a] = Some(ra + params.k * (sa - ea));
        rating[bb] = Some(rb + params.k * (1.0 - sa - eb));
    }
    rating
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::Outcome;

    #[test]
    fn first_update_moves_by_half_k() {
        let mut b = Battles::new();
        b.push("x", "y", Outcome::WinA, None).unwrap();
        let r = ratings(&b, &Params::default(), Order::Given).unwrap();
        assert_eq!(r, vec![1002.0, 998.0]);
        let mut b = Battles::new();
        b.push("x", "y", Outcome::Tie, None).unwrap();
        let r = ratings(&b, &Params::default(), Order::Given).unwrap();
        assert_eq!(r, vec![1000.0, 1000.0]);
    }

    #[test]
    fn shuffling_is_seeded() {
        let mut b = Battles::new();
        for i in 0..50 {
            let o = if i % 3 == 0 {
                Outcome::WinB
            } else {
                Outcome::WinA
            };
            b.push("x", "y", o, None).unwrap();
        }
        let p = Params::default();
        let r1 = ratings(&b, &p, Order::Shuffled(9)).unwrap();
        let r2 = ratings(&b, &p, Order::Shuffled(9)).unwrap();
        let r3 = ratings(&b, &p, Order::Shuffled(10)).unwrap();
        assert_eq!(r1, r2);
        assert_ne!(r1, r3);
        let bad = Params { k: 0.0, ..p };
        assert!(ratings(&b, &bad, Order::Given).is_err());
    }
}
