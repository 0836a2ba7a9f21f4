//! Ranking models from pairwise comparisons: win rates, online Elo, Bradley-Terry, bootstrap
//! intervals, interval-respecting ranks, significance tests and length-controlled win rates.
//!
//! The input is a [`Battles`] list (who met whom, who won, optionally on which item). From it:
//! - [`PairCounts`]: battles aggregated per pair of models (wins each way, ties), which is all
//!   that win rates and Bradley-Terry need, so a million battles cost no more than their counts;
//! - [`winrate`]: the pairwise win-rate matrix, each model's mean win rate, and the win rate
//!   against a baseline with its standard error (AlpacaEval);
//! - [`lc`]: AlpacaEval 2's length-controlled win rate;
//! - [`elo`]: online Elo in the order given or shuffled (the Chatbot Arena notebook);
//! - [`bt`]: Bradley-Terry maximum likelihood, as the Chatbot Arena notebook computes it;
//! - [`bootstrap`]: seeded, parallel bootstrap replicates (identical on any thread count),
//!   percentile intervals and ranks that respect them;
//! - [`significance`]: predicted win probability and the sign test for "A beats B";
//! - [`report`]: the whole `gavel rank` report from Battle and Label records (shared by the
//!   CLI and `gavel run`).
//!
//! ```
//! use gavel_stats::rank::{Battles, Outcome, bt};
//! let mut battles = Battles::new();
//! battles.push("x", "y", Outcome::WinA, None).unwrap();
//! battles.push("x", "y", Outcome::WinB, None).unwrap();
//! battles.push("y", "x", Outcome::WinB, None).unwrap();
//! let ratings = bt::fit(&battles.counts(), &bt::Params::default()).unwrap();
//! assert!(ratings[0] > ratings[1]);
//! assert!((ratings[0] + ratings[1] - 2000.0).abs() < 1e-9);
//! ```
//!
//! Nothing here reads files or prints; callers read records and hand them to [`report`].

pub mod binomial;
pub mod bootstrap;
pub mod bt;
pub mod dist;
pub mod elo;
pub mod graph;
pub mod lc;
pub mod report;
pub mod significance;
pub mod winrate;

use std::collections::HashMap;

/// The outcome of one comparison, stated from model A's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Model A won.
    WinA,
    /// Model B won.
    WinB,
    /// Neither won (a tie of any kind).
    Tie,
}

impl Outcome {
    /// A's score: 1 for a win, 0 for a loss, 1/2 for a tie.
    pub fn score_a(self) -> f64 {
        match self {
            Outcome::WinA => 1.0,
            Outcome::WinB => 0.0,
            Outcome::Tie => 0.5,
        }
    }

    /// The same outcome seen from B's side.
    pub fn swapped(self) -> Outcome {
        match self {
            Outcome::WinA => Outcome::WinB,
            Outcome::WinB => Outcome::WinA,
            Outcome::Tie => Outcome::Tie,
        }
    }
}

/// Why models could not be ranked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RankError {
    /// A comparison of a model with itself.
    #[error("model `{model}` is compared with itself")]
    SelfBattle {
        /// The model.
        model: String,
    },
    /// A model name that is empty.
    #[error("a model name is empty")]
    EmptyModelName,
    /// Nothing to rank.
    #[error("there are no comparisons to rank")]
    NoBattles,
    /// A model that was named (baseline, anchor, comparison) but has no battles.
    #[error("model `{model}` has no battles{}", known_models(.known))]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// The models that do have battles (for the message).
        known: Vec<String>,
    },
    /// The comparison graph falls into groups that never meet, so ratings of different groups
    /// cannot be compared.
    #[error(
        "ratings are not identifiable: the models fall into {} groups that never meet each other ({}); rank each group separately or add comparisons between them",
        .groups.len(),
        describe_groups(.groups)
    )]
    Disconnected {
        /// The groups of models that are connected by comparisons, largest first.
        groups: Vec<Vec<String>>,
    },
    /// Some models won (or lost) every comparison with the rest, so the Bradley-Terry maximum
    /// likelihood ratings are infinite.
    #[error(
        "Bradley-Terry ratings are not identifiable: {} {} every comparison with the other models, so the maximum-likelihood ratings are infinite; use --method winrate or --method elo, or add comparisons",
        describe_models(.models),
        if *.won { "won" } else { "lost" }
    )]
    Separated {
        /// The models that won (or lost) everything against the others.
        models: Vec<String>,
        /// Whether they won (true) or lost (false) every comparison with the rest.
        won: bool,
    },
    /// A parameter out of its range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The solver did not converge (should not happen on identifiable data).
    #[error("the {0} fit did not converge")]
    NotConverged(&'static str),
}

fn known_models(known: &[String]) -> String {
    if known.is_empty() {
        return String::new();
    }
    format!("; the models with battles are {}", describe_models(known))
}

fn describe_models(models: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut names: Vec<String> = models
        .iter()
        .take(SHOWN)
        .map(|m| format!("`{m}`"))
        .collect();
    if models.len() > SHOWN {
        names.push(format!("and {} more", models.len() - SHOWN));
    }
    names.join(", ")
}

fn describe_groups(groups: &[Vec<String>]) -> String {
    const SHOWN: usize = 4;
    let mut parts: Vec<String> = groups
        .iter()
        .take(SHOWN)
        .map(|g| format!("{{{}}}", describe_models(g)))
        .collect();
    if groups.len() > SHOWN {
        parts.push(format!("and {} more groups", groups.len() - SHOWN));
    }
    parts.join(" | ")
}

/// One comparison, with models and item as indices into its [`Battles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedBattle {
    /// Model A's index.
    pub a: u32,
    /// Model B's index.
    pub b: u32,
    /// The outcome from A's side.
    pub outcome: Outcome,
    /// The item's index, when the comparison names one.
    pub item: Option<u32>,
}

/// A list of comparisons between named models, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Battles {
    models: Vec<String>,
    model_index: HashMap<String, u32>,
    items: Vec<String>,
    item_index: HashMap<String, u32>,
    battles: Vec<IndexedBattle>,
}

impl Battles {
    /// An empty list.
    pub fn new() -> Battles {
        Battles::default()
    }

    /// Adds a comparison. Fails on an empty model name or a model compared with itself.
    pub fn push(
        &mut self,
        model_a: &str,
        model_b: &str,
        outcome: Outcome,
        item: Option<&str>,
    ) -> Result<(), RankError> {
        if model_a.is_empty() || model_b.is_empty() {
            return Err(RankError::EmptyModelName);
        }
        if model_a == model_b {
            return Err(RankError::SelfBattle {
                model: model_a.to_string(),
            });
        }
        let a = self.intern_model(model_a);
        let b = self.intern_model(model_b);
        let item = item.map(|i| self.intern_item(i));
        self.battles.push(IndexedBattle {
            a,
            b,
            outcome,
            item,
        });
        Ok(())
    }

    fn intern_model(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.model_index.get(name) {
            return i;
        }
        let i = self.models.len() as u32;
        self.models.push(name.to_string());
        self.model_index.insert(name.to_string(), i);
        i
    }

    fn intern_item(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.item_index.get(name) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(name.to_string());
        self.item_index.insert(name.to_string(), i);
        i
    }

    /// The models, in order of first appearance; a model's index is its position here.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// The items named by comparisons, in order of first appearance.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// The index of a model, or [`RankError::UnknownModel`].
    pub fn model_index(&self, name: &str) -> Result<usize, RankError> {
        self.model_index
            .get(name)
            .map(|&i| i as usize)
            .ok_or_else(|| RankError::UnknownModel {
                model: name.to_string(),
                known: self.models.clone(),
            })
    }

    /// The comparisons, in the order given.
    pub fn battles(&self) -> &[IndexedBattle] {
        &self.battles
    }

    /// The number of comparisons.
    pub fn len(&self) -> usize {
        self.battles.len()
    }

    /// Whether there are no comparisons.
    pub fn is_empty(&self) -> bool {
        self.battles.is_empty()
    }

    /// The comparisons aggregated per pair of models.
    pub fn counts(&self) -> PairCounts {
        let mut index: HashMap<(u32, u32), usize> = HashMap::new();
        let mut pairs: Vec<PairCount> = Vec::new();
        for battle in &self.battles {
            let (i, j, outcome) = if battle.a < battle.b {
                (battle.a, battle.b, battle.outcome)
            } else {
                (battle.b, battle.a, battle.outcome.swapped())
            };
            let k = *index.entry((i, j)).or_insert_with(|| {
                pairs.push(PairCount {
                    i,
                    j,
                    wins_i: 0,
                    wins_j: 0,
                    ties: 0,
                });
                pairs.len() - 1
            });
            let pair = &mut pairs[k];
            match outcome {
                Outcome::WinA => pair.wins_i += 1,
                Outcome::WinB => pair.wins_j += 1,
                Outcome::Tie => pair.ties += 1,
            }
        }
        pairs.sort_by_key(|p| (p.i, p.j));
        PairCounts {
            n_models: self.models.len(),
            pairs,
        }
    }
}

/// The comparisons between one pair of models `i < j`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairCount {
    /// The first model's index.
    pub i: u32,
    /// The second model's index (`j > i`).
    pub j: u32,
    /// How often `i` won.
    pub wins_i: u64,
    /// How often `j` won.
    pub wins_j: u64,
    /// How often they tied.
    pub ties: u64,
}

impl PairCount {
    /// The number of comparisons between the two.
    pub fn n(&self) -> u64 {
        self.wins_i + self.wins_j + self.ties
    }
}

/// Comparisons aggregated per pair of models: the sufficient statistics of win rates and of
/// the Bradley-Terry model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairCounts {
    /// The number of models (indices run over `0..n_models`).
    pub n_models: usize,
    /// One entry per pair that met at least once, sorted by `(i, j)`.
    pub pairs: Vec<PairCount>,
}

/// Wins, losses and ties of one model over all its comparisons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// Comparisons won.
    pub wins: u64,
    /// Comparisons lost.
    pub losses: u64,
    /// Comparisons tied.
    pub ties: u64,
}

impl Record {
    /// The number of comparisons.
    pub fn n(&self) -> u64 {
        self.wins + self.losses + self.ties
    }
}

impl PairCounts {
    /// The total number of comparisons.
    pub fn total(&self) -> u64 {
        self.pairs.iter().map(PairCount::n).sum()
    }

    /// Each model's wins, losses and ties.
    pub fn records(&self) -> Vec<Record> {
        let mut records = vec![Record::default(); self.n_models];
        for p in &self.pairs {
            let (i, j) = (p.i as usize, p.j as usize);
            if let Some(r) = records.get_mut(i) {
                r.wins += p.wins_i;
                r.losses += p.wins_j;
                r.ties += p.ties;
            }
            if let Some(r) = records.get_mut(j) {
                r.wins += p.wins_j;
                r.losses += p.wins_i;
                r.ties += p.ties;
            }
        }
        records
    }
}
