//! The Battle record: one pairwise outcome between two models (the Chatbot Arena shape).

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::Fields;
use crate::read::{FromRecord, RawRecord};

/// Who won a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Winner {
    /// `model_a` won.
    ModelA,
    /// `model_b` won.
    ModelB,
    /// A tie.
    Tie,
    /// A tie where both were bad (Chatbot Arena's `tie (bothbad)`).
    TieBothBad,
}

impl Winner {
    /// The value as written in Battle records.
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::ModelA => "model_a",
            Winner::ModelB => "model_b",
            Winner::Tie => "tie",
            Winner::TieBothBad => "tie (bothbad)",
        }
    }

    /// Reads a Battle `winner` value.
    pub fn parse(s: &str) -> Option<Winner> {
        match s {
            "model_a" => Some(Winner::ModelA),
            "model_b" => Some(Winner::ModelB),
            "tie" => Some(Winner::Tie),
            "tie (bothbad)" => Some(Winner::TieBothBad),
            _ => None,
        }
    }

    /// Whether the outcome is a tie of either kind.
    pub fn is_tie(self) -> bool {
        matches!(self, Winner::Tie | Winner::TieBothBad)
    }
}

impl Serialize for Winner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `{"model_a": "x", "model_b": "y", "winner": "model_a" | "model_b" | "tie" | "tie (bothbad)"}`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Battle {
    /// The first model.
    pub model_a: String,
    /// The second model.
    pub model_b: String,
    /// The outcome.
    pub winner: Winner,
    /// Other fields (e.g. `category`, `judge`, `question_id`), kept for filters.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FromRecord for Battle {
    fn from_record(record: RawRecord) -> Result<Battle, FieldError> {
        let mut f = Fields::new(record);
        let model_a = f.string("model_a")?;
        let model_b = f.string("model_b")?;
        let winner_text = f.string("winner")?;
        let winner = Winner::parse(&winner_text).ok_or_else(|| {
            FieldError::new(
                "winner",
                format!("unknown value {winner_text:?}; expected \"model_a\", \"model_b\", \"tie\" or \"tie (bothbad)\""),
            )
        })?;
        Ok(Battle {
            model_a,
            model_b,
            winner,
            extra: f.into_extra(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, RecordReader};

    #[test]
    fn reads_battles_and_rejects_unknown_winners() {
        let text = "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"tie (bothbad)\"}\n{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"x\"}\n";
        let got: Vec<_> = RecordReader::from_reader(
            "b",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Battle>()
        .collect();
        assert_eq!(got[0].as_ref().unwrap().winner, Winner::TieBothBad);
        assert_eq!(
            got[1].as_ref().unwrap_err().to_string(),
            "b:2: field `winner`: unknown value \"x\"; expected \"model_a\", \"model_b\", \"tie\" or \"tie (bothbad)\""
        );
    }
}
