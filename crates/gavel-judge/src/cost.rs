//! What judging costs: a price table per judge model (built in, extensible from a TOML or JSON
//! file), token estimates for a dry run, and the budget that stops a run before it overspends.
//!
//! Prices are US dollars per million tokens, as the vendors publish them. A model is matched by
//! its exact name first, then by the longest table entry that is a prefix of it, so that
//! `gpt-4o-2024-08-06` takes `gpt-4o`'s price and `gpt-4o-mini` keeps its own. Models without a
//! price (a local vLLM server, say) have no cost; the summary says so rather than printing 0.
//!
//! Token estimates ([`estimate_tokens`]) count one token per four bytes of text plus a few per
//! message, the rule of thumb OpenAI gives for English; they are for a dry run's estimate and for
//! the budget's reservations, never for billing, which uses the `usage` the endpoint reports.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::backend::{ChatRequest, TokenUsage};

/// The price of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million prompt (input) tokens.
    pub input: f64,
    /// Per million completion (output) tokens.
    pub output: f64,
}

impl Price {
    /// The cost of this usage.
    pub fn cost(&self, usage: TokenUsage) -> f64 {
        (usage.prompt_tokens as f64 * self.input + usage.completion_tokens as f64 * self.output)
            / 1e6
    }
}

/// The date the built-in prices were taken from the vendors' pages.
pub const BUILTIN_PRICES_DATE: &str = "2025-08";

/// Built-in list prices (USD per million tokens, standard tier, no caching or batch discount).
const BUILTIN: &[(&str, f64, f64)] = &[
    ("gpt-5", 1.25, 10.0),
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.0),
    ("gpt-4o-2024-05-13", 5.0, 15.0),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4-turbo", 10.0, 30.0),
    ("gpt-4", 30.0, 60.0),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o1", 15.0, 60.0),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.0, 8.0),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.80, 4.0),
    ("claude-3-opus", 15.0, 75.0),
    ("claude-3-haiku", 0.25, 1.25),
];

/// Errors reading a price file.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("cannot read price file {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a table of prices.
    #[error("price file {path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Prices by model name (see the module documentation for how names match).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> PriceTable {
        PriceTable {
            prices: BUILTIN
                .iter()
                .map(|&(m, input, output)| (m.to_string(), Price { input, output }))
                .collect(),
        }
    }

    /// An empty table.
    pub fn empty() -> PriceTable {
        PriceTable::default()
    }

    /// Adds or replaces one model's price.
    pub fn insert(&mut self, model: impl Into<String>, price: Price) {
        self.prices.insert(model.into(), price);
    }

    /// Adds the prices of a file, replacing built-in ones of the same name. The file maps model
    /// names to `{input, output}` (USD per million tokens), in TOML (`[models."my-model"]
    /// input = 0.2` or a top-level `["my-model"]` table) or JSON (`{"my-model": {"input": 0.2,
    /// "output": 0.6}}`), chosen by the extension (`.toml`, otherwise JSON).
    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), PriceError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: shown.clone(),
            source,
        })?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let value: serde_json::Value = if is_toml {
            let t: toml::Value = toml::from_str(&text).map_err(|e| PriceError::Format {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            serde_json::to_value(t).map_err(|e| PriceError::Format {
                path: shown.clone(),
                message: e.to_string(),
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| PriceError::Format {
                path: shown.clone(),
                message: e.to_string(),
            })?
        };
        let table = match value.get("models") {
            Some(m) if m.is_object() => m.clone(),
            _ => value,
        };
        let serde_json::Value::Object(map) = table else {
            return Err(PriceError::Format {
                path: shown,
                message: "expected a table of models".into(),
            });
        };
        for (model, entry) in map {
            let price: Price = serde_json::from_value(entry).map_err(|e| PriceError::Format {
                path: shown.clone(),
                message: format!(
                    "model `{model}`: {e} (expected `input` and `output`, USD per million tokens)"
                ),
            })?;
            let valid = |x: f64| x.is_finite() && x >= 0.0;
            if !valid(price.input) || !valid(price.output) {
                return Err(PriceError::Format {
                    path: shown,
                    message: format!("model `{model}`: prices must be finite and not negative"),
                });
            }
            self.prices.insert(model, price);
        }
        Ok(())
    }

    /// The price of a model: its exact name, else the longest entry that is a prefix of it.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        // Provider prefixes such as `openai/gpt-4o` (LiteLLM, OpenRouter) name the same model.
        let bare = model.rsplit('/').next().unwrap_or(model);
        if let Some(p) = self.prices.get(bare) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(name, _)| {
                bare.starts_with(name.as_str())
                    && bare[name.len()..].starts_with(['-', '@', ':', '.'])
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
    }

    /// The cost of a usage for a model, if its price is known.
    pub fn cost(&self, model: &str, usage: TokenUsage) -> Option<f64> {
        self.price(model).map(|p| p.cost(usage))
    }
}

/// Tokens in a text, estimated as one per four bytes (rounded up).
pub fn estimate_tokens(text: &str) -> u64 {
    estimate_tokens_chars(text.len())
}

/// [`estimate_tokens`] from a byte count.
pub fn estimate_tokens_chars(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// The estimated prompt tokens of a request: the text plus four tokens of framing per message.
pub fn estimate_prompt_tokens(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content) + 4)
        .sum::<u64>()
        + 3
}

/// A spending limit shared by every call of a run. A call reserves its worst case (estimated
/// prompt plus `max_tokens` completion) before it is sent and settles the actual cost when the
/// answer comes; a call whose reservation would pass the limit is not sent. The limit is
/// therefore only passed when the estimates were too low.
#[derive(Debug)]
pub struct Budget {
    limit: f64,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    spent: f64,
    reserved: f64,
    exhausted: bool,
}

/// A reservation on a [`Budget`]; give it back with [`Budget::settle`].
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    amount: f64,
}

impl Budget {
    /// A budget of `limit` US dollars.
    pub fn new(limit: f64) -> Budget {
        Budget {
            limit,
            state: Mutex::new(BudgetState::default()),
        }
    }

    /// The limit.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Reserves `amount`, or says no (and marks the budget exhausted, so that no later call is
    /// started either, even a cheaper one: a run stops at the first call it cannot afford).
    pub fn reserve(&self, amount: f64) -> Option<Reservation> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.exhausted || s.spent + s.reserved + amount > self.limit {
            s.exhausted = true;
            return None;
        }
        s.reserved += amount;
        Some(Reservation { amount })
    }

    /// Replaces a reservation by the actual cost (0 when the call failed unpaid).
    pub fn settle(&self, reservation: Reservation, actual: f64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.reserved = (s.reserved - reservation.amount).max(0.0);
        s.spent += actual;
    }

    /// Adds a cost that had no reservation.
    pub fn add(&self, actual: f64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.spent += actual;
    }

    /// What was spent so far.
    pub fn spent(&self) -> f64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).spent
    }

    /// Whether a call was refused.
    pub fn exhausted(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .exhausted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let t = PriceTable::builtin();
        assert_eq!(t.price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(t.price("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(t.price("gpt-4o-2024-05-13").unwrap().input, 5.0);
        assert_eq!(t.price("openai/gpt-4o").unwrap().output, 10.0);
        assert_eq!(t.price("gpt-4.1-mini").unwrap().output, 1.60);
        assert!(t.price("llama-3-70b").is_none());
        // A prefix must end at a separator: `o1` is not the price of `o1x`.
        assert!(t.price("o1x").is_none());
        let usage = TokenUsage {
            prompt_tokens: 1_000_000,
            completion_tokens: 500_000,
        };
        assert!((t.cost("gpt-4o", usage).unwrap() - 7.5).abs() < 1e-12);
    }

    #[test]
    fn user_files_extend_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("p.toml");
        std::fs::write(
            &toml_path,
            "[models.\"my-judge\"]\ninput = 0.2\noutput = 0.6\n[models.gpt-4o]\ninput = 1.0\noutput = 2.0\n",
        )
        .unwrap();
        let mut t = PriceTable::builtin();
        t.extend_from_file(&toml_path).unwrap();
        assert_eq!(t.price("my-judge").unwrap().output, 0.6);
        assert_eq!(t.price("gpt-4o").unwrap().input, 1.0);
        let json_path = dir.path().join("p.json");
        std::fs::write(&json_path, r#"{"local": {"input": 0, "output": 0}}"#).unwrap();
        t.extend_from_file(&json_path).unwrap();
        assert_eq!(t.cost("local", TokenUsage::default()), Some(0.0));
        std::fs::write(&json_path, r#"{"bad": {"input": -1, "output": 0}}"#).unwrap();
        let e = t.extend_from_file(&json_path).unwrap_err().to_string();
        assert!(e.contains("model `bad`"), "{e}");
        std::fs::write(&json_path, r#"{"bad": {"in": 1}}"#).unwrap();
        assert!(t.extend_from_file(&json_path).is_err());
    }

    #[test]
    fn budget_refuses_what_it_cannot_afford_and_stays_refused() {
        let b = Budget::new(1.0);
        let r1 = b.reserve(0.6).unwrap();
        assert!(b.reserve(0.5).is_none());
        assert!(b.exhausted());
        // Even a cheap call is refused once the run decided to stop.
        assert!(b.reserve(0.01).is_none());
        b.settle(r1, 0.3);
        assert!((b.spent() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn token_estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
